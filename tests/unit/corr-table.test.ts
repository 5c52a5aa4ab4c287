import { describe, expect, it } from 'vitest';
import { CorrTable } from '../../shared/mesh/corr-table.js';

/** A small deterministic generator, so a failing sequence can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('CorrTable', () => {
  it('agrees with a Map through calls that come and go out of order, across growth and wrap-around', () => {
    for (const seed of [1, 2, 3]) {
      const random = prng(seed);
      const table = new CorrTable<string>();
      const model = new Map<number, string>();
      let next = 1;
      for (let step = 0; step < 20_000; step++) {
        const r = random();
        // Mostly new calls and answers to the oldest few, some answers far out of order, a few long-lived calls.
        if (r < 0.5 || model.size === 0) {
          const corr = next++;
          table.set(corr, `v${corr}`);
          model.set(corr, `v${corr}`);
        } else {
          const keys = [...model.keys()];
          const pick = r < 0.9 ? keys[0]! : keys[Math.floor(random() * keys.length)]!;
          expect(table.delete(pick)).toBe(true);
          model.delete(pick);
          expect(table.delete(pick)).toBe(false);
        }
        if (step % 97 === 0) {
          expect(table.size).toBe(model.size);
          for (const [k, v] of model) expect(table.get(k)).toBe(v);
          expect(table.get(next)).toBeUndefined();
        }
      }
      expect(table.list().sort()).toEqual([...model.values()].sort());
    }
  });

  it('finds every key whose slot was taken, after deletions on both sides', () => {
    const table = new CorrTable<number>();
    // 64 slots at first: 60, 124 and 188 share a slot, as do 61, 125 and 189, and so on.
    const keys = [60, 61, 62, 63, 124, 125, 126, 127, 188, 189];
    for (const k of keys) table.set(k, k);
    for (const gone of [61, 124, 63]) {
      expect(table.delete(gone)).toBe(true);
      keys.splice(keys.indexOf(gone), 1);
      for (const k of keys) expect(table.get(k)).toBe(k);
    }
    expect(table.size).toBe(keys.length);
  });

  it('ignores keys that are not correlation numbers, as a hostile answer may carry', () => {
    const table = new CorrTable<string>();
    table.set(1, 'one');
    for (const bad of [0, -1, Number.NaN, 0.5, 2 ** 60, Number.POSITIVE_INFINITY]) {
      expect(table.get(bad)).toBeUndefined();
      expect(table.delete(bad)).toBe(false);
    }
    expect(table.size).toBe(1);
    expect(table.get(1)).toBe('one');
    expect(() => table.set(0, 'zero')).toThrow(RangeError);
  });

  it('replaces the value of a key already in', () => {
    const table = new CorrTable<string>();
    table.set(7, 'a');
    table.set(7, 'b');
    expect(table.size).toBe(1);
    expect(table.get(7)).toBe('b');
  });
});
