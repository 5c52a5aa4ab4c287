/**
 * One timer for every call in flight instead of one per call. A per-call setTimeout/clearTimeout pair was
 * the largest fixed cost of a call that does not complete synchronously (every remote call, every call to an
 * async handler). The timer is armed for the earliest deadline; when it fires, every item past its deadline
 * expires and the timer is re-armed for the next one. It stays armed after the last item leaves (its next
 * firing finds nothing), so a steady stream of calls arms it about once per timeout, not once per call.
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
    this.timer = setTimeout(this.sweep, Math.max(0, at - this.now()));
  }

  private readonly sweep = (): void => {
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.now();
    const expired: T[] = [];
    for (const item of this.items) if (item.deadline <= now) expired.push(item);
    for (const item of expired) {
      this.items.delete(item);
      this.expire(item);
    }
    let next = Number.POSITIVE_INFINITY;
    for (const item of this.items) if (item.deadline < next) next = item.deadline;
    if (next < this.armedFor) this.arm(next);
  };
}
