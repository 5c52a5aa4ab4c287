/**
 * Live replicas over MemoryNetwork: each actor's state is copied to the peers that would own it next; a
 * sync call resolves only once its state is on every backup; when the owner vanishes, the next peer in the
 * ranking activates the actor from its copy at once (replica-promoted, no handoff-lost) and copies it on;
 * versions keep stale copies out; read-only calls copy nothing; idle passivation drops the copies; hostile
 * copies are refused and the store is bounded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Actor } from '../../shared/actors/actor.js';
import { Mesh, type CallRequest, type MeshEvents, type MeshOptions } from '../../shared/mesh.js';
import { encodeValue } from '../../shared/wire/codec.js';
import { MemoryNetwork } from '../../shared/wire/memory-transport.js';
import { HeldTransport } from '../fixtures/held-transport.js';
import { events, idRanked, settlesWithinTicks, stopAll, waitConverged } from '../fixtures/mesh-helpers.js';
import { RawPeer } from '../fixtures/raw-peer.js';
import { until } from '../fixtures/wait.js';

/** A score; `get` is read-only. */
class Score implements Actor {
  score = 0;
  handleCall(payload: unknown): unknown {
    return (payload as { op?: string } | null)?.op === 'get' ? this.score : ++this.score;
  }
  snapshot(): unknown {
    return { score: this.score };
  }
  restore(state: unknown): void {
    this.score = (state as { score: number }).score;
  }
  static readOnly(payload: unknown): boolean {
    return (payload as { op?: string } | null)?.op === 'get';
  }
}

class AsyncScore extends Score {
  static readonly replication = 'async' as const;
}

const CAP = 'game';
let running: Mesh[] = [];
afterEach(async () => {
  await stopAll(running);
  running = [];
});

async function mesh(net: MemoryNetwork, id: string, options: MeshOptions = {}, transport = net.transport()): Promise<Mesh> {
  const m = await Mesh.start({
    peerId: id,
    capabilities: [CAP],
    actors: { Score, AsyncScore },
    heartbeatMs: 50,
    peerTimeoutMs: 300,
    transport,
    ...options,
  });
  running.push(m);
  return m;
}

/** How many copies `raw` had acknowledged by peer-a (one ack frame covers the copies that arrived together). */
const acked = (raw: RawPeer): number => raw.received('peer-a').reduce((sum, f) => sum + (f.t === 'replica-ack' ? f.n.length : 0), 0);

const score = (id: string, op?: string, actor = 'Score'): CallRequest => ({ actor, id, capability: CAP, payload: op ? { op } : null });

describe('sync replicas', () => {
  it('a call resolves only once its state is on the backup; the owner shows its backups, the backup its copies', async () => {
    const net = new MemoryNetwork();
    const held = new HeldTransport(net.transport());
    const a = await mesh(net, 'peer-a');
    const b = await mesh(net, 'peer-b', {}, held);
    await waitConverged([a, b]);
    const id = idRanked(['peer-a', 'peer-b'], ['peer-a', 'peer-b'], 'p');
    held.hold('peer-a'); // peer-b hears nothing from peer-a for now: no copy arrives, no ack goes back
    let resolved = false;
    const pending = a.call(score(id)).then((r) => {
      resolved = true;
      return r;
    });
    await until(() => held.heldCount('peer-a') > 0, 'the copy to be on its way');
    await new Promise((resolve) => setImmediate(resolve));
    expect(resolved).toBe(false);
    held.release('peer-a');
    expect((await pending).result).toBe(1);
    expect(a.activations()).toEqual([expect.objectContaining({ id, backups: ['peer-b'] })]);
    expect(b.replicas()).toEqual([expect.objectContaining({ id, owner: 'peer-a', version: { epoch: 1, seq: 1 } })]);
    expect(a.stats().replicas).toMatchObject({ sent: 1, acked: 1 });
    expect(b.stats().replicas).toMatchObject({ held: 1 });
  });

  it('async replication resolves at once; the copy follows', async () => {
    const net = new MemoryNetwork();
    const held = new HeldTransport(net.transport());
    const a = await mesh(net, 'peer-a');
    const b = await mesh(net, 'peer-b', {}, held);
    await waitConverged([a, b]);
    const id = idRanked(['peer-a', 'peer-b'], ['peer-a', 'peer-b'], 'p');
    held.hold('peer-a');
    expect((await a.call(score(id, undefined, 'AsyncScore'))).result).toBe(1);
    held.release('peer-a');
    await until(() => b.replicas().length === 1, 'the copy to arrive');
  });

  it('read-only calls send no copy, but wait for the copies of the changes before them', async () => {
    const net = new MemoryNetwork();
    const held = new HeldTransport(net.transport());
    const a = await mesh(net, 'peer-a');
    const b = await mesh(net, 'peer-b', {}, held);
    await waitConverged([a, b]);
    const id = idRanked(['peer-a', 'peer-b'], ['peer-a', 'peer-b'], 'p');
    await a.call(score(id));
    const sent = a.stats().replicas.sent;
    for (let i = 0; i < 20; i++) expect((await a.call(score(id, 'get'))).result).toBe(1);
    expect(a.stats().replicas.sent).toBe(sent);
    // A read behind an unacknowledged change waits for it: it must not show state a crash could undo.
    held.hold('peer-a');
    const write = a.call(score(id));
    let read = false;
    const reading = a.call(score(id, 'get')).then((r) => {
      read = true;
      return r;
    });
    await until(() => held.heldCount('peer-a') > 0, 'the copy to be on its way');
    expect(read).toBe(false);
    held.release('peer-a');
    expect((await write).result).toBe(2);
    expect((await reading).result).toBe(2);
  });

  it('a single peer with the capability has no backup: calls resolve at once', async () => {
    const a = await mesh(new MemoryNetwork(), 'peer-a');
    expect((await a.call(score('solo'))).result).toBe(1);
    expect(a.activations()[0]?.backups).toEqual([]);
  });
});

describe('promotion', () => {
  it('the owner vanishing: the backup activates the actor from its copy at once, every acknowledged change kept', async () => {
    const net = new MemoryNetwork();
    const a = await mesh(net, 'peer-a');
    const b = await mesh(net, 'peer-b');
    const c = await mesh(net, 'peer-c');
    await waitConverged([a, b, c]);
    const id = idRanked(['peer-a', 'peer-b', 'peer-c'], ['peer-a', 'peer-b', 'peer-c'], 'p');
    for (let i = 0; i < 7; i++) await c.call(score(id));
    const promoted = events(b, 'replica-promoted');
    const lost: MeshEvents['handoff-lost'][] = [...events(b, 'handoff-lost'), ...events(c, 'handoff-lost')];
    // A crash: no bye, no drain. The others find out when the channels die.
    net.disconnect('peer-a', 'peer-b');
    net.disconnect('peer-a', 'peer-c');
    await until(() => promoted.length === 1, 'peer-b to promote its copy');
    expect(promoted[0]).toMatchObject({ id, from: 'peer-a', version: { epoch: 1, seq: 7 } });
    expect(b.activations().map((x) => x.id)).toEqual([id]);
    const next = await c.call(score(id));
    expect(next).toMatchObject({ peer: 'peer-b', result: 8 });
    expect(lost).toEqual([]);
    // The copy goes on: peer-c is peer-b's backup now.
    await until(() => c.replicas().some((r) => r.id === id && r.owner === 'peer-b'), "peer-c to hold the new owner's copy");
    expect(c.replicas().find((r) => r.id === id)?.version.epoch).toBe(2);
    void a;
  });

  it('a joiner ranking second becomes the backup and gets the state', async () => {
    const net = new MemoryNetwork();
    const a = await mesh(net, 'peer-a');
    const b = await mesh(net, 'peer-b');
    await waitConverged([a, b]);
    const id = idRanked(['peer-a', 'peer-c', 'peer-b'], ['peer-a', 'peer-b', 'peer-c'], 'p');
    for (let i = 0; i < 3; i++) await a.call(score(id));
    const c = await mesh(net, 'peer-c');
    await waitConverged([a, b, c]);
    await until(() => c.replicas().some((r) => r.id === id), 'the joiner to get a copy');
    expect(a.activations().find((x) => x.id === id)?.backups).toEqual(['peer-c']);
    await until(() => !b.replicas().some((r) => r.id === id), 'the former backup to drop its copy');
  });
});

describe('moves and copies', () => {
  it('a graceful move: an older copy on the new owner never replaces the state handed over', async () => {
    const net = new MemoryNetwork();
    const held = new HeldTransport(net.transport());
    const a = await mesh(net, 'peer-a');
    const b = await mesh(net, 'peer-b', {}, held);
    await waitConverged([a, b]);
    const id = idRanked(['peer-a', 'peer-b'], ['peer-a', 'peer-b'], 'p');
    expect((await a.call(score(id))).result).toBe(1);
    held.hold('peer-a');
    const second = a.call(score(id));
    const third = a.call(score(id));
    await until(() => held.heldCount('peer-a') > 0, 'copy 2 on its way');
    // Moving away answers both: their changes travel in the handoff.
    a.registerCapabilities([]);
    expect((await second).result).toBe(2);
    expect((await third).result).toBe(3);
    held.release('peer-a');
    await until(() => b.activations().some((x) => x.id === id), 'peer-b hosts the actor');
    await a.stop();
    await until(() => !b.peers().some((p) => p.id === 'peer-a'), 'peer-a gone');
    expect((await b.call(score(id, 'get'))).result).toBe(3);
  });

  it('handed-over state is copied to the backups of the new owner at once, not at its first call', async () => {
    const net = new MemoryNetwork();
    const a = await mesh(net, 'peer-a');
    const b = await mesh(net, 'peer-b');
    const c = await mesh(net, 'peer-c');
    await waitConverged([a, b, c]);
    const id = idRanked(['peer-a', 'peer-b', 'peer-c'], ['peer-a', 'peer-b', 'peer-c'], 'p');
    for (let i = 0; i < 5; i++) await a.call(score(id));
    a.registerCapabilities([]);
    // peer-b owns it now and peer-c is its backup: the state reaches peer-c with no call made.
    await until(() => c.replicas().some((r) => r.id === id), 'peer-c holds a copy');
    net.disconnect('peer-b', 'peer-a');
    net.disconnect('peer-b', 'peer-c');
    await until(() => !c.peers().some((p) => p.id === 'peer-b'), 'peer-c sees peer-b gone');
    expect((await c.call(score(id, 'get'))).result).toBe(5);
  });

  it('a joiner ranking first that crashes before any call loses nothing acknowledged', async () => {
    const net = new MemoryNetwork();
    const a = await mesh(net, 'peer-a');
    const b = await mesh(net, 'peer-b');
    await waitConverged([a, b]);
    const id = idRanked(['peer-j', 'peer-a', 'peer-b'], ['peer-a', 'peer-b', 'peer-j'], 'p');
    for (let i = 0; i < 5; i++) await a.call(score(id));
    const j = await mesh(net, 'peer-j');
    await waitConverged([a, b, j]);
    await until(() => a.replicas().some((r) => r.id === id), 'peer-a, now its backup, holds a copy');
    net.disconnect('peer-j', 'peer-a');
    net.disconnect('peer-j', 'peer-b');
    await until(() => !a.peers().some((p) => p.id === 'peer-j'), 'peer-j gone');
    expect((await a.call(score(id, 'get'))).result).toBe(5);
  });
});

describe('a backup that cannot hold a copy', () => {
  it('refuses it: the sync call goes on without that copy instead of waiting for its timeout', async () => {
    const net = new MemoryNetwork();
    const a = await mesh(net, 'peer-a');
    const b = await mesh(net, 'peer-b', { maxReplicaBytes: 16 });
    await waitConverged([a, b]);
    const rejectedOnB = events(b, 'frame-rejected');
    const id = idRanked(['peer-a', 'peer-b'], ['peer-a', 'peer-b'], 'p');
    expect((await a.call({ ...score(id), timeoutMs: 2_000 })).result).toBe(1);
    expect((await a.call({ ...score(id), timeoutMs: 2_000 })).result).toBe(2);
    expect(rejectedOnB.map((e) => e.reason)).toEqual(['a copy larger than the replica store']);
    expect(b.replicas()).toEqual([]);
  });
});

describe('idle passivation', () => {
  it('drops the copies with the actor', async () => {
    const net = new MemoryNetwork();
    const a = await mesh(net, 'peer-a', { idleTimeoutMs: 50 });
    const b = await mesh(net, 'peer-b', { idleTimeoutMs: 50 });
    await waitConverged([a, b]);
    const id = idRanked(['peer-a', 'peer-b'], ['peer-a', 'peer-b'], 'p');
    await a.call(score(id));
    await until(() => b.replicas().length === 1, 'the copy');
    await until(() => a.activations().length === 0, 'the idle actor to stop');
    await until(() => b.replicas().length === 0, 'its copy to go');
  });
});

describe('hostile copies', () => {
  it('a copy from a peer that does not rank before us is refused; acks for nothing too; the store is bounded', async () => {
    const net = new MemoryNetwork();
    const a = await mesh(net, 'peer-a', { maxReplicaBytes: 4096 });
    const raw = await RawPeer.start(net, 'peer-z', { hello: { capabilities: [CAP], actorTypes: ['Score'] } });
    await until(() => a.peersFor(CAP).includes('peer-z'), 'peer-a to see peer-z');
    const rejected = events(a, 'frame-rejected');
    const below = idRanked(['peer-a', 'peer-z'], ['peer-a', 'peer-z'], 'p');
    const state = encodeValue({ score: 1_000_000 });
    raw.send('peer-a', {
      t: 'replica',
      capability: CAP,
      actor: 'Score',
      id: below,
      epoch: 99,
      seq: 99,
      state,
      initArg: null,
      copies: 1,
      n: 1,
      timers: null,
    });
    // peer-a owns `below` with peer-z as its backup: an ack for a version peer-a never wrote is refused,
    // the true one lets the call resolve.
    const call = a.call(score(below));
    await until(() => raw.received('peer-a').some((f) => f.t === 'replica'), 'the copy to reach peer-z');
    const sent = raw.received('peer-a').find((f) => f.t === 'replica');
    if (sent?.t !== 'replica') throw new Error('no copy');
    raw.send('peer-a', { t: 'replica-ack', n: [sent.n + 1000], refused: [] });
    // A refusal of a copy it was never sent cannot release the call either.
    raw.send('peer-a', { t: 'replica-ack', n: [], refused: [sent.n + 2000] });
    await until(() => rejected.length === 3, 'the forged frames to be refused');
    expect(rejected.map((e) => e.frame).sort()).toEqual(['replica', 'replica-ack', 'replica-ack']);
    expect(await settlesWithinTicks(call)).toBe(false);
    raw.send('peer-a', { t: 'replica-ack', n: [sent.n], refused: [] });
    expect((await call).result).toBe(1);
    expect(a.replicas()).toEqual([]);
    // From a peer ranking first (a legitimate owner), copies are taken, but never past the byte bound.
    const ids = Array.from({ length: 40 }, (_, k) => idRanked(['peer-z', 'peer-a'], ['peer-a', 'peer-z'], `x${k}-`));
    for (const id of ids)
      raw.send('peer-a', {
        t: 'replica',
        capability: CAP,
        actor: 'Score',
        id,
        epoch: 1,
        seq: 1,
        state: new Uint8Array(200),
        initArg: null,
        copies: 1,
        n: 0,
        timers: null,
      });
    await until(() => acked(raw) === 40, 'every copy acknowledged');
    expect(a.stats().replicas.bytes).toBeLessThanOrEqual(4096);
    expect(a.stats().replicas.evicted).toBeGreaterThan(0);
    await raw.stop();
  });

  it('an older version never overwrites a newer copy', async () => {
    const net = new MemoryNetwork();
    const a = await mesh(net, 'peer-a');
    const raw = await RawPeer.start(net, 'peer-z', { hello: { capabilities: [CAP], actorTypes: ['Score'] } });
    await until(() => a.peersFor(CAP).includes('peer-z'), 'peer-a to see peer-z');
    const id = idRanked(['peer-z', 'peer-a'], ['peer-a', 'peer-z'], 'p');
    const copy = (epoch: number, seq: number, n: number) =>
      raw.send('peer-a', {
        t: 'replica',
        capability: CAP,
        actor: 'Score',
        id,
        epoch,
        seq,
        state: encodeValue({ score: n }),
        initArg: null,
        copies: 1,
        n,
        timers: null,
      });
    copy(2, 5, 25);
    copy(2, 3, 23);
    copy(1, 9, 19);
    await until(() => acked(raw) === 3, 'three acks');
    expect(a.replicas()).toEqual([expect.objectContaining({ id, version: { epoch: 2, seq: 5 } })]);
    await raw.stop();
    // peer-z gone: peer-a owns the shard now and activates the actor from the newest copy.
    await until(() => a.activations().some((x) => x.id === id), 'the promotion');
    expect((await a.call(score(id, 'get'))).result).toBe(25);
  });
});

describe('a healed partition', () => {
  it('the same actor lived on both sides: the higher version wins, whichever side owns it after', async () => {
    const net = new MemoryNetwork();
    const a = await mesh(net, 'peer-a');
    const b = await mesh(net, 'peer-b');
    await waitConverged([a, b]);
    const peers = ['peer-a', 'peer-b'];
    // One actor owned by each side once whole; on each, the side that does NOT own it after the heal made more changes.
    const ownedByA = idRanked(['peer-a', 'peer-b'], peers, 'a');
    const ownedByB = idRanked(['peer-b', 'peer-a'], peers, 'b');
    net.disconnect('peer-a', 'peer-b');
    await until(() => !a.peers().some((p) => p.id === 'peer-b') && !b.peers().some((p) => p.id === 'peer-a'), 'each side to be alone');
    for (let i = 0; i < 3; i++) await a.call(score(ownedByA));
    for (let i = 0; i < 5; i++) await b.call(score(ownedByA));
    for (let i = 0; i < 2; i++) await a.call(score(ownedByB));
    for (let i = 0; i < 4; i++) await b.call(score(ownedByB));
    const stopped = events(a, 'deactivated');
    const superseded = () => stopped.filter((e) => e.id === ownedByA);
    net.connect('peer-a', 'peer-b');
    await waitConverged([a, b]);
    // peer-b's 5 changes beat peer-a's 3: peer-a's activation stops and the actor continues from 5.
    await until(() => superseded().length === 1, "peer-a's older activation to stop");
    expect(superseded()[0]?.reason).toBe('rebalance');
    expect(await b.call(score(ownedByA))).toMatchObject({ peer: 'peer-a', result: 6 });
    // peer-b's own 4 changes beat the 2 peer-a hands over: peer-b keeps its activation and its state.
    expect(await a.call(score(ownedByB))).toMatchObject({ peer: 'peer-b', result: 5 });
  });
});
