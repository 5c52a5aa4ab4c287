/**
 * Wakes whoever waits for something that may have changed (a view change, a call answered, a link closed);
 * each waiter re-checks its own condition. Waiting is event-driven: one timer per wait bounds it, nothing
 * polls.
 */
export class Waiters {
  private waiting: (() => void)[] = [];

  /** Resolves at the next wake() or after `ms`, whichever comes first. */
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.waiting.push(done);
    });
  }

  /** Resolves once `condition()` holds, re-checked at every wake(), or when `deadline` (Date.now() ms) passes. */
  async until(condition: () => boolean, deadline: number): Promise<void> {
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      await this.next(left);
    }
  }

  wake(): void {
    if (this.waiting.length === 0) return;
    const waiting = this.waiting;
    this.waiting = [];
    for (const done of waiting) done();
  }
}
