/** The longest delay setTimeout takes (Node clamps a longer one to 1 ms). */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Whether a timer keeps a Node process alive (ref/unref); browsers' timers are numbers and hold nothing. */
function holdProcess(timer: ReturnType<typeof setTimeout> | null, hold: boolean): void {
  if (timer === null || typeof timer !== 'object') return;
  const handle = timer as { ref?: () => unknown; unref?: () => unknown };
  if (hold) handle.ref?.();
  else handle.unref?.();
}

/**
 * What Deadlines holds: an item with its deadline and the two links of the list it is in, which only
 * Deadlines touches. Linking the items themselves costs four writes per add and per delete; a Set of them
 * (hashing, tombstones, rehashing as calls come and go) was 4-6% of the CPU of calls to an async handler.
 */
export interface DeadlineItem<T> {
  readonly deadline: number;
  duePrev: T | null;
  dueNext: T | null;
}

/**
 * One timer for every call in flight instead of one per call. A per-call setTimeout/clearTimeout pair was
 * the largest fixed cost of a call that does not complete synchronously (every remote call, every call to an
 * async handler). The timer is armed for the earliest deadline; when it fires, every item past its deadline
 * expires and the timer is re-armed for the next one. Under a steady stream of calls it is armed about
 * once per timeout, not once per call. When the last item leaves, the timer stays armed but no longer
 * holds a Node process open (unref): one call after another (sequential calls, few in flight) would
 * otherwise set and clear a timer per call, ~0.7 us each in Node. It fires once with nothing to do, or the
 * next item takes it over. Deadlines are read on `now`, which should be monotonic (a wall-clock step must
 * not stretch or cut a timeout). An item is in at most one Deadlines at a time.
 */
export class Deadlines<T extends DeadlineItem<T>> {
  /** The items in the order they were added (expiry goes in that order too). */
  private first: T | null = null;
  private last: T | null = null;
  private count = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When the timer fires; +Infinity when it is not armed. */
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(
    private readonly expire: (item: T) => void,
    private readonly now: () => number = () => Date.now(),
  ) {}

  get size(): number {
    return this.count;
  }

  /** Whether `item` is in (an item is in at most one list, whose links it holds). */
  private has(item: T): boolean {
    return item.duePrev !== null || this.first === item;
  }

  /** Adds `item`; one already in stays where it is. */
  add(item: T): void {
    if (this.has(item)) return;
    item.duePrev = this.last;
    item.dueNext = null;
    if (this.last !== null) this.last.dueNext = item;
    else this.first = item;
    this.last = item;
    if (this.count++ === 0) holdProcess(this.timer, true);
    if (item.deadline < this.armedFor) this.arm(item.deadline);
  }

  /** Removes `item`; true if it was in. */
  delete(item: T): boolean {
    if (!this.has(item)) return false;
    if (item.duePrev !== null) item.duePrev.dueNext = item.dueNext;
    else this.first = item.dueNext;
    if (item.dueNext !== null) item.dueNext.duePrev = item.duePrev;
    else this.last = item.duePrev;
    item.duePrev = null;
    item.dueNext = null;
    if (--this.count === 0) holdProcess(this.timer, false);
    return true;
  }

  values(): T[] {
    const out: T[] = [];
    for (let item = this.first; item !== null; item = item.dueNext) out.push(item);
    return out;
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
    for (let item = this.first; item !== null; item = item.dueNext) if (item.deadline <= now) expired.push(item);
    try {
      for (const item of expired) {
        // An earlier expiry may have removed it (a settled call leaves): then it is not due any more.
        if (this.delete(item)) this.expire(item);
      }
    } finally {
      let next = Number.POSITIVE_INFINITY;
      for (let item = this.first; item !== null; item = item.dueNext) if (item.deadline < next) next = item.deadline;
      if (next < this.armedFor) this.arm(next);
    }
  };
}
