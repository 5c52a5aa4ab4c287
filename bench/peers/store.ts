/**
 * Durable GameActor calls on a standalone Mesh (no transport), in a fresh process: the same workloads with
 * no store (the baseline), a MemoryStore (write-through), and a RedisStore (write-through, write-behind)
 * on the redis-server the bench started. Each measurement gets a fresh mesh and store (a fresh key prefix)
 * after a JIT warm-up; full runs repeat and keep the median.
 */
import { Mesh, MemoryStore, type Mesh as MeshInstance, type StateStore } from '../../client/node.js';
import { GameActor } from '../../demo/actors.js';
import { RedisStore } from '../../server/stores/index.js';
import { serve } from '../lib/proc.js';
import { GAME, loadIds, sequential, type DriveResult, type LatencySummary } from '../lib/workload.js';

export type StoreConfigName = 'none' | 'memory-wt' | 'redis-wt' | 'redis-wb';
const CONFIGS: readonly StoreConfigName[] = ['none', 'memory-wt', 'redis-wt', 'redis-wb'];

export interface StoreCounts {
  readonly loads: number;
  readonly saves: number;
  readonly failures: number;
}

export interface StoreConfigResult {
  readonly config: StoreConfigName;
  readonly hot: DriveResult & { readonly runs: number[]; readonly store: StoreCounts };
  readonly sequential: LatencySummary & { readonly store: StoreCounts };
  /** mesh.stop() after the hot run: for write-behind, the flush of every unsaved actor. */
  readonly stopMs: number;
}

export interface StoreOutput {
  readonly actors: number;
  readonly hotCalls: number;
  readonly inflight: number;
  readonly sequentialCalls: number;
  readonly results: StoreConfigResult[];
}

let runCounter = 0;

async function fresh(config: StoreConfigName, redisUrl: string): Promise<{ mesh: MeshInstance; store: StateStore | null }> {
  const prefix = `bench:${process.pid}:${++runCounter}:`;
  const store: StateStore | null =
    config === 'none' ? null : config === 'memory-wt' ? new MemoryStore() : new RedisStore({ url: redisUrl, prefix });
  if (store instanceof RedisStore) await store.connect();
  const mesh = await Mesh.start({
    capabilities: ['game'],
    actors: { GameActor },
    ...(store !== null ? { store, persistence: config === 'redis-wb' ? 'write-behind' : 'write-through' } : {}),
  });
  return { mesh, store };
}

const counts = (mesh: MeshInstance): StoreCounts => {
  const { loads, saves, failures } = mesh.stats().store;
  return { loads, saves, failures };
};

async function hot(
  config: StoreConfigName,
  redisUrl: string,
  actors: number,
  inflight: number,
  total: number,
): Promise<DriveResult & { store: StoreCounts; stopMs: number }> {
  const { mesh, store } = await fresh(config, redisUrl);
  try {
    const ids = Array.from({ length: actors }, (_, i) => `player_${i}`);
    // Every actor active (loaded from the store) before the clock starts.
    await Promise.all(ids.map((id) => mesh.call({ ...GAME, id })));
    const before = counts(mesh);
    const result = await loadIds(mesh, GAME, ids, inflight, { total });
    const after = counts(mesh);
    if (result.errors > 0) throw new Error(`${config}: ${result.errors} calls failed: ${result.firstError}`);
    const t0 = performance.now();
    await mesh.stop();
    const stopMs = performance.now() - t0;
    return {
      ...result,
      stopMs,
      store: { loads: after.loads - before.loads, saves: after.saves - before.saves, failures: after.failures - before.failures },
    };
  } finally {
    await mesh.stop();
    await store?.close?.();
  }
}

async function seq(config: StoreConfigName, redisUrl: string, count: number): Promise<LatencySummary & { store: StoreCounts }> {
  const { mesh, store } = await fresh(config, redisUrl);
  try {
    await sequential(mesh, GAME, 'player_1', Math.min(count, 200)); // warm the path (and load the actor)
    const before = counts(mesh);
    const result = await sequential(mesh, GAME, 'player_1', count);
    const after = counts(mesh);
    return {
      ...result,
      store: { loads: after.loads - before.loads, saves: after.saves - before.saves, failures: after.failures - before.failures },
    };
  } finally {
    await mesh.stop();
    await store?.close?.();
  }
}

function median<T>(runs: T[], key: (t: T) => number): T {
  const sorted = [...runs].sort((x, y) => key(x) - key(y));
  return sorted[Math.floor(sorted.length / 2)]!;
}

serve({
  run: async (args: { quick: boolean; redisUrl: string }): Promise<StoreOutput> => {
    const q = args.quick;
    const actors = 100;
    const inflight = 200;
    const hotCalls = q ? 10_000 : 30_000;
    const sequentialCalls = q ? 500 : 2000;
    const times = q ? 1 : 3;
    // JIT warm-up: every configuration once.
    for (const config of CONFIGS) {
      await hot(config, args.redisUrl, actors, inflight, 2000);
      await seq(config, args.redisUrl, 100);
    }
    const results: StoreConfigResult[] = [];
    for (const config of CONFIGS) {
      const runs: (DriveResult & { store: StoreCounts; stopMs: number })[] = [];
      for (let i = 0; i < times; i++) runs.push(await hot(config, args.redisUrl, actors, inflight, hotCalls));
      const best = median(runs, (r) => r.rate);
      const latency = await seq(config, args.redisUrl, sequentialCalls);
      results.push({ config, hot: { ...best, runs: runs.map((r) => r.rate) }, sequential: latency, stopMs: best.stopMs });
    }
    return { actors, hotCalls, inflight, sequentialCalls, results };
  },
});
