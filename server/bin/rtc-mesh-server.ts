#!/usr/bin/env node
// `rtc-mesh-server`: the standalone signaling server (server/server-cli.ts) as an installed command.
//
// server-cli runs its main() only when it is the entry file (`import.meta.url === pathToFileURL(argv[1])`).
// Run through node_modules/.bin, argv[1] is the symlink while module URLs are real paths, so that test
// would never pass, and here argv[1] is this wrapper anyway. Pointing argv[1] at the CLI's own file before
// loading it makes the test pass; the CLI reads its flags from argv.slice(2), which is unchanged. The
// import must be dynamic: a static one would run before the assignment.
import { fileURLToPath } from 'node:url';

// Built: dist/server/bin/ -> dist/server/server-cli.js. From the sources (tsx), the .ts next to it.
const cli = new URL(import.meta.url.endsWith('.ts') ? '../server-cli.ts' : '../server-cli.js', import.meta.url);
process.argv[1] = fileURLToPath(cli);
await import(cli.href);
