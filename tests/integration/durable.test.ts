/**
 * Durable actors with every part real: a redis-server, the signaling server, Node peers in separate
 * processes over WebRTC, the demo's GameActor (static durable) in a RedisStore that all peers share.
 *
 * - write-through: under a steady load of increments from both peers, every peer is SIGKILLed (no drain);
 *   two fresh peers find every acknowledged increment in Redis (an unanswered one may or may not be there).
 * - write-behind: the store hears nothing during the load; stopping the peers gracefully (SIGTERM, stop)
 *   flushes it, and fresh peers find exactly what was acknowledged.
 * - Redis frozen (SIGSTOP), then killed mid-load: calls fail with STORE_UNAVAILABLE, none hangs (frozen:
 *   each store operation ends at storeTimeoutMs; killed: at once); once Redis is back on its port, calls to
 *   every player succeed again.
 *
 * The test process drives the load through each peer's command channel, so it knows exactly which calls
 * were answered: a call whose peer died before answering counts as "maybe".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import type { MeshStats } from '../../shared/index.js';
import {
  cleanup,
  LOOPBACK,
  PeerCallError,
  REPO_ROOT,
  spawnPeer,
  startPeer,
  startServer,
  uniqueRoom,
  waitForViews,
  type PeerProcess,
} from './helpers.js';
import type { PeerProcessConfig } from './fixtures/peer-process.js';
import { freePort, startRedis, type TestRedis } from './redis-helpers.js';
import { until, withTimeout } from '../fixtures/wait.js';

const PLAYERS = Array.from({ length: 200 }, (_, i) => `player_${i}`);
const CALL_TIMEOUT_MS = 5000;
const STORE_TIMEOUT_MS = 1500;

const redises: TestRedis[] = [];
const clis: ChildProcess[] = [];
afterEach(async () => {
  for (const child of clis.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await cleanup();
  await Promise.all(redises.splice(0).map((r) => r.stop()));
}, 30_000);

async function redis(port?: number): Promise<TestRedis> {
  const r = await startRedis(port === undefined ? {} : { port });
  redises.push(r);
  return r;
}

interface CallRecord {
  readonly id: string;
  readonly startedAt: number;
  endedAt: number | null;
  /** 'ok', an error code, or 'NO_ANSWER' (the peer died first). */
  outcome: string | null;
}

/**
 * Increments random players through the given peers, `inflight` calls at a time per peer, recording every
 * call: answered (acknowledged or failed, with its code) or never answered.
 */
class Load {
  readonly records: CallRecord[] = [];
  private running = true;
  private readonly workers: Promise<void>[];

  constructor(peers: readonly PeerProcess[], inflight: number) {
    this.workers = peers.flatMap((peer) => Array.from({ length: inflight }, () => this.work(peer)));
  }

  private async work(peer: PeerProcess): Promise<void> {
    while (this.running && !peer.hasExited) {
      const id = PLAYERS[Math.floor(Math.random() * PLAYERS.length)]!;
      const record: CallRecord = { id, startedAt: performance.now(), endedAt: null, outcome: null };
      this.records.push(record);
      try {
        await peer.call({
          actor: 'GameActor',
          id,
          capability: 'game',
          payload: { action: 'increment_score' },
          timeoutMs: CALL_TIMEOUT_MS,
        });
        record.outcome = 'ok';
      } catch (error) {
        record.outcome = error instanceof PeerCallError ? error.code : 'NO_ANSWER';
        // A failure can come back at once (Redis down): let the event loop breathe.
        await new Promise((resolve) => setImmediate(resolve));
      }
      record.endedAt = performance.now();
    }
  }

  get acknowledged(): number {
    return this.records.filter((r) => r.outcome === 'ok').length;
  }

  count(outcome: string, since = 0): number {
    return this.records.filter((r) => r.outcome === outcome && r.startedAt >= since).length;
  }

  /** Stops issuing calls and waits for every call in flight to settle (or its peer to die). */
  async stop(): Promise<void> {
    this.running = false;
    await withTimeout(Promise.all(this.workers), 'the load to stop', CALL_TIMEOUT_MS + 15_000);
  }

  /** Per player: increments acknowledged, and calls whose outcome is unknown (unanswered or failed). */
  tally(): { acked: Map<string, number>; maybe: Map<string, number>; outcomes: Record<string, number> } {
    const acked = new Map<string, number>();
    const maybe = new Map<string, number>();
    const outcomes: Record<string, number> = {};
    for (const r of this.records) {
      const outcome = r.outcome ?? 'in flight';
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      const into = outcome === 'ok' ? acked : maybe;
      into.set(r.id, (into.get(r.id) ?? 0) + 1);
    }
    return { acked, maybe, outcomes };
  }
}

function baseConfig(url: string, room: string, redisUrl: string, prefix: string): PeerProcessConfig {
  return {
    signal: url,
    room,
    capabilities: ['game'],
    callTimeoutMs: CALL_TIMEOUT_MS,
    storeTimeoutMs: STORE_TIMEOUT_MS,
    store: { kind: 'redis', url: redisUrl, prefix },
  };
}

async function startPair(labels: readonly [string, string], config: PeerProcessConfig): Promise<[PeerProcess, PeerProcess]> {
  const [a, b] = await Promise.all(labels.map((label) => spawnPeer(label, config)));
  await waitForViews([a!, b!], [a!, b!], 20_000);
  return [a!, b!];
}

/** Every player's score, read (read-only calls, which load from the store) through `peer`. */
async function scores(peer: PeerProcess): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < PLAYERS.length; i += 25) {
    await Promise.all(
      PLAYERS.slice(i, i + 25).map(async (id) => {
        const { result } = await peer.call<{ score: number }>({
          actor: 'GameActor',
          id,
          capability: 'game',
          payload: { action: 'get_stats' },
          timeoutMs: CALL_TIMEOUT_MS,
        });
        out.set(id, result.score);
      }),
    );
  }
  return out;
}

const storeStats = async (peers: readonly PeerProcess[]): Promise<MeshStats['store'][]> =>
  Promise.all(peers.map(async (p) => (await p.stats()).store));

const storeFailures = (peers: readonly PeerProcess[]): string[] =>
  peers.flatMap((p) => p.events.filter((e) => e.event === 'store-failed').map((e) => `${p.label}: ${JSON.stringify(e)}`));

describe('durable actors in Redis, peers in processes over WebRTC', () => {
  it('write-through: SIGKILL of every peer under load loses no acknowledged increment', async () => {
    const [server, store] = await Promise.all([startServer(), redis()]);
    const config = baseConfig(server.url, uniqueRoom('durable-wt'), store.url, 'wt:');
    const peers = await startPair(['wt1', 'wt2'], config);

    const load = new Load(peers, 12);
    await until(
      () => load.acknowledged >= 2000,
      () => `2000 acknowledged increments (${load.acknowledged})`,
      {
        timeoutMs: 30_000,
      },
    );
    // No drain, no flush: both processes die at once, with calls in flight.
    for (const peer of peers) peer.kill('SIGKILL');
    await Promise.all(peers.map((p) => withTimeout(p.exited, `${p.label} dying`, 5000)));
    await load.stop();
    const { acked, maybe, outcomes } = load.tally();

    const fresh = await startPair(['wt3', 'wt4'], config);
    expect(fresh.map((p) => p.peerId).some((id) => peers.some((old) => old.peerId === id))).toBe(false);
    const found = await scores(fresh[0]!);
    const wrong = PLAYERS.flatMap((id) => {
      const final = found.get(id) ?? -1;
      const want = acked.get(id) ?? 0;
      const extra = maybe.get(id) ?? 0;
      return final >= want && final <= want + extra ? [] : [`${id}: ${final}, acknowledged ${want}, unanswered ${extra}`];
    });
    expect(wrong, JSON.stringify(outcomes)).toEqual([]);
    // Only the kill left calls unanswered; before it nothing failed.
    expect(Object.keys(outcomes).filter((o) => o !== 'ok' && o !== 'NO_ANSWER')).toEqual([]);
    const stats = await storeStats(fresh);
    expect(stats.reduce((n, s) => n + s.loads, 0)).toBeGreaterThanOrEqual(PLAYERS.length);
    expect(stats.every((s) => s.conflicts === 0 && s.failures === 0)).toBe(true);
    console.log(
      `[durable] write-through: ${load.acknowledged} acknowledged, ${outcomes['NO_ANSWER'] ?? 0} unanswered at the kill; fresh peers loaded ${PLAYERS.length} players`,
    );
  }, 60_000);

  it('write-behind: nothing saved during the load; a graceful stop (SIGTERM, then stop) flushes every change', async () => {
    const [server, store] = await Promise.all([startServer(), redis()]);
    // writeBehindMs far beyond the test: only the stop can save anything.
    const config: PeerProcessConfig = {
      ...baseConfig(server.url, uniqueRoom('durable-wb'), store.url, 'wb:'),
      persistence: 'write-behind',
      writeBehindMs: 600_000,
    };
    const peers = await startPair(['wb1', 'wb2'], config);

    const load = new Load(peers, 12);
    await until(
      () => load.acknowledged >= 2000,
      () => `2000 acknowledged increments (${load.acknowledged})`,
      {
        timeoutMs: 30_000,
      },
    );
    await load.stop();
    const { acked, outcomes } = load.tally();
    expect(outcomes).toEqual({ ok: load.records.length });
    expect((await storeStats(peers)).map((s) => s.saves)).toEqual([0, 0]);

    // One leaves on SIGTERM (its actors move to the other, which then holds them all), the other on stop.
    peers[0]!.kill('SIGTERM');
    expect(await withTimeout(peers[0]!.exited, 'wb1 leaving on SIGTERM', 15_000)).toEqual({ code: 0, signal: null });
    await peers[1]!.stop(15_000);
    expect((await peers[1]!.exited).code).toBe(0);
    expect(storeFailures(peers)).toEqual([]);

    const fresh = await startPair(['wb3', 'wb4'], config);
    const found = await scores(fresh[0]!);
    const wrong = PLAYERS.flatMap((id) =>
      found.get(id) === (acked.get(id) ?? 0) ? [] : [`${id}: ${found.get(id)}, acknowledged ${acked.get(id) ?? 0}`],
    );
    expect(wrong).toEqual([]);
    expect(storeFailures(fresh)).toEqual([]);
  }, 60_000);

  it('Redis frozen, then killed mid-load: calls fail with STORE_UNAVAILABLE in bounded time, and succeed again once it is back', async () => {
    const [server, store] = await Promise.all([startServer(), redis()]);
    const config = baseConfig(server.url, uniqueRoom('durable-down'), store.url, 'down:');
    const peers = await startPair(['dn1', 'dn2'], config);

    const load = new Load(peers, 8);
    await until(
      () => load.acknowledged >= 500,
      () => `500 acknowledged increments (${load.acknowledged})`,
      { timeoutMs: 30_000 },
    );
    // Frozen (SIGSTOP): connected, never answering; only storeTimeoutMs ends each operation. A change made
    // while its actor's save hangs waits for that save and then its own: at most two store timeouts.
    const frozenAt = performance.now();
    store.process.kill('SIGSTOP');
    await until(
      () => performance.now() - frozenAt > 2 * STORE_TIMEOUT_MS + 1000 && load.count('STORE_UNAVAILABLE', frozenAt) >= 20,
      () => `calls to fail with STORE_UNAVAILABLE while Redis is frozen (${load.count('STORE_UNAVAILABLE', frozenAt)})`,
      { timeoutMs: 15_000 },
    );
    // Killed: the connection drops, and operations fail at once.
    const killedAt = performance.now();
    store.process.kill('SIGKILL');
    await withTimeout(store.stop(), 'redis-server dying', 5000);
    await until(
      () => performance.now() - killedAt > STORE_TIMEOUT_MS + 1000 && load.count('STORE_UNAVAILABLE', killedAt) >= 50,
      () => `calls to fail with STORE_UNAVAILABLE once Redis is gone (${load.count('STORE_UNAVAILABLE', killedAt)})`,
      { timeoutMs: 15_000 },
    );
    await load.stop();
    // Every call made while Redis was frozen or gone settled (load.stop() waited), within its bound.
    const late = (from: number, to: number, boundMs: number): string[] =>
      load.records
        .filter((r) => r.startedAt >= from && r.startedAt < to && r.endedAt! - r.startedAt > boundMs)
        .map(
          (r) => `${r.id}: ${r.outcome} after ${Math.round(r.endedAt! - r.startedAt)} ms, started +${Math.round(r.startedAt - from)} ms`,
        );
    expect(late(frozenAt, killedAt, 2 * STORE_TIMEOUT_MS + 1000)).toEqual([]);
    expect(late(killedAt, Number.POSITIVE_INFINITY, STORE_TIMEOUT_MS + 1000)).toEqual([]);
    const since = load.records.filter((r) => r.startedAt >= frozenAt);
    expect([...new Set(since.map((r) => r.outcome))]).toEqual(['STORE_UNAVAILABLE']);
    const slowest = (from: number, to = Number.POSITIVE_INFINITY): number =>
      Math.round(Math.max(0, ...load.records.filter((r) => r.startedAt >= from && r.startedAt < to).map((r) => r.endedAt! - r.startedAt)));

    // The same port, an empty Redis (the test server keeps nothing): actors that held state meet a store
    // that no longer has it (STORE_CONFLICT once, then they reload); every player answers again.
    const restartedAt = performance.now();
    await redis(store.port);
    const attempts = new Map<string, string[]>();
    await Promise.all(
      PLAYERS.map((id, i) =>
        until(
          async () => {
            const outcome = await peers[i % 2]!.call({
              actor: 'GameActor',
              id,
              capability: 'game',
              payload: { action: 'increment_score' },
            }).then(
              () => 'ok',
              (error: unknown) => (error instanceof PeerCallError ? error.code : String(error)),
            );
            attempts.set(id, [...(attempts.get(id) ?? []), outcome]);
            return outcome === 'ok';
          },
          () => `${id} to answer again: ${attempts.get(id)?.join(', ')}`,
          { timeoutMs: 15_000, intervalMs: 50 },
        ),
      ),
    );
    const tookMs = performance.now() - restartedAt;
    const failedAfter = [...attempts.values()].flat().filter((o) => o !== 'ok' && o !== 'STORE_CONFLICT' && o !== 'STORE_UNAVAILABLE');
    expect(failedAfter).toEqual([]);
    console.log(
      `[durable] redis frozen: ${load.count('STORE_UNAVAILABLE', frozenAt) - load.count('STORE_UNAVAILABLE', killedAt)} STORE_UNAVAILABLE, slowest ${slowest(frozenAt, killedAt)} ms; ` +
        `killed: ${load.count('STORE_UNAVAILABLE', killedAt)} STORE_UNAVAILABLE, slowest ${slowest(killedAt)} ms; ` +
        `every player answered again ${Math.round(tookMs)} ms after the restart`,
    );
  }, 60_000);

  it('rtc-mesh-peer --store redis://: state outlives the peer (write-behind flushed on SIGTERM); a bad --store is a usage error', async () => {
    const [server, store, unused] = await Promise.all([startServer(), redis(), freePort()]);
    const room = uniqueRoom('durable-cli');
    const flags = (peerId: string): string[] => [
      ...['--signal', server.url, '--room', room, '--capabilities', 'game', '--actors', 'demo/actors.ts', '--json'],
      ...['--bind-address', LOOPBACK, '--peer-id', peerId, '--store', `${store.url}/0`, '--store-prefix', 'cli:'],
      ...['--persistence', 'write-behind', '--write-behind-ms', '600000'],
    ];
    const [bad, unreachable] = await Promise.all([
      runCli(['--signal', server.url, '--store', 'mongodb://127.0.0.1/x']),
      runCli(['--signal', server.url, '--room', room, '--store', `redis://127.0.0.1:${unused}`]),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--store must be redis://host:port[/db], file:<dir> or memory; got "mongodb://127.0.0.1/x"');
    expect(bad.stderr).toContain('Usage: rtc-mesh-peer');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/STORE_UNAVAILABLE: cannot connect to Redis at redis:\/\/127\.0\.0\.1:\d+/);

    const first = await startCli(flags('cli-1'));
    expect(first.ready).toMatchObject({
      peerId: 'cli-1',
      store: `redis ${store.url}/0 prefix cli:`,
      persistence: 'write-behind',
      durable: ['GameActor'],
    });
    const caller = await startPeer({ signal: server.url, room, capabilities: [] });
    await until(() => caller.peers().some((p) => p.id === 'cli-1'), 'the caller to see cli-1', { timeoutMs: 20_000 });
    const ids = PLAYERS.slice(0, 20);
    const increment = (id: string) => caller.call({ actor: 'GameActor', id, capability: 'game', payload: { action: 'increment_score' } });
    for (const [i, id] of ids.entries()) for (let n = 0; n <= i % 3; n++) await increment(id);
    first.child.kill('SIGTERM');
    expect(await withTimeout(first.exited, 'cli-1 to leave on SIGTERM', 15_000)).toBe(0);

    const second = await startCli(flags('cli-2'));
    await until(
      () =>
        caller
          .peers()
          .map((p) => p.id)
          .filter((id) => id !== caller.peerId)
          .join() === 'cli-2',
      'the caller to see only cli-2',
      { timeoutMs: 20_000 },
    );
    const found = await Promise.all(
      ids.map(
        async (id) =>
          (await caller.call<{ score: number }>({ actor: 'GameActor', id, capability: 'game', payload: { action: 'get_stats' } })).result
            .score,
      ),
    );
    expect(found).toEqual(ids.map((_, i) => (i % 3) + 1));
    second.child.kill('SIGTERM');
    expect(await withTimeout(second.exited, 'cli-2 to leave on SIGTERM', 15_000)).toBe(0);
  }, 60_000);
});

const CLI = ['--import', 'tsx', 'server/peer-cli.ts'];

function spawnCli(args: readonly string[]): ChildProcess & { readonly exited: Promise<number | null> } {
  const child = spawn(process.execPath, [...CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  clis.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return Object.assign(child, { exited });
}

/** Runs the CLI to its end (it must exit by itself). */
async function runCli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(args);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await withTimeout(child.exited, `rtc-mesh-peer ${args.join(' ')} to exit`, 20_000);
  return { code, stdout, stderr };
}

/** Starts a --json CLI peer and waits for its ready line. */
async function startCli(
  args: readonly string[],
): Promise<{ child: ChildProcess; exited: Promise<number | null>; ready: Record<string, unknown> }> {
  const child = spawnCli(args);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const ready = new Promise<Record<string, unknown>>((resolve) =>
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as Record<string, unknown>;
      if (event['event'] === 'ready') resolve(event);
    }),
  );
  const line = await withTimeout(
    Promise.race([ready, child.exited.then((code) => Promise.reject(new Error(`rtc-mesh-peer exited ${code}: ${stderr}`)))]),
    'rtc-mesh-peer to join its room',
    25_000,
  );
  return { child, exited: child.exited, ready: line };
}
