import { describe, expect, it } from 'vitest';
import { ReplicaStore } from '../../shared/mesh/replica-store.js';
import { decodeBatch, encodeFrame, encodeValue, joinBatch } from '../../shared/wire/codec.js';
import type { Frame, ReplicaFrame } from '../../shared/wire/frames.js';

/** A store on a peer ranked right after 'owner' for every shard. */
function storeOf(maxBytes: number, rejected: (reason: string) => void = () => undefined): ReplicaStore {
  return new ReplicaStore({
    self: 'me',
    maxBytes,
    shardOf: () => 0,
    ranksBefore: () => true,
    ranking: () => ['owner', 'me'],
    isMember: () => true,
    ack: () => undefined,
    rejected: (_peer, _frame, reason) => rejected(reason),
  });
}

describe('ReplicaStore memory (a hostile or merely unlucky owner)', () => {
  it('a copy that arrived in a large message keeps only its own bytes, not the message', () => {
    const store = storeOf(1024 * 1024);
    const copy: Frame = {
      t: 'replica',
      capability: 'game',
      actor: 'A',
      id: 'x',
      epoch: 1,
      seq: 1,
      state: new Uint8Array([1, 2, 3]),
      initArg: null,
      copies: 1,
      n: 1,
      timers: null,
    };
    // One small copy in a message padded by another frame the receiver handles and forgets.
    const padding: Frame = { t: 'cast', capability: 'game', actor: 'A', id: 'y', payload: 'p'.repeat(15_000), initArg: null };
    const frames = [encodeFrame(copy), encodeFrame(padding)];
    const message = joinBatch(frames, frames[0]!.length + frames[1]!.length);
    const decoded = decodeBatch(message).frames[0] as ReplicaFrame;
    store.onReplica('owner', decoded);
    const held = store.list()[0]!;
    expect([...held.state]).toEqual([1, 2, 3]);
    expect(held.state.buffer.byteLength).toBe(3);
  });

  it("a copy's initArg and timers count against maxBytes; a copy too large with them is refused", () => {
    const rejected: string[] = [];
    const store = storeOf(64 * 1024, (reason) => rejected.push(reason));
    const copy = (id: string, n: number, initArg: unknown): ReplicaFrame => ({
      t: 'replica',
      capability: 'game',
      actor: 'A',
      id,
      epoch: 1,
      seq: 1,
      state: new Uint8Array([1]),
      initArg,
      copies: 1,
      n,
      timers: null,
    });
    store.onReplica('owner', copy('small', 1, { name: 'x' }));
    const smallBytes = store.heldBytes;
    store.onReplica('owner', copy('big', 2, { blob: 'b'.repeat(10_000) }));
    expect(store.heldBytes - smallBytes).toBeGreaterThan(10_000);
    store.onReplica('owner', copy('huge', 3, { blob: 'h'.repeat(100_000) }));
    expect(store.list().map((r) => r.id)).toEqual(['small', 'big']);
    expect(rejected).toEqual(['a copy larger than the replica store']);
  });

  it('evicts the least recently written copies first; a newer copy of an actor moves it to the back', () => {
    const store = storeOf(1000);
    const copy = (id: string, seq: number, size: number): ReplicaFrame => ({
      t: 'replica',
      capability: 'game',
      actor: 'A',
      id,
      epoch: 1,
      seq,
      state: encodeValue('s'.repeat(size)),
      initArg: null,
      copies: 1,
      n: seq,
      timers: null,
    });
    for (const id of ['a', 'b', 'c']) store.onReplica('owner', copy(id, 1, 100));
    const each = store.heldBytes / 3;
    // A newer version of 'a' replaces its copy (its bytes, not both) and makes it the most recently written.
    store.onReplica('owner', copy('a', 2, 100));
    expect(store.heldBytes).toBe(3 * each);
    expect(store.list().map((r) => `${r.id}@${r.version.seq}`)).toEqual(['b@1', 'c@1', 'a@2']);
    // Room for about 5 copies: 'd', 'e' and 'f' push out the oldest writes, 'b' then 'c'.
    for (const id of ['d', 'e', 'f']) store.onReplica('owner', copy(id, 1, 100));
    expect(store.heldBytes).toBeLessThanOrEqual(1000);
    expect(store.evicted).toBeGreaterThan(0);
    const left = store.list().map((r) => r.id);
    expect(left).toEqual(['b', 'c', 'a', 'd', 'e', 'f'].slice(store.evicted));
    expect(store.heldBytes).toBe(left.length * each);
    // Taking a copy out leaves the order and the byte count of the rest intact.
    expect(store.take(store.list()[0]!.key)?.snapshot.state).toBe('s'.repeat(100));
    expect(store.heldBytes).toBe((left.length - 1) * each);
    expect(store.list().map((r) => r.id)).toEqual(left.slice(1));
  });
});
