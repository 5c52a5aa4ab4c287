/**
 * Raw baseline: two simple-peers over node-datachannel (the same SimplePeer and binding the mesh uses,
 * from nodePlatform), each in its own process, signals relayed by the parent over IPC. No mesh, no
 * batching: one CBOR message per send.
 */
import type { BenchChild } from '../lib/proc.js';
import { requestBytes } from '../lib/raw-proto.js';
import type { DriveResult, LatencySummary } from '../lib/workload.js';
import { ms, rate, row, us, type BenchContext, type RawBaseline, type Row, type ScenarioResult } from './common.js';

/** Reference figures measured earlier on this machine (issue 7); printed only as a sanity check. */
export const RAW_REFERENCE = { oneway: 220_000, reqResp1: 4_700, reqResp16: 30_000, reqResp256: 42_000, rttP50Us: 200 };

/**
 * Opens a raw simple-peer connection between two bench peers; returns the time the successful attempt took
 * (ms). Retries like the mesh's transport does: simple-peer over libdatachannel occasionally fails with "Got a
 * remote candidate without ICE transport" when a trickled candidate beats the remote description.
 */
export async function connectRaw(a: BenchChild, b: BenchChild, name = 'main', attempts = 4): Promise<number> {
  let lastError: unknown;
  const relay = (to: BenchChild) => (data: unknown) => {
    if ((data as { name?: string }).name === name) void to.call('raw-signal', data).catch(() => undefined);
  };
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const offA = a.on('raw-signal', relay(b));
    const offB = b.on('raw-signal', relay(a));
    const t0 = performance.now();
    try {
      await b.call('raw-open', { initiator: false, name });
      await a.call('raw-open', { initiator: true, name });
      await Promise.all([a.call('raw-connected', { name }, 20_000), b.call('raw-connected', { name }, 20_000)]);
      return performance.now() - t0;
    } catch (error) {
      lastError = error;
      await Promise.all([a.call('raw-close', { name }).catch(() => undefined), b.call('raw-close', { name }).catch(() => undefined)]);
    } finally {
      offA();
      offB();
    }
  }
  throw lastError;
}

export async function runRaw(ctx: BenchContext, a: BenchChild, b: BenchChild): Promise<ScenarioResult> {
  const q = ctx.quick;
  const connectMs = await connectRaw(a, b);
  ctx.log(`raw: connected in ${ms(connectMs)}`);
  const durationMs = q ? 1000 : 3000;
  await a.call('raw-reqresp', { inflight: 256, durationMs: q ? 300 : 1000 }); // warm-up, both sides
  const oneway = await a.call<{ messages: number; ms: number; rate: number }>('raw-oneway', { total: q ? 60_000 : 200_000 });
  ctx.log(`raw: one-way ${rate(oneway.rate)}`);
  const reqResp: Record<string, DriveResult> = {};
  for (const inflight of [1, 16, 256]) {
    reqResp[inflight] = await a.call<DriveResult>('raw-reqresp', { inflight, durationMs });
    ctx.log(`raw: req/resp @${inflight} ${rate(reqResp[inflight]!.rate)}`);
  }
  const rtt = await a.call<LatencySummary>('raw-seq', { count: q ? 1000 : 5000 });
  // The mesh reads its channels directly, skipping simple-peer's stream (client/peer-connection.ts): the
  // same round trip read that way, to tell the stream's share from the mesh's own.
  await Promise.all([a.call('raw-direct', {}), b.call('raw-direct', {})]);
  const rttDirect = await a.call<LatencySummary>('raw-seq', { count: q ? 1000 : 5000 });
  await Promise.all([a.call('raw-close'), b.call('raw-close')]);

  const baseline: RawBaseline = {
    oneway: oneway.rate,
    reqResp: { '1': reqResp[1]!.rate, '16': reqResp[16]!.rate, '256': reqResp[256]!.rate },
    rttP50Us: rtt.p50,
    rttP99Us: rtt.p99,
    rttDirectP50Us: rttDirect.p50,
  };
  ctx.raw = baseline;
  const ref = RAW_REFERENCE;
  const S = 'raw simple-peer baseline (2 processes)';
  const refRow = (name: string, value: number, refValue: number, unit: string, fmt: (n: number) => string): Row =>
    row({ section: S, name, value: fmt(value), raw: value, unit, baseline: `earlier ref ${fmt(refValue)}`, ratio: value / refValue });
  const rows: Row[] = [
    refRow('one-way, unbatched (msg/s)', oneway.rate, ref.oneway, 'msg/s', rate),
    refRow('req/resp, 1 in flight', baseline.reqResp['1'], ref.reqResp1, 'calls/s', rate),
    refRow('req/resp, 16 in flight', baseline.reqResp['16'], ref.reqResp16, 'calls/s', rate),
    refRow('req/resp, 256 in flight', baseline.reqResp['256'], ref.reqResp256, 'calls/s', rate),
    refRow('RTT p50 (sequential)', rtt.p50, ref.rttP50Us, 'us', us),
    row({ section: S, name: 'RTT p99 (sequential)', value: us(rtt.p99), raw: rtt.p99, unit: 'us' }),
    row({
      section: S,
      name: 'RTT p50, channel read directly (no stream)',
      value: us(rttDirect.p50),
      raw: rttDirect.p50,
      unit: 'us',
      baseline: `via simple-peer's stream ${us(rtt.p50)}`,
      ratio: rttDirect.p50 / rtt.p50,
    }),
  ];
  return {
    rows,
    targets: [],
    data: { connectMs, requestBytes: requestBytes(), oneway, reqResp, rtt, rttDirect, reference: ref },
  };
}
