/** A frame queued on a link, already encoded. */
export interface Outgoing {
  /** A view into the encoder's buffer (encodeFrameShared) until `owned`. */
  bytes: Uint8Array;
  owned: boolean;
  /** Counts against the receiver's window (calls and casts). */
  readonly controlled: boolean;
}

/**
 * Gives a frame that waits beyond its turn bytes of its own. A view keeps the encoder's whole buffer alive
 * (8 KiB, more after a large value, shared with other frames): a few small frames waiting on a stalled
 * peer would hold far more memory than the link counts against maxQueuedBytes.
 */
export function own(item: Outgoing): void {
  if (item.owned) return;
  // The copy constructor, not slice(): in Node the bytes are a Buffer, whose slice() is another view.
  item.bytes = new Uint8Array(item.bytes);
  item.owned = true;
}

/**
 * One of a link's send queues: frames in order, consumed from a head index (shift() is O(n)). After each
 * flush, `settle()` trims what was sent and gives what is still waiting bytes of its own, each frame once.
 */
export class OutgoingQueue {
  /** Sent slots are cleared at once: a sent frame must not stay reachable until the next trim. */
  private items: (Outgoing | undefined)[] = [];
  private head = 0;
  /** Items before this index have bytes of their own. */
  private ownedUpTo = 0;

  get pending(): boolean {
    return this.head < this.items.length;
  }

  push(item: Outgoing): void {
    this.items.push(item);
  }

  /** The next frame to send, left in the queue until `shift()`. */
  peek(): Outgoing | undefined {
    return this.items[this.head];
  }

  shift(): void {
    this.items[this.head++] = undefined;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.ownedUpTo = 0;
  }

  settle(): void {
    // Trim once drained or mostly consumed.
    if (this.head > 0 && (this.head === this.items.length || this.head > 1024)) {
      this.items.splice(0, this.head);
      this.ownedUpTo = Math.max(0, this.ownedUpTo - this.head);
      this.head = 0;
    }
    for (let i = Math.max(this.head, this.ownedUpTo); i < this.items.length; i++) own(this.items[i]!);
    this.ownedUpTo = this.items.length;
  }
}
