import { decodeBatch, decodeFrame, encodeFrame, joinBatch } from './codec.js';
import { AbortedError, BackpressureError, InvalidArgumentError, PayloadTooLargeError, ProtocolError, TimeoutError } from '../errors.js';
import type { Frame } from './frames.js';

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
   * Schedules a flush; default: a microtask, so all frames queued in one tick share a send. Hosts with a
   * cheaper turn boundary pass their own through Transport.schedule (Node: setImmediate, client/node.ts).
   */
  readonly schedule?: (task: () => void) => void;
}

export interface FrameLinkHandlers {
  frame(frame: Frame, bytes: number): void;
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

interface Outgoing {
  readonly bytes: Uint8Array;
  /** Counts against the receiver's window (calls and casts). */
  readonly controlled: boolean;
}

interface Admission {
  readonly item: Outgoing;
  readonly deadline: number;
  readonly resolve: (bytes: number) => void;
  readonly reject: (error: Error) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | null;
  done: boolean;
}

interface LargeOutgoing {
  readonly msg: number;
  readonly bytes: Uint8Array;
  readonly count: number;
  next: number;
}

interface Reassembly {
  readonly total: number;
  readonly count: number;
  readonly buffer: Uint8Array;
  next: number;
  offset: number;
}

const CHUNK_OVERHEAD = 48;
const MIN_PIECE = 128;

/**
 * Frames over a byte channel, with the four things a raw data channel lacks: batching (all frames queued
 * in a tick share one send and one decode), chunking (a message of any size up to maxMessageBytes travels
 * as fair-shared 16 KiB pieces), sender backpressure (bufferedAmount with a drain callback, a bounded
 * queue) and receiver flow control (a window of unhandled calls/casts, reopened by ack frames).
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
  private readonly schedule: (task: () => void) => void;

  private readonly control: Outgoing[] = [];
  private readonly controlled: Outgoing[] = [];
  private controlHead = 0;
  private controlledHead = 0;
  private readonly large: LargeOutgoing[] = [];
  private largeTurn = 0;
  private queuedBytes = 0;
  private inFlight = 0;
  private unacked = 0;
  private nextMsg = 0;
  private flushScheduled = false;
  private draining = false;
  private closed = false;
  private readonly reassembly = new Map<number, Reassembly>();
  private reassemblyBytes = 0;
  private readonly admissions: Admission[] = [];
  private admissionHead = 0;
  private admissionTimer: ReturnType<typeof setInterval> | null = null;

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
    this.maxQueuedBytes = options.maxQueuedBytes ?? 32 * 1024 * 1024;
    // Wrapped: browsers throw "Illegal invocation" when queueMicrotask is called as a method of another object.
    this.schedule = options.schedule ?? ((task) => queueMicrotask(task));
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
    return this.roomNow() && this.admissionHead === this.admissions.length;
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

  /**
   * Queues a frame. Throws PayloadTooLargeError (nothing sent) past maxMessageBytes; for calls and casts,
   * BackpressureError while the queue is full (`sendWhenRoom` waits instead). Both before anything is sent.
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
  sendWhenRoom(frame: Frame, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    if (this.closed) return Promise.reject(new BackpressureError('link is closed', { closed: true }));
    if (signal?.aborted) return Promise.reject(new AbortedError());
    let item: Outgoing;
    try {
      item = this.encode(frame);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!item.controlled || this.hasRoom()) {
      this.enqueue(item);
      return Promise.resolve(item.bytes.length);
    }
    return new Promise<number>((resolve, reject) => {
      const admission: Admission = { item, deadline: Date.now() + timeoutMs, resolve, reject, signal, onAbort: null, done: false };
      if (signal) {
        admission.onAbort = () => this.settleAdmission(admission, new AbortedError());
        signal.addEventListener('abort', admission.onAbort, { once: true });
      }
      this.admissions.push(admission);
      this.ensureAdmissionSweep();
    });
  }

  private roomNow(): boolean {
    return !this.closed && this.queuedBytes < this.maxQueuedBytes;
  }

  private encode(frame: Frame): Outgoing {
    const bytes = encodeFrame(frame);
    if (bytes.length > this.maxMessageBytes) throw new PayloadTooLargeError(bytes.length, this.maxMessageBytes);
    return { bytes, controlled: frame.t === 'call' || frame.t === 'cast' };
  }

  private enqueue(item: Outgoing): void {
    this.queuedBytes += item.bytes.length;
    if (item.controlled) this.controlled.push(item);
    else this.control.push(item);
    this.requestFlush();
  }

  /** Moves waiting frames into the queue, oldest first, while it has room. */
  private admit(): void {
    let admitted = false;
    while (this.admissionHead < this.admissions.length && this.roomNow()) {
      const admission = this.admissions[this.admissionHead++]!;
      if (admission.done) continue;
      this.enqueue(admission.item);
      this.settleAdmission(admission, null);
      admitted = true;
    }
    if (this.admissionHead === this.admissions.length) {
      this.admissions.length = 0;
      this.admissionHead = 0;
    } else if (this.admissionHead > 4096) {
      this.admissions.splice(0, this.admissionHead);
      this.admissionHead = 0;
    }
    if (admitted) this.requestFlush();
  }

  private settleAdmission(admission: Admission, error: Error | null): void {
    if (admission.done) return;
    admission.done = true;
    if (admission.onAbort) admission.signal?.removeEventListener('abort', admission.onAbort);
    if (error) admission.reject(error);
    else admission.resolve(admission.item.bytes.length);
  }

  /** One sweep for every waiting frame's deadline, rather than a timer each. */
  private ensureAdmissionSweep(): void {
    if (this.admissionTimer !== null) return;
    this.admissionTimer = setInterval(() => {
      const now = Date.now();
      let waiting = 0;
      for (let i = this.admissionHead; i < this.admissions.length; i++) {
        const admission = this.admissions[i]!;
        if (admission.done) continue;
        if (admission.deadline <= now) {
          this.settleAdmission(admission, new TimeoutError('send queue stayed full until the deadline'));
        } else waiting++;
      }
      if (waiting === 0 && this.admissionTimer !== null) {
        clearInterval(this.admissionTimer);
        this.admissionTimer = null;
      }
    }, 50);
    (this.admissionTimer as { unref?: () => void }).unref?.();
  }

  /** The receiver finished handling `n` calls/casts: reopen the sender's window in batches. */
  credit(n = 1): void {
    if (this.closed) return;
    this.unacked += n;
    if (this.unacked >= Math.max(1, this.window >> 3)) {
      const count = this.unacked;
      this.unacked = 0;
      this.send({ t: 'ack', count });
    }
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
    const share = Math.ceil(data.length / Math.max(1, frames.length));
    for (const frame of frames) this.accept(frame, share);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.control.length = 0;
    this.controlled.length = 0;
    this.large.length = 0;
    this.reassembly.clear();
    this.queuedBytes = 0;
    if (this.admissionTimer !== null) clearInterval(this.admissionTimer);
    this.admissionTimer = null;
    const admissions = this.admissions.splice(this.admissionHead);
    this.admissions.length = 0;
    this.admissionHead = 0;
    for (const admission of admissions) this.settleAdmission(admission, new BackpressureError('link is closed', { closed: true }));
  }

  private accept(frame: Frame, bytes: number): void {
    this.counters.framesIn++;
    if (frame.t === 'ack') {
      this.inFlight = Math.max(0, this.inFlight - frame.count);
      if (this.controlledHead < this.controlled.length) this.requestFlush();
      return;
    }
    if (frame.t === 'chunk') {
      this.acceptChunk(frame);
      return;
    }
    this.handlers.frame(frame, bytes);
  }

  private acceptChunk(chunk: Extract<Frame, { t: 'chunk' }>): void {
    let entry = this.reassembly.get(chunk.msg);
    if (entry === undefined) {
      if (chunk.index !== 0) return this.drop(new ProtocolError(`chunk ${chunk.index} of unknown message ${chunk.msg}`));
      if (chunk.total > this.maxMessageBytes) {
        return this.drop(new ProtocolError(`peer announced a ${chunk.total}-byte message, over maxMessageBytes`));
      }
      // Senders cut pieces of at least MIN_PIECE bytes, so a count beyond that is a lie meant to make us work.
      if (chunk.count < 2 || chunk.count > Math.ceil(chunk.total / MIN_PIECE) + 1) {
        return this.drop(new ProtocolError(`chunk count ${chunk.count} does not fit ${chunk.total} bytes`));
      }
      // Bound what one peer can make us hold in half-received messages.
      if (this.reassemblyBytes + chunk.total > this.maxMessageBytes * 2) {
        return this.drop(new ProtocolError('too many large messages in progress'));
      }
      entry = { total: chunk.total, count: chunk.count, buffer: new Uint8Array(chunk.total), next: 0, offset: 0 };
      this.reassembly.set(chunk.msg, entry);
      this.reassemblyBytes += chunk.total;
    }
    if (chunk.index !== entry.next || chunk.count !== entry.count || entry.offset + chunk.bytes.length > entry.total) {
      this.forget(chunk.msg, entry);
      return this.drop(new ProtocolError(`chunk ${chunk.index} of message ${chunk.msg} is out of order or oversized`));
    }
    entry.buffer.set(chunk.bytes, entry.offset);
    entry.offset += chunk.bytes.length;
    entry.next++;
    if (entry.next < entry.count) return;
    this.forget(chunk.msg, entry);
    if (entry.offset !== entry.total) return this.drop(new ProtocolError(`message ${chunk.msg} ended short`));
    let frame: Frame;
    try {
      frame = decodeFrame(entry.buffer);
    } catch (error) {
      return this.drop(error instanceof ProtocolError ? error : new ProtocolError(String(error)));
    }
    if (frame.t === 'chunk') return this.drop(new ProtocolError('nested chunk'));
    this.accept(frame, entry.total);
  }

  private forget(msg: number, entry: Reassembly): void {
    this.reassembly.delete(msg);
    this.reassemblyBytes -= entry.total;
  }

  private drop(error: ProtocolError): void {
    this.counters.dropped++;
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
    const budget = this.chunkBytes - 8;
    while (!this.closed) {
      if (this.channel.bufferedAmount() > this.highWaterBytes) {
        this.draining = true; // the channel's drain callback resumes us
        break;
      }
      const batch: Uint8Array[] = [];
      let size = 0;
      size = this.take(this.control, true, batch, size, budget);
      size = this.take(this.controlled, false, batch, size, budget);
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
    this.compact();
    if (this.admissionHead < this.admissions.length) this.admit();
  }

  /** Moves frames from a queue into the batch while they fit; large ones become chunked messages. */
  private take(queue: Outgoing[], isControl: boolean, batch: Uint8Array[], size: number, budget: number): number {
    let head = isControl ? this.controlHead : this.controlledHead;
    while (head < queue.length) {
      const item = queue[head]!;
      if (item.controlled && this.inFlight >= this.window) break;
      const fits = item.bytes.length <= budget - CHUNK_OVERHEAD;
      if (fits && size + item.bytes.length > budget) break;
      head++;
      if (item.controlled) this.inFlight++;
      this.counters.framesOut++;
      if (fits) {
        batch.push(item.bytes);
        size += item.bytes.length;
        this.queuedBytes -= item.bytes.length;
      } else {
        const count = Math.ceil(item.bytes.length / (budget - CHUNK_OVERHEAD * 2));
        this.large.push({ msg: this.nextMsg++, bytes: item.bytes, count, next: 0 });
      }
    }
    if (isControl) this.controlHead = head;
    else this.controlledHead = head;
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
    const encoded = encodeFrame({
      t: 'chunk',
      msg: message.msg,
      index: message.next,
      count: message.count,
      total: message.bytes.length,
      bytes: slice,
    });
    message.next++;
    this.queuedBytes -= slice.length;
    if (message.next >= message.count) this.large.splice(this.largeTurn, 1);
    else this.largeTurn++;
    batch.push(encoded);
    return size + encoded.length;
  }

  private compact(): void {
    // Queues are consumed from a head index (shift() is O(n)); trim them once drained or mostly consumed.
    if (this.controlHead > 0 && (this.controlHead === this.control.length || this.controlHead > 1024)) {
      this.control.splice(0, this.controlHead);
      this.controlHead = 0;
    }
    if (this.controlledHead > 0 && (this.controlledHead === this.controlled.length || this.controlledHead > 1024)) {
      this.controlled.splice(0, this.controlledHead);
      this.controlledHead = 0;
    }
  }
}
