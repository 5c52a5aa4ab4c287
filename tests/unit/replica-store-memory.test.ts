import { describe, expect, it } from 'vitest';
import { ReplicaStore } from '../../shared/mesh/replica-store.js';
import { decodeBatch, encodeFrame, joinBatch } from '../../shared/wire/codec.js';
import type { Frame, ReplicaFrame } from '../../shared/wire/frames.js';

describe('ReplicaStore memory (a hostile or merely unlucky owner)', () => {
  it('a copy that arrived in a large message keeps only its own bytes, not the message', () => {
    const store = new ReplicaStore({
      self: 'me',
      maxBytes: 1024 * 1024,
      shardOf: () => 0,
      ranksBefore: () => true,
      ranking: () => ['owner', 'me'],
      isMember: () => true,
      ack: () => undefined,
      rejected: () => undefined,
    });
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
    expect(decoded.state.buffer.byteLength).toBeGreaterThan(15_000); // what cbor-x hands over: a view of the message
    store.onReplica('owner', decoded);
    const held = store.list()[0]!;
    expect([...held.state]).toEqual([1, 2, 3]);
    expect(held.state.buffer.byteLength).toBe(3);
  });
});
