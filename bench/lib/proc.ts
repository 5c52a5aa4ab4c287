/**
 * Child processes of the bench: each runs a bench script under `node --import tsx`, talks to the parent
 * over IPC (request/response plus events), and is killed when the bench ends, however it ends.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from './workload.js';

export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = resolve(BENCH_DIR, '..');

interface Request {
  readonly id: number;
  readonly cmd: string;
  readonly args: unknown;
}
interface Response {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}
interface EventMessage {
  readonly event: string;
  readonly data: unknown;
}

// ------------------------------------------------------------------------------------------ child side

export type Handler = (args: never) => unknown;

/** Serves `handlers` to the parent; exits when the parent goes away. */
export function serve(handlers: Record<string, Handler>): void {
  if (!process.send) throw new Error('bench child must be started by the bench (no IPC channel)');
  process.on('disconnect', () => process.exit(0));
  process.on('message', (raw: unknown) => {
    const msg = raw as Request;
    if (typeof msg?.id !== 'number') return;
    const handler = handlers[msg.cmd];
    void (async () => {
      let reply: Response;
      try {
        if (!handler) throw new Error(`unknown command ${msg.cmd}`);
        const result = await (handler as (args: unknown) => unknown)(msg.args);
        reply = { id: msg.id, ok: true, result: result ?? null };
      } catch (error) {
        reply = { id: msg.id, ok: false, error: describe(error) };
      }
      process.send?.(reply);
    })();
  });
  process.send({ event: 'ready', data: process.pid } satisfies EventMessage);
}

export function emit(event: string, data: unknown): void {
  process.send?.({ event, data } satisfies EventMessage);
}

// ----------------------------------------------------------------------------------------- parent side

const live = new Set<ChildProcess>();

function killAll(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}
process.on('exit', killAll);

export interface SpawnOptions {
  /** Extra node flags (e.g. --expose-gc, --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  readonly args?: readonly string[];
  /** Time allowed to load and report ready. */
  readonly readyTimeoutMs?: number;
  /** Run `script` (an absolute path to plain JS) with plain node, without tsx. */
  readonly plain?: boolean;
}

export class BenchChild {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Map<string, ((data: unknown) => void)[]>();
  private exited: string | null = null;
  readonly ready: Promise<void>;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readyTimeoutMs: number,
  ) {
    live.add(child);
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    const readyTimer = setTimeout(() => readyReject(new Error(`${name}: not ready after ${readyTimeoutMs} ms`)), readyTimeoutMs);
    this.on('ready', () => {
      clearTimeout(readyTimer);
      readyResolve();
    });
    child.on('message', (raw: unknown) => {
      const msg = raw as Partial<Response & EventMessage>;
      if (typeof msg.event === 'string') {
        for (const listener of this.listeners.get(msg.event) ?? []) listener(msg.data);
        return;
      }
      if (typeof msg.id !== 'number') return;
      const waiter = this.waiting.get(msg.id);
      if (!waiter) return;
      this.waiting.delete(msg.id);
      if (msg.ok) waiter.resolve(msg.result);
      else waiter.reject(new Error(`${name}: ${msg.error ?? 'failed'}`));
    });
    child.on('exit', (code, signal) => {
      live.delete(child);
      clearTimeout(readyTimer);
      this.exited = `exited (code ${code ?? 'none'}, signal ${signal ?? 'none'})`;
      readyReject(new Error(`${name} ${this.exited}`));
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`${name} ${this.exited}`));
      this.waiting.clear();
    });
  }

  static spawn(name: string, script: string, options: SpawnOptions = {}): BenchChild {
    const child = fork(resolve(BENCH_DIR, script), [...(options.args ?? [])], {
      cwd: REPO_DIR,
      execArgv: [...(options.plain ? [] : ['--import', 'tsx']), ...(options.nodeArgs ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, RTC_MESH_BENCH_CHILD: name },
    });
    return new BenchChild(name, child, options.readyTimeoutMs ?? 30_000);
  }

  /** Listens to an event of the child; returns the unsubscribe. */
  on(event: string, listener: (data: unknown) => void): () => void {
    const list = this.listeners.get(event) ?? [];
    list.push(listener);
    this.listeners.set(event, list);
    return () => {
      const current = this.listeners.get(event) ?? [];
      this.listeners.set(
        event,
        current.filter((l) => l !== listener),
      );
    };
  }

  call<T = unknown>(cmd: string, args: unknown = {}, timeoutMs = 60_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} ${this.exited}`));
    const id = this.nextId++;
    return new Promise<T>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolvePromise(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ id, cmd, args } satisfies Request);
    });
  }

  get alive(): boolean {
    return this.exited === null;
  }

  /** Asks the child to exit, then kills it if it has not within `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    if (!this.alive) return;
    const gone = new Promise<void>((res) => this.child.once('exit', () => res()));
    try {
      this.child.disconnect();
    } catch {
      // IPC already closed
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }
}

/** Kills every child still running (also runs on process exit). */
export function killAllChildren(): void {
  killAll();
}
