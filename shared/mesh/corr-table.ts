const MIN_CAPACITY = 64;

/**
 * Calls waiting for their answer, by correlation number (a positive integer below 2^53; 0 is "none"). A
 * Map did this job and cost a Node caller a quarter of its CPU in garbage collection: a Map whose keys
 * come and go rebuilds its table every few hundred calls, and V8 keeps each old table linked to the new
 * one. An old table promoted by one scavenge is not known to be dead until the next full collection, so
 * through it every young table, and every call in it with its promise and result, survived scavenges and
 * was promoted in turn: 46% of the young generation survived each scavenge, against 0.2% on the callee.
 * This table is never rebuilt while its size holds, keeps its keys outside the heap, and forgets a value
 * the moment it leaves.
 *
 * Open addressing with linear probing from `corr & mask`: correlation numbers are handed out in order, so
 * the calls in flight occupy consecutive slots and a lookup finds its key at once. Deletion shifts the
 * probe run back (no tombstones), so a long-lived call does not slow the lookups after it for long.
 */
export class CorrTable<T> {
  private keys = new Float64Array(MIN_CAPACITY);
  private values: (T | undefined)[] = new Array<T | undefined>(MIN_CAPACITY).fill(undefined);
  private mask = MIN_CAPACITY - 1;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(corr: number): T | undefined {
    // 0 marks an empty slot: never a key (nor is anything a hostile answer could carry that is not > 0).
    if (!(corr > 0)) return undefined;
    const { keys, mask } = this;
    for (let i = corr & mask; ; i = (i + 1) & mask) {
      const key = keys[i]!;
      if (key === corr) return this.values[i];
      if (key === 0) return undefined;
    }
  }

  /** Adds or replaces the value for `corr` (> 0). */
  set(corr: number, value: T): void {
    if (!(corr > 0)) throw new RangeError(`not a correlation number: ${corr}`);
    if ((this.count + 1) * 2 > this.keys.length) this.grow();
    const { keys, mask } = this;
    let i = corr & mask;
    while (keys[i] !== 0 && keys[i] !== corr) i = (i + 1) & mask;
    if (keys[i] === 0) this.count++;
    keys[i] = corr;
    this.values[i] = value;
  }

  /** Removes `corr`; true if it was in. */
  delete(corr: number): boolean {
    if (!(corr > 0)) return false;
    const { keys, values, mask } = this;
    let hole = corr & mask;
    while (keys[hole] !== corr) {
      if (keys[hole] === 0) return false;
      hole = (hole + 1) & mask;
    }
    // Backward-shift: move up every later entry of the run that may sit in the hole (its home slot is not
    // in the cyclic interval (hole, j]), so no lookup ever stops early at an empty slot.
    for (let j = (hole + 1) & mask; keys[j] !== 0; j = (j + 1) & mask) {
      const home = keys[j]! & mask;
      const between = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (between) continue;
      keys[hole] = keys[j]!;
      values[hole] = values[j];
      hole = j;
    }
    keys[hole] = 0;
    values[hole] = undefined;
    this.count--;
    return true;
  }

  /** The values, in no particular order (a copy: the caller may delete while going through it). */
  list(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== 0) out.push(this.values[i]!);
    return out;
  }

  private grow(): void {
    const { keys, values } = this;
    const capacity = keys.length * 2;
    this.keys = new Float64Array(capacity);
    this.values = new Array<T | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
    this.count = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== 0) this.set(keys[i]!, values[i]!);
    values.fill(undefined);
  }
}
