/**
 * A peer that drops a capability hands its actors over without the new owners waiting out
 * handoffTimeoutMs, whether its caps frame reaches them before its handed-over state and `released` frame
 * or after them (a receiver coalescing capability changes applies them up to 100 ms late).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Actor } from '../../shared/actors/actor.js';
import type { Mesh } from '../../shared/mesh.js';
import { Handoff } from '../../shared/mesh/handoff.js';
import { Membership } from '../../shared/placement/membership.js';
import { rendezvous } from '../../shared/placement/placement.js';
import { ShardMap } from '../../shared/placement/shard-map.js';
import { shardFor } from '../../shared/placement/shards.js';
import { MemoryNetwork } from '../../shared/wire/memory-transport.js';
import { startMeshes, stopAll } from '../fixtures/mesh-helpers.js';
import { until } from '../fixtures/wait.js';

class Score implements Actor {
  n = 0;
  handleCall(): unknown {
    return ++this.n;
  }
  snapshot(): unknown {
    return this.n;
  }
  restore(state: unknown): void {
    this.n = state as number;
  }
}

let meshes: Mesh[] = [];
afterEach(() => stopAll(meshes));

describe('capability drops hand over promptly', () => {
  it.each([1, 2])('drop number %i: every player moves with its score, no call waits for the handoff timeout', async (drops) => {
    const net = new MemoryNetwork();
    // A handoff timeout far beyond the calls' own timeout: a call that waited for it would fail.
    meshes = await startMeshes(net, ['peer-a', 'peer-b', 'peer-c'], {
      capabilities: ['game'],
      actors: { Score },
      handoffTimeoutMs: 60_000,
    });
    const [a, b] = meshes as [Mesh, Mesh, Mesh];
    const onB = Array.from({ length: 400 }, (_, i) => `p${i}`).filter(
      (id) => rendezvous.owner(shardFor(id), 'game', ['peer-a', 'peer-b', 'peer-c']) === 'peer-b',
    );
    for (const id of onB) await a.call({ actor: 'Score', id, capability: 'game' });
    // The second round drops again right after re-adding, inside the receivers' 100 ms coalescing window.
    for (let round = 0; round < drops; round++) {
      if (round > 0) b.registerCapabilities(['game']);
      b.registerCapabilities([]);
    }
    await until(() => a.peersFor('game').join() === 'peer-a,peer-c', "peer-b to leave game in peer-a's view");
    const results = await Promise.all(onB.map((id) => a.call<number>({ actor: 'Score', id, capability: 'game', timeoutMs: 3000 })));
    expect(results.every((r) => r.peer !== 'peer-b' && r.result === 2)).toBe(true);
  });
});

describe('waits end', () => {
  function setup(timeoutMs: number): { handoff: Handoff; shards: ShardMap; join: (id: string) => void } {
    const membership = new Membership();
    const shards = new ShardMap(rendezvous, 256);
    const handoff = new Handoff({
      self: 'peer-c',
      timeoutMs,
      shards,
      shardCount: 256,
      shardOf: (id) => shardFor(id, 256),
      isMember: (peer) => membership.has(peer),
      handsOff: () => true,
      send: () => 1,
      accept: () => undefined,
      isActive: () => false,
      supersede: () => false,
      hasState: () => false,
      sent: () => undefined,
      received: () => undefined,
      lost: () => undefined,
      rejected: () => undefined,
    });
    const join = (id: string): void => {
      membership.upsert({ id, kind: 'node', capabilities: ['game'], actorTypes: ['Score'] });
      handoff.viewChanged(shards.update(membership), [id], []);
    };
    return { handoff, shards, join };
  }

  it('a joiner that saw one peer before the other waits only for what the two really release', () => {
    const { handoff, shards, join } = setup(60_000);
    join('peer-c');
    join('peer-a');
    expect(handoff.holding()).toBe(true); // peer-a held every shard peer-c owns now
    join('peer-b');
    // Each old owner releases the shards it held without peer-c, as the real peers do.
    for (const from of ['peer-a', 'peer-b']) {
      const released: number[] = [];
      for (let shard = 0; shard < 256; shard++) {
        if (shards.owner(shard, 'game') === 'peer-c' && shards.ownerWithout(shard, 'game', 'peer-c') === from) released.push(shard);
      }
      handoff.onReleased(from, { t: 'released', capability: 'game', shards: released, keys: [] });
    }
    // Nothing left: no wait for a shard peer-a never held in peer-b's presence, nor for one peer-c gave up.
    expect(handoff.holding()).toBe(false);
  });

  it('waits nobody asked about are swept once past their deadline', () => {
    vi.useFakeTimers();
    try {
      const { handoff, join } = setup(1000);
      join('peer-c');
      join('peer-a');
      expect(handoff.holding()).toBe(true);
      vi.advanceTimersByTime(1001);
      expect(handoff.holding()).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});
