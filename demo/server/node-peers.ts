/**
 * Headless Node peers for the demo: `server/peer-cli.ts --json` in child processes hosting the demo's actor
 * types, followed through their JSON lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './build.js';

const PEER_CLI = join(REPO_ROOT, 'server', 'peer-cli.ts');
const DEMO_ACTORS = join(REPO_ROOT, 'demo', 'actors.ts');
const DEFAULT_PEER_CAPABILITIES = ['game', 'chat', 'payment'];

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
  /** The signaling token, when the server requires one. */
  readonly token?: string;
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
    ...(options.token !== undefined ? ['--token', options.token] : []),
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let exited = false;
  const exitedPromise = new Promise<void>((resolveExit) =>
    child.once('exit', () => {
      exited = true;
      resolveExit();
    }),
  );
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
