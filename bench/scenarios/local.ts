/**
 * The seed's single-node benchmarks, translated to a standalone Mesh.start (no transport), each run in a
 * fresh child process; memory per idle actor in another child started with --expose-gc.
 */
import { childScript } from '../lib/bundle.js';
import { BenchChild } from '../lib/proc.js';
import type { DriveResult, LatencySummary } from '../lib/workload.js';
import { bytes, rate, row, us, type BenchContext, type Row, type ScenarioResult } from './common.js';

/** The seed (Elixir Mesh, OTP 25) measured on this machine (issue 7). */
export const SEED = {
  creationsPerSec: 28_000,
  hotCallsPerSec: 42_000,
  mixedCallsPerSec: 30_000,
  seqP50Us: 30,
  seqP99Us: 96,
  bytesPerActor: 4.8 * 1024,
};
/** What the seed's README claims. */
export const SEED_README = { creationsPerSec: 16_000, callsPerSec: 30_000 };

interface LocalOutput {
  activations: DriveResult & { runs: number[] };
  hot: DriveResult & { runs: number[] };
  hotLong: DriveResult;
  capabilities: DriveResult & { runs: number[] };
  mixed: DriveResult & { runs: number[]; createRate: number };
  sequential: LatencySummary;
  handlers: Record<'plain' | 'async', { hot: DriveResult; activations: DriveResult }> & {
    /** Median of the rounds' async/plain ratios (the two run in turns). */
    ratio: { hot: number; activations: number };
  };
  spread: {
    shards: { count: number; shardCount: number; min: number; max: number; mean: number; hashMs: number };
    rendezvous: { perPeer: Record<string, number>; min: number; max: number };
    modulo: { perPeer: Record<string, number>; min: number; max: number };
  };
}

const vsSeed = (value: number, seed: number, fmt: (n: number) => string): Pick<Row, 'baseline' | 'ratio'> => ({
  baseline: `seed ${fmt(seed)}`,
  ratio: value / seed,
});

/** `ratio`: the median of the paired rounds' ratios, which the medians `value` and `base` need not give. */
const ratioTarget = (
  name: string,
  value: number,
  base: number,
  ratio: number,
): { name: string; measured: string; goal: string; pass: boolean } => ({
  name,
  measured: `${rate(value)}, ${ratio.toFixed(2)}x plain in turns`,
  goal: `>= 0.6x (plain ${rate(base)})`,
  pass: ratio >= 0.6,
});

export async function runLocal(ctx: BenchContext): Promise<ScenarioResult> {
  const { script, plain } = childScript('local', ctx.bundled);
  const child = BenchChild.spawn('local', script, { nodeArgs: ctx.childNodeArgs, plain });
  let out: LocalOutput;
  try {
    await child.ready;
    out = await child.call<LocalOutput>('run', { quick: ctx.quick }, 240_000);
  } finally {
    await child.stop(ctx.childNodeArgs.length > 0 ? 15_000 : 2000);
  }
  const S = `single node (standalone Mesh.start, no transport)${ctx.bundled ? ' [bundled, plain node]' : ''}`;
  const runs = (r: { runs: number[] }): string => (r.runs.length > 1 ? `median of ${r.runs.map((x) => rate(x)).join(', ')}` : '');
  const sp = out.spread;
  const rows: Row[] = [
    row({
      section: S,
      name: '50k calls to new ids @500 (activations/s)',
      value: rate(out.activations.rate),
      raw: out.activations.rate,
      unit: 'act/s',
      ...vsSeed(out.activations.rate, SEED.creationsPerSec, rate),
      note: runs(out.activations),
    }),
    row({
      section: S,
      name: '10k calls to one hot actor @200',
      value: rate(out.hot.rate),
      raw: out.hot.rate,
      unit: 'calls/s',
      ...vsSeed(out.hot.rate, SEED.hotCallsPerSec, rate),
      note: runs(out.hot),
    }),
    row({
      section: S,
      name: `  same, ${out.hotLong.calls / 1000}k calls (less noise)`,
      value: rate(out.hotLong.rate),
      raw: out.hotLong.rate,
      unit: 'calls/s',
      ...vsSeed(out.hotLong.rate, SEED.hotCallsPerSec, rate),
    }),
    row({
      section: S,
      name: 'counter, plain handleCall: hot calls @200',
      value: rate(out.handlers.plain.hot.rate),
      raw: out.handlers.plain.hot.rate,
      unit: 'calls/s',
    }),
    row({
      section: S,
      name: 'counter, async handleCall: hot calls @200',
      value: rate(out.handlers.async.hot.rate),
      raw: out.handlers.async.hot.rate,
      unit: 'calls/s',
      baseline: `plain ${rate(out.handlers.plain.hot.rate)}`,
      ratio: out.handlers.ratio.hot,
      note: 'ratio: median of rounds run in turns',
    }),
    row({
      section: S,
      name: 'counter, plain handleCall: 50k activations @500',
      value: rate(out.handlers.plain.activations.rate),
      raw: out.handlers.plain.activations.rate,
      unit: 'act/s',
    }),
    row({
      section: S,
      name: 'counter, async handleCall: 50k activations @500',
      value: rate(out.handlers.async.activations.rate),
      raw: out.handlers.async.activations.rate,
      unit: 'act/s',
      baseline: `plain ${rate(out.handlers.plain.activations.rate)}`,
      ratio: out.handlers.ratio.activations,
      note: 'ratio: median of rounds run in turns',
    }),
    row({
      section: S,
      name: '30k creations across 3 capabilities @500',
      value: rate(out.capabilities.rate),
      raw: out.capabilities.rate,
      unit: 'act/s',
      ...vsSeed(out.capabilities.rate, SEED.creationsPerSec, rate),
      note: runs(out.capabilities),
    }),
    row({
      section: S,
      name: '5k actors, then 20k calls @300 (mixed)',
      value: rate(out.mixed.rate),
      raw: out.mixed.rate,
      unit: 'calls/s',
      ...vsSeed(out.mixed.rate, SEED.mixedCallsPerSec, rate),
      note: runs(out.mixed),
    }),
    row({
      section: S,
      name: '1,000 sequential calls p50',
      value: us(out.sequential.p50),
      raw: out.sequential.p50,
      unit: 'us',
      ...vsSeed(out.sequential.p50, SEED.seqP50Us, us),
    }),
    row({ section: S, name: '1,000 sequential calls p95', value: us(out.sequential.p95), raw: out.sequential.p95, unit: 'us' }),
    row({
      section: S,
      name: '1,000 sequential calls p99',
      value: us(out.sequential.p99),
      raw: out.sequential.p99,
      unit: 'us',
      ...vsSeed(out.sequential.p99, SEED.seqP99Us, us),
    }),
    row({
      section: S,
      name: `shard spread: ${sp.shards.count / 1000}k ids / ${sp.shards.shardCount} shards`,
      value: `min ${sp.shards.min} / max ${sp.shards.max}`,
      raw: sp.shards.max,
      unit: 'ids/shard',
      baseline: `mean ${sp.shards.mean.toFixed(1)}`,
    }),
    row({
      section: S,
      name: 'shard spread: per peer, 3 peers, rendezvous',
      value: `min ${sp.rendezvous.min} / max ${sp.rendezvous.max}`,
      raw: sp.rendezvous.max,
      unit: 'ids/peer',
      baseline: `even ${Math.round(sp.shards.count / 3)}`,
      ratio: sp.rendezvous.max / (sp.shards.count / 3),
    }),
    row({
      section: S,
      name: 'shard spread: per peer, 3 peers, modulo',
      value: `min ${sp.modulo.min} / max ${sp.modulo.max}`,
      raw: sp.modulo.max,
      unit: 'ids/peer',
      baseline: `even ${Math.round(sp.shards.count / 3)}`,
      ratio: sp.modulo.max / (sp.shards.count / 3),
    }),
  ];
  return {
    rows,
    targets: [
      {
        name: 'local activations >= 200k/s',
        measured: rate(out.activations.rate),
        goal: '>= 200.0k/s',
        pass: out.activations.rate >= 200_000,
      },
      { name: 'local hot calls >= 500k/s', measured: rate(out.hot.rate), goal: '>= 500.0k/s', pass: out.hot.rate >= 500_000 },
      { name: 'sequential local p50 <= 10 us', measured: us(out.sequential.p50), goal: '<= 10 us', pass: out.sequential.p50 <= 10 },
      {
        name: 'local activations >= 400k/s (issue 15)',
        measured: rate(out.activations.rate),
        goal: '>= 400.0k/s',
        pass: out.activations.rate >= 400_000,
      },
      { name: 'local hot calls >= 1M/s (issue 15)', measured: rate(out.hot.rate), goal: '>= 1.00M/s', pass: out.hot.rate >= 1_000_000 },
      ratioTarget(
        'async handler hot calls >= 0.6x plain (issue 15)',
        out.handlers.async.hot.rate,
        out.handlers.plain.hot.rate,
        out.handlers.ratio.hot,
      ),
      ratioTarget(
        'async handler activations >= 0.6x plain (issue 15)',
        out.handlers.async.activations.rate,
        out.handlers.plain.activations.rate,
        out.handlers.ratio.activations,
      ),
    ],
    data: { ...out, seed: SEED, seedReadme: SEED_README },
  };
}

interface MemoryOutput {
  count: number;
  bytesPerActor: number;
  rssPerActor: number;
  heapBefore: number;
  heapAfter: number;
  heapAfterStop: number;
  activationRate: number;
}

export async function runMemory(ctx: BenchContext): Promise<ScenarioResult> {
  const { script, plain } = childScript('memory', ctx.bundled);
  const child = BenchChild.spawn('memory', script, { nodeArgs: ['--expose-gc', ...ctx.childNodeArgs], plain });
  let out: MemoryOutput;
  try {
    await child.ready;
    out = await child.call<MemoryOutput>('run', { count: 100_000 }, 120_000);
  } finally {
    await child.stop(ctx.childNodeArgs.length > 0 ? 15_000 : 2000);
  }
  const S = `memory (child process, --expose-gc)${ctx.bundled ? ' [bundled, plain node]' : ''}`;
  return {
    rows: [
      row({
        section: S,
        name: `per idle actor at ${out.count / 1000}k actors (heap delta / count)`,
        value: bytes(out.bytesPerActor),
        raw: out.bytesPerActor,
        unit: 'B',
        ...vsSeed(out.bytesPerActor, SEED.bytesPerActor, bytes),
      }),
      row({ section: S, name: '  rss delta / count (for reference)', value: bytes(out.rssPerActor), raw: out.rssPerActor, unit: 'B' }),
      row({
        section: S,
        name: `  activations/s while filling (${out.count / 1000}k, @500)`,
        value: rate(out.activationRate),
        raw: out.activationRate,
        unit: 'act/s',
        ...vsSeed(out.activationRate, SEED.creationsPerSec, rate),
      }),
    ],
    targets: [
      { name: 'memory per idle actor <= 1 KB', measured: bytes(out.bytesPerActor), goal: '<= 1.00 KB', pass: out.bytesPerActor <= 1024 },
      {
        name: 'memory per idle actor <= 500 B (issue 15)',
        measured: bytes(out.bytesPerActor),
        goal: '<= 500 B',
        pass: out.bytesPerActor <= 500,
      },
    ],
    data: { ...out },
  };
}
