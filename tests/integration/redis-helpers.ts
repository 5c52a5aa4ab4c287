/**
 * A real, throwaway redis-server for the Redis tests (and the bench's store scenario): a free port on
 * 127.0.0.1, no persistence, killed at the end. No vitest in here, so the bench can use it too. `tests/provision.mjs` (run by `npm test`) installs redis-server when it is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';

export const REDIS_SERVER_BIN = process.env['REDIS_SERVER_BIN'] ?? '/usr/bin/redis-server';

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** Kills redis-server and waits for it to exit; idempotent. */
  stop(): Promise<void>;
}

/** A port that was free a moment ago: the OS picks it for a listener on port 0, which is then closed. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not read the port of a listener'))));
    });
  });
}

/** Sends PING over a raw socket; true on +PONG. */
export function ping(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/**
 * Starts redis-server on a free port (or `port`) and resolves once it answers PING. A free port is found by
 * binding a listener to port 0 first; if another process grabs it before redis-server binds, it is retried.
 */
export async function startRedis(options: { readonly timeoutMs?: number; readonly port?: number } = {}): Promise<TestRedis> {
  if (!existsSync(REDIS_SERVER_BIN)) {
    throw new Error(`${REDIS_SERVER_BIN} not found: run \`node tests/provision.mjs\` (or apt-get install redis-server)`);
  }
  // A given port (e.g. restarting a killed server in place) is used as it is.
  if (options.port !== undefined) return startOnce(options.port, options.timeoutMs ?? 10_000);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(await freePort(), options.timeoutMs ?? 10_000);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(port: number, timeoutMs: number): Promise<TestRedis> {
  const child = spawn(
    REDIS_SERVER_BIN,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const force = setTimeout(() => child.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(force);
      }
    })());

  try {
    // A plain loop rather than fixtures/wait.ts's until: the bench starts its Redis with this too, outside vitest.
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (spawnError !== undefined) throw new Error(`could not start ${REDIS_SERVER_BIN}: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}): ${output.trim()}`);
      }
      if (await ping(port)) break;
      if (performance.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for: redis-server on port ${port} to answer PING: ${output.trim()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  } catch (error) {
    // Still starting after the timeout: do not leave it behind. (One that failed to spawn may never emit
    // 'exit', so stop() is not awaited for it.)
    if (spawnError === undefined && child.exitCode === null && child.signalCode === null) await stop();
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, port, process: child, stop };
}
