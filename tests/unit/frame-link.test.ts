import { describe, expect, it, vi } from 'vitest';
import { decodeBatch, encodeFrame, encodeValue, joinBatch } from '../../shared/wire/codec.js';
import { MeshError, PayloadTooLargeError, ProtocolError } from '../../shared/errors.js';
import { FrameLink, type ByteChannel, type FrameLinkOptions } from '../../shared/wire/frame-link.js';
import type { Frame } from '../../shared/wire/frames.js';
import { callFrame as call } from '../fixtures/frames.js';
import { macrotask, until } from '../fixtures/wait.js';

const KiB = 1024;
const MiB = 1024 * 1024;

async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await macrotask();
}

/**
 * A fake data channel: messages sit "in the network" (counted in bufferedAmount) until delivered. In auto
 * mode each send schedules one delivery per macrotask (asynchronous, ordered); in manual mode the test
 * delivers with `deliver()`. The drain callback fires when bufferedAmount falls from above the registered
 * threshold to at or below it, like RTCDataChannel's bufferedamountlow.
 */
class FakeChannel implements ByteChannel {
  readonly sent: { readonly bytes: Uint8Array; readonly bufferedBefore: number }[] = [];
  readonly network: Uint8Array[] = [];
  receiver: ((data: Uint8Array) => void) | null = null;
  auto = true;
  throwOnSend = false;
  drainThreshold = -1;
  drains = 0;
  private buffered = 0;
  private drainCallback: (() => void) | null = null;

  send(data: Uint8Array): void {
    if (this.throwOnSend) throw new Error('channel closing');
    const copy = data.slice();
    this.sent.push({ bytes: copy, bufferedBefore: this.buffered });
    this.network.push(copy);
    this.buffered += copy.length;
    if (this.auto) setImmediate(() => this.deliver(1));
  }

  bufferedAmount(): number {
    return this.buffered;
  }

  onDrain(threshold: number, callback: () => void): void {
    this.drainThreshold = threshold;
    this.drainCallback = callback;
  }

  /** Delivers up to `max` messages in order; returns how many. */
  deliver(max = Number.POSITIVE_INFINITY): number {
    // Only what is in the network now: messages sent from the drain callback wait for the next delivery.
    const limit = Math.min(max, this.network.length);
    let count = 0;
    while (count < limit && this.network.length > 0) {
      const message = this.network.shift()!;
      const before = this.buffered;
      this.buffered -= message.length;
      count++;
      this.receiver?.(message);
      if (before > this.drainThreshold && this.buffered <= this.drainThreshold && this.drainCallback) {
        this.drains++;
        this.drainCallback();
      }
    }
    return count;
  }

  /** Every frame in every message sent so far, decoded. */
  sentFrames(): Frame[] {
    return this.sent.flatMap((m) => decodeBatch(m.bytes).frames);
  }
}

interface Side {
  readonly link: FrameLink;
  readonly out: FakeChannel;
  readonly frames: Frame[];
  readonly dropped: ProtocolError[];
}

function side(out: FakeChannel, options: FrameLinkOptions = {}): Side {
  const frames: Frame[] = [];
  const dropped: ProtocolError[] = [];
  const link = new FrameLink(out, { frame: (f) => frames.push(f), dropped: (e) => dropped.push(e) }, options);
  return { link, out, frames, dropped };
}

function pair(optionsA: FrameLinkOptions = {}, optionsB: FrameLinkOptions = {}): { a: Side; b: Side } {
  const a = side(new FakeChannel(), optionsA);
  const b = side(new FakeChannel(), optionsB);
  a.out.receiver = (data) => b.link.receive(data);
  b.out.receiver = (data) => a.link.receive(data);
  return { a, b };
}

/** Deterministic pseudo-random bytes (xorshift), so a corrupted reassembly cannot look right by accident. */
function noise(length: number, seed = 0x12345678): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const batch = (...frames: Frame[]): Uint8Array => {
  const encoded = frames.map((f) => encodeFrame(f));
  return joinBatch(
    encoded,
    encoded.reduce((n, e) => n + e.length, 0),
  );
};

function expectCode(thrown: unknown, code: string): void {
  expect(thrown).toBeInstanceOf(MeshError);
  expect((thrown as MeshError).code).toBe(code);
}

describe('batching', () => {
  it('frames queued in one tick share one message, in order', async () => {
    const { a, b } = pair();
    for (let n = 0; n < 100; n++) a.link.send({ t: 'ping', n });
    await until(() => b.frames.length === 100, '100 pings');
    expect(a.out.sent).toHaveLength(1);
    expect(b.frames).toEqual(Array.from({ length: 100 }, (_, n) => ({ t: 'ping', n })));
    expect(a.link.counters.framesOut).toBe(100);
    expect(a.link.counters.messagesOut).toBe(1);
    expect(b.link.counters.framesIn).toBe(100);
    expect(b.link.counters.messagesIn).toBe(1);
    expect(b.link.counters.bytesIn).toBe(a.link.counters.bytesOut);
  });

  it('many calls in one tick fill messages close to the chunk size, no more messages than needed', async () => {
    const { a, b } = pair({ maxBatchFrames: Number.POSITIVE_INFINITY });
    let total = 0;
    for (let n = 0; n < 1000; n++) total += a.link.send(call(n, { action: 'increment_score', pad: 'x'.repeat(20) }));
    await until(() => b.frames.length === 1000, '1000 calls');
    const budget = 16 * KiB - 8;
    expect(a.out.sent.length).toBeLessThanOrEqual(Math.ceil(total / (budget - 100)) + 1);
    expect(a.out.sent.length).toBeGreaterThanOrEqual(Math.ceil(total / (16 * KiB)));
    expect(b.frames.map((f) => (f.t === 'call' ? f.corr : -1))).toEqual(Array.from({ length: 1000 }, (_, n) => n));
  });

  it('frames queued in different ticks go out in separate messages', async () => {
    const { a, b } = pair();
    a.link.send({ t: 'ping', n: 1 });
    await ticks(2);
    a.link.send({ t: 'ping', n: 2 });
    await until(() => b.frames.length === 2, 'two pings');
    expect(a.out.sent).toHaveLength(2);
  });

  it('a full batch (maxBatchFrames, default 128) leaves at once, before the turn ends; the rest at its end', async () => {
    const { a, b } = pair();
    for (let n = 0; n < 300; n++) a.link.send(call(n, n));
    // Sent synchronously, from inside send(): the receiver can start on them while the sender goes on.
    expect(a.out.sent.map((m) => decodeBatch(m.bytes).frames.length)).toEqual([128, 128]);
    await until(() => b.frames.length === 300, '300 calls');
    expect(a.out.sent.map((m) => decodeBatch(m.bytes).frames.length)).toEqual([128, 128, 44]);
    expect(b.frames.map((f) => (f.t === 'call' ? f.corr : -1))).toEqual(Array.from({ length: 300 }, (_, n) => n));

    const small = pair({ maxBatchFrames: 10 });
    for (let n = 0; n < 25; n++) small.a.link.send({ t: 'ping', n });
    expect(small.a.out.sent).toHaveLength(2);
    await until(() => small.b.frames.length === 25, '25 pings');
    expect(small.a.out.sent.map((m) => decodeBatch(m.bytes).frames.length)).toEqual([10, 10, 5]);
  });

  it('a full batch waits while the channel is above its high-water mark', async () => {
    const { a, b } = pair({ highWaterBytes: 4 * KiB, chunkBytes: 4 * KiB });
    a.out.auto = false;
    for (let n = 0; n < 400; n++) a.link.send(call(n, 'x'.repeat(40)));
    const sentEarly = a.out.sent.length;
    // Every synchronous flush respects high water: at most one message past the mark.
    expect(a.out.bufferedAmount()).toBeLessThanOrEqual(4 * KiB + 4 * KiB);
    expect(sentEarly).toBeGreaterThan(0);
    await ticks(3);
    expect(a.out.sent.length).toBe(sentEarly);
    a.out.auto = true;
    while (b.frames.length < 400) {
      a.out.deliver();
      await ticks(1);
    }
    expect(b.frames.map((f) => (f.t === 'call' ? f.corr : -1))).toEqual(Array.from({ length: 400 }, (_, n) => n));
  });

  it('uses the schedule option to flush', async () => {
    const tasks: (() => void)[] = [];
    const out = new FakeChannel();
    const { link } = side(out, { schedule: (task) => tasks.push(task) });
    link.send({ t: 'ping', n: 1 });
    link.send({ t: 'ping', n: 2 });
    await ticks(2);
    expect(out.sent).toHaveLength(0);
    expect(tasks).toHaveLength(1);
    tasks[0]!();
    expect(out.sent).toHaveLength(1);
    expect(out.sentFrames()).toEqual([
      { t: 'ping', n: 1 },
      { t: 'ping', n: 2 },
    ]);
  });
});

describe('chunking', () => {
  it('a 5 MiB payload arrives byte-exact, every message <= 16 KiB', async () => {
    const { a, b } = pair();
    const payload = noise(5 * MiB);
    const size = a.link.send(call(1, payload));
    expect(size).toBeGreaterThan(5 * MiB);
    await until(() => b.frames.length === 1, 'the 5 MiB call');
    const frame = b.frames[0]!;
    expect(frame.t).toBe('call');
    if (frame.t !== 'call') return;
    expect(frame.corr).toBe(1);
    expect(frame.payload).toBeInstanceOf(Uint8Array);
    expect(sameBytes(frame.payload as Uint8Array, payload)).toBe(true);
    for (const { bytes } of a.out.sent) expect(bytes.length).toBeLessThanOrEqual(16 * KiB);
    expect(a.out.sent.length).toBeGreaterThanOrEqual(Math.ceil((5 * MiB) / (16 * KiB)));
    expect(b.dropped).toEqual([]);
    expect(a.link.queued).toBe(0);
  });

  it.each([4096, 2048, 1024])('respects a smaller chunkBytes (%i) on both ends', async (chunkBytes) => {
    const { a, b } = pair({ chunkBytes }, { chunkBytes });
    const payload = noise(50 * KiB, 7);
    a.link.send(call(2, payload));
    await until(() => b.frames.length === 1 || b.dropped.length > 0, 'the chunked call');
    expect(b.dropped.map((e) => e.message)).toEqual([]);
    for (const { bytes } of a.out.sent) expect(bytes.length).toBeLessThanOrEqual(chunkBytes);
    const frame = b.frames[0]!;
    expect(frame.t === 'call' && sameBytes(frame.payload as Uint8Array, payload)).toBe(true);
  });

  it('a frame just under the batch budget is sent whole, just over it is chunked', async () => {
    // Find the boundary by encoding: budget - CHUNK_OVERHEAD = 16 KiB - 8 - 48.
    const limit = 16 * KiB - 8 - 48;
    const fits: Frame = {
      t: 'call',
      corr: 1,
      capability: 'g',
      actor: 'A',
      id: 'x',
      payload: new Uint8Array(0),
      initArg: null,
      timeoutMs: 1,
    };
    const overhead = encodeFrame(fits).length;
    const exact = { ...fits, payload: new Uint8Array(limit - overhead - 2) } satisfies Frame; // 2 more header bytes for the longer byte string
    const over = { ...fits, payload: new Uint8Array(limit - overhead) } satisfies Frame;
    expect(encodeFrame(exact).length).toBeLessThanOrEqual(limit);
    expect(encodeFrame(over).length).toBeGreaterThan(limit);
    const { a, b } = pair();
    a.link.send(exact);
    await until(() => b.frames.length === 1, 'exact frame');
    expect(a.out.sentFrames().map((f) => f.t)).toEqual(['call']);
    a.link.send(over);
    await until(() => b.frames.length === 2, 'over frame');
    expect(
      a.out
        .sentFrames()
        .slice(1)
        .every((f) => f.t === 'chunk'),
    ).toBe(true);
    for (const { bytes } of a.out.sent) expect(bytes.length).toBeLessThanOrEqual(16 * KiB);
  });

  it('two large messages share the channel fairly (their chunks alternate)', async () => {
    const out = new FakeChannel();
    const { link } = side(out);
    // Replies: unlike calls, their order does not matter, so two of them travel side by side.
    link.send({ t: 'reply', corr: 1, serial: 1, result: noise(200 * KiB, 1) });
    link.send({ t: 'reply', corr: 2, serial: 2, result: noise(200 * KiB, 2) });
    await ticks(3);
    const chunks = out.sentFrames().filter((f): f is Extract<Frame, { t: 'chunk' }> => f.t === 'chunk');
    expect(chunks.length).toBeGreaterThan(20);
    const firstTwenty = chunks.slice(0, 20).map((c) => c.msg);
    expect(firstTwenty).toEqual(Array.from({ length: 20 }, (_, i) => firstTwenty[i % 2]));
    expect(new Set(firstTwenty).size).toBe(2);
  });

  it('a small frame sent after a big one arrives before the big one completes, but calls keep their order', async () => {
    const { a, b } = pair({ highWaterBytes: 64 * KiB });
    a.out.auto = false;
    a.link.send(call(1, noise(1 * MiB)));
    await ticks(2);
    const sentBefore = a.out.sent.length;
    expect(sentBefore).toBeGreaterThan(0);
    expect(sentBefore).toBeLessThan(20); // stopped at the high-water mark, far from the ~65 messages needed
    a.link.send({ t: 'ping', n: 99 });
    a.link.send({ t: 'reply', corr: 7, serial: 1, result: { small: true } });
    a.link.send(call(2, { small: true }));
    a.out.auto = true;
    a.out.deliver();
    await until(() => b.frames.length === 4, 'all four frames');
    expect(b.frames.map((f) => f.t)).toEqual(['ping', 'reply', 'call', 'call']);
    // A call after a chunked call waits for it: calls to one actor run in the order they were sent.
    expect(b.frames.map((f) => (f.t === 'call' ? f.corr : f.t))).toEqual(['ping', 'reply', 1, 2]);
  });

  it('at most two chunked messages are in progress at once, so a receiver can refuse a third', async () => {
    const out = new FakeChannel();
    const { link } = side(out);
    for (let corr = 1; corr <= 4; corr++) link.send({ t: 'reply', corr, serial: 1, result: noise(100 * KiB, corr) });
    await ticks(5);
    const chunks = out.sentFrames().filter((f): f is Extract<Frame, { t: 'chunk' }> => f.t === 'chunk');
    const open = new Set<number>();
    let most = 0;
    for (const chunk of chunks) {
      open.add(chunk.msg);
      most = Math.max(most, open.size);
      if (chunk.index === chunk.count - 1) open.delete(chunk.msg);
    }
    expect(new Set(chunks.map((c) => c.msg)).size).toBe(4);
    expect(most).toBe(2);
  });
});

describe('size limits', () => {
  it('PAYLOAD_TOO_LARGE is thrown before anything is queued or sent', async () => {
    const out = new FakeChannel();
    const { link } = side(out, { maxMessageBytes: 1 * MiB });
    let thrown: unknown;
    try {
      link.send(call(1, new Uint8Array(2 * MiB)));
    } catch (error) {
      thrown = error;
    }
    expectCode(thrown, 'PAYLOAD_TOO_LARGE');
    expect(thrown).toBeInstanceOf(PayloadTooLargeError);
    expect((thrown as MeshError).details?.['limit']).toBe(1 * MiB);
    expect((thrown as MeshError).details?.['bytes']).toBeGreaterThan(2 * MiB);
    expect(link.queued).toBe(0);
    await ticks(3);
    expect(out.sent).toHaveLength(0);
    expect(link.counters.framesOut).toBe(0);
  });

  it('the limit is inclusive: a frame of exactly maxMessageBytes is sent', async () => {
    const frame = call(1, new Uint8Array(100 * KiB));
    const size = encodeFrame(frame).length;
    const { a, b } = pair({ maxMessageBytes: size }, { maxMessageBytes: size });
    expect(a.link.send(frame)).toBe(size);
    await until(() => b.frames.length === 1, 'frame at the limit');
    const { a: a2 } = pair({ maxMessageBytes: size - 1 });
    expect(() => a2.link.send(frame)).toThrow(PayloadTooLargeError);
  });

  it('the receiver refuses a chunk header announcing more than maxMessageBytes, without allocating it', () => {
    const out = new FakeChannel();
    const b = side(out, { maxMessageBytes: 64 * KiB });
    // 2^52 bytes: if the receiver tried to allocate this, `new Uint8Array` would throw out of receive().
    expect(() =>
      b.link.receive(batch({ t: 'chunk', msg: 0, index: 0, count: 3, total: 2 ** 52, bytes: new Uint8Array(100) })),
    ).not.toThrow();
    expect(b.dropped).toHaveLength(1);
    expect(b.dropped[0]).toBeInstanceOf(ProtocolError);
    expect(b.dropped[0]!.message).toMatch(/maxMessageBytes/);
    // Just over the limit is refused as well, and no reassembly was started: the next chunk is "unknown".
    b.link.receive(batch({ t: 'chunk', msg: 1, index: 0, count: 2, total: 64 * KiB + 1, bytes: new Uint8Array(100) }));
    b.link.receive(batch({ t: 'chunk', msg: 1, index: 1, count: 2, total: 64 * KiB + 1, bytes: new Uint8Array(100) }));
    expect(b.dropped).toHaveLength(3);
    expect(b.dropped[2]!.message).toMatch(/unknown message/);
    expect(b.frames).toEqual([]);
    expect(b.link.counters.dropped).toBe(3);
  });

  it('the receiver refuses chunk counts that cannot fit the announced total', () => {
    const b = side(new FakeChannel());
    b.link.receive(batch({ t: 'chunk', msg: 0, index: 0, count: 1, total: 100, bytes: new Uint8Array(100) }));
    b.link.receive(batch({ t: 'chunk', msg: 1, index: 0, count: 1_000_000, total: 2000, bytes: new Uint8Array(10) }));
    expect(b.dropped.map((e) => e.message)).toEqual([
      expect.stringMatching(/chunk count 1 /),
      expect.stringMatching(/chunk count 1000000/),
    ]);
    expect(b.frames).toEqual([]);
  });

  it('the receiver drops a whole message larger than any sender would send', () => {
    const b = side(new FakeChannel());
    const huge = batch(call(1, new Uint8Array(300 * KiB)));
    expect(() => b.link.receive(huge)).not.toThrow();
    expect(b.frames).toEqual([]);
    expect(b.dropped).toHaveLength(1);
    expect(b.dropped[0]!.message).toMatch(/exceeds the chunk limit/);
  });
});

describe('reassembly', () => {
  /** The messages a link sends for one big frame, captured without delivering them. */
  async function chunkedMessages(frame: Frame): Promise<Uint8Array[]> {
    const out = new FakeChannel();
    out.auto = false;
    const { link } = side(out);
    link.send(frame);
    await ticks(2);
    return out.sent.map((m) => m.bytes);
  }

  it('an out-of-order chunk is dropped and the message discarded; later messages still work', async () => {
    const payload = noise(100 * KiB, 3);
    const messages = await chunkedMessages(call(7, payload));
    expect(messages.length).toBeGreaterThanOrEqual(7);
    const b = side(new FakeChannel());
    const swapped = [messages[0]!, messages[2]!, messages[1]!, ...messages.slice(3)];
    for (const m of swapped) expect(() => b.link.receive(m)).not.toThrow();
    expect(b.frames).toEqual([]);
    expect(b.dropped.length).toBeGreaterThanOrEqual(1);
    expect(b.dropped[0]!.message).toMatch(/out of order/);
    for (const e of b.dropped) expect(e).toBeInstanceOf(ProtocolError);

    // The same bytes in order (a fresh message id from the same capture) reassemble exactly.
    for (const m of messages) b.link.receive(m);
    expect(b.frames).toHaveLength(1);
    const frame = b.frames[0]!;
    expect(frame.t === 'call' && sameBytes(frame.payload as Uint8Array, payload)).toBe(true);
  });

  it('a duplicated chunk is dropped rather than corrupting the message', async () => {
    const payload = noise(60 * KiB, 4);
    const messages = await chunkedMessages(call(8, payload));
    const b = side(new FakeChannel());
    b.link.receive(messages[0]!);
    b.link.receive(messages[0]!);
    for (const m of messages.slice(1)) b.link.receive(m);
    expect(b.frames).toEqual([]);
    expect(b.dropped.length).toBeGreaterThanOrEqual(1);
  });

  it('a message whose chunks end short of the announced total is dropped', () => {
    const b = side(new FakeChannel());
    b.link.receive(batch({ t: 'chunk', msg: 5, index: 0, count: 2, total: 2000, bytes: new Uint8Array(10) }));
    b.link.receive(batch({ t: 'chunk', msg: 5, index: 1, count: 2, total: 2000, bytes: new Uint8Array(10) }));
    expect(b.frames).toEqual([]);
    expect(b.dropped.map((e) => e.message)).toEqual([expect.stringMatching(/ended short/)]);
  });

  it('a chunk overflowing the announced total is dropped', () => {
    const b = side(new FakeChannel());
    b.link.receive(batch({ t: 'chunk', msg: 5, index: 0, count: 2, total: 1500, bytes: new Uint8Array(1000) }));
    b.link.receive(batch({ t: 'chunk', msg: 5, index: 1, count: 2, total: 1500, bytes: new Uint8Array(1000) }));
    expect(b.frames).toEqual([]);
    expect(b.dropped).toHaveLength(1);
  });

  it('reassembled garbage is a dropped ProtocolError, not an exception', () => {
    const b = side(new FakeChannel());
    const garbage = noise(1500, 9);
    b.link.receive(batch({ t: 'chunk', msg: 5, index: 0, count: 2, total: 1500, bytes: garbage.subarray(0, 1000) }));
    expect(() =>
      b.link.receive(batch({ t: 'chunk', msg: 5, index: 1, count: 2, total: 1500, bytes: garbage.subarray(1000) })),
    ).not.toThrow();
    expect(b.frames).toEqual([]);
    expect(b.dropped).toHaveLength(1);
    expect(b.dropped[0]).toBeInstanceOf(ProtocolError);
  });

  it('malformed messages are dropped and counted, good frames in the same batch survive', () => {
    const b = side(new FakeChannel());
    b.link.receive(new Uint8Array([0xff, 0x00, 0x13]));
    const good = encodeFrame({ t: 'ping', n: 1 });
    const bad = encodeValue([99, 'x']); // unknown tag 99
    b.link.receive(joinBatch([good, bad], good.length + bad.length));
    expect(b.frames).toEqual([{ t: 'ping', n: 1 }]);
    expect(b.dropped).toHaveLength(2);
    expect(b.link.counters.dropped).toBe(2);
  });
});

describe('flow control window', () => {
  it('with window 8 the sender stops after 8 unacked calls and resumes on credit()', async () => {
    const { a, b } = pair({ window: 8 }, { window: 8 });
    for (let n = 0; n < 20; n++) a.link.send(call(n, null));
    await ticks(10);
    expect(b.frames).toHaveLength(8);
    expect(a.link.framesInFlight).toBe(8);
    // Control frames are not subject to the window.
    a.link.send({ t: 'ping', n: 1 });
    await until(() => b.frames.length === 9, 'the ping past the full window');
    expect(b.frames[8]).toEqual({ t: 'ping', n: 1 });
    // The receiver credits calls it handled; the sender keeps delivered - credited <= 8.
    const calls = (): number => b.frames.filter((f) => f.t === 'call').length;
    let credited = 0;
    for (const n of [1, 5, 6, 8]) {
      b.link.credit(n);
      credited += n;
      const expected = Math.min(20, credited + 8);
      await until(() => calls() === expected, `${expected} calls after ${credited} credits`);
      await ticks(5);
      expect(calls()).toBe(expected);
      expect(a.link.framesInFlight).toBe(expected - credited);
    }
    const corrs = b.frames.filter((f) => f.t === 'call').map((f) => (f.t === 'call' ? f.corr : -1));
    expect(corrs).toEqual(Array.from({ length: 20 }, (_, n) => n));
    expect(a.link.framesInFlight).toBe(0);
  });

  it('casts count against the window too', async () => {
    const { a, b } = pair({ window: 2 }, { window: 2 });
    for (let n = 0; n < 5; n++) a.link.send({ t: 'cast', capability: 'g', actor: 'A', id: `${n}`, payload: n, initArg: null });
    await ticks(10);
    expect(b.frames).toHaveLength(2);
  });

  it('credits of one tick ride back in one ack frame', async () => {
    const { a, b } = pair();
    for (let i = 0; i < 256; i++) b.link.credit();
    await until(() => b.out.sent.length === 1, 'one ack');
    expect(b.out.sentFrames()).toEqual([{ t: 'ack', count: 256 }]);
    // Acks are consumed by the link, not handed to the application.
    await ticks(5);
    expect(a.frames).toEqual([]);
  });

  it("a sender whose window is smaller than the receiver's never stalls: every credit comes back", async () => {
    const { a, b } = pair({ window: 2048 });
    a.link.setPeerWindow(4);
    for (let corr = 1; corr <= 40; corr++) a.link.send(call(corr, null));
    let handled = 0;
    while (handled < 40) {
      await until(() => b.frames.length > handled, `call ${handled + 1} to arrive`);
      expect(a.link.framesInFlight).toBeLessThanOrEqual(4);
      for (; handled < b.frames.length; handled++) b.link.credit();
    }
    await until(() => a.link.framesInFlight === 0, 'every credit back at the sender');
  });
});

describe('sender backpressure', () => {
  it('respects the bufferedAmount high-water mark until the channel drains', async () => {
    const { a, b } = pair({ highWaterBytes: 64 * KiB });
    a.out.auto = false;
    expect(a.out.drainThreshold).toBe(32 * KiB);
    const payload = noise(1 * MiB, 5);
    a.link.send(call(1, payload));
    await ticks(3);
    const first = a.out.sent.length;
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(6);
    await ticks(10);
    expect(a.out.sent.length).toBe(first); // nothing more until the network drains
    let rounds = 0;
    while (b.frames.length === 0) {
      expect(a.out.deliver()).toBeGreaterThan(0);
      await ticks(2);
      if (++rounds > 1000) throw new Error('no progress');
    }
    expect(rounds).toBeGreaterThan(5);
    expect(a.out.drains).toBeGreaterThan(5);
    for (const { bufferedBefore } of a.out.sent) expect(bufferedBefore).toBeLessThanOrEqual(64 * KiB);
    const frame = b.frames[0]!;
    expect(frame.t === 'call' && sameBytes(frame.payload as Uint8Array, payload)).toBe(true);
  });

  it('a full queue makes send() throw BACKPRESSURE, and sendWhenRoom admits a frame after the channel drains', async () => {
    const { a, b } = pair({ highWaterBytes: 16 * KiB, maxQueuedBytes: 64 * KiB });
    a.out.auto = false;
    let accepted = 0;
    let thrown: unknown;
    for (let n = 0; n < 100; n++) {
      try {
        a.link.send(call(n, new Uint8Array(8000)));
        accepted++;
      } catch (error) {
        thrown = error;
        break;
      }
    }
    expectCode(thrown, 'BACKPRESSURE');
    expect(accepted).toBe(Math.ceil((64 * KiB) / encodeFrame(call(0, new Uint8Array(8000))).length));
    expect(a.link.hasRoom()).toBe(false);
    expect(a.link.queued).toBeGreaterThanOrEqual(64 * KiB);
    // Acks must still get through a full queue, or two saturated peers would deadlock.
    expect(() => a.link.credit(2048)).not.toThrow();

    let resolved = false;
    const room = a.link.sendWhenRoom(call(999, null), 10_000).then(() => {
      resolved = true;
    });
    a.out.auto = true;
    a.out.deliver();
    await room;
    expect(resolved).toBe(true);
    expect(a.link.hasRoom()).toBe(true);
    await until(() => b.frames.filter((f) => f.t === 'call').length === accepted + 1, 'all accepted calls');
    expect(() => a.link.send(call(1000, null))).not.toThrow();
  });

  it('a frame waiting for room is admitted as soon as the queue has room, even while the channel is above high water', async () => {
    const { a } = pair({ highWaterBytes: 16 * KiB, maxQueuedBytes: 64 * KiB });
    a.out.auto = false;
    const frame = call(0, new Uint8Array(8000));
    while (a.link.hasRoom()) a.link.send(frame);
    let resolved = false;
    void a.link.sendWhenRoom(call(1, null), 10_000).then(() => {
      resolved = true;
    });
    // The flush hands a few frames to the channel (until its high-water mark), which frees queue room.
    await ticks(3);
    expect(a.out.sent.length).toBeGreaterThan(0);
    expect(a.link.queued).toBeLessThan(64 * KiB);
    expect(resolved).toBe(true);
  });

  it('sendWhenRoom queues at once when there is room', async () => {
    const { a } = pair();
    await expect(a.link.sendWhenRoom(call(0, null), 10)).resolves.toBeGreaterThan(0);
  });

  it('sendWhenRoom rejects with TIMEOUT when the queue stays full', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    try {
      const { a } = pair({ highWaterBytes: 16 * KiB, maxQueuedBytes: 32 * KiB });
      a.out.auto = false;
      const frame = call(0, new Uint8Array(8000));
      while (a.link.hasRoom()) a.link.send(frame);
      await ticks(2);
      while (a.link.hasRoom()) a.link.send(frame);
      const waiting = a.link.sendWhenRoom(call(1, null), 30).then(
        () => null,
        (e: unknown) => e,
      );
      await vi.advanceTimersByTimeAsync(100);
      expectCode(await waiting, 'TIMEOUT');
    } finally {
      vi.useRealTimers();
    }
  });

  it('sendWhenRoom rejects with ABORTED when its signal fires', async () => {
    const { a } = pair({ highWaterBytes: 16 * KiB, maxQueuedBytes: 32 * KiB });
    a.out.auto = false;
    const frame = call(0, new Uint8Array(8000));
    for (let i = 0; i < 3; i++) {
      while (a.link.hasRoom()) a.link.send(frame);
      await ticks(2);
    }
    while (a.link.hasRoom()) a.link.send(frame);
    const controller = new AbortController();
    const waiting = a.link.sendWhenRoom(call(1, null), 10_000, controller.signal).then(
      () => null,
      (e: unknown) => e,
    );
    controller.abort();
    expectCode(await waiting, 'ABORTED');
  });

  it('sendWhenRoom with an already-aborted signal rejects with ABORTED instead of waiting for the timeout', async () => {
    const { a } = pair({ highWaterBytes: 16 * KiB, maxQueuedBytes: 32 * KiB });
    a.out.auto = false;
    const frame = call(0, new Uint8Array(8000));
    for (let i = 0; i < 3; i++) {
      while (a.link.hasRoom()) a.link.send(frame);
      await ticks(2);
    }
    while (a.link.hasRoom()) a.link.send(frame);
    const outcome = await Promise.race([
      a.link.sendWhenRoom(call(1, null), 5_000, AbortSignal.abort()).then(
        () => 'resolved',
        (e: unknown) => (e instanceof MeshError ? e.code : 'other'),
      ),
      ticks(20).then(() => 'still waiting'),
    ]);
    expect(outcome).toBe('ABORTED');
  });
});

describe('closing', () => {
  it('send after close throws BACKPRESSURE and nothing is sent; receive after close is ignored', async () => {
    const { a, b } = pair();
    a.link.close();
    a.link.close(); // idempotent
    expect(() => a.link.send({ t: 'ping', n: 1 })).toThrow(MeshError);
    await ticks(3);
    expect(a.out.sent).toHaveLength(0);
    a.link.receive(batch({ t: 'ping', n: 2 }));
    expect(a.frames).toEqual([]);
    expect(b.frames).toEqual([]);
  });

  it('close drops queued frames and answers frames waiting for room', async () => {
    const { a } = pair({ highWaterBytes: 16 * KiB, maxQueuedBytes: 32 * KiB });
    a.out.auto = false;
    const frame = call(0, new Uint8Array(8000));
    for (let i = 0; i < 3; i++) {
      while (a.link.hasRoom()) a.link.send(frame);
      await ticks(2);
    }
    while (a.link.hasRoom()) a.link.send(frame);
    const waiting = a.link.sendWhenRoom(call(1, null), 10_000).then(
      () => null,
      (e: unknown) => e,
    );
    a.link.close();
    const error = await waiting;
    expectCode(error, 'BACKPRESSURE');
    expect((error as Error).message).toMatch(/closed/);
    expect(a.link.queued).toBe(0);
  });

  it('a channel that throws on send closes the link', async () => {
    const { a } = pair();
    a.out.throwOnSend = true;
    a.link.send({ t: 'ping', n: 1 });
    await ticks(2);
    let thrown: unknown;
    try {
      a.link.send({ t: 'ping', n: 2 });
    } catch (error) {
      thrown = error;
    }
    expectCode(thrown, 'BACKPRESSURE');
    expect((thrown as Error).message).toMatch(/closed/);
  });
});
