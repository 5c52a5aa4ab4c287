import type { Snapshot } from './runtime.js';

export interface HandedOverLimits {
  /** Bytes of handed-over state kept waiting for a first message, at most (oldest dropped first). */
  readonly maxBytes: number;
  /** State nobody called for this long is dropped (ms). */
  readonly ttlMs: number;
}

interface Entry {
  readonly snapshot: Snapshot;
  readonly bytes: number;
  readonly at: number;
}

/**
 * State handed over by previous owners, waiting for the first message of its actor here. Bounded by bytes
 * and age whatever the senders do: an actor nobody calls does not pin its state forever.
 */
export class HandedOver {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly limits: HandedOverLimits,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get heldBytes(): number {
    return this.bytes;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Keeps `snapshot` for `key` (replacing any older one); drops the oldest entries past the limits. */
  put(key: string, snapshot: Snapshot, bytes: number): void {
    this.forget(key);
    if (bytes > this.limits.maxBytes) return;
    const at = this.now();
    this.entries.set(key, { snapshot, bytes, at });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.limits.maxBytes && at - entry.at < this.limits.ttlMs) break;
      this.forget(oldest);
    }
  }

  /** The state for `key`, removed; undefined if none (or if it expired). */
  take(key: string): Snapshot | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.forget(key);
    return this.now() - entry.at < this.limits.ttlMs ? entry.snapshot : undefined;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  private forget(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }
}
