/**
 * The demo server: the built page and the signaling server on one http server, optionally with headless
 * Node peers in the same room.
 */
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { createSignalingServer, type SignalingServerOptions, type SignalingServer } from '../../server/index.js';
import { DEFAULT_DIST_DIR, buildDemo } from './build.js';
import { spawnNodePeer, type NodePeerProcess } from './node-peers.js';
import { createStaticHandler } from './static.js';

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
  /** Require this token from every peer; the printed link carries it (`?token=`), the Node peers use it. */
  readonly token?: string;
  /** More of the signaling server's options (signed identities, grants, origins...). */
  readonly signaling?: Omit<SignalingServerOptions, 'httpServer' | 'port' | 'host' | 'log' | 'token'>;
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
  const signaling = await createSignalingServer({
    ...options.signaling,
    httpServer,
    port: options.port ?? 3000,
    host: options.host ?? '0.0.0.0',
    token: options.token,
    // Warnings (e.g. TURN without auth) always reach the console; the rest only with --verbose.
    log: (line) => (options.verbose || line.includes('warning:') ? log(line) : undefined),
  });
  const origin = signaling.url;
  const query = new URLSearchParams({
    ...(room === 'demo' ? {} : { room }),
    ...(options.token !== undefined ? { token: options.token } : {}),
  }).toString();
  const url = `${origin}/${query === '' ? '' : `?${query}`}`;

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
        ...(options.token !== undefined ? { token: options.token } : {}),
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
              if (event['state'] === 'disconnected' || event['error'])
                log(`[node peer ${n}] signaling ${String(event['state'])}${event['error'] ? `: ${String(event['error'])}` : ''}`);
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
    for (const [i, id] of ids.entries()) log(`[node peer ${i + 1}] ${id} (pid ${peers[i]?.child.pid ?? '?'}) joined room "${room}"`);
  } catch (error) {
    await close();
    throw error;
  }
  return { url, origin, port: signaling.port, room, signaling, peers, close };
}
