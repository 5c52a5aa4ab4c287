/**
 * No acknowledged state lost when a peer dies: four Node peers in separate processes over real WebRTC,
 * 1,000 players under a steady load of increments from every peer; the owner of a quarter of them is
 * SIGKILLed mid-load. Every increment whose call resolved is still there afterwards, no call hangs, and
 * once every survivor knows of the death, calls to the dead peer's players succeed within 1 s.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { LoadReport } from './fixtures/peer-process.js';
import { cleanup, spawnPeer, startServer, uniqueRoom } from './helpers.js';
import { until } from '../fixtures/wait.js';

afterEach(cleanup, 30_000);

const PEER_TIMEOUT_MS = 2000;
const CALL_TIMEOUT_MS = 4000;

describe('replicas over WebRTC', () => {
  it('SIGKILL of an owner under load: every acknowledged increment survives, no call hangs, calls resume in time', async () => {
    const server = await startServer();
    const room = uniqueRoom('replicas');
    const config = {
      signal: server.url,
      room,
      capabilities: ['game'],
      heartbeatMs: 250,
      peerTimeoutMs: PEER_TIMEOUT_MS,
      callTimeoutMs: CALL_TIMEOUT_MS,
    };
    const peers = await Promise.all(['r1', 'r2', 'r3', 'r4'].map((label) => spawnPeer(label, config)));
    const ids = await Promise.all(peers.map((p) => p.ready()));
    await until(
      async () => (await Promise.all(peers.map((p) => p.peers()))).every((v) => v.length === 4),
      'the four peers to see each other',
      {
        timeoutMs: 20_000,
      },
    );
    const players = Array.from({ length: 1000 }, (_, i) => `player_${i}`);
    const { owners } = await peers[0]!.owners(players, ['game']);
    const victim = peers[3]!;
    const victimId = ids[3]!;
    const victimPlayers = players.filter((_, i) => owners['game']![i] === victimId);
    expect(victimPlayers.length).toBeGreaterThan(150);

    // Every peer drives the load; the victim's acknowledgements reach us as progress lines every 100 ms.
    const victimAcked = new Map<string, number>();
    const offProgress = victim.onEvent((event) => {
      if (event.event !== 'load-progress') return;
      for (const [id, n] of Object.entries(event['acked'] as Record<string, number>)) victimAcked.set(id, (victimAcked.get(id) ?? 0) + n);
    });
    for (const peer of peers) await peer.request({ cmd: 'load', ids: players, inflight: 16, timeoutMs: CALL_TIMEOUT_MS });
    // Until most players have been called (and so have copies), ~4 increments each on average.
    await until(() => [...victimAcked.values()].reduce((a, b) => a + b, 0) > 1000, 'the load to get going', { timeoutMs: 30_000 });
    const victimKeys = (await victim.activations()).map((a) => a.key);
    const victimActive = victimKeys.length;
    expect(victimActive).toBeGreaterThan(victimPlayers.length / 2);
    // An activation counted just now may still be running its first call, with no copy anywhere yet; killed
    // then, it rightly restarts empty, and the promoted count below would fall short. Kill once a survivor
    // holds a copy of each.
    const survivors = peers.slice(0, 3);
    await until(
      async () => {
        const held = new Set(
          (await Promise.all(survivors.map((p) => p.replicas())))
            .flat()
            .filter((r) => r.owner === victimId)
            .map((r) => r.key),
        );
        return victimKeys.every((key) => held.has(key));
      },
      'a copy of every counted activation on a survivor',
      { timeoutMs: 10_000 },
    );

    const killedAt = Date.now();
    victim.kill('SIGKILL');
    await victim.exited;
    offProgress();
    // Long enough for the survivors to notice (peerTimeoutMs) and for calls to resume, with margin.
    await until(() => Date.now() - killedAt > PEER_TIMEOUT_MS + 3000, 'the load to run on after the kill', { timeoutMs: 20_000 });

    const reports = await Promise.all(survivors.map((p) => p.request<LoadReport>({ cmd: 'load-stop' }, 30_000)));
    const acked = new Map(victimAcked);
    for (const report of reports) {
      for (const [id, n] of Object.entries(report.acked)) acked.set(id, (acked.get(id) ?? 0) + n);
      // No call hangs: each settles within its own timeout (plus a timer tick and scheduling).
      expect(report.slowestMs).toBeLessThan(CALL_TIMEOUT_MS + 1000);
    }

    // The final counts, read (read-only calls) from a survivor.
    const reader = survivors[0]!;
    const lost: string[] = [];
    for (const id of players) {
      const { result } = await reader.call<{ score: number }>({
        actor: 'GameActor',
        id,
        capability: 'game',
        payload: { action: 'get_stats' },
      });
      const want = acked.get(id) ?? 0;
      if (result.score < want) lost.push(`${id}: ${result.score} < ${want} acknowledged`);
    }
    expect(lost).toEqual([]);
    const totalAcked = [...acked.values()].reduce((a, b) => a + b, 0);
    expect(totalAcked).toBeGreaterThan(5000);

    // Each survivor noticed the death (its own heartbeat or the closed channel: within peerTimeoutMs plus a
    // beat and a loaded machine's delays). Once all of them knew, the first successful call to each of the
    // dead peer's players took at most 1 s, counted from when it was made or from when the last survivor
    // knew, whichever is later. (Measured from the kill to the next success instead, it also counted how
    // long a random load took to pick the same player again: on a loaded machine, over a second.)
    const leftAt = survivors.map(
      (p) => p.events.find((e) => e.event === 'peer-left' && e['id'] === victimId)?.['wallAt'] as number | undefined,
    );
    for (const at of leftAt) {
      expect(at).toBeDefined();
      expect(at! - killedAt).toBeLessThan(PEER_TIMEOUT_MS + 2000);
    }
    const allKnew = Math.max(...leftAt.map((at) => at!));
    const lateRecoveries = victimPlayers.flatMap((id) =>
      reports.flatMap((r) => {
        const recovered = r.recovered[id];
        if (recovered === undefined) return [];
        const took = recovered.at - Math.max(recovered.calledAt, allKnew);
        return took <= 1000 ? [] : [`${id} at +${recovered.at - killedAt} ms: ${took} ms after the call or the death was known`];
      }),
    );
    expect(lateRecoveries).toEqual([]);
    // Every player active on the victim went on from its copy (none of them restarted empty).
    const promotedBy = await Promise.all(survivors.map(async (p) => (await p.stats()).replicas.promoted));
    expect(promotedBy.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(victimActive);
  }, 120_000);
});
