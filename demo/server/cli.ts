/**
 * `npm start`: builds the demo page (vite), then serves it and the signaling server from one http server,
 * optionally with headless Node peers in the same room. Ctrl-C (or SIGTERM) stops the peers and the server.
 *
 *   npm start                              # http://127.0.0.1:3000, room "demo"
 *   npm start -- --node-peers 2 --port 8080
 *   PORT=8080 ROOM=team npm start -- --no-build
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { parseOrExit } from '../../server/cli-args.js';
import { parseGrants } from '../../server/server-cli.js';
import { startDemoServer, type DemoServerOptions } from './demo-server.js';

const HELP = `rtc-mesh demo server

Usage: npm start -- [options]

Builds the demo page, serves it and the signaling server on one port, and can add headless Node peers.

  --port <n>                 port to listen on (default: 3000, or PORT; 0 picks a free one)
  --host <addr>              address to listen on (default: 0.0.0.0, or HOST)
  --room <name>              room for the Node peers and the printed link (default: demo, or ROOM)
  --node-peers <n>           also start n headless Node peers (default: 0, or NODE_PEERS)
  --peer-capabilities <list> capabilities of those peers (default: game,chat,payment)
  --peer-bind-address <addr> local address the Node peers use for WebRTC (default: 127.0.0.1)
  --token <token>            require this token from every peer (or RTC_MESH_TOKEN); the printed link
                             carries it as ?token=, the Node peers use it
  --identity-key <pem file>  sign peer identities with this Ed25519 key (see README, Security model)
  --grants <spec>            capabilities per peer kind in signed mode, e.g. 'browser=game,chat;node=game,chat,payment'
  --no-build                 serve the existing build instead of building first
  --dist <dir>               directory with the built page (default: dist/demo)
  --verbose                  also log signaling joins, leaves and refusals
  -h, --help                 show this help
`;

export interface DemoCliOptions extends DemoServerOptions {
  readonly port: number;
  readonly host: string;
  readonly room: string;
}

export function parseDemoArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): DemoCliOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      room: { type: 'string' },
      'node-peers': { type: 'string' },
      'peer-capabilities': { type: 'string' },
      'peer-bind-address': { type: 'string' },
      token: { type: 'string' },
      'identity-key': { type: 'string' },
      grants: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      dist: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const integer = (raw: string | undefined, name: string, fallback: number, max: number): number => {
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`${name} must be an integer in [0, ${max}], got "${raw}"`);
    return n;
  };
  const room = (values.room ?? env['ROOM'] ?? 'demo').trim();
  if (room === '') throw new Error('--room must not be empty');
  const caps = values['peer-capabilities'];
  const token = values.token ?? env['RTC_MESH_TOKEN'];
  if (token === '') throw new Error('--token must not be empty');
  const keyFile = values['identity-key'];
  const signaling = {
    ...(keyFile !== undefined ? { identity: { privateKey: readFileSync(keyFile, 'utf8') } } : {}),
    ...(values.grants !== undefined ? { grants: parseGrants(values.grants) } : {}),
  };
  return {
    port: integer(values.port ?? env['PORT'], '--port', 3000, 65535),
    host: values.host ?? env['HOST'] ?? '0.0.0.0',
    room,
    nodePeers: integer(values['node-peers'] ?? env['NODE_PEERS'], '--node-peers', 0, 32),
    build: !values['no-build'],
    verbose: values.verbose,
    ...(values.dist !== undefined ? { distDir: values.dist } : {}),
    ...(caps !== undefined
      ? {
          peerCapabilities: caps
            .split(',')
            .map((c) => c.trim())
            .filter(Boolean),
        }
      : {}),
    ...(values['peer-bind-address'] !== undefined ? { peerBindAddress: values['peer-bind-address'] } : {}),
    ...(token !== undefined ? { token } : {}),
    ...(Object.keys(signaling).length > 0 ? { signaling } : {}),
  };
}

async function start(argv: readonly string[]): Promise<void> {
  const options = parseOrExit(parseDemoArgs, HELP, argv);
  if (options === null) return;
  const server = await startDemoServer(options);
  const where = options.host === '0.0.0.0' || options.host === '::' ? ' (all interfaces)' : '';
  process.stdout.write(`rtc-mesh demo: ${server.url}  — signaling on the same port${where}; open it in a few tabs\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${signal}: stopping${server.peers.length ? ` ${server.peers.length} node peer(s) and` : ''} the server\n`);
    const force = setTimeout(() => {
      process.stderr.write('shutdown took longer than 10 s, exiting\n');
      process.exit(1);
    }, 10_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Whatever happens, no orphaned peers.
  process.on('exit', () => {
    for (const peer of server.peers) if (peer.child.exitCode === null && peer.child.signalCode === null) peer.child.kill('SIGTERM');
  });
}

/** Runs the demo server with these flags (the arguments after the program name). Never rejects. */
export async function main(argv: readonly string[]): Promise<void> {
  try {
    await start(argv);
  } catch (error) {
    process.stderr.write(`rtc-mesh: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void main(process.argv.slice(2));
