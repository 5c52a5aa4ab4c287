/**
 * How cost grows with the number of live actors, in one process (standalone Mesh, no transport): calls/s to
 * random actors among 1k and among 1M live ones, and heap per idle actor at 10k, 100k and 1M.
 * Needs --expose-gc (the bench starts this child with it, and with a fixed heap limit, so that 1M actors
 * fit whatever the machine's default limit is).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { Mesh, type Mesh as MeshInstance } from '../../client/node.js';
import { GameActor } from '../../demo/actors.js';
import { settleHeap } from '../lib/heap.js';
import { serve } from '../lib/proc.js';
import { GAME, type DriveResult, loadFresh, loadIds, prng } from '../lib/workload.js';

const INFLIGHT = 300;
const FILL_INFLIGHT = 500;
/** Activated in every memory mesh before the "before" reading, so lazily built structures are not counted per actor. */
const WARM_ACTORS = 2000;

export interface ScaleArgs {
  /** Live actors of the baseline call run. */
  readonly baselineActors: number;
  /** Memory is measured at each count; calls are timed again at the last (largest) one. */
  readonly counts: readonly number[];
  /** Calls per timed run, and how many timed runs (the median is kept). */
  readonly calls: number;
  readonly repeats: number;
}

export interface CallsAt {
  /** Actors the calls were drawn from. */
  readonly actors: number;
  /** Live activations while timing (the memory meshes also hold their warm-up actors). */
  readonly live: number;
  readonly median: DriveResult;
  readonly runs: number[];
  /** Garbage-collection pause time inside the median run, and its share of that run's wall time. */
  readonly gcMs: number;
  readonly gcShare: number;
}

export interface MemoryAt {
  readonly count: number;
  readonly bytesPerActor: number;
  readonly rssPerActor: number;
  readonly heapBefore: number;
  readonly heapAfter: number;
  readonly fillRate: number;
  readonly fillMs: number;
}

/** Lookups/s of a bare Map over the same key sets: the floor under the 1M/1k call ratio (see mapFloor). */
export interface MapFloor {
  readonly small: number;
  readonly large: number;
}

export interface ScaleOutput {
  readonly inflight: number;
  readonly floor: MapFloor;
  readonly heapLimitMb: number;
  readonly warmup: { readonly fill: number; readonly calls: number };
  readonly baseline: CallsAt;
  readonly large: CallsAt;
  readonly memory: MemoryAt[];
}

function start(): Promise<MeshInstance> {
  return Mesh.start({ capabilities: ['game'], actors: { GameActor } });
}

async function fill(mesh: MeshInstance, prefix: string, count: number): Promise<DriveResult> {
  const before = mesh.stats().activations.active;
  const result = await loadFresh(mesh, GAME, prefix, FILL_INFLIGHT, { total: count });
  const active = mesh.stats().activations.active;
  if (result.errors > 0 || active !== before + count) {
    throw new Error(`filling ${count}: ${active - before} activated, ${result.errors} errors (${result.firstError ?? 'none'})`);
  }
  return result;
}

/** GC pause time (ms) observed while `body` runs. Node queues the entries and delivers them a timer turn later, not by setImmediate. */
async function withGcTime<T>(body: () => Promise<T>): Promise<{ result: T; gcMs: number }> {
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    const result = await body();
    await new Promise((resolve) => setTimeout(resolve, 10));
    return { result, gcMs };
  } finally {
    observer.disconnect();
  }
}

/**
 * `calls` calls to ids drawn at random among `player_0 .. player_{actors-1}`, all already live. The ids are
 * built before timing so that only the mesh's lookup and dispatch are timed; the same draw serves every repeat.
 */
async function timeCalls(mesh: MeshInstance, actors: number, calls: number, repeats: number): Promise<CallsAt> {
  const random = prng(15);
  const ids = Array.from({ length: calls }, () => `player_${Math.floor(random() * actors)}`);
  const live = mesh.stats().activations.active;
  const runs: { drive: DriveResult; gcMs: number }[] = [];
  for (let i = 0; i < repeats; i++) {
    // Start every run from a collected heap: garbage left by the fill is not charged to the calls.
    await settleHeap();
    const { result, gcMs } = await withGcTime(() => loadIds(mesh, GAME, ids, INFLIGHT, { total: calls }));
    if (result.errors > 0) throw new Error(`${result.errors} of ${calls} calls failed: ${result.firstError ?? ''}`);
    runs.push({ drive: result, gcMs });
  }
  // A call to an id that was not live would have activated it: the count proves every call hit a live actor.
  const after = mesh.stats().activations.active;
  if (after !== live) throw new Error(`calls activated ${after - live} new actors: the ids were not all live`);
  const sorted = [...runs].sort((x, y) => x.drive.rate - y.drive.rate);
  const mid = sorted[Math.floor(sorted.length / 2)]!;
  return {
    actors,
    live,
    median: mid.drive,
    runs: runs.map((r) => r.drive.rate),
    gcMs: mid.gcMs,
    gcShare: mid.gcMs / mid.drive.ms,
  };
}

async function warmup(): Promise<ScaleOutput['warmup']> {
  // JIT warm-up of both paths (activation and call to a live actor) on a throwaway mesh.
  const mesh = await start();
  try {
    const created = await fill(mesh, 'player_', 20_000);
    const random = prng(1);
    const ids = Array.from({ length: 50_000 }, () => `player_${Math.floor(random() * 20_000)}`);
    const called = await loadIds(mesh, GAME, ids, INFLIGHT, { total: ids.length });
    return { fill: created.rate, calls: called.rate };
  } finally {
    await mesh.stop();
  }
}

async function baseline(args: ScaleArgs): Promise<CallsAt> {
  // Exactly `baselineActors` live: no warm-up actors, which would be 3x the working set at 1k.
  const mesh = await start();
  try {
    await fill(mesh, 'player_', args.baselineActors);
    return await timeCalls(mesh, args.baselineActors, args.calls, args.repeats);
  } finally {
    await mesh.stop();
  }
}

/** Heap per idle actor at `count`, and, when `timeAfter`, calls timed on the same filled mesh. */
async function memoryAt(count: number, args: ScaleArgs, timeAfter: boolean): Promise<{ memory: MemoryAt; calls: CallsAt | null }> {
  const mesh = await start();
  try {
    await fill(mesh, 'warm_', WARM_ACTORS);
    const before = await settleHeap();
    const rssBefore = process.memoryUsage().rss;
    const filled = await fill(mesh, 'player_', count);
    const after = await settleHeap();
    const rssAfter = process.memoryUsage().rss;
    const memory: MemoryAt = {
      count,
      bytesPerActor: (after - before) / count,
      rssPerActor: (rssAfter - rssBefore) / count,
      heapBefore: before,
      heapAfter: after,
      fillRate: filled.rate,
      fillMs: filled.ms,
    };
    const calls = timeAfter ? await timeCalls(mesh, count, args.calls, args.repeats) : null;
    return { memory, calls };
  } finally {
    await mesh.stop();
    // The next mesh's "before" reading must not include this one's actors.
    await settleHeap();
  }
}

/**
 * What the memory system allows: lookups/s of a bare Map<string, object> with `actors` keys, each lookup
 * with the same random draw of fresh id strings as timeCalls and touching the value and one object behind
 * it (as a call touches its activation and actor). At 1k keys it all sits in cache; at 1M each lookup
 * misses cache and TLB several times, whatever the code around it does.
 */
function mapFloor(actors: number, calls: number): number {
  const map = new Map<string, { n: number; instance: { score: number } }>();
  for (let i = 0; i < actors; i++) map.set(`player_${i}`, { n: 0, instance: { score: 0 } });
  const random = prng(15);
  const ids = Array.from({ length: calls }, () => `player_${Math.floor(random() * actors)}`);
  const rates: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const t0 = performance.now();
    for (const id of ids) {
      const value = map.get(id)!;
      value.n++;
      value.instance.score++;
    }
    rates.push(calls / ((performance.now() - t0) / 1000));
  }
  return rates.sort((x, y) => x - y)[2]!;
}

serve({
  run: async (args: ScaleArgs): Promise<ScaleOutput> => {
    const warm = await warmup();
    const base = await baseline(args);
    const memory: MemoryAt[] = [];
    let large: CallsAt | null = null;
    for (const [i, count] of args.counts.entries()) {
      const last = i === args.counts.length - 1;
      const at = await memoryAt(count, args, last);
      memory.push(at.memory);
      if (at.calls) large = at.calls;
    }
    if (large === null) throw new Error('no counts given');
    const floor = { small: mapFloor(args.baselineActors, args.calls), large: mapFloor(large.actors, args.calls) };
    await settleHeap();
    return {
      inflight: INFLIGHT,
      floor,
      heapLimitMb: getHeapStatistics().heap_size_limit / 2 ** 20,
      warmup: warm,
      baseline: base,
      large,
      memory,
    };
  },
});
