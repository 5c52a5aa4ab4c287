const MIN_CAPACITY = 64;

/**
 * Calls waiting for their answer, by correlation number (a positive integer below 2^53; 0 is "none"). A
 * Map did this job and cost a Node caller a quarter of its CPU in garbage collection: a Map whose keys
 * come and go rebuilds its table every few hundred calls, and V8 keeps each old table linked to the new
 * one. An old table promoted by one scavenge is not known to be dead until the next full collection, so
 * through it every young table, and every call in it with its promise and result, survived scavenges and
 * was promoted in turn: 46% of the young generation survived each scavenge, against 0.2% on the callee.
 * This table is never rebuilt while its size holds, keeps its keys in a typed array (nothing there for the
 * collector to trace), and forgets a value the moment it leaves.
 *
 * Correlation numbers are handed out in order, so the calls in flight fall in distinct slots of a table
 * at least twice their number (slot = corr & mask), each found in one step. A key whose slot is still
 * taken, by a call from a table's length ago that is still waiting, goes to a small Map instead. Linear
 * probing was tried first: in order, the calls in flight form one long run, and a deletion that shifts the
 * run back walked all of it (10% of a tab's CPU at 256 in flight).
 */
export class CorrTable<T> {
  private keys = new Float64Array(MIN_CAPACITY);
  private values: (T | undefined)[] = new Array<T | undefined>(MIN_CAPACITY).fill(undefined);
  private mask = MIN_CAPACITY - 1;
  private inSlots = 0;
  /** Keys whose slot was taken when they came: few, and usually none. */
  private readonly displaced = new Map<number, T>();

  get size(): number {
    return this.inSlots + this.displaced.size;
  }

  get(corr: number): T | undefined {
    // 0 marks an empty slot: never a key (nor is anything a hostile answer could carry that is not > 0).
    if (!(corr > 0)) return undefined;
    const i = corr & this.mask;
    if (this.keys[i] === corr) return this.values[i];
    return this.displaced.size === 0 ? undefined : this.displaced.get(corr);
  }

  /** Adds or replaces the value for `corr` (> 0). */
  set(corr: number, value: T): void {
    if (!(corr > 0)) throw new RangeError(`not a correlation number: ${corr}`);
    const i = corr & this.mask;
    if (this.keys[i] === corr) {
      this.values[i] = value;
      return;
    }
    if (this.displaced.size > 0 && this.displaced.has(corr)) {
      this.displaced.set(corr, value);
      return;
    }
    // Twice the keys' number, and more while many are displaced: keys taken in strides (an owner numbers
    // its copies across all its backups, so each backup's table sees every second or third number) need a
    // table as long as the stretch of numbers they span.
    if ((this.size + 1) * 2 > this.keys.length || this.displaced.size * 8 > this.keys.length) this.resize(this.keys.length * 2);
    this.place(corr, value);
  }

  /** Puts a key known not to be in into its slot, or among the displaced. */
  private place(corr: number, value: T): void {
    const i = corr & this.mask;
    if (this.keys[i] === 0) {
      this.keys[i] = corr;
      this.values[i] = value;
      this.inSlots++;
    } else this.displaced.set(corr, value);
  }

  /** Removes `corr`; true if it was in. */
  delete(corr: number): boolean {
    if (!(corr > 0)) return false;
    const i = corr & this.mask;
    if (this.keys[i] === corr) {
      this.keys[i] = 0;
      this.values[i] = undefined;
      this.inSlots--;
    } else if (this.displaced.size === 0 || !this.displaced.delete(corr)) return false;
    // Give back what a burst took once it has passed (at an eighth full: halving leaves it a quarter full,
    // so a size that hovers does not rebuild the table again and again).
    if (this.keys.length > MIN_CAPACITY && this.size * 8 < this.keys.length) this.resize(this.keys.length / 2);
    return true;
  }

  /** The values, in no particular order (a copy: the caller may delete while going through it). */
  list(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== 0) out.push(this.values[i]!);
    for (const value of this.displaced.values()) out.push(value);
    return out;
  }

  private resize(capacity: number): void {
    const { keys, values } = this;
    const displaced = [...this.displaced];
    this.keys = new Float64Array(capacity);
    this.values = new Array<T | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
    this.inSlots = 0;
    this.displaced.clear();
    for (let i = 0; i < keys.length; i++) if (keys[i] !== 0) this.place(keys[i]!, values[i]!);
    for (const [corr, value] of displaced) this.place(corr, value);
    // The old array may have been promoted: emptied, it keeps no young value alive until it is collected.
    values.fill(undefined);
  }
}
