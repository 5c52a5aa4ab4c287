#!/usr/bin/env node
// `rtc-mesh-server`: the standalone signaling server (server/server-cli.ts) as an installed command.
import { main } from '../server-cli.js';

await main(process.argv.slice(2));
