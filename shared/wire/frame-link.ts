import { AdmissionLine } from './admission.js';
import { decodeBatch, decodeFrame, encodeFrameShared, joinBatch } from './codec.js';
import { BackpressureError, InvalidArgumentError, PayloadTooLargeError, ProtocolError } from '../errors.js';
import type { Frame } from './frames.js';
import { own, type Outgoing, OutgoingQueue } from './outgoing-queue.js';
import { MAX_LARGE_IN_PROGRESS, MIN_PIECE, Reassembler } from './reassembly.js';

/** The byte pipe under a link: a data channel, or an in-memory pair. Messages arrive whole and in order. */
export interface ByteChannel {
  send(data: Uint8Array): void;
  /** Bytes accepted by send() but not yet handed to the network. */
  bufferedAmount(): number;
  /** Registers the callback the channel calls when its buffer falls to or below `threshold` bytes. */
  onDrain(threshold: number, callback: () => void): void;
}

export interface FrameLinkOptions {
  /** Largest encoded frame accepted, sent or received (default 16 MiB). */
  readonly maxMessageBytes?: number;
  /** Largest data-channel message we send (default 16 KiB, safe in every browser). */
  readonly chunkBytes?: number;
  /** Stop handing data to the channel while it buffers more than this (default 1 MiB). */
  readonly highWaterBytes?: number;
  /** Calls and casts sent but not yet handled by the receiver, at most (default 2048). */
  readonly window?: number;
  /** Bytes queued on our side, at most; past it senders wait for room (default 32 MiB). */
  readonly maxQueuedBytes?: number;
  /**
   * Frames queued in one turn that leave at once as a message, without waiting for the turn to end
   * (default 128), so the receiver starts on them while we queue the rest.
   */
  readonly maxBatchFrames?: number;
  /**
   * Schedules a flush; default: a microtask, so all frames queued in one tick share a send. Hosts with a
   * cheaper turn boundary pass their own through Transport.schedule (Node: setImmediate, client/node.ts).
   */
  readonly schedule?: (task: () => void) => void;
}

export interface FrameLinkHandlers {
  /** A frame arrived; `bytes` is its exact encoded size when it came chunked (else undefined: it shared a batch). */
  frame(frame: Frame, bytes: number | undefined): void;
  /** A frame or message that was dropped because it was malformed or too large. */
  dropped(error: ProtocolError): void;
}

export interface LinkCounters {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  messagesIn: number;
  messagesOut: number;
  dropped: number;
}

interface LargeOutgoing {
  readonly msg: number;
  readonly bytes: Uint8Array;
  readonly count: number;
  next: number;
}

const CHUNK_OVERHEAD = 48;
/** A chunked message whose sender went quiet this long is dropped by the receiver. */
const REASSEMBLY_IDLE_MS = 30_000;

/**
 * Frames over a byte channel, with the four things a raw data channel lacks: batching (all frames queued
 * in a tick share one send and one decode), chunking (a message of any size up to maxMessageBytes travels
 * as 16 KiB pieces interleaved with other traffic), sender backpressure (bufferedAmount with a drain
 * callback, a bounded queue) and receiver flow control (a window of unhandled calls/casts, reopened by ack
 * frames). Calls and casts leave in the order they were queued, chunked or not.
 */
export class FrameLink {
  readonly counters: LinkCounters = {
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    messagesOut: 0,
    dropped: 0,
  };
  private readonly maxMessageBytes: number;
  private readonly chunkBytes: number;
  private readonly highWaterBytes: number;
  private readonly window: number;
  private readonly maxQueuedBytes: number;
  private readonly maxBatchFrames: number;
  private readonly schedule: (task: () => void) => void;

  private readonly control = new OutgoingQueue();
  private readonly controlled = new OutgoingQueue();
  /** Chunked messages being sent, round robin; at most MAX_LARGE_IN_PROGRESS. */
  private readonly large: LargeOutgoing[] = [];
  /** Chunked messages waiting for a slot in `large`. */
  private readonly largeWaiting: LargeOutgoing[] = [];
  /** The chunked call or cast that holds back the calls and casts queued after it. */
  private blockingLarge: LargeOutgoing | null = null;
  private largeTurn = 0;
  private queuedBytes = 0;
  private inFlight = 0;
  private unacked = 0;
  /** Calls and casts the peer sent us that we have not credited back yet. */
  private unhandled = 0;
  /** How many of our calls/casts the peer accepts unhandled: our window, or the peer's if smaller. */
  private sendWindow: number;
  private nextMsg = 0;
  private flushScheduled = false;
  /** Frames queued since the last flush began. */
  private framesSinceFlush = 0;
  private flushing = false;
  private draining = false;
  private closed = false;
  private readonly reassembly: Reassembler;
  private readonly admissions = new AdmissionLine<Outgoing>();
  private flushedWaiters: (() => void)[] = [];

  constructor(
    private readonly channel: ByteChannel,
    private readonly handlers: FrameLinkHandlers,
    options: FrameLinkOptions = {},
  ) {
    this.maxMessageBytes = options.maxMessageBytes ?? 16 * 1024 * 1024;
    this.chunkBytes = options.chunkBytes ?? 16 * 1024;
    if (!(this.chunkBytes >= MIN_PIECE + CHUNK_OVERHEAD * 2 + 8)) {
      throw new InvalidArgumentError(`chunkBytes must be at least ${MIN_PIECE + CHUNK_OVERHEAD * 2 + 8}`);
    }
    this.highWaterBytes = options.highWaterBytes ?? 1024 * 1024;
    this.window = options.window ?? 2048;
    this.sendWindow = this.window;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 32 * 1024 * 1024;
    this.maxBatchFrames = Math.max(1, options.maxBatchFrames ?? 128);
    // Wrapped: browsers throw "Illegal invocation" when queueMicrotask is called as a method of another object.
    this.schedule = options.schedule ?? ((task) => queueMicrotask(task));
    this.reassembly = new Reassembler({ maxMessageBytes: this.maxMessageBytes, idleTimeoutMs: REASSEMBLY_IDLE_MS });
    channel.onDrain(Math.floor(this.highWaterBytes / 2), () => {
      this.draining = false;
      this.flush();
    });
  }

  /**
   * True while calls and casts may be queued without waiting. Replies and control frames are never held
   * back: they are bounded by the peer's own window.
   */
  hasRoom(): boolean {
    return this.roomNow() && !this.admissions.waiting;
  }

  /** Closed links accept nothing; their peer is gone (or going). */
  get isClosed(): boolean {
    return this.closed;
  }

  get queued(): number {
    return this.queuedBytes;
  }

  get framesInFlight(): number {
    return this.inFlight;
  }

  /** Calls and casts received and not yet credited back (what the peer's window counts). */
  get framesUnhandled(): number {
    return this.unhandled;
  }

  /** The receiver's window: how many unhandled calls and casts an honest peer keeps in flight, at most. */
  get windowSize(): number {
    return this.window;
  }

  /** Bytes held in half-received chunked messages. */
  get reassemblyBytes(): number {
    return this.reassembly.bufferedBytes;
  }

  /**
   * Queues a frame. Throws PayloadTooLargeError (nothing sent) past maxMessageBytes, InvalidArgumentError if
   * it cannot be encoded; for calls and casts, BackpressureError while the queue is full (`sendWhenRoom`
   * waits instead). All before anything is sent.
   */
  send(frame: Frame): number {
    if (this.closed) throw new BackpressureError('link is closed', { closed: true });
    const item = this.encode(frame);
    if (item.controlled && !this.hasRoom()) {
      throw new BackpressureError(`send queue full (${this.queuedBytes} bytes queued)`);
    }
    this.enqueue(item);
    return item.bytes.length;
  }

  /**
   * Queues a call or cast, waiting (first come, first served) while the queue is full; rejects with
   * TIMEOUT after `timeoutMs`, ABORTED on `signal`, BACKPRESSURE if the link closes. A waiting frame is
   * already encoded, so admitting it later is cheap and the queue bound is never exceeded.
   */
  async sendWhenRoom(frame: Frame, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    if (this.closed) throw new BackpressureError('link is closed', { closed: true });
    const item = this.encode(frame);
    if (!item.controlled || this.hasRoom()) {
      this.enqueue(item);
      return item.bytes.length;
    }
    own(item);
    await this.admissions.wait(item, timeoutMs, signal);
    return item.bytes.length;
  }

  /** Resolves once every queued frame has been handed to the channel (at once if none is queued). */
  whenFlushed(): Promise<void> {
    if (this.isFlushed()) return Promise.resolve();
    return new Promise((resolve) => this.flushedWaiters.push(resolve));
  }

  private isFlushed(): boolean {
    return this.closed || (this.queuedBytes === 0 && !this.admissions.waiting);
  }

  private roomNow(): boolean {
    return !this.closed && this.queuedBytes < this.maxQueuedBytes;
  }

  private encode(frame: Frame): Outgoing {
    const bytes = encodeFrameShared(frame);
    if (bytes.length > this.maxMessageBytes) throw new PayloadTooLargeError(bytes.length, this.maxMessageBytes);
    return { bytes, owned: false, controlled: frame.t === 'call' || frame.t === 'cast' };
  }

  private enqueue(item: Outgoing): void {
    // Above high water nothing is flushed (so nothing settled) until the channel drains: it waits.
    if (this.draining) own(item);
    this.queuedBytes += item.bytes.length;
    if (item.controlled) this.controlled.push(item);
    else this.control.push(item);
    // A whole turn's frames in one message make the two peers take turns (each idle while the other
    // works); a full batch leaves now so the receiver's turn overlaps the rest of ours.
    if (++this.framesSinceFlush >= this.maxBatchFrames && !this.flushing && !this.draining) return this.flush();
    this.requestFlush();
  }

  /**
   * The receiver finished handling `n` calls/casts: the credit rides back to the sender in an ack frame at
   * the head of the next batch (one per flush, whatever the two sides' window sizes), so the sender's
   * window reopens at the pace we answer.
   */
  credit(n = 1): void {
    if (this.closed) return;
    this.unhandled = Math.max(0, this.unhandled - n);
    this.unacked += n;
    this.requestFlush();
  }

  /** The peer's own receive window (from its hello): we never keep more of our calls/casts in flight. */
  setPeerWindow(window: number): void {
    this.sendWindow = Math.max(1, Math.min(this.window, window));
    if (this.controlled.pending) this.requestFlush();
  }

  receive(data: Uint8Array): void {
    if (this.closed) return;
    this.counters.bytesIn += data.length;
    this.counters.messagesIn++;
    if (data.length > this.chunkBytes * 4 && data.length > 256 * 1024) {
      // We never send messages this big: whoever did is not following the protocol.
      this.drop(new ProtocolError(`message of ${data.length} bytes exceeds the chunk limit`));
      return;
    }
    const { frames, errors } = decodeBatch(data);
    for (const error of errors) this.drop(error);
    for (const frame of frames) this.accept(frame, undefined);
  }

  /** Drops chunked messages whose sender went quiet (call it now and then, e.g. from a heartbeat). */
  sweep(): void {
    for (const error of this.reassembly.sweep()) this.drop(error);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.control.clear();
    this.controlled.clear();
    this.large.length = 0;
    this.largeWaiting.length = 0;
    this.reassembly.clear();
    this.queuedBytes = 0;
    this.admissions.close(new BackpressureError('link is closed', { closed: true }));
    this.wakeFlushed();
  }

  private accept(frame: Frame, bytes: number | undefined): void {
    this.counters.framesIn++;
    switch (frame.t) {
      case 'ack':
        this.inFlight = Math.max(0, this.inFlight - frame.count);
        if (this.controlled.pending) this.requestFlush();
        return;
      case 'chunk':
        return this.acceptChunk(frame);
      case 'call':
      case 'cast':
        this.unhandled++;
        break;
      default:
        break;
    }
    this.handlers.frame(frame, bytes);
  }

  private acceptChunk(chunk: Extract<Frame, { t: 'chunk' }>): void {
    const result = this.reassembly.accept(chunk);
    if (result === null) return;
    if (result instanceof ProtocolError) return this.drop(result);
    let frame: Frame;
    try {
      frame = decodeFrame(result);
    } catch (error) {
      return this.drop(error instanceof ProtocolError ? error : new ProtocolError(String(error)));
    }
    if (frame.t === 'chunk') return this.drop(new ProtocolError('nested chunk'));
    this.accept(frame, result.length);
  }

  /**
   * A frame we could not read. If it was a call or cast, the sender counted it against our window: credit
   * it back, or a peer's bad frames would slowly wedge the link (the mesh answers a readable call's corr).
   */
  private drop(error: ProtocolError): void {
    this.counters.dropped++;
    const frame = error.details?.['frame'];
    if (frame === 'call' || frame === 'cast') {
      this.unhandled++;
      this.credit(1);
    }
    this.handlers.dropped(error);
  }

  private requestFlush(): void {
    if (this.flushScheduled || this.draining) return;
    this.flushScheduled = true;
    this.schedule(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    this.flushing = true;
    try {
      this.flushBatches();
    } finally {
      this.flushing = false;
    }
  }

  private flushBatches(): void {
    this.framesSinceFlush = 0;
    const budget = this.chunkBytes - 8;
    while (!this.closed) {
      if (this.channel.bufferedAmount() > this.highWaterBytes) {
        this.draining = true; // the channel's drain callback resumes us
        break;
      }
      const batch: Uint8Array[] = [];
      let size = 0;
      if (this.unacked > 0) {
        const ack = encodeFrameShared({ t: 'ack', count: this.unacked });
        this.unacked = 0;
        batch.push(ack);
        size += ack.length;
      }
      size = this.take(this.control, batch, size, budget);
      size = this.take(this.controlled, batch, size, budget);
      size = this.takeChunk(batch, size, budget);
      if (batch.length === 0) break;
      const message = joinBatch(batch, size);
      try {
        this.channel.send(message);
      } catch {
        // A channel that throws on send is closing; the transport reports the close and fails pending calls.
        this.close();
        return;
      }
      this.counters.messagesOut++;
      this.counters.bytesOut += message.length;
    }
    this.control.settle();
    this.controlled.settle();
    if (
      this.admissions.waiting &&
      this.admissions.admit(
        () => this.roomNow(),
        (item) => this.enqueue(item),
      ) > 0
    ) {
      this.requestFlush();
    }
    if (this.flushedWaiters.length > 0 && this.isFlushed()) this.wakeFlushed();
  }

  private wakeFlushed(): void {
    const waiters = this.flushedWaiters;
    this.flushedWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Moves frames from a queue into the batch while they fit; large ones become chunked messages. */
  private take(queue: OutgoingQueue, batch: Uint8Array[], size: number, budget: number): number {
    for (let item = queue.peek(); item !== undefined; item = queue.peek()) {
      if (item.controlled && (this.blockingLarge !== null || this.inFlight >= this.sendWindow)) break;
      const fits = item.bytes.length <= budget - CHUNK_OVERHEAD;
      if (fits && size + item.bytes.length > budget) break;
      queue.shift();
      if (item.controlled) this.inFlight++;
      this.counters.framesOut++;
      if (fits) {
        batch.push(item.bytes);
        size += item.bytes.length;
        this.queuedBytes -= item.bytes.length;
        continue;
      }
      const count = Math.ceil(item.bytes.length / (budget - CHUNK_OVERHEAD * 2));
      // Sent over many turns, piece by piece: it must not keep the encoder's (grown) buffer alive.
      own(item);
      const message: LargeOutgoing = { msg: this.nextMsg++, bytes: item.bytes, count, next: 0 };
      // The calls and casts behind a chunked one wait until it is through, so their order holds.
      if (item.controlled) this.blockingLarge = message;
      if (this.large.length < MAX_LARGE_IN_PROGRESS) this.large.push(message);
      else this.largeWaiting.push(message);
    }
    return size;
  }

  /** Adds one chunk of the next large message in turn, so big messages share the channel fairly. */
  private takeChunk(batch: Uint8Array[], size: number, budget: number): number {
    if (this.large.length === 0) return size;
    const piece = budget - CHUNK_OVERHEAD * 2;
    if (size + piece + CHUNK_OVERHEAD > budget && batch.length > 0) return size;
    this.largeTurn %= this.large.length;
    const message = this.large[this.largeTurn]!;
    const start = message.next * piece;
    const slice = message.bytes.subarray(start, Math.min(start + piece, message.bytes.length));
    const encoded = encodeFrameShared({
      t: 'chunk',
      msg: message.msg,
      index: message.next,
      count: message.count,
      total: message.bytes.length,
      bytes: slice,
    });
    message.next++;
    this.queuedBytes -= slice.length;
    if (message.next >= message.count) {
      this.large.splice(this.largeTurn, 1);
      if (this.blockingLarge === message) this.blockingLarge = null;
      const waiting = this.largeWaiting.shift();
      if (waiting) this.large.push(waiting);
    } else this.largeTurn++;
    batch.push(encoded);
    return size + encoded.length;
  }
}
