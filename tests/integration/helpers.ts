/**
 * Shared plumbing of the WebRTC integration tests: a real signaling server on 127.0.0.1:0, real peers
 * (in this process, or each in a child process driven over JSON lines), bounded waits, and one `cleanup()`
 * that tears all of it down. Every wait here has a timeout and a message saying what did not happen.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { Mesh, type NodeMeshOptions, type SignalingState } from '../../client/node.js';
import { actors as demoActors } from '../../demo/actors.js';
import { createSignalingServer, type SignalingServer } from '../../server/signaling-server.js';
import type { ActivationInfo, CallRequest, CallResult, MeshStats, PeerInfo, ReplicaInfo } from '../../shared/index.js';
import { observeActors, testActors } from './fixtures/actors.js';
import type { PeerCommand, PeerProcessConfig, WireError } from './fixtures/peer-process.js';
import { until, withTimeout } from '../fixtures/wait.js';

export const LOOPBACK = '127.0.0.1';
/** Steps slower than this are reported on the console (they pass, but explain a slow or flaky run). */
const SLOW_MS = 5000;
const slow = (what: string): void => console.warn(`[slow] ${expect.getState().currentTestName ?? '(hook)'}: ${what}`);
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PEER_PROCESS = fileURLToPath(new URL('./fixtures/peer-process.ts', import.meta.url));
const SERVER_PROCESS = fileURLToPath(new URL('./fixtures/server-process.ts', import.meta.url));

/** Every actor type a test peer can host: the demo's and the fixtures'. */
export const ALL_ACTORS = { ...demoActors, ...testActors };

// ------------------------------------------------------------------------------------------- waiting

export type Outcome<T> =
  | { readonly ok: true; readonly value: T; readonly at: number }
  | {
      readonly ok: false;
      readonly error: { readonly code?: string; readonly message: string; readonly details?: unknown };
      readonly at: number;
    };

/** Never rejects: records how and when (performance.now()) `promise` settled, for timing assertions. */
export function settle<T>(promise: Promise<T>): Promise<Outcome<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value, at: performance.now() }),
    (error: unknown) => ({ ok: false as const, error: error as Error & { code?: string; details?: unknown }, at: performance.now() }),
  );
}

// ------------------------------------------------------------------------------------------ resources

const servers = new Set<SignalingServer>();
const meshes = new Set<Mesh>();
const processes = new Set<PeerProcess>();
const serverProcesses = new Set<ServerProcess>();

/** A fresh room per test, so no test ever meets another's peers. */
export function uniqueRoom(prefix = 'it'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** A signaling server on 127.0.0.1; port 0 (default) lets the OS choose. Closed by cleanup(). */
export async function startServer(port = 0): Promise<SignalingServer> {
  const server = await createSignalingServer({ port, host: LOOPBACK });
  servers.add(server);
  return server;
}

/** Closes one server now (idempotent); cleanup() would close it too. */
export async function closeServer(server: SignalingServer): Promise<void> {
  await withTimeout(server.close(), `closing signaling server ${server.url}`, 10_000);
  servers.delete(server);
}

/** One signaling state change of an in-process peer, with when it happened (performance.now()). */
export interface SignalingEntry {
  readonly state: SignalingState;
  readonly at: number;
  readonly detail?: string;
}

const signalingLogs = new WeakMap<Mesh, SignalingEntry[]>();

/** The signaling states a peer started with startPeer() went through, in order. */
export function signalingLog(mesh: Mesh): readonly SignalingEntry[] {
  const log = signalingLogs.get(mesh);
  if (!log) throw new Error(`peer ${mesh.peerId} was not started by startPeer()`);
  return log;
}

export function signalingState(mesh: Mesh): SignalingState | undefined {
  return signalingLog(mesh).at(-1)?.state;
}

/**
 * A node-datachannel peer in this process, bound to loopback, hosting every test actor type.
 * Stopped by cleanup().
 */
export async function startPeer(options: PeerOptions): Promise<Mesh> {
  const log: SignalingEntry[] = [];
  const { onSignalingState, ...rest } = options;
  const mesh = await Mesh.start({
    bindAddress: LOOPBACK,
    actors: ALL_ACTORS,
    connectTimeoutMs: 15_000,
    ...rest,
    onSignalingState: (state, detail) => {
      log.push({ state, at: performance.now(), ...(detail ? { detail: detail.message } : {}) });
      onSignalingState?.(state, detail);
    },
  });
  signalingLogs.set(mesh, log);
  meshes.add(mesh);
  return mesh;
}

type PeerOptions = NodeMeshOptions & { readonly signal: string; readonly room: string };

/** [T, T, ...] of length N for a literal N (so destructuring needs no `!`), T[] otherwise. */
export type Tuple<T, N extends number, R extends T[] = []> = number extends N ? T[] : R['length'] extends N ? R : Tuple<T, N, [...R, T]>;

/** `count` in-process peers started concurrently; `options(i)` may vary per peer. */
export function startPeers<N extends number>(count: N, options: PeerOptions | ((i: number) => PeerOptions)): Promise<Tuple<Mesh, N>> {
  return Promise.all(Array.from({ length: count }, (_, i) => startPeer(typeof options === 'function' ? options(i) : options))) as Promise<
    Tuple<Mesh, N>
  >;
}

/** Stops one in-process peer now (idempotent). */
export async function stopPeer(mesh: Mesh): Promise<void> {
  await withTimeout(mesh.stop(), `stopping peer ${mesh.peerId}`, 10_000);
  meshes.delete(mesh);
}

/** Reports from in-process actors (SlowActor, HangActor), for waitForActorEvent. */
const actorEvents: { readonly event: string; readonly fields: Readonly<Record<string, unknown>> }[] = [];
observeActors((event, fields) => actorEvents.push({ event, fields }));

/** Waits until an in-process actor reported `event` for actor id `id`. */
export async function waitForActorEvent(event: string, id: string, timeoutMs = 10_000): Promise<Readonly<Record<string, unknown>>> {
  let found: Readonly<Record<string, unknown>> | undefined;
  await until(
    () => {
      found = actorEvents.find((e) => e.event === event && e.fields['id'] === id)?.fields;
      return found !== undefined;
    },
    `an in-process actor reporting ${event} for ${id}`,
    { timeoutMs },
  );
  return found!;
}

/**
 * Stops every peer, kills every child process still running and closes every server this module
 * started. Use as afterEach/afterAll. Never hangs: each step is bounded, and a child that does not
 * stop in time is SIGKILLed.
 */
export async function cleanup(): Promise<void> {
  const problems: string[] = [];
  const bounded = (promise: Promise<unknown>, what: string): Promise<void> =>
    withTimeout(promise, what, 10_000).then(
      () => undefined,
      (error: unknown) => void problems.push(`${what}: ${String(error)}`),
    );
  await Promise.all([...processes].map((p) => bounded(p.dispose(), `disposing child peer ${p.label}`)));
  processes.clear();
  await Promise.all([...serverProcesses].map((p) => bounded(p.dispose(), `disposing signaling server process ${p.url}`)));
  serverProcesses.clear();
  await Promise.all([...meshes].map((m) => bounded(m.stop(), `stopping peer ${m.peerId}`)));
  meshes.clear();
  await Promise.all([...servers].map((s) => bounded(s.close(), `closing server ${s.url}`)));
  servers.clear();
  actorEvents.length = 0;
  if (problems.length > 0) throw new Error(`cleanup: ${problems.join('; ')}`);
}

// -------------------------------------------------------------------------------------- child peers

export class PeerCallError extends Error {
  readonly code: string;
  readonly details: unknown;

  constructor(error: WireError) {
    super(error.message);
    this.name = 'PeerCallError';
    this.code = error.code;
    this.details = error.details;
  }
}

export interface PeerEvent {
  readonly event: string;
  readonly at: number;
  readonly [field: string]: unknown;
}

/** A peer running tests/integration/fixtures/peer-process.ts in its own Node process. */
export class PeerProcess {
  peerId = '';
  readonly events: PeerEvent[] = [];
  /** Resolves when the process has exited, with how. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private nextId = 1;
  private stderr = '';
  private noise = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly listeners = new Set<(event: PeerEvent) => void>();

  constructor(
    readonly label: string,
    config: PeerProcessConfig,
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', PEER_PROCESS, JSON.stringify(config)], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        const error = new Error(`child peer ${this.describe()} exited (code ${code}, signal ${signal})${this.tail()}`);
        for (const waiter of this.pending.values()) waiter.reject(error);
        this.pending.clear();
        resolve({ code, signal });
      });
    });
    this.child.stdin.on('error', () => undefined); // writing to a killed child: its exit is reported instead
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4000);
    });
    const lines = createInterface({ input: this.child.stdout, crlfDelay: Infinity });
    lines.on('line', (line) => this.onLine(line));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Hears every event line from now on; returns the unsubscribe function. */
  onEvent(listener: (event: PeerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get hasExited(): boolean {
    return this.exitInfo !== null;
  }

  /** Resolves with the peer id once the child joined the room; rejects if it dies or takes too long. */
  ready(timeoutMs = 25_000): Promise<string> {
    return withTimeout(
      Promise.race([
        this.waitForEvent((e) => e.event === 'ready', timeoutMs + 1000).then((e) => String(e['peerId'])),
        this.exited.then((how) => {
          throw new Error(`child peer ${this.label} exited before it was ready (code ${how.code}, signal ${how.signal})${this.tail()}`);
        }),
      ]),
      `child peer ${this.label} to start and join its room${this.tail()}`,
      timeoutMs,
    ).then((peerId) => (this.peerId = peerId));
  }

  /** Sends one command and resolves with its result; rejects with PeerCallError for a failed command. */
  request<T>(command: PeerCommand, timeoutMs = 20_000): Promise<T> {
    if (this.exitInfo) return Promise.reject(new Error(`child peer ${this.describe()} has exited${this.tail()}`));
    const id = this.nextId++;
    const reply = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.child.stdin.write(`${JSON.stringify({ id, ...command })}\n`);
    return withTimeout(reply, `child peer ${this.describe()} answering ${command.cmd}${this.tail()}`, timeoutMs).finally(() =>
      this.pending.delete(id),
    ) as Promise<T>;
  }

  call<R = unknown>(request: CallRequest, timeoutMs?: number): Promise<CallResult<R>> {
    const budget = (request.timeoutMs ?? 5000) + 10_000;
    return this.request<CallResult<R>>({ cmd: 'call', request }, timeoutMs ?? budget);
  }

  cast(request: CallRequest): Promise<void> {
    return this.request({ cmd: 'cast', request });
  }

  peers(): Promise<PeerInfo[]> {
    return this.request({ cmd: 'peers' });
  }

  owners(
    ids: readonly string[],
    capabilities: readonly string[],
  ): Promise<{ shards: number[]; owners: Record<string, (string | null)[]> }> {
    return this.request({ cmd: 'owners', ids, capabilities });
  }

  shardOwners(capability: string): Promise<(string | null)[]> {
    return this.request({ cmd: 'shard-owners', capability });
  }

  activations(): Promise<ActivationInfo[]> {
    return this.request({ cmd: 'activations' });
  }

  replicas(): Promise<ReplicaInfo[]> {
    return this.request({ cmd: 'replicas' });
  }

  stats(): Promise<MeshStats> {
    return this.request({ cmd: 'stats' });
  }

  registerCapabilities(capabilities: readonly string[]): Promise<void> {
    return this.request({ cmd: 'register-capabilities', capabilities });
  }

  /** Asks the peer to leave the mesh and waits for the process to exit. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.exitInfo) return;
    await Promise.race([this.request({ cmd: 'stop' }, timeoutMs).catch(() => undefined), this.exited]);
    await withTimeout(this.exited, `child peer ${this.describe()} exiting after stop`, timeoutMs);
  }

  /** Sends a signal (default SIGKILL) and returns at once; await `exited` to see it die. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exitInfo) this.child.kill(signal);
  }

  /** stop(), and SIGKILL if that does not end the process. */
  async dispose(): Promise<void> {
    if (this.exitInfo) return;
    try {
      await this.stop(5000);
    } catch {
      this.kill('SIGKILL');
      await withTimeout(this.exited, `child peer ${this.describe()} dying after SIGKILL`, 5000);
    }
  }

  /** Waits for an event line (already received or future) matching `predicate`. */
  async waitForEvent(predicate: (event: PeerEvent) => boolean, timeoutMs = 10_000, what = 'an event'): Promise<PeerEvent> {
    let found: PeerEvent | undefined;
    await until(
      () => {
        found = this.events.find(predicate);
        return found !== undefined;
      },
      () => `child peer ${this.describe()}: ${what}${this.tail()}`,
      { timeoutMs, intervalMs: 10 },
    );
    return found!;
  }

  private onLine(line: string): void {
    let message: { type?: unknown; id?: unknown; ok?: unknown; result?: unknown; error?: WireError; [key: string]: unknown };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      this.noise = `${this.noise + line}\n`.slice(-2000);
      return;
    }
    const at = performance.now();
    if (message.type === 'reply' && typeof message.id === 'number') {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      if (message.ok === true) waiter.resolve(message.result);
      else waiter.reject(new PeerCallError(message.error ?? { code: 'INTERNAL', message: 'no error in reply' }));
      return;
    }
    if (message.type === 'ready') this.events.push({ ...message, event: 'ready', at });
    else if (message.type === 'fatal') this.events.push({ ...message, event: 'fatal', at });
    else if (message.type === 'event' && typeof message['event'] === 'string') {
      const event: PeerEvent = { ...message, event: message['event'], at };
      // Progress lines would pile up over a long load: they go to listeners only.
      if (event.event !== 'load-progress') this.events.push(event);
      for (const listener of this.listeners) listener(event);
    }
  }

  private describe(): string {
    return this.peerId ? `${this.label} (${this.peerId})` : this.label;
  }

  /** The last lines of the child's stderr and stray stdout, for failure messages. */
  private tail(): string {
    const fatal = this.events.find((e) => e.event === 'fatal');
    const parts = [
      fatal ? `fatal: ${String(fatal['message'])}` : '',
      this.stderr.trim() ? `stderr: ${this.stderr.trim().slice(-1500)}` : '',
      this.noise.trim() ? `stdout: ${this.noise.trim().slice(-500)}` : '',
    ].filter(Boolean);
    return parts.length > 0 ? ` [${parts.join(' | ')}]` : '';
  }
}

/** Starts a child-process peer (node-datachannel on loopback unless told otherwise) and waits until it joined. */
export async function spawnPeer(
  label: string,
  config: Omit<PeerProcessConfig, 'bindAddress'> & { readonly bindAddress?: string | null },
): Promise<PeerProcess> {
  const { bindAddress, ...rest } = config;
  const usesWrtc = config.binding === '@roamhq/wrtc';
  const address = bindAddress === null || usesWrtc ? undefined : (bindAddress ?? LOOPBACK);
  const started = performance.now();
  const peer = new PeerProcess(label, { ...rest, ...(address !== undefined ? { bindAddress: address } : {}) });
  processes.add(peer);
  await peer.ready();
  const tookMs = performance.now() - started;
  if (tookMs > SLOW_MS) slow(`child peer ${label} took ${tookMs.toFixed(0)} ms to start and join`);
  return peer;
}

// ----------------------------------------------------------------------------------------- placement

/** The first `count` ids `${prefix}${i}` whose owner for `capability`, in `mesh`'s view, is `owner`. */
export function idsOwnedBy(mesh: Mesh, owner: string, capability: string, count: number, prefix = 'id-'): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++) {
    if (i > count * 1000 + 100_000) throw new Error(`idsOwnedBy: found only ${ids.length} ids owned by ${owner} for ${capability}`);
    const id = `${prefix}${i}`;
    if (mesh.ownerPeer(mesh.shardFor(id), capability) === owner) ids.push(id);
  }
  return ids;
}

export function ownerOf(mesh: Mesh, id: string, capability: string): string | undefined {
  return mesh.ownerPeer(mesh.shardFor(id), capability);
}

/** Every shard's owner for `capability` in `mesh`'s view (null: nobody has the capability). */
export function shardOwners(mesh: Mesh, capability: string): (string | null)[] {
  const owners: (string | null)[] = [];
  for (let shard = 0; shard < mesh.shardCount; shard++) owners.push(mesh.ownerPeer(shard, capability) ?? null);
  return owners;
}

// -------------------------------------------------------------------------------------------- views

export type AnyPeer = Mesh | PeerProcess;

export const idOf = (peer: AnyPeer): string => peer.peerId;

export async function viewOf(peer: AnyPeer): Promise<PeerInfo[]> {
  return peer instanceof PeerProcess ? peer.peers() : peer.peers();
}

/** Waits until every peer's view holds exactly the given peers (ids), each with the given capabilities if set. */
export async function waitForViews(
  peers: readonly AnyPeer[],
  expected: readonly AnyPeer[] | readonly string[],
  timeoutMs: number,
  capabilities?: Readonly<Record<string, readonly string[]>>,
): Promise<void> {
  const want = expected.map((p) => (typeof p === 'string' ? p : p.peerId)).sort();
  const matches = (view: PeerInfo[]): boolean => {
    const ids = view.map((p) => p.id).sort();
    if (ids.join(',') !== want.join(',')) return false;
    if (!capabilities) return true;
    return view.every((p) => {
      const caps = capabilities[p.id];
      return caps === undefined || [...p.capabilities].sort().join(',') === [...caps].sort().join(',');
    });
  };
  const started = performance.now();
  await until(
    async () => (await Promise.all(peers.map(viewOf))).every(matches),
    async () => {
      const views = await Promise.all(
        peers.map(async (p) => `${p.peerId} sees [${(await viewOf(p)).map((i) => `${i.id}(${i.capabilities.join('+')})`).join(', ')}]`),
      );
      return `every peer to see exactly [${want.join(', ')}]; ${views.join('; ')}`;
    },
    { timeoutMs, intervalMs: 50 },
  );
  const tookMs = performance.now() - started;
  if (tookMs > SLOW_MS) slow(`${peers.length} views converged after ${tookMs.toFixed(0)} ms`);
}

export async function activationsOf(peer: AnyPeer): Promise<ActivationInfo[]> {
  return peer instanceof PeerProcess ? peer.activations() : peer.activations();
}

export function callOn<R = unknown>(peer: AnyPeer, request: CallRequest): Promise<CallResult<R>> {
  return peer instanceof PeerProcess ? peer.call<R>(request) : peer.call<R>(request);
}

// ------------------------------------------------------------------------------ signaling server process

/** A signaling server in a child process (fixtures/server-process.ts): lets a test crash it with SIGKILL. */
export class ServerProcess {
  url = '';
  port = 0;
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcessWithoutNullStreams;
  private done = false;
  private output = '';

  constructor(port: number) {
    this.child = spawn(process.execPath, ['--import', 'tsx', SERVER_PROCESS, String(port)], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.done = true;
        resolve({ code, signal });
      }),
    );
    this.child.stdin.on('error', () => undefined);
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => (this.output = (this.output + chunk).slice(-4000)));
    this.child.stderr.on('data', (chunk: string) => (this.output = (this.output + chunk).slice(-4000)));
  }

  async ready(timeoutMs = 25_000): Promise<void> {
    await until(
      () => this.done || /"type":"ready"/.test(this.output),
      () => `signaling server process to listen; output: ${this.output.slice(-1000)}`,
      { timeoutMs },
    );
    const line = this.output.split('\n').find((l) => l.includes('"type":"ready"'));
    if (this.done || line === undefined) throw new Error(`signaling server process died: ${this.output.slice(-1000)}`);
    const ready = JSON.parse(line) as { url: string; port: number };
    this.url = ready.url;
    this.port = ready.port;
  }

  /** SIGKILL: the server vanishes without telling anyone (no peer-left, no close handshake). */
  async crash(): Promise<void> {
    if (!this.done) this.child.kill('SIGKILL');
    await withTimeout(this.exited, 'signaling server process dying after SIGKILL', 5000);
  }

  async dispose(): Promise<void> {
    if (this.done) return;
    this.child.stdin.end();
    try {
      await withTimeout(this.exited, 'signaling server process exiting', 5000);
    } catch {
      await this.crash();
    }
  }
}

/** Starts a signaling server in a child process on 127.0.0.1 (port 0: any). Disposed by cleanup(). */
export async function spawnServer(port = 0): Promise<ServerProcess> {
  const server = new ServerProcess(port);
  serverProcesses.add(server);
  await server.ready();
  return server;
}
