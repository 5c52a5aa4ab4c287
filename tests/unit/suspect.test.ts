/**
 * A peer the transport suspects gone (its signaling socket dropped) is probed over its own channel: if it
 * answers, its healthy link stays (a signaling blip cuts nothing); if it stays silent, the link closes
 * within the probe time and its calls fail with PEER_GONE at once.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Actor } from '../../shared/actors/actor.js';
import { Mesh } from '../../shared/mesh.js';
import { rendezvous } from '../../shared/placement/placement.js';
import { shardFor } from '../../shared/placement/shards.js';
import { MemoryNetwork } from '../../shared/wire/memory-transport.js';
import { HeldTransport } from '../fixtures/held-transport.js';
import { Gate, expectRejects, stopAll, waitConverged } from '../fixtures/mesh-helpers.js';

class Waiter implements Actor {
  static gate = new Gate();
  handleCall(): unknown {
    return Waiter.gate.promise.then(() => 'done');
  }
}

const running: Mesh[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await stopAll(running.splice(0));
});

async function pair(): Promise<{ net: MemoryNetwork; a: Mesh; b: Mesh; held: HeldTransport }> {
  const net = new MemoryNetwork();
  const held = new HeldTransport(net.transport());
  const a = await Mesh.start({ peerId: 'peer-a', capabilities: ['x'], actors: { Waiter }, transport: held });
  const b = await Mesh.start({ peerId: 'peer-b', capabilities: ['x'], actors: { Waiter }, transport: net.transport() });
  running.push(a, b);
  await waitConverged([a, b]);
  return { net, a, b, held };
}

const onB = (): string => {
  for (let i = 0; ; i++) if (rendezvous.owner(shardFor(`w${i}`), 'x', ['peer-a', 'peer-b']) === 'peer-b') return `w${i}`;
};

describe('suspected peers', () => {
  it('a peer that answers the probe keeps its link', async () => {
    const { a, held } = await pair();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    held.suspect('peer-b');
    await vi.advanceTimersByTimeAsync(5000);
    expect(a.peers().map((p) => p.id)).toEqual(['peer-a', 'peer-b']);
  });

  it('a silent one is dropped within the probe time, failing its calls with PEER_GONE', async () => {
    Waiter.gate = new Gate();
    const { net, a, held } = await pair();
    const failed = expectRejects(a.call({ actor: 'Waiter', id: onB(), capability: 'x', timeoutMs: 60_000 }), 'PEER_GONE');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    net.freeze('peer-b');
    held.suspect('peer-b');
    await vi.advanceTimersByTimeAsync(999);
    expect(a.peers()).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(a.peers().map((p) => p.id)).toEqual(['peer-a']);
    vi.useRealTimers();
    await failed;
  });
});
