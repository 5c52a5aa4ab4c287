import { AbortedError, TimeoutError } from '../errors.js';

interface Waiting<T> {
  /** Null once it is settled either way (admitted, timed out, aborted, closed): a settled entry keeps
   * nothing of what it waited with alive. */
  item: T | null;
  readonly deadline: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | null;
}

/**
 * A first-come-first-served line of items waiting for room in a bounded queue. Each waits at most until its
 * deadline or its AbortSignal; one interval sweeps every deadline instead of a timer per item, and only
 * while something waits.
 */
export class AdmissionLine<T extends object> {
  private readonly line: (Waiting<T> | undefined)[] = [];
  private head = 0;
  private sweeper: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly sweepMs = 50) {}

  get waiting(): boolean {
    return this.head < this.line.length;
  }

  /** Resolves when `admit` lets the item in; rejects with TIMEOUT or ABORTED. */
  wait(item: T, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortedError());
    return new Promise<void>((resolve, reject) => {
      const entry: Waiting<T> = { item, deadline: Date.now() + timeoutMs, resolve, reject, signal, onAbort: null };
      if (signal) {
        entry.onAbort = () => this.settle(entry, new AbortedError());
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.line.push(entry);
      this.ensureSweep();
    });
  }

  /** Lets items in, oldest first, while `take(item)` says there is room; returns how many went in. */
  admit(hasRoom: () => boolean, take: (item: T) => void): number {
    let admitted = 0;
    while (this.head < this.line.length && hasRoom()) {
      const entry = this.line[this.head]!;
      this.line[this.head++] = undefined;
      if (entry.item === null) continue;
      take(entry.item);
      this.settle(entry, null);
      admitted++;
    }
    if (this.head === this.line.length) {
      this.line.length = 0;
      this.head = 0;
    } else if (this.head > 4096) {
      this.line.splice(0, this.head);
      this.head = 0;
    }
    return admitted;
  }

  /** Rejects everything still waiting with `error` and stops the sweep. */
  close(error: Error): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    const rest = this.line.splice(this.head);
    this.line.length = 0;
    this.head = 0;
    for (const entry of rest) if (entry) this.settle(entry, error);
  }

  private settle(entry: Waiting<T>, error: Error | null): void {
    if (entry.item === null) return;
    entry.item = null;
    if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
    if (error) entry.reject(error);
    else entry.resolve();
  }

  private ensureSweep(): void {
    if (this.sweeper !== null) return;
    this.sweeper = setInterval(() => {
      const now = Date.now();
      let waiting = 0;
      for (let i = this.head; i < this.line.length; i++) {
        const entry = this.line[i]!;
        if (entry.item === null) continue;
        if (entry.deadline <= now) this.settle(entry, new TimeoutError('send queue stayed full until the deadline'));
        else waiting++;
      }
      if (waiting === 0 && this.sweeper !== null) {
        clearInterval(this.sweeper);
        this.sweeper = null;
      }
    }, this.sweepMs);
    (this.sweeper as { unref?: () => void }).unref?.();
  }
}
