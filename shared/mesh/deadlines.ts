/** The longest delay setTimeout takes (Node clamps a longer one to 1 ms). */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * One timer for every call in flight instead of one per call. A per-call setTimeout/clearTimeout pair was
 * the largest fixed cost of a call that does not complete synchronously (every remote call, every call to an
 * async handler). The timer is armed for the earliest deadline; when it fires, every item past its deadline
 * expires and the timer is re-armed for the next one. Under a steady stream of calls it is armed about
 * once per timeout, not once per call; it is cleared when the last item leaves, so an idle peer holds no
 * timer. Deadlines are read on `now`, which should be monotonic (a wall-clock step must not stretch or cut
 * a timeout).
 */
export class Deadlines<T extends { readonly deadline: number }> {
  private readonly items = new Set<T>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When the timer fires; +Infinity when it is not armed. */
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(
    private readonly expire: (item: T) => void,
    private readonly now: () => number = () => Date.now(),
  ) {}

  get size(): number {
    return this.items.size;
  }

  add(item: T): void {
    this.items.add(item);
    if (item.deadline < this.armedFor) this.arm(item.deadline);
  }

  delete(item: T): void {
    this.items.delete(item);
    if (this.items.size === 0) this.close();
  }

  values(): T[] {
    return [...this.items];
  }

  /** Clears the timer (stop); items added later arm it again. Idempotent. */
  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private arm(at: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(this.sweep, Math.min(MAX_DELAY_MS, Math.max(0, at - this.now())));
  }

  private readonly sweep = (): void => {
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.now();
    const expired: T[] = [];
    for (const item of this.items) if (item.deadline <= now) expired.push(item);
    try {
      for (const item of expired) {
        // An earlier expiry may have removed it (a settled call leaves): then it is not due any more.
        if (this.items.delete(item)) this.expire(item);
      }
    } finally {
      let next = Number.POSITIVE_INFINITY;
      for (const item of this.items) if (item.deadline < next) next = item.deadline;
      if (next < this.armedFor) this.arm(next);
    }
  };
}
