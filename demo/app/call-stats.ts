/**
 * The calls a person makes from this tab (clicking players, Call all), counted and timed here rather than
 * read from `mesh.stats()`: the page also calls the actors it hosts to show their state, and those polls
 * must stay out of both the counts and the latencies, or the two describe different calls.
 */

/** Latency buckets 10% apart from 10 µs: any quantile is within 5% of the truth, at a fixed size. */
const FIRST_MS = 0.01;
const RATIO = 1.1;
const BUCKETS = 170; // up to ~110 s, past any call timeout

export type CallOutcome = 'local' | 'remote' | 'failed';

export class CallStats {
  ok = 0;
  failed = 0;
  /** Answered by this tab / by another peer. */
  local = 0;
  remote = 0;
  private readonly counts = new Array<number>(BUCKETS).fill(0);
  private timed = 0;

  get total(): number {
    return this.ok + this.failed;
  }

  /** How many calls the latency quantiles describe: every call counted above. */
  get latencyCount(): number {
    return this.timed;
  }

  record(outcome: CallOutcome, ms: number): void {
    if (outcome === 'failed') this.failed++;
    else {
      this.ok++;
      if (outcome === 'local') this.local++;
      else this.remote++;
    }
    const bucket = ms <= FIRST_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / FIRST_MS) / Math.log(RATIO)));
    this.counts[bucket]!++;
    this.timed++;
  }

  /** The q-quantile in ms (the geometric middle of its bucket), null before the first call. */
  quantileMs(q: number): number | null {
    if (this.timed === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.timed));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return i === 0 ? FIRST_MS : FIRST_MS * RATIO ** (i - 0.5);
    }
    return FIRST_MS * RATIO ** (BUCKETS - 1);
  }
}
