/**
 * Load generators shared by every bench process: Node peers, the local child and the browser page.
 * Isomorphic on purpose (no Node or DOM imports), so the tab runs exactly the same loop as a Node peer.
 */
import type { Mesh } from '../../shared/mesh.js';

export interface LatencySummary {
  readonly count: number;
  /** Microseconds. */
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
}

export interface DriveResult {
  readonly calls: number;
  readonly errors: number;
  readonly ms: number;
  /** Completed calls per second (errors excluded). */
  readonly rate: number;
  readonly firstError: string | null;
  /** Longest time (ms) with no call completing, and how many such gaps exceeded 10 ms (stalls). */
  readonly maxGapMs: number;
  readonly stalls: number;
}

export interface DriveLimit {
  /** Stop after this many calls were issued. */
  readonly total?: number;
  /** Stop issuing new calls after this long (ms); calls already in flight finish. */
  readonly durationMs?: number;
}

/** Keeps `inflight` calls outstanding (a sliding window of async workers) until the limit is reached. */
export async function drive(inflight: number, limit: DriveLimit, call: (i: number) => Promise<unknown>): Promise<DriveResult> {
  const total = limit.total ?? Number.POSITIVE_INFINITY;
  const start = performance.now();
  const deadline = limit.durationMs !== undefined ? start + limit.durationMs : Number.POSITIVE_INFINITY;
  let issued = 0;
  let ok = 0;
  let errors = 0;
  let firstError: string | null = null;
  let last = start;
  let maxGap = 0;
  let stalls = 0;
  const worker = async (): Promise<void> => {
    while (issued < total) {
      const i = issued++;
      try {
        await call(i);
        ok++;
      } catch (error) {
        errors++;
        firstError ??= describe(error);
      }
      // One clock read per completion: the deadline check and the stall detector share it.
      const now = performance.now();
      const gap = now - last;
      last = now;
      if (gap > maxGap) maxGap = gap;
      if (gap > 10) stalls++;
      if (now >= deadline) return;
    }
  };
  const workers: Promise<void>[] = [];
  const n = Math.max(1, Math.min(inflight, total));
  for (let w = 0; w < n; w++) workers.push(worker());
  await Promise.all(workers);
  const ms = performance.now() - start;
  return { calls: ok, errors, ms, rate: ok / (ms / 1000), firstError, maxGapMs: maxGap, stalls };
}

/** Percentiles of latencies in microseconds (nearest rank). */
export function summarize(samplesUs: number[]): LatencySummary {
  const sorted = Float64Array.from(samplesUs).sort();
  const n = sorted.length;
  if (n === 0) return { count: 0, p50: 0, p95: 0, p99: 0, mean: 0, min: 0, max: 0 };
  const at = (q: number): number => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { count: n, p50: at(0.5), p95: at(0.95), p99: at(0.99), mean: sum / n, min: sorted[0]!, max: sorted[n - 1]! };
}

export interface CallSpec {
  readonly capability: string;
  readonly actor: string;
  readonly payload: unknown;
  readonly timeoutMs?: number;
}

export const INCREMENT = { action: 'increment_score' } as const;

/** The seed's message: GameActor / increment_score under capability 'game'. */
export const GAME: CallSpec = { capability: 'game', actor: 'GameActor', payload: INCREMENT };

function request(spec: CallSpec, id: string): Parameters<Mesh['call']>[0] {
  return spec.timeoutMs !== undefined
    ? { capability: spec.capability, actor: spec.actor, id, payload: spec.payload, timeoutMs: spec.timeoutMs }
    : { capability: spec.capability, actor: spec.actor, id, payload: spec.payload };
}

/** Calls ids[i % ids.length] with `inflight` calls outstanding. */
export function loadIds(mesh: Mesh, spec: CallSpec, ids: readonly string[], inflight: number, limit: DriveLimit): Promise<DriveResult> {
  if (ids.length === 0) throw new Error('loadIds: no ids');
  return drive(inflight, limit, (i) => mesh.call(request(spec, ids[i % ids.length]!)));
}

/** Calls `prefix + i` (a new id every call: every call activates an actor somewhere). */
export function loadFresh(mesh: Mesh, spec: CallSpec, prefix: string, inflight: number, limit: DriveLimit): Promise<DriveResult> {
  return drive(inflight, limit, (i) => mesh.call(request(spec, prefix + i)));
}

/** `count` calls one after the other; per-call latency from just before call() to its resolution. */
export async function sequential(mesh: Mesh, spec: CallSpec, id: string, count: number): Promise<LatencySummary> {
  const samples: number[] = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await mesh.call(request(spec, id));
    samples[i] = (performance.now() - t0) * 1000;
  }
  return summarize(samples);
}

/** `count` ids `prefix + k` whose owner (in this peer's view) satisfies `accept`. */
export function idsWhere(
  mesh: Mesh,
  capability: string,
  prefix: string,
  count: number,
  accept: (owner: string, id: string) => boolean,
): string[] {
  const ids: string[] = [];
  for (let k = 0; ids.length < count; k++) {
    if (k > count * 1000 + 100_000) throw new Error(`idsWhere: could not find ${count} ids for ${capability}`);
    const id = prefix + k;
    const owner = mesh.ownerPeer(mesh.shardFor(id), capability);
    if (owner !== undefined && accept(owner, id)) ids.push(id);
  }
  return ids;
}

/** Resolves once `mesh` sees `count` peers (itself included), or rejects after `timeoutMs`. */
export async function waitForPeers(mesh: Mesh, count: number, timeoutMs: number): Promise<number> {
  const start = performance.now();
  while (mesh.peers().length < count) {
    if (performance.now() - start > timeoutMs) {
      throw new Error(`saw ${mesh.peers().length} of ${count} peers after ${timeoutMs} ms`);
    }
    await nextTopology(mesh, Math.max(1, Math.min(50, timeoutMs - (performance.now() - start))));
  }
  return performance.now() - start;
}

/** Resolves on the mesh's next topology event or after `ms`. */
function nextTopology(mesh: Mesh, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const off = mesh.on('topology', done);
    const timer = setTimeout(done, ms);
    function done(): void {
      off();
      clearTimeout(timer);
      resolve();
    }
  });
}

/** Deterministic pseudo-random numbers (mulberry32), so every run draws the same values. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
