/**
 * Experiment, not the product: the remote figures again with FrameLink flushing on setImmediate instead of
 * queueMicrotask (the change proposed in docs/benchmarks.md), injected through MeshOptions.link at run time.
 * Shows what the proposal buys where the shipped flush lets batching collapse: one process calling owners
 * on several links.
 */
import type { BenchChild } from '../lib/proc.js';
import type { DriveResult, LatencySummary } from '../lib/workload.js';
import { rate, row, us, type BenchContext, type Row, type ScenarioResult } from './common.js';
import { nextRoom, startMeshes, stopMeshes } from './remote.js';

export async function runFlushExperiment(ctx: BenchContext, pool: readonly BenchChild[], signal: string): Promise<ScenarioResult> {
  const q = ctx.quick;
  const durationMs = q ? 1000 : 3000;
  const warmMs = q ? 300 : 1000;
  const S = 'EXPERIMENT (not shipped): FrameLink flush on setImmediate, via bench shim';
  const raw256 = ctx.raw?.reqResp['256'] ?? null;
  const vsRaw = (v: number): Pick<Row, 'baseline' | 'ratio'> =>
    raw256 === null ? { baseline: 'raw n/a', ratio: null } : { baseline: `raw req/resp @256 ${rate(raw256)}`, ratio: v / raw256 };
  const rows: Row[] = [];
  const data: Record<string, unknown> = {};

  // 2 peers: the proposal must not cost the single-link case.
  {
    const two = pool.slice(0, 2);
    const started = await startMeshes(two, signal, nextRoom('xtwo'), ['game'], 'immediate');
    const hot = await two[0]!.call<{ first: string }>('mesh-ids', { name: 'hot', capability: 'game', prefix: 'player_', count: 1000, owners: [started[1]!.peerId] });
    await two[0]!.call('mesh-load', { ids: 'hot', inflight: 256, durationMs: warmMs });
    const at256 = await two[0]!.call<DriveResult>('mesh-load', { ids: 'hot', inflight: 256, durationMs }, 60_000);
    // A remote-owned id: the sequential figure must cross the link.
    const seq = await two[0]!.call<LatencySummary>('mesh-seq', { id: hot.first, count: q ? 500 : 2000 }, 60_000).catch(() => null);
    await stopMeshes(two);
    rows.push(row({ section: S, name: '2 peers: calls/s @256', value: rate(at256.rate), raw: at256.rate, unit: 'calls/s', ...vsRaw(at256.rate) }));
    if (seq) rows.push(row({ section: S, name: '2 peers: sequential p50', value: us(seq.p50), raw: seq.p50, unit: 'us', ...(ctx.raw ? { baseline: `raw RTT p50 ${us(ctx.raw.rttP50Us)}`, ratio: seq.p50 / ctx.raw.rttP50Us } : {}) }));
    data['two'] = { at256, seq };
    ctx.log(`experiment: 2 peers @256 ${rate(at256.rate)}`);
  }
  // 4 peers: where the shipped flush collapses.
  {
    const four = pool.slice(0, 4);
    await startMeshes(four, signal, nextRoom('xfour'), ['game'], 'immediate');
    for (const p of four) await p.call('mesh-ids', { name: 'hot', capability: 'game', prefix: 'player_', count: 1000, owners: 'remote' });
    await Promise.all(four.map((p) => p.call('mesh-load', { ids: 'hot', inflight: 256, durationMs: warmMs }, 60_000)));
    const one = await four[0]!.call<DriveResult>('mesh-load', { ids: 'hot', inflight: 256, durationMs }, 60_000);
    const all = await Promise.all(four.map((p) => p.call<DriveResult>('mesh-load', { ids: 'hot', inflight: 256, durationMs }, 60_000)));
    const allRate = all.reduce((s, r) => s + r.rate, 0);
    const freshCount = q ? 40_000 : 100_000;
    await Promise.all(four.map((p, i) => p.call('mesh-ids', { name: 'fresh', capability: 'game', prefix: `xnew${i}_`, count: freshCount, owners: 'remote' }, 60_000)));
    const acts = await Promise.all(four.map((p) => p.call<DriveResult>('mesh-load', { ids: 'fresh', inflight: 256, durationMs }, 120_000)));
    const actRate = acts.reduce((s, r) => s + r.rate, 0);
    const exhausted = acts.some((r) => r.calls + r.errors > freshCount);
    await stopMeshes(four);
    rows.push(
      row({ section: S, name: '4 peers: calls/s @256, one driver -> 3 owners', value: rate(one.rate), raw: one.rate, unit: 'calls/s', ...vsRaw(one.rate) }),
      row({ section: S, name: '4 peers: calls/s @256 each, all 4 (sum)', value: rate(allRate), raw: allRate, unit: 'calls/s', ...vsRaw(allRate) }),
      row({ section: S, name: '4 peers: activations/s @256 each, all 4 (sum)', value: rate(actRate), raw: actRate, unit: 'act/s', ...vsRaw(actRate), ...(exhausted ? { note: 'ran out of fresh ids' } : {}) }),
    );
    data['four'] = { one, all, allRate, activations: acts, activationRate: actRate };
    ctx.log(`experiment: 4 peers one driver ${rate(one.rate)}, all four ${rate(allRate)}, activations ${rate(actRate)}`);
  }
  return { rows, targets: [], data };
}
