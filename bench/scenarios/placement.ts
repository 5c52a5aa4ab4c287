/**
 * Shards moved when a peer joins (3 -> 4) or leaves (4 -> 3), for each built-in strategy: pure computation
 * with shared/placement.ts over 4096 shards, averaged over many random peer-id sets (ids shaped like
 * randomPeerId()'s). The ideal for both is 1/4 of the shards.
 */
import { modulo, rendezvous, type PlacementStrategy } from '../../shared/placement/placement.js';
import { DEFAULT_SHARD_COUNT } from '../../shared/placement/shards.js';
import { pct, row, type BenchContext, type Row, type ScenarioResult, type Target } from './common.js';
import { prng } from '../lib/workload.js';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
function peerId(random: () => number): string {
  let id = '';
  for (let i = 0; i < 16; i++) id += ALPHABET[Math.floor(random() * ALPHABET.length)]!;
  return id;
}

function owners(strategy: PlacementStrategy, peers: string[]): (string | undefined)[] {
  const sorted = [...peers].sort();
  return Array.from({ length: DEFAULT_SHARD_COUNT }, (_, s) => strategy.owner(s, 'game', sorted));
}

function moved(a: (string | undefined)[], b: (string | undefined)[]): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n / a.length;
}

export function runPlacement(ctx: BenchContext): ScenarioResult {
  const trials = ctx.quick ? 20 : 100;
  const random = prng(42);
  const results: Record<string, { join: number[]; leave: number[] }> = {};
  const t0 = performance.now();
  for (const strategy of [rendezvous, modulo]) {
    const join: number[] = [];
    const leave: number[] = [];
    for (let t = 0; t < trials; t++) {
      const four = [peerId(random), peerId(random), peerId(random), peerId(random)];
      const three = four.slice(0, 3);
      const before = owners(strategy, three);
      const after = owners(strategy, four);
      join.push(moved(before, after)); // the 4th peer joins
      // Every one of the four may be the one that leaves.
      for (let gone = 0; gone < 4; gone++)
        leave.push(
          moved(
            after,
            owners(
              strategy,
              four.filter((_, i) => i !== gone),
            ),
          ),
        );
    }
    results[strategy.name] = { join, leave };
  }
  const computeMs = performance.now() - t0;
  const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
  const max = (xs: number[]): number => Math.max(...xs);
  const S = `placement: shards moved (${DEFAULT_SHARD_COUNT} shards, ${trials} random peer sets)`;
  const rows: Row[] = [];
  for (const [name, r] of Object.entries(results)) {
    rows.push(
      row({
        section: S,
        name: `${name} 3 -> 4 (join)`,
        value: pct(mean(r.join)),
        raw: mean(r.join),
        unit: 'fraction',
        baseline: 'ideal 25.0%',
        ratio: mean(r.join) / 0.25,
        note: `worst ${pct(max(r.join))}`,
      }),
      row({
        section: S,
        name: `${name} 4 -> 3 (leave)`,
        value: pct(mean(r.leave)),
        raw: mean(r.leave),
        unit: 'fraction',
        baseline: 'ideal 25.0%',
        ratio: mean(r.leave) / 0.25,
        note: `worst ${pct(max(r.leave))}`,
      }),
    );
  }
  const rv = results['rendezvous']!;
  const targets: Target[] = [
    {
      name: 'rendezvous 3 -> 4 moves <= 27% of shards',
      measured: `${pct(mean(rv.join))} mean, ${pct(max(rv.join))} worst`,
      goal: '<= 27.0%',
      pass: mean(rv.join) <= 0.27,
    },
  ];
  const summary = Object.fromEntries(
    Object.entries(results).map(([k, r]) => [
      k,
      { joinMean: mean(r.join), joinMax: max(r.join), leaveMean: mean(r.leave), leaveMax: max(r.leave) },
    ]),
  );
  return { rows, targets, data: { trials, computeMs, ...summary } };
}
