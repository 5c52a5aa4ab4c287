/**
 * `npm start`: builds the demo page (vite), then serves it and the signaling server from one http server,
 * optionally with headless Node peers in the same room. Ctrl-C (or SIGTERM) stops the peers and the server.
 *
 *   npm start                              # http://127.0.0.1:3000, room "demo"
 *   npm start -- --node-peers 2 --port 8080
 *   PORT=8080 ROOM=team npm start -- --no-build
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { extname, join, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createSignalingServer, type SignalingServer } from './signaling-server.js';
import { parseOrExit } from './cli-args.js';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_DIST_DIR = join(REPO_ROOT, 'dist', 'demo');
const PEER_CLI = join(REPO_ROOT, 'server', 'peer-cli.ts');
const DEMO_ACTORS = join(REPO_ROOT, 'demo', 'actors.ts');
const DEFAULT_PEER_CAPABILITIES = ['game', 'chat', 'payment'];

const HELP = `rtc-mesh demo server

Usage: npm start -- [options]

Builds the demo page, serves it and the signaling server on one port, and can add headless Node peers.

  --port <n>                 port to listen on (default: 3000, or PORT; 0 picks a free one)
  --host <addr>              address to listen on (default: 0.0.0.0, or HOST)
  --room <name>              room for the Node peers and the printed link (default: demo, or ROOM)
  --node-peers <n>           also start n headless Node peers (default: 0, or NODE_PEERS)
  --peer-capabilities <list> capabilities of those peers (default: game,chat,payment)
  --peer-bind-address <addr> local address the Node peers use for WebRTC (default: 127.0.0.1)
  --no-build                 serve the existing build instead of building first
  --dist <dir>               directory with the built page (default: dist/demo)
  --verbose                  also log signaling joins, leaves and refusals
  -h, --help                 show this help
`;

// ------------------------------------------------------------------------------------------ static files

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
};

export const contentTypeOf = (path: string): string => CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Serves GET/HEAD of the files under `root`. The decoded path must stay inside root after resolving `..`
 * and symlinks; anything else, dotfiles included, is a 404. `/` and directories serve their index.html.
 */
export function createStaticHandler(root: string): (req: IncomingMessage, res: ServerResponse) => void {
  const rootResolved = resolve(root);
  let rootReal: Promise<string> | undefined;
  const inside = (path: string, base: string): boolean => path === base || path.startsWith(base.endsWith(sep) ? base : base + sep);

  async function locate(urlPath: string): Promise<string | null> {
    let decoded: string;
    try {
      decoded = decodeURIComponent(urlPath);
    } catch {
      return null;
    }
    if (decoded.includes('\0') || decoded.includes('\\')) return null;
    if (decoded.split('/').some((part) => part.startsWith('.') && part.length > 0)) return null; // no dotfiles, no ..
    let file = resolve(rootResolved, `.${decoded}`);
    if (!inside(file, rootResolved)) return null;
    try {
      let info = await stat(file);
      if (info.isDirectory()) {
        file = join(file, 'index.html');
        info = await stat(file);
      }
      if (!info.isFile()) return null;
      const real = await realpath(file);
      rootReal ??= realpath(rootResolved);
      if (!inside(real, await rootReal)) return null;
      return real;
    } catch {
      return null;
    }
  }

  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      return plain(res, 400, 'bad request\n');
    }
    void locate(pathname).then(
      async (file) => {
        if (file === null) return plain(res, 404, 'not found\n');
        const info = await stat(file);
        const immutable = pathname.startsWith('/assets/');
        res.writeHead(200, {
          'content-type': contentTypeOf(file),
          'content-length': info.size,
          'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
          'x-content-type-options': 'nosniff',
        });
        if (req.method === 'HEAD') return res.end();
        createReadStream(file)
          .on('error', () => res.destroy())
          .pipe(res);
      },
      () => plain(res, 500, 'internal error\n'),
    );
  };
}

// ------------------------------------------------------------------------------------------ build

/** Builds the demo with vite.config.ts into `outDir`. */
export async function buildDemo(outDir: string = DEFAULT_DIST_DIR, logLevel: 'info' | 'warn' | 'silent' = 'warn'): Promise<void> {
  const { build } = await import('vite');
  await build({
    configFile: join(REPO_ROOT, 'vite.config.ts'),
    logLevel,
    build: { outDir: resolve(outDir), emptyOutDir: true },
  });
}

// ------------------------------------------------------------------------------------------ node peers

/** One JSON line printed by `peer-cli.ts --json`. */
export interface PeerEvent {
  readonly event: string;
  readonly [field: string]: unknown;
}

export interface NodePeerProcess {
  readonly child: ChildProcess;
  /** Resolves with the peer id once the peer has joined the mesh. */
  readonly ready: Promise<string>;
  peerId: string | null;
  stop(): Promise<void>;
}

export interface NodePeerOptions {
  readonly signal: string;
  readonly room: string;
  readonly capabilities?: readonly string[];
  readonly bindAddress?: string;
  /** Script to run instead of server/peer-cli.ts (same flags and --json output). */
  readonly script?: string;
  readonly extraArgs?: readonly string[];
  readonly onEvent?: (event: PeerEvent) => void;
  readonly onStderr?: (line: string) => void;
}

/** `node --import tsx`: the loader's file URL, so the child resolves it whatever its cwd. */
export function tsxLoaderUrl(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
}

/** Starts a headless peer (`node --import tsx server/peer-cli.ts ... --json`) and follows its JSON lines. */
export function spawnNodePeer(options: NodePeerOptions): NodePeerProcess {
  const args = [
    '--import',
    tsxLoaderUrl(),
    options.script ?? PEER_CLI,
    '--signal',
    options.signal,
    '--room',
    options.room,
    '--capabilities',
    (options.capabilities ?? DEFAULT_PEER_CAPABILITIES).join(','),
    '--bind-address',
    options.bindAddress ?? '127.0.0.1',
    '--actors',
    DEMO_ACTORS,
    '--json',
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let exited = false;
  const exitedPromise = new Promise<void>((resolveExit) => child.once('exit', () => {
    exited = true;
    resolveExit();
  }));
  const peer: NodePeerProcess = {
    child,
    peerId: null,
    ready: new Promise<string>((resolveReady, reject) => {
      const stdout = child.stdout;
      if (!stdout) return reject(new Error('no stdout'));
      createInterface({ input: stdout }).on('line', (line) => {
        let event: PeerEvent;
        try {
          event = JSON.parse(line) as PeerEvent;
        } catch {
          options.onStderr?.(line);
          return;
        }
        if (event.event === 'ready' && typeof event['peerId'] === 'string') {
          peer.peerId = event['peerId'];
          resolveReady(event['peerId']);
        }
        options.onEvent?.(event);
      });
      child.once('exit', (code, signal) => reject(new Error(`node peer exited before joining (code ${code}, signal ${signal})`)));
      child.once('error', reject);
    }),
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exitedPromise;
      clearTimeout(timer);
    },
  };
  peer.ready.catch(() => undefined); // reported through the caller's own await or the exit log
  if (child.stderr) createInterface({ input: child.stderr }).on('line', (line) => options.onStderr?.(line));
  return peer;
}

// ------------------------------------------------------------------------------------------ the server

export interface DemoServerOptions {
  readonly port?: number;
  readonly host?: string;
  readonly room?: string;
  /** Where the built page is (default dist/demo). */
  readonly distDir?: string;
  /** Build the page first (default true). */
  readonly build?: boolean;
  readonly nodePeers?: number;
  readonly peerCapabilities?: readonly string[];
  readonly peerBindAddress?: string;
  /** Also log signaling joins, leaves and refusals. */
  readonly verbose?: boolean;
  readonly log?: (line: string) => void;
}

export interface DemoServer {
  /** Where a browser on this machine opens the demo (with `?room=` unless the room is 'demo'). */
  readonly url: string;
  /** The server's base URL, also the signaling URL. */
  readonly origin: string;
  readonly port: number;
  readonly room: string;
  readonly signaling: SignalingServer;
  readonly peers: readonly NodePeerProcess[];
  close(): Promise<void>;
}

export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const distDir = resolve(options.distDir ?? DEFAULT_DIST_DIR);
  const room = options.room ?? 'demo';
  if (options.build ?? true) {
    log(`building the demo into ${distDir} …`);
    await buildDemo(distDir);
  }
  try {
    await stat(join(distDir, 'index.html'));
  } catch {
    throw new Error(`${join(distDir, 'index.html')} does not exist: build the demo first (run without --no-build)`);
  }

  const httpServer = createServer();
  // Before the signaling server attaches: it forwards every path but /healthz and /socket.io/ to this handler.
  httpServer.on('request', createStaticHandler(distDir));
  const signaling = await createSignalingServer({ httpServer, port: options.port ?? 3000, host: options.host ?? '0.0.0.0', ...(options.verbose ? { log } : {}) });
  const origin = signaling.url;
  const url = `${origin}/${room === 'demo' ? '' : `?room=${encodeURIComponent(room)}`}`;

  const peers: NodePeerProcess[] = [];
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await Promise.all(peers.map((peer) => peer.stop()));
      await signaling.close();
      httpServer.closeAllConnections();
    })());

  try {
    for (let i = 0; i < (options.nodePeers ?? 0); i++) {
      const n = i + 1;
      let seen = -1;
      const peer = spawnNodePeer({
        signal: origin,
        room,
        ...(options.peerCapabilities ? { capabilities: options.peerCapabilities } : {}),
        ...(options.peerBindAddress ? { bindAddress: options.peerBindAddress } : {}),
        onEvent: (event) => {
          switch (event.event) {
            case 'topology': {
              const count = Array.isArray(event['peers']) ? event['peers'].length : 0;
              if (count !== seen) log(`[node peer ${n}] sees ${count} peer${count === 1 ? '' : 's'}`);
              seen = count;
              return;
            }
            case 'signaling':
              if (event['state'] === 'disconnected' || event['error']) log(`[node peer ${n}] signaling ${String(event['state'])}${event['error'] ? `: ${String(event['error'])}` : ''}`);
              return;
            case 'ready':
            case 'leaving':
            case 'activated': // too chatty for a console
            case 'deactivated':
              return;
            default:
              log(`[node peer ${n}] ${JSON.stringify(event)}`);
          }
        },
        onStderr: (line) => log(`[node peer ${n}] ${line}`),
      });
      peer.child.once('exit', (code, sig) => {
        if (!closing) log(`[node peer ${n}] exited (${sig ?? `code ${code}`})`);
      });
      peers.push(peer);
    }
    const ids = await Promise.all(peers.map((p) => p.ready));
    ids.forEach((id, i) => log(`[node peer ${i + 1}] ${id} (pid ${peers[i]?.child.pid ?? '?'}) joined room "${room}"`));
  } catch (error) {
    await close();
    throw error;
  }
  return { url, origin, port: signaling.port, room, signaling, peers, close };
}

// ------------------------------------------------------------------------------------------ CLI

export interface MainOptions extends DemoServerOptions {
  readonly port: number;
  readonly host: string;
  readonly room: string;
}

export function parseMainArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): MainOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      room: { type: 'string' },
      'node-peers': { type: 'string' },
      'peer-capabilities': { type: 'string' },
      'peer-bind-address': { type: 'string' },
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
  return {
    port: integer(values.port ?? env['PORT'], '--port', 3000, 65535),
    host: values.host ?? env['HOST'] ?? '0.0.0.0',
    room,
    nodePeers: integer(values['node-peers'] ?? env['NODE_PEERS'], '--node-peers', 0, 32),
    build: !values['no-build'],
    verbose: values.verbose,
    ...(values.dist !== undefined ? { distDir: values.dist } : {}),
    ...(caps !== undefined ? { peerCapabilities: caps.split(',').map((c) => c.trim()).filter(Boolean) } : {}),
    ...(values['peer-bind-address'] !== undefined ? { peerBindAddress: values['peer-bind-address'] } : {}),
  };
}

async function main(): Promise<void> {
  const options = parseOrExit(parseMainArgs, HELP, process.argv.slice(2));
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

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    process.stderr.write(`rtc-mesh: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
