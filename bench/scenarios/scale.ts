/**
 * How cost grows (issue 15): the same work with many more actors or many more peers, each figure next to
 * its small-scale baseline from the same run.
 * - One process (peers/scale.ts, --expose-gc): calls/s to random live actors among 1k (baseline) and 1M
 *   (100k with --quick); heap per idle actor at 10k, 100k and 1M, to see it stay flat.
 * - Node peer processes over WebRTC, all calling actors owned by the others: the per-peer rate with 8 peers
 *   against the per-peer rate with 2. Needs a core per process to mean anything, so the row says when the
 *   machine has fewer. Not run with --quick: spawning and meshing 8 processes would not fit the watchdog.
 */
import { cpus } from 'node:os';
import { childScript } from '../lib/bundle.js';
import { BenchChild } from '../lib/proc.js';
import type { DriveResult } from '../lib/workload.js';
import type { CallsAt, ScaleArgs, ScaleOutput } from '../peers/scale.js';
import { bytes, ms, rate, row, type BenchContext, type Row, type ScenarioResult, type Target } from './common.js';
import { nextRoom, startMeshes, stopMeshes } from './remote.js';

const PEERS_BASE = 2;
const PEERS_MANY = 8;
const GOAL_CALLS = 0.8;
const GOAL_BYTES = 500;
const GOAL_LINEAR = 1.2;
const GOAL_PEERS = 0.8;

const count = (n: number): string => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);

async function runOneProcess(ctx: BenchContext): Promise<ScaleOutput> {
  const args: ScaleArgs = {
    baselineActors: 1000,
    counts: ctx.quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000],
    calls: 200_000,
    repeats: ctx.quick ? 3 : 5,
  };
  const { script, plain } = childScript('scale', ctx.bundled);
  // 1M GameActors take about 0.8 GB of heap: a fixed limit keeps that independent of the machine's default.
  const child = BenchChild.spawn('scale', script, {
    nodeArgs: ['--expose-gc', '--max-old-space-size=4096', ...ctx.childNodeArgs],
    plain,
  });
  try {
    await child.ready;
    return await child.call<ScaleOutput>('run', args, ctx.quick ? 60_000 : 600_000);
  } finally {
    await child.stop(ctx.childNodeArgs.length > 0 ? 15_000 : 2000);
  }
}

interface AllDriving {
  readonly peers: number;
  readonly formedMs: number;
  /** Sum over the peers of each measured window; the median window is kept. */
  readonly sums: number[];
  readonly sum: number;
  readonly perPeer: number;
  readonly each: number[];
  readonly errors: number;
}

/** Every peer calls 1,000 warm actors owned by the others, @256, all at once; the rates are summed per window. */
async function allDriving(ctx: BenchContext, peers: readonly BenchChild[], signal: string, windows: number): Promise<AllDriving> {
  const t0 = performance.now();
  await startMeshes(peers, signal, nextRoom(`scale${peers.length}`), ['game'], { replicas: 0 });
  const formedMs = performance.now() - t0;
  try {
    await Promise.all(
      peers.map((p) => p.call('mesh-ids', { name: 'hot', capability: 'game', prefix: 'player_', count: 1000, owners: 'remote' }, 60_000)),
    );
    await Promise.all(peers.map((p) => p.call('mesh-load', { ids: 'hot', inflight: 256, durationMs: 1000 }, 60_000)));
    const runs: DriveResult[][] = [];
    for (let w = 0; w < windows; w++) {
      runs.push(
        await Promise.all(peers.map((p) => p.call<DriveResult>('mesh-load', { ids: 'hot', inflight: 256, durationMs: 3000 }, 60_000))),
      );
    }
    const total = (rs: DriveResult[]): number => rs.reduce((sum, r) => sum + r.rate, 0);
    const sorted = [...runs].sort((x, y) => total(x) - total(y));
    const mid = sorted[Math.floor(sorted.length / 2)]!;
    const sum = total(mid);
    const errors = runs.flat().reduce((n, r) => n + r.errors, 0);
    ctx.log(`scale: ${peers.length} peers all driving @256: ${rate(sum)} in all, ${rate(sum / peers.length)} per peer`);
    return {
      peers: peers.length,
      formedMs,
      sums: runs.map(total),
      sum,
      perPeer: sum / peers.length,
      each: mid.map((r) => r.rate),
      errors,
    };
  } finally {
    await stopMeshes(peers);
  }
}

async function runPeers(ctx: BenchContext, signal: string): Promise<{ base: AllDriving; many: AllDriving }> {
  const { script, plain } = childScript('peer', ctx.bundled);
  const t0 = performance.now();
  const peers = Array.from({ length: PEERS_MANY }, (_, i) =>
    BenchChild.spawn(`scale-peer${i}`, script, { nodeArgs: ctx.childNodeArgs, plain }),
  );
  try {
    await Promise.all(peers.map((p) => p.ready));
    ctx.log(`scale: spawned ${PEERS_MANY} bench peer processes in ${ms(performance.now() - t0)}`);
    // The 2-peer baseline runs while the other 6 processes sit idle: they cost memory, not CPU.
    const base = await allDriving(ctx, peers.slice(0, PEERS_BASE), signal, 3);
    const many = await allDriving(ctx, peers, signal, 3);
    return { base, many };
  } finally {
    await Promise.all(peers.map((p) => p.stop(ctx.childNodeArgs.length > 0 ? 15_000 : 2000)));
  }
}

function callsNote(c: CallsAt): string {
  const runs = c.runs.length > 1 ? `median of ${c.runs.map((x) => rate(x)).join(', ')}; ` : '';
  return `${runs}GC ${c.gcMs.toFixed(0)} ms of ${c.median.ms.toFixed(0)} ms; ${c.live.toLocaleString('en-US')} live`;
}

function oneProcessRows(ctx: BenchContext, out: ScaleOutput): { rows: Row[]; targets: Target[] } {
  const S = `scale: one process, standalone Mesh (--expose-gc)${ctx.bundled ? ' [bundled, plain node]' : ''}`;
  const { baseline: base, large } = out;
  const callRatio = large.median.rate / base.median.rate;
  const rows: Row[] = [
    row({
      section: S,
      name: `${base.median.calls / 1000}k calls to random ids among ${count(base.actors)} live actors @${out.inflight}`,
      value: rate(base.median.rate),
      raw: base.median.rate,
      unit: 'calls/s',
      note: callsNote(base),
    }),
    row({
      section: S,
      name: `${large.median.calls / 1000}k calls to random ids among ${count(large.actors)} live actors @${out.inflight}`,
      value: rate(large.median.rate),
      raw: large.median.rate,
      unit: 'calls/s',
      baseline: `${count(base.actors)} actors ${rate(base.median.rate)}`,
      ratio: callRatio,
      note: callsNote(large),
    }),
    row({
      section: S,
      name: `  floor: bare Map lookups among ${count(large.actors)} keys (same draw)`,
      value: rate(out.floor.large),
      raw: out.floor.large,
      unit: 'lookups/s',
      baseline: `${count(base.actors)} keys ${rate(out.floor.small)}`,
      ratio: out.floor.large / out.floor.small,
      note: `${(1e9 / out.floor.large - 1e9 / out.floor.small).toFixed(0)} ns more per lookup: cache and TLB misses, before any mesh code`,
    }),
  ];
  for (const [i, m] of out.memory.entries()) {
    const prev = i > 0 ? out.memory[i - 1] : undefined;
    rows.push(
      row({
        section: S,
        name: `per idle actor at ${count(m.count)} actors (heap delta / count)`,
        value: bytes(m.bytesPerActor),
        raw: m.bytesPerActor,
        unit: 'B',
        ...(prev ? { baseline: `at ${count(prev.count)} ${bytes(prev.bytesPerActor)}`, ratio: m.bytesPerActor / prev.bytesPerActor } : {}),
        note: `rss delta / count ${bytes(m.rssPerActor)}; filled at ${rate(m.fillRate)} (@500, ${ms(m.fillMs)})`,
      }),
    );
  }
  const largest = out.memory[out.memory.length - 1]!;
  // "Linear" is judged against 100k (the memory scenario's count); --quick stops at 100k, so its check is against 10k.
  const ref = out.memory.find((m) => m.count === 100_000 && m !== largest) ?? out.memory[out.memory.length - 2] ?? largest;
  const linear = largest.bytesPerActor / ref.bytesPerActor;
  const targets: Target[] = [
    {
      name: `calls among ${count(large.actors)} live actors >= 0.8x among ${count(base.actors)} (issue 15)`,
      measured: `${rate(large.median.rate)} (${callRatio.toFixed(2)}x)`,
      goal: `>= ${rate(GOAL_CALLS * base.median.rate)} (0.8x ${rate(base.median.rate)})`,
      pass: callRatio >= GOAL_CALLS,
      note: `a bare Map lookup over the same keys: ${(out.floor.large / out.floor.small).toFixed(2)}x`,
    },
    {
      name: `memory per idle actor at ${count(largest.count)} <= 500 B (issue 15)`,
      measured: bytes(largest.bytesPerActor),
      goal: `<= ${GOAL_BYTES} B`,
      pass: largest.bytesPerActor <= GOAL_BYTES,
    },
    {
      name: `memory per actor linear: at ${count(largest.count)} <= 1.2x at ${count(ref.count)} (issue 15)`,
      measured: `${linear.toFixed(2)}x (${bytes(largest.bytesPerActor)} vs ${bytes(ref.bytesPerActor)})`,
      goal: '<= 1.20x',
      pass: ref === largest ? null : linear <= GOAL_LINEAR,
    },
  ];
  return { rows, targets };
}

function peerRows(base: AllDriving, many: AllDriving): { rows: Row[]; targets: Target[] } {
  const S = 'scale: Node peers, each in its own process, all calling each other @256 (replicas 0)';
  const cores = cpus().length;
  const short = cores < many.peers;
  const limit = short
    ? `${cores} cores for ${many.peers} processes: each gets at most ${(cores / many.peers).toFixed(2)} of a core, so 0.8x cannot be reached here`
    : `${cores} cores`;
  const ratio = many.perPeer / base.perPeer;
  const sums = (d: AllDriving): string => `sum ${rate(d.sum)} (median of ${d.sums.map((x) => rate(x)).join(', ')})`;
  const rows: Row[] = [
    row({
      section: S,
      name: `${base.peers} peers all driving: calls/s per peer`,
      value: rate(base.perPeer),
      raw: base.perPeer,
      unit: 'calls/s',
      note: `${sums(base)}; mesh formed in ${ms(base.formedMs)}`,
    }),
    row({
      section: S,
      name: `${many.peers} peers all driving: calls/s per peer`,
      value: rate(many.perPeer),
      raw: many.perPeer,
      unit: 'calls/s',
      baseline: `${base.peers} peers ${rate(base.perPeer)}/peer`,
      ratio,
      note: `${sums(many)}; mesh formed in ${ms(many.formedMs)}; ${limit}`,
    }),
  ];
  const errors = base.errors + many.errors;
  if (errors > 0) rows.push(row({ section: S, name: 'failed calls', value: String(errors), raw: errors, unit: 'calls' }));
  return {
    rows,
    targets: [
      {
        name: `${many.peers} peers all driving: per-peer calls/s >= 0.8x ${base.peers} peers (issue 15)`,
        measured: `${rate(many.perPeer)} (${ratio.toFixed(2)}x)${short ? `; ${cores} cores for ${many.peers} processes` : ''}`,
        goal: `>= ${rate(GOAL_PEERS * base.perPeer)} (0.8x ${rate(base.perPeer)})`,
        pass: errors === 0 && ratio >= GOAL_PEERS,
        ...(short ? { note: limit } : {}),
      },
    ],
  };
}

export async function runScale(ctx: BenchContext, signal: string | null): Promise<ScenarioResult> {
  const out = await runOneProcess(ctx);
  ctx.log(
    `scale: ${count(out.baseline.actors)} actors ${rate(out.baseline.median.rate)}, ${count(out.large.actors)} actors ${rate(out.large.median.rate)}; ` +
      out.memory.map((m) => `${count(m.count)}: ${bytes(m.bytesPerActor)}/actor`).join(', '),
  );
  const one = oneProcessRows(ctx, out);
  const rows = [...one.rows];
  const targets = [...one.targets];
  const data: Record<string, unknown> = { oneProcess: out, cores: cpus().length };
  if (ctx.quick || signal === null) {
    const why = ctx.quick ? 'not run with --quick (8 processes would not fit its 58 s)' : 'no signaling server';
    rows.push(
      row({ section: 'scale: Node peers', name: `${PEERS_MANY} peers all driving`, value: 'skipped', raw: null, unit: '', note: why }),
    );
    targets.push({
      name: `${PEERS_MANY} peers all driving: per-peer calls/s >= 0.8x ${PEERS_BASE} peers (issue 15)`,
      measured: 'not run',
      goal: '>= 0.8x',
      pass: null,
      note: why,
    });
    return { rows, targets, data };
  }
  const { base, many } = await runPeers(ctx, signal);
  const peers = peerRows(base, many);
  rows.push(...peers.rows);
  targets.push(...peers.targets);
  data['peers'] = { base, many };
  return { rows, targets, data };
}
