import { describe, expect, it } from 'vitest';
import { encodeFrameShared } from '../../shared/wire/codec.js';
import { FrameLink } from '../../shared/wire/frame-link.js';
import type { Frame } from '../../shared/wire/frames.js';
import { callFrame as call } from '../fixtures/frames.js';
import { AdmissionLine } from '../../shared/wire/admission.js';
import { type Outgoing, OutgoingQueue, own } from '../../shared/wire/outgoing-queue.js';

const shared = (frame: Frame): Outgoing => ({ bytes: encodeFrameShared(frame), owned: false, controlled: true });
const ownsItsBytes = (bytes: Uint8Array): boolean => bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length;

describe('OutgoingQueue', () => {
  it('frames still waiting after a flush get bytes of their own, equal to the view, each once', () => {
    const queue = new OutgoingQueue();
    const items = [0, 1, 2, 3].map((n) => shared(call(n, n)));
    // Views share the encoder's buffer (this is what made them cheap, and what they must not keep alive).
    expect(items[0]!.bytes.buffer).toBe(items[1]!.bytes.buffer);
    const before = items.map((item) => [...item.bytes]);
    for (const item of items) queue.push(item);
    queue.shift(); // the first one was sent
    queue.settle();
    expect(items[0]!.owned).toBe(false);
    for (const [i, item] of items.slice(1).entries()) {
      expect(item.owned).toBe(true);
      expect(ownsItsBytes(item.bytes)).toBe(true);
      expect([...item.bytes]).toEqual(before[i + 1]);
    }
    const copied = items[1]!.bytes;
    queue.settle();
    expect(items[1]!.bytes).toBe(copied); // not copied again
    expect(queue.peek()).toBe(items[1]);
  });

  it('own() copies a Node Buffer too (Buffer#slice would be another view)', () => {
    const view = encodeFrameShared({ t: 'ping', n: 1 });
    const item: Outgoing = { bytes: view, owned: false, controlled: false };
    own(item);
    expect(item.bytes.buffer).not.toBe(view.buffer);
    expect(ownsItsBytes(item.bytes)).toBe(true);
  });
});

describe('FrameLink and the encoder buffer', () => {
  it('frames queued while the channel is above high water own their bytes (no flush runs until it drains)', () => {
    let buffered = 0;
    const link = new FrameLink(
      {
        send: (data) => {
          buffered += data.length;
        },
        bufferedAmount: () => buffered,
        onDrain: () => undefined,
      },
      { frame: () => undefined, dropped: () => undefined },
      { highWaterBytes: 1024, schedule: (task) => task() },
    );
    for (let n = 0; n < 100; n++) link.send(call(n, 'z'.repeat(40)));
    const queued = (link as unknown as { controlled: { items: Outgoing[] } }).controlled.items;
    expect(queued.length).toBeGreaterThan(0);
    for (const item of queued) expect(ownsItsBytes(item.bytes)).toBe(true);
  });

  it('a stalled peer (no acks) holds only the bytes of the frames queued for it, not the encoder buffers', () => {
    const link = new FrameLink(
      { send: () => undefined, bufferedAmount: () => 0, onDrain: () => undefined },
      { frame: () => undefined, dropped: () => undefined },
      { maxQueuedBytes: 64 * 1024, schedule: (task) => task() },
    );
    link.setPeerWindow(1);
    link.send(call(0, 0));
    // Other traffic, including a large value, makes the encoder replace (and grow) its buffer many times.
    encodeFrameShared({ t: 'reply', corr: 1, serial: 1, result: 'x'.repeat(256 * 1024) });
    for (let n = 0; n < 40; n++) {
      link.send(call(100 + n, n));
      for (let k = 0; k < 300; k++) encodeFrameShared({ t: 'reply', corr: k, serial: 1, result: 'y'.repeat(4000) });
    }
    const queued = (link as unknown as { controlled: { items: Outgoing[] } }).controlled.items;
    expect(queued).toHaveLength(40);
    const held = new Set(queued.map((item) => item.bytes.buffer));
    const heldBytes = [...held].reduce((sum, buffer) => sum + buffer.byteLength, 0);
    expect(heldBytes).toBe(link.queued);
  });
});

describe('nothing sent stays reachable', () => {
  it('OutgoingQueue forgets a frame as soon as it is taken, before any trim', () => {
    const queue = new OutgoingQueue();
    const items = [0, 1, 2].map((n) => shared(call(n, n)));
    for (const item of items) queue.push(item);
    queue.shift();
    queue.shift();
    const slots = (queue as unknown as { items: (Outgoing | undefined)[] }).items;
    expect(slots.filter((slot) => slot !== undefined)).toEqual([items[2]]);
  });

  it('AdmissionLine forgets admitted and timed-out entries while others still wait', async () => {
    const line = new AdmissionLine<{ readonly name: string }>(5);
    const admitted: string[] = [];
    const waits = ['a', 'b', 'c'].map((name) => line.wait({ name }, name === 'b' ? 1 : 60_000, undefined));
    const timedOut = waits[1]!.catch((error: unknown) => error);
    expect(await timedOut).toMatchObject({ code: 'TIMEOUT' });
    let room = 1;
    line.admit(
      () => room-- > 0,
      (item) => admitted.push(item.name),
    );
    await waits[0];
    expect(admitted).toEqual(['a']);
    const entries = (line as unknown as { line: ({ item: unknown } | undefined)[] }).line;
    // 'a' was admitted (slot cleared); 'b' timed out (its item dropped); only 'c' is still held.
    expect(entries.filter((e) => e?.item != null).map((e) => (e!.item as { name: string }).name)).toEqual(['c']);
    line.close(new Error('closed'));
    await expect(waits[2]).rejects.toThrow('closed');
  });
});
