/**
 * The price of live replicas (issue 14): the same calls with no copy, with one synchronous copy (the call
 * resolves once the backup acknowledged its state) and with one asynchronous copy. Three Node processes
 * over the real WebRTC transport: a driver, the owner of every actor called and, as each actor's first
 * backup, a third peer. The baseline is the unreplicated run of the same scenario, in the same bench run.
 */
import type { BenchChild } from '../lib/proc.js';
import type { DriveResult, LatencySummary } from '../lib/workload.js';
import { medianOf, rate, row, us, type BenchContext, type Row, type ScenarioResult, type Target } from './common.js';
import { connectRaw } from './raw.js';
import { nextRoom, startMeshes, stopMeshes, type Started } from './remote.js';

interface Mode {
  readonly name: string;
  readonly replicas: number;
  readonly replication: 'sync' | 'async';
}

const MODES: readonly Mode[] = [
  { name: 'no replica (replicas 0)', replicas: 0, replication: 'sync' },
  { name: '1 replica, sync', replicas: 1, replication: 'sync' },
  { name: '1 replica, async', replicas: 1, replication: 'async' },
];

interface Measured {
  readonly at256: DriveResult;
  readonly seq: LatencySummary;
  /** Copies the backup held at the end: shows replication really ran (0 for replicas 0). */
  readonly heldOnBackup: number;
  readonly acked: number;
}

/** 1,000 ids the driver calls, all owned by `owner` with `backup` as their first backup. */
function hotIds(driver: BenchChild, owner: string, backup: string): Promise<{ first: string | null }> {
  return driver.call<{ first: string | null }>('mesh-ids', {
    name: 'hot',
    capability: 'game',
    prefix: 'player_',
    count: 1000,
    owners: [owner],
    backup,
  });
}

async function measure(ctx: BenchContext, peers: readonly BenchChild[], signal: string, mode: Mode): Promise<Measured> {
  const [driver, owner, backup] = [peers[0]!, peers[1]!, peers[2]!];
  const started: Started[] = await startMeshesWith(peers, signal, mode);
  const [ownerId, backupId] = [started[1]!.peerId, started[2]!.peerId];
  const hot = await hotIds(driver, ownerId, backupId);
  const durationMs = ctx.quick ? 1000 : 3000;
  await driver.call('mesh-load', { ids: 'hot', inflight: 256, durationMs: ctx.quick ? 300 : 1000 }, 60_000);
  const at256 = await driver.call<DriveResult>('mesh-load', { ids: 'hot', inflight: 256, durationMs }, 60_000);
  const seq = await driver.call<LatencySummary>('mesh-seq', { id: hot.first, count: ctx.quick ? 1000 : 5000 }, 60_000);
  const held = await backup.call<{ replicas: { held: number } }>('mesh-stats');
  const sent = await owner.call<{ replicas: { acked: number } }>('mesh-stats');
  await stopMeshes(peers);
  ctx.log(`replicas: ${mode.name}: @256 ${rate(at256.rate)}, sequential p50 ${us(seq.p50)}, ${held.replicas.held} copies on the backup`);
  return { at256, seq, heldOnBackup: held.replicas.held, acked: sent.replicas.acked };
}

function startMeshesWith(peers: readonly BenchChild[], signal: string, mode: Mode): Promise<Started[]> {
  return startMeshes(peers, signal, nextRoom(`replicas${mode.replicas}${mode.replication}`), ['game'], {
    replicas: mode.replicas,
    replication: mode.replication,
  });
}

interface InTurns {
  readonly rounds: number;
  /** Per round: calls/s @256 and sequential p50 (us) of each type. */
  readonly uncopied: { readonly rate: number[]; readonly p50: number[] };
  readonly copied: { readonly rate: number[]; readonly p50: number[] };
  /** Medians of the rounds' copied/uncopied ratios. */
  readonly rateRatio: number;
  readonly p50Ratio: number;
  readonly heldOnBackup: number;
}

/**
 * Replicated and unreplicated calls in turns, on the same three meshes: two actor types that differ only in
 * their copies (UncopiedGameActor: none; SyncCopiedGameActor: one, synchronous), the same ids, so the same
 * owner and backup. Measured phase after phase instead, the sync/none ratio of one build moved from 0.32x
 * to 0.51x between runs on this shared machine, as its speed drifted between the phases.
 */
async function measureInTurns(ctx: BenchContext, peers: readonly BenchChild[], signal: string): Promise<InTurns> {
  const [driver, , backup] = [peers[0]!, peers[1]!, peers[2]!];
  const started = await startMeshes(peers, signal, nextRoom('replicas-turns'), ['game']);
  const [ownerId, backupId] = [started[1]!.peerId, started[2]!.peerId];
  const hot = await hotIds(driver, ownerId, backupId);
  if (hot.first === null) throw new Error('no id owned by the owner with the backup as its first backup');
  const rounds = ctx.quick ? 3 : 7;
  const blockMs = ctx.quick ? 300 : 700;
  const seqCount = ctx.quick ? 300 : 700;
  const kinds = ['UncopiedGameActor', 'SyncCopiedGameActor'] as const;
  for (const actor of kinds)
    await driver.call('mesh-load', { actor, ids: 'hot', inflight: 256, durationMs: ctx.quick ? 300 : 1000 }, 60_000);
  const out = { uncopied: { rate: [] as number[], p50: [] as number[] }, copied: { rate: [] as number[], p50: [] as number[] } };
  for (let r = 0; r < rounds; r++) {
    for (const actor of r % 2 === 0 ? kinds : [...kinds].reverse()) {
      const side = actor === 'UncopiedGameActor' ? out.uncopied : out.copied;
      side.rate.push((await driver.call<DriveResult>('mesh-load', { actor, ids: 'hot', inflight: 256, durationMs: blockMs }, 60_000)).rate);
      side.p50.push((await driver.call<LatencySummary>('mesh-seq', { actor, id: hot.first, count: seqCount }, 60_000)).p50);
    }
  }
  const held = await backup.call<{ replicas: { held: number } }>('mesh-stats');
  await stopMeshes(peers);
  const rateRatio = medianOf(out.copied.rate.map((c, i) => c / out.uncopied.rate[i]!));
  const p50Ratio = medianOf(out.copied.p50.map((c, i) => c / out.uncopied.p50[i]!));
  ctx.log(
    `replicas: in turns (${rounds} rounds): @256 none ${rate(medianOf(out.uncopied.rate))}, sync ${rate(medianOf(out.copied.rate))} (${rateRatio.toFixed(2)}x); sequential p50 none ${us(medianOf(out.uncopied.p50))}, sync ${us(medianOf(out.copied.p50))} (${p50Ratio.toFixed(2)}x)`,
  );
  return { rounds, ...out, rateRatio, p50Ratio, heldOnBackup: held.replicas.held };
}

interface RawRelay {
  readonly plain: { readonly at256: DriveResult; readonly seq: LatencySummary };
  readonly copied: { readonly at256: DriveResult; readonly seq: LatencySummary };
}

/**
 * The same three processes with raw simple-peers, no mesh: request/response between driver and owner, then the
 * same with a synchronous copy (the owner answers once the backup acknowledged a copy it sent on receipt).
 * Unbatched, one message per send. What the extra hop costs on this machine, whatever the mesh does.
 */
async function measureRawRelay(ctx: BenchContext, peers: readonly BenchChild[]): Promise<RawRelay> {
  const [driver, owner, backup] = [peers[0]!, peers[1]!, peers[2]!];
  await connectRaw(driver, owner, 'up');
  await connectRaw(owner, backup, 'down');
  const durationMs = ctx.quick ? 1000 : 3000;
  const count = ctx.quick ? 1000 : 5000;
  const run = async (): Promise<{ at256: DriveResult; seq: LatencySummary }> => {
    await driver.call('raw-reqresp', { name: 'up', inflight: 256, durationMs: ctx.quick ? 300 : 1000 }, 60_000);
    const at256 = await driver.call<DriveResult>('raw-reqresp', { name: 'up', inflight: 256, durationMs }, 60_000);
    const seq = await driver.call<LatencySummary>('raw-seq', { name: 'up', count }, 60_000);
    return { at256, seq };
  };
  try {
    const plain = await run();
    await owner.call('raw-relay', { from: 'up', to: 'down' });
    const copied = await run();
    ctx.log(
      `replicas: raw: @256 ${rate(plain.at256.rate)} -> ${rate(copied.at256.rate)} with a copy, sequential p50 ${us(plain.seq.p50)} -> ${us(copied.seq.p50)}`,
    );
    return { plain, copied };
  } finally {
    await Promise.all([
      driver.call('raw-close', { name: 'up' }),
      owner.call('raw-close', { name: 'up' }),
      owner.call('raw-close', { name: 'down' }),
      backup.call('raw-close', { name: 'down' }),
    ]);
  }
}

export async function runReplicas(ctx: BenchContext, pool: readonly BenchChild[], signal: string): Promise<ScenarioResult> {
  const S = 'replicas, 3 Node peers (driver -> owner, copy on a third)';
  const peers = pool.slice(0, 3);
  const results = new Map<Mode, Measured>();
  const rawRelay = await measureRawRelay(ctx, peers);
  for (const mode of MODES) results.set(mode, await measure(ctx, peers, signal, mode));
  const turns = await measureInTurns(ctx, peers, signal);
  const base = results.get(MODES[0]!)!;
  const rows: Row[] = [];
  const { plain, copied: rawCopied } = rawRelay;
  const rawRateRatio = rawCopied.at256.rate / plain.at256.rate;
  const rawSeqRatio = rawCopied.seq.p50 / plain.seq.p50;
  rows.push(
    row({
      section: S,
      name: 'raw simple-peer req/resp @256, with a sync copy',
      value: rate(rawCopied.at256.rate),
      raw: rawCopied.at256.rate,
      unit: 'calls/s',
      baseline: `without ${rate(plain.at256.rate)}`,
      ratio: rawRateRatio,
      note: 'no mesh, unbatched: the extra hop alone',
    }),
    row({
      section: S,
      name: 'raw simple-peer sequential p50, with a sync copy',
      value: us(rawCopied.seq.p50),
      raw: rawCopied.seq.p50,
      unit: 'us',
      baseline: `without ${us(plain.seq.p50)}`,
      ratio: rawSeqRatio,
    }),
  );
  const errors = [...results.values()].reduce((sum, m) => sum + m.at256.errors, 0);
  for (const [mode, m] of results) {
    const isBase = mode === MODES[0];
    rows.push(
      row({
        section: S,
        name: `calls/s @256, ${mode.name}`,
        value: rate(m.at256.rate),
        raw: m.at256.rate,
        unit: 'calls/s',
        baseline: isBase ? '' : `no replica ${rate(base.at256.rate)}`,
        ratio: isBase ? null : m.at256.rate / base.at256.rate,
        note: `${m.heldOnBackup} copies held by the backup`,
      }),
      row({
        section: S,
        name: `sequential p50, ${mode.name}`,
        value: us(m.seq.p50),
        raw: m.seq.p50,
        unit: 'us',
        baseline: isBase ? '' : `no replica ${us(base.seq.p50)}`,
        ratio: isBase ? null : m.seq.p50 / base.seq.p50,
      }),
    );
  }
  const turnNote = `median of ${turns.rounds} rounds' ratios, the two types in turns on the same meshes`;
  rows.push(
    row({
      section: S,
      name: 'calls/s @256, 1 replica sync, in turns with none',
      value: rate(medianOf(turns.copied.rate)),
      raw: medianOf(turns.copied.rate),
      unit: 'calls/s',
      baseline: `no replica ${rate(medianOf(turns.uncopied.rate))}`,
      ratio: turns.rateRatio,
      note: turnNote,
    }),
    row({
      section: S,
      name: 'sequential p50, 1 replica sync, in turns with none',
      value: us(medianOf(turns.copied.p50)),
      raw: medianOf(turns.copied.p50),
      unit: 'us',
      baseline: `no replica ${us(medianOf(turns.uncopied.p50))}`,
      ratio: turns.p50Ratio,
      note: turnNote,
    }),
  );
  if (errors > 0) rows.push(row({ section: S, name: 'failed calls', value: String(errors), raw: errors, unit: 'calls' }));
  const sync = results.get(MODES[1]!)!;
  const copied = sync.heldOnBackup > 0 && base.heldOnBackup === 0 && turns.heldOnBackup > 0;
  const phases = `phases apart ${(sync.at256.rate / base.at256.rate).toFixed(2)}x`;
  const targets: Target[] = [
    {
      name: 'replicated (1, sync) calls @256 >= 0.5x unreplicated, in turns',
      measured: `${rate(medianOf(turns.copied.rate))} (${turns.rateRatio.toFixed(2)}x ${rate(medianOf(turns.uncopied.rate))})`,
      goal: '>= 0.5x',
      pass: copied && errors === 0 && turns.rateRatio >= 0.5,
      note: copied ? `raw, same hops: ${rawRateRatio.toFixed(2)}x; ${phases}` : 'the backup held no copies: replication did not run',
    },
    {
      name: 'replicated (1, sync) sequential p50 <= 2x unreplicated, in turns',
      measured: `${us(medianOf(turns.copied.p50))} (${turns.p50Ratio.toFixed(2)}x ${us(medianOf(turns.uncopied.p50))})`,
      goal: '<= 2x',
      pass: copied && turns.p50Ratio <= 2,
      note: `raw, same hops: ${rawSeqRatio.toFixed(2)}x; phases apart ${(sync.seq.p50 / base.seq.p50).toFixed(2)}x`,
    },
  ];
  const data: Record<string, unknown> = {};
  for (const [mode, m] of results) data[mode.name] = m;
  data['in turns'] = turns;
  data['raw relay'] = rawRelay;
  return { rows, targets, data };
}
