/** Rate limits of the signaling server. */

/**
 * A token bucket: `burst` events at once, then `perSecond` on average. Refills lazily from the clock on each
 * take, so an idle bucket costs no timer.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token; false when the bucket is empty (the event should be refused, not queued). */
  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * Lets through at most `perSecond` lines a second and reports how many it swallowed in the next line that
 * passes, so a flood of refusals (each of which is counted anyway) cannot flood the log too.
 */
export class LogThrottle {
  private windowStart = Number.NEGATIVE_INFINITY;
  private inWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The line to write now (with a note of what was swallowed before it), or null to swallow this one. */
  pass(line: string): string | null {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.perSecond) {
      this.suppressed++;
      return null;
    }
    this.inWindow++;
    if (this.suppressed === 0) return line;
    const note = ` (${this.suppressed} earlier lines like it were not logged)`;
    this.suppressed = 0;
    return line + note;
  }
}
