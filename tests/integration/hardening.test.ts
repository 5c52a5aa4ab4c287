/**
 * Hardening over real WebRTC: a 100,000-cast burst with bounded memory on both sides, a frozen (SIGSTOP)
 * peer, and a signaling server that is down when a peer starts.
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Mesh } from '../../client/node.js';
import { MeshError } from '../../shared/index.js';
import { ALL_ACTORS, cleanup, LOOPBACK, settle, spawnPeer, startPeer, startPeers, startServer, uniqueRoom } from './helpers.js';
import { until } from '../fixtures/wait.js';

afterEach(cleanup);

/** An id whose owner (for `capability`) is `peer` in `mesh`'s view. */
function idOwnedBy(mesh: Mesh, peer: string, prefix: string, capability = 'game'): string {
  for (let i = 0; i < 100_000; i++) {
    const id = `${prefix}${i}`;
    if (mesh.ownerPeer(mesh.shardFor(id), capability) === peer) return id;
  }
  throw new Error(`no id owned by ${peer}`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('backpressure', () => {
  it('delivers a burst of 100,000 casts with bounded queues on both sides', async () => {
    const server = await startServer();
    const room = uniqueRoom('burst');
    const window = 256;
    const maxQueuedBytes = 64 * 1024;
    const [a, b] = await startPeers(2, { signal: server.url, room, capabilities: ['game'], link: { window, maxQueuedBytes } });
    await until(() => a.peers().length === 2 && b.peers().length === 2, 'the two peers to see each other', { timeoutMs: 15_000 });
    const id = idOwnedBy(a, b.peerId, 'burst_');

    let maxInFlight = 0;
    let maxQueued = 0;
    const sample = (): void => {
      const traffic = a.stats().peers[b.peerId];
      if (!traffic) return;
      maxInFlight = Math.max(maxInFlight, traffic.inFlight);
      maxQueued = Math.max(maxQueued, traffic.queuedBytes);
    };
    const total = 100_000;
    const sends: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      // Not awaited one by one: a burst. cast() waits for queue room once the 64 KiB queue is full.
      sends.push(a.cast({ actor: 'CounterActor', id, capability: 'game', timeoutMs: 60_000 }));
      if (i % 1000 === 0) {
        sample();
        await Promise.resolve();
      }
    }
    const sampler = setInterval(sample, 5);
    try {
      const outcomes = await Promise.allSettled(sends);
      expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
      // Every cast ran exactly once, in order, on one activation: the next call sees the count after them.
      await until(() => b.stats().casts.received === total, 'all casts to arrive', { timeoutMs: 60_000 });
      const after = await a.call<{ count: number; peer: string }>({ actor: 'CounterActor', id, capability: 'game' });
      expect(after.result).toEqual({ count: total + 1, peer: b.peerId });
    } finally {
      clearInterval(sampler);
    }
    // The receiver never held more than a window of unhandled casts, the sender never queued past its bound
    // (plus at most one frame that was admitted while under it).
    expect(maxInFlight).toBeGreaterThan(0);
    expect(maxInFlight).toBeLessThanOrEqual(window);
    expect(maxQueued).toBeLessThanOrEqual(maxQueuedBytes + 1024);
    expect(a.stats().casts.sent).toBe(total);
    expect(b.stats().droppedFrames).toBe(0);
  }, 120_000);
});

describe('faults', () => {
  it('a frozen peer: calls to it time out, it is dropped from the view, and it comes back when it resumes', async () => {
    const server = await startServer();
    const room = uniqueRoom('freeze');
    const a = await startPeer({ signal: server.url, room, capabilities: ['game'], heartbeatMs: 250, peerTimeoutMs: 1500 });
    const frozen = await spawnPeer('frozen', { signal: server.url, room, capabilities: ['game'], heartbeatMs: 250, peerTimeoutMs: 1500 });
    const frozenId = await frozen.ready();
    await until(() => a.peers().length === 2, 'a to see the child peer', { timeoutMs: 15_000 });
    const id = idOwnedBy(a, frozenId, 'frozen_');
    expect((await a.call({ actor: 'EchoActor', id, capability: 'game', payload: 1 })).peer).toBe(frozenId);

    frozen.kill('SIGSTOP');
    try {
      const outcome = await settle(a.call({ actor: 'EchoActor', id, capability: 'game', payload: 2, timeoutMs: 500 }));
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) expect((outcome.error as MeshError).code).toBe('TIMEOUT');
      await until(() => !a.peers().some((p) => p.id === frozenId), 'the frozen peer to be dropped from the view', { timeoutMs: 10_000 });
      // Its shards moved: the same id now runs here.
      expect((await a.call({ actor: 'EchoActor', id, capability: 'game', payload: 3 })).peer).toBe(a.peerId);
    } finally {
      frozen.kill('SIGCONT');
    }
    // Resumed, it reconnects and the views settle again.
    await until(() => a.peers().some((p) => p.id === frozenId), 'the resumed peer to re-enter the view', { timeoutMs: 30_000 });
    await until(
      async () => (await a.call({ actor: 'EchoActor', id, capability: 'game', payload: 4 })).peer === frozenId,
      'calls to reach the resumed owner',
      { timeoutMs: 15_000 },
    );
  }, 90_000);

  it('a signaling server that is down at start-up: a clear SIGNALING error after connectTimeoutMs', async () => {
    const port = await freePort();
    const connectTimeoutMs = 500;
    const started = performance.now();
    const outcome = await settle(
      Mesh.start({
        signal: `http://${LOOPBACK}:${port}`,
        room: uniqueRoom('down'),
        bindAddress: LOOPBACK,
        connectTimeoutMs,
        actors: ALL_ACTORS,
      }),
    );
    const took = performance.now() - started;
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.error).toBeInstanceOf(MeshError);
      expect((outcome.error as MeshError).code).toBe('SIGNALING');
      expect((outcome.error as MeshError).message).toContain(`127.0.0.1:${port}`);
    }
    expect(took).toBeGreaterThan(connectTimeoutMs - 100);
    expect(took).toBeLessThan(5000);
  });

  it('a signaling server that comes up while a peer is retrying: start() resolves and the peer joins', async () => {
    const port = await freePort();
    const room = uniqueRoom('late');
    let refused = 0;
    const starting = Mesh.start({
      signal: `http://${LOOPBACK}:${port}`,
      room,
      bindAddress: LOOPBACK,
      connectTimeoutMs: 15_000,
      capabilities: ['game'],
      actors: ALL_ACTORS,
      onSignalingState: (state) => {
        if (state === 'disconnected') refused++;
      },
    });
    // Refused, then refused again: it is retrying when the server comes up.
    await until(() => refused >= 2, 'two refused attempts to reach the signaling server', { timeoutMs: 10_000 });
    const server = await startServer(port);
    const late = await starting;
    try {
      const other = await startPeer({ signal: server.url, room, capabilities: ['game'] });
      await until(() => late.peers().length === 2 && other.peers().length === 2, 'the late peer to join the mesh', { timeoutMs: 15_000 });
      const id = idOwnedBy(other, late.peerId, 'late_');
      expect((await other.call({ actor: 'EchoActor', id, capability: 'game', payload: 'hi' })).result).toBe('hi');
    } finally {
      await late.stop();
    }
  }, 60_000);
});
