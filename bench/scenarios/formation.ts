/**
 * Mesh formation: 10 Node peers, each in its own process (already loaded and idle), told to start at once;
 * timed from the parent's "start" to the last peer seeing all 10 (a hello received on every one of its 9
 * data channels). Includes signaling joins, 45 WebRTC connections (ICE + DTLS + SCTP) and hellos.
 */
import type { BenchChild } from '../lib/proc.js';
import { ms, row, type BenchContext, type ScenarioResult } from './common.js';
import { nextRoom, stopMeshes, type Started } from './remote.js';

export async function runFormation(ctx: BenchContext, peers: readonly BenchChild[], signal: string): Promise<ScenarioResult> {
  const n = peers.length;
  const rounds = ctx.quick ? 1 : 3;
  const runs: { formedMs: number; joinedMs: number; perPeerMs: number[] }[] = [];
  for (let r = 0; r < rounds; r++) {
    const room = nextRoom('ten');
    const t0 = performance.now();
    const perPeerMs = await Promise.all(
      peers.map(async (p) => {
        await p.call<Started>('mesh-start', { signal, room, capabilities: ['game'] }, 30_000);
        await p.call('mesh-wait', { peers: n, timeoutMs: 30_000 }, 40_000);
        return performance.now() - t0;
      }),
    );
    const formedMs = performance.now() - t0;
    runs.push({ formedMs, joinedMs: Math.min(...perPeerMs), perPeerMs });
    ctx.log(`formation: ${n} peers fully connected in ${ms(formedMs)}`);
    await stopMeshes(peers);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const sorted = [...runs].sort((a, b) => a.formedMs - b.formedMs);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const S = `mesh formation (${n} Node peers, ${n} processes)`;
  return {
    rows: [
      row({
        section: S,
        name: `start -> every peer sees all ${n}${rounds > 1 ? ` (median of ${rounds})` : ''}`,
        value: ms(median.formedMs),
        raw: median.formedMs,
        unit: 'ms',
        baseline: 'target < 3 s',
        ratio: median.formedMs / 3000,
        note: `runs: ${runs.map((x) => ms(x.formedMs)).join(', ')}`,
      }),
      row({ section: S, name: 'first peer fully connected', value: ms(median.joinedMs), raw: median.joinedMs, unit: 'ms' }),
    ],
    targets: [
      {
        name: `${n}-peer mesh fully connected < 3 s`,
        measured: ms(median.formedMs),
        goal: '< 3000 ms',
        pass: median.formedMs < 3000,
      },
    ],
    data: { peers: n, runs },
  };
}
