/**
 * Durable actors: what a store costs a GameActor call in one process (standalone Mesh, no transport).
 * The child (peers/store.ts) measures hot calls and sequential latency with no store (the baseline: the
 * same durable GameActor), MemoryStore write-through, and RedisStore write-through and write-behind against
 * a redis-server started here on a free port. Every row's ratio is to the no-store figure of the same run.
 * No targets: the issue set none; the figures are reported.
 */
import { childScript } from '../lib/bundle.js';
import { BenchChild } from '../lib/proc.js';
import { redisMissing, startBenchRedis, type BenchRedis } from '../lib/redis.js';
import type { StoreConfigName, StoreOutput } from '../peers/store.js';
import { ms, rate, row, us, type BenchContext, type Row, type ScenarioResult } from './common.js';

const LABELS: Record<StoreConfigName, string> = {
  none: 'no store (baseline)',
  'memory-wt': 'MemoryStore, write-through',
  'redis-wt': 'RedisStore, write-through',
  'redis-wb': 'RedisStore, write-behind',
};

export async function runStore(ctx: BenchContext): Promise<ScenarioResult> {
  const missing = redisMissing();
  if (missing !== null) return { rows: [], targets: [], data: {}, skipped: missing };
  let redis: BenchRedis | null = null;
  let child: BenchChild | null = null;
  let out: StoreOutput;
  try {
    redis = await startBenchRedis();
    ctx.log(`store: redis-server on ${redis.url}`);
    const { script, plain } = childScript('store', ctx.bundled);
    child = BenchChild.spawn('store', script, { nodeArgs: ctx.childNodeArgs, plain });
    await child.ready;
    out = await child.call<StoreOutput>('run', { quick: ctx.quick, redisUrl: redis.url }, 240_000);
  } finally {
    await child?.stop(ctx.childNodeArgs.length > 0 ? 15_000 : 2000);
    await redis?.stop();
  }
  const base = out.results.find((r) => r.config === 'none');
  if (base === undefined) throw new Error('store: no baseline result');
  const S = `durable GameActor, one process (standalone Mesh, redis-server on loopback)${ctx.bundled ? ' [bundled, plain node]' : ''}`;
  const rows: Row[] = [];
  for (const r of out.results) {
    const isBase = r.config === 'none';
    const runs = r.hot.runs.length > 1 ? `median of ${r.hot.runs.map((x) => rate(x)).join(', ')}; ` : '';
    const saves = isBase ? '' : `${r.hot.store.saves} saves for ${r.hot.calls} calls`;
    const flush = r.config === 'redis-wb' ? `; stop() flushed in ${ms(r.stopMs)}` : '';
    rows.push(
      row({
        section: S,
        name: `${LABELS[r.config]}: ${out.hotCalls / 1000}k calls over ${out.actors} hot actors @${out.inflight}`,
        value: rate(r.hot.rate),
        raw: r.hot.rate,
        unit: 'calls/s',
        ...(isBase ? {} : { baseline: `no store ${rate(base.hot.rate)}`, ratio: r.hot.rate / base.hot.rate }),
        note: `${runs}${saves}${flush}`,
      }),
      row({
        section: S,
        name: `${LABELS[r.config]}: ${out.sequentialCalls.toLocaleString('en-US')} sequential calls p50`,
        value: us(r.sequential.p50),
        raw: r.sequential.p50,
        unit: 'us',
        ...(isBase ? {} : { baseline: `no store ${us(base.sequential.p50)}`, ratio: r.sequential.p50 / base.sequential.p50 }),
        note: `p99 ${us(r.sequential.p99)}${isBase ? '' : `; ${r.sequential.store.saves} saves`}`,
      }),
    );
  }
  return { rows, targets: [], data: { ...out } };
}
