import { afterEach, describe, expect, it } from 'vitest';
import { GameActor } from '../../demo/actors.js';
import { meshRegistry, metricsText, serveMetrics, type MetricsServer } from '../../server/metrics.js';
import { Mesh, MemoryNetwork } from '../../shared/index.js';
import { stopAll, waitConverged } from '../fixtures/mesh-helpers.js';

describe('Prometheus metrics', () => {
  let mesh: Mesh | undefined;
  let metrics: MetricsServer | undefined;
  afterEach(async () => {
    await metrics?.close();
    await mesh?.stop();
  });

  it('exposes the figures of mesh.stats() as Prometheus text', async () => {
    mesh = await Mesh.start({ capabilities: ['game'], actors: { GameActor } });
    for (let i = 0; i < 3; i++)
      await mesh.call({ actor: 'GameActor', id: `p${i}`, capability: 'game', payload: { action: 'increment_score' } });
    await expect(mesh.call({ actor: 'GameActor', id: 'p0', capability: 'game', payload: { action: 'nope' } })).rejects.toMatchObject({
      code: 'ACTOR_FAILED',
    });
    metrics = await serveMetrics(mesh, { port: 0 });
    const response = await fetch(metrics.url);
    expect(response.status).toBe(200);
    const text = await response.text();
    const peer = `peer="${mesh.peerId}"`;
    expect(text).toContain(`rtc_mesh_calls_total{outcome="ok",${peer}} 3`);
    expect(text).toContain(`rtc_mesh_calls_total{outcome="failed",${peer}} 1`);
    expect(text).toContain(`rtc_mesh_errors_total{code="ACTOR_FAILED",${peer}} 1`);
    // The crash discarded p0's activation: 2 remain of 3 created.
    expect(text).toContain(`rtc_mesh_activations{${peer}} 2`);
    expect(text).toContain(`rtc_mesh_activations_created_total{${peer}} 3`);
    expect(text).toContain(`rtc_mesh_deactivations_total{reason="crash",${peer}} 1`);
    expect(text).toMatch(new RegExp(`rtc_mesh_call_duration_seconds_bucket\\{le="\\+Inf",${peer}\\} 4`));
    expect(text).toMatch(new RegExp(`rtc_mesh_call_duration_seconds_count\\{${peer}\\} 4`));
    expect((await fetch(metrics.url.replace('/metrics', '/other'))).status).toBe(404);
  });

  it('counts copies: sent and acknowledged on the owner, bytes held on the backup', async () => {
    const net = new MemoryNetwork();
    const peers = [
      await Mesh.start({ peerId: 'peer-a', capabilities: ['game'], actors: { GameActor }, transport: net.transport() }),
      await Mesh.start({ peerId: 'peer-b', capabilities: ['game'], actors: { GameActor }, transport: net.transport() }),
    ];
    try {
      await waitConverged(peers);
      const [a] = peers as [Mesh, Mesh];
      for (let i = 0; i < 4; i++)
        await a.call({ actor: 'GameActor', id: `m${i}`, capability: 'game', payload: { action: 'increment_score' } });
      const sent = peers.reduce((n, m) => n + m.stats().replicas.acked, 0);
      expect(sent).toBeGreaterThanOrEqual(4);
      for (const m of peers) {
        const text = await metricsText(m, meshRegistry(m));
        const s = m.stats().replicas;
        expect(text).toContain(`rtc_mesh_replicas_total{event="acked",peer="${m.peerId}"} ${s.acked}`);
        expect(text).toContain(`rtc_mesh_replicas_held_bytes{peer="${m.peerId}"} ${s.bytes}`);
      }
      expect(peers.reduce((n, m) => n + m.stats().replicas.bytes, 0)).toBeGreaterThan(0);
    } finally {
      await stopAll(peers);
    }
  });
});
