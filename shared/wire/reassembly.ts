import { ProtocolError } from '../errors.js';
import type { ChunkFrame } from './frames.js';

/** Senders cut pieces of at least this many bytes (but the last). */
export const MIN_PIECE = 128;
/**
 * A sender interleaves at most this many chunked messages at once (the rest wait their turn), so a receiver
 * can refuse more without ever refusing an honest sender.
 */
export const MAX_LARGE_IN_PROGRESS = 2;

export interface ReassemblyLimits {
  /** Largest message a peer may announce. */
  readonly maxMessageBytes: number;
  /** A message that received no chunk for this long is dropped (ms). */
  readonly idleTimeoutMs: number;
}

interface Entry {
  readonly total: number;
  readonly count: number;
  readonly pieces: Uint8Array[];
  next: number;
  received: number;
  lastChunk: number;
}

/**
 * Rebuilds chunked messages on the receiving side, whatever the sender does: memory is taken as data
 * arrives (an announced size reserves nothing), at most MAX_LARGE_IN_PROGRESS messages are in progress per
 * link (so at most that many times maxMessageBytes), chunks must come in order, and a message whose sender
 * went quiet is dropped by `sweep`.
 */
export class Reassembler {
  private readonly entries = new Map<number, Entry>();
  private buffered = 0;

  constructor(
    private readonly limits: ReassemblyLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Bytes held in half-received messages. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  get inProgress(): number {
    return this.entries.size;
  }

  /**
   * Takes one chunk: returns the whole message once its last chunk arrived, null while it is in progress, or
   * the ProtocolError for which the chunk (and its message) was dropped.
   */
  accept(chunk: ChunkFrame): Uint8Array | ProtocolError | null {
    let entry = this.entries.get(chunk.msg);
    if (entry === undefined) {
      const refusal = this.refuseStart(chunk);
      if (refusal) return refusal;
      entry = { total: chunk.total, count: chunk.count, pieces: [], next: 0, received: 0, lastChunk: 0 };
      this.entries.set(chunk.msg, entry);
    }
    if (chunk.index !== entry.next || chunk.count !== entry.count || entry.received + chunk.bytes.length > entry.total) {
      this.forget(chunk.msg, entry);
      return new ProtocolError(`chunk ${chunk.index} of message ${chunk.msg} is out of order or oversized`);
    }
    entry.pieces.push(chunk.bytes);
    entry.received += chunk.bytes.length;
    this.buffered += chunk.bytes.length;
    entry.next++;
    entry.lastChunk = this.now();
    if (entry.next < entry.count) return null;
    this.forget(chunk.msg, entry);
    if (entry.received !== entry.total) return new ProtocolError(`message ${chunk.msg} ended short`);
    return join(entry.pieces, entry.total);
  }

  /** Drops messages whose sender stopped sending their chunks; returns why, one error per message. */
  sweep(): ProtocolError[] {
    const now = this.now();
    const errors: ProtocolError[] = [];
    for (const [msg, entry] of this.entries) {
      if (now - entry.lastChunk < this.limits.idleTimeoutMs) continue;
      this.forget(msg, entry);
      errors.push(new ProtocolError(`message ${msg} received no chunk for ${this.limits.idleTimeoutMs} ms`));
    }
    return errors;
  }

  clear(): void {
    this.entries.clear();
    this.buffered = 0;
  }

  private refuseStart(chunk: ChunkFrame): ProtocolError | null {
    if (chunk.index !== 0) return new ProtocolError(`chunk ${chunk.index} of unknown message ${chunk.msg}`);
    if (chunk.total > this.limits.maxMessageBytes) {
      return new ProtocolError(`peer announced a ${chunk.total}-byte message, over maxMessageBytes`);
    }
    // A count the sender's own piece size cannot produce is a lie meant to make us work.
    if (chunk.count < 2 || chunk.count > Math.ceil(chunk.total / MIN_PIECE) + 1) {
      return new ProtocolError(`chunk count ${chunk.count} does not fit ${chunk.total} bytes`);
    }
    if (this.entries.size >= MAX_LARGE_IN_PROGRESS) {
      return new ProtocolError(`more than ${MAX_LARGE_IN_PROGRESS} chunked messages in progress`);
    }
    return null;
  }

  private forget(msg: number, entry: Entry): void {
    this.entries.delete(msg);
    this.buffered -= entry.received;
  }
}

function join(pieces: readonly Uint8Array[], total: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}
