import { describe, expect, it } from 'vitest';
import { CorrTable } from '../../shared/mesh/corr-table.js';

/** A small deterministic generator (an LCG), so a failing sequence can be replayed. */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('CorrTable', () => {
  it('agrees with a Map through calls that come and go out of order, some for very long, across growth', () => {
    for (const seed of [1, 2, 3]) {
      const random = lcg(seed);
      const table = new CorrTable<string>();
      const model = new Map<number, string>();
      // Calls that outlive thousands of later ones: their slots are taken when the numbers come round again.
      const stuck = new Map<number, number>();
      let next = 1;
      for (let step = 0; step < 20_000; step++) {
        const r = random();
        if (r < 0.5 || model.size === stuck.size) {
          const corr = next++;
          table.set(corr, `v${corr}`);
          model.set(corr, `v${corr}`);
          if (corr % 300 === 0) stuck.set(corr, step + 3_000);
          // A call answered twice (a duplicate reply) replaces nothing and adds nothing.
          if (corr % 7 === 0) table.set(corr, `v${corr}`);
        } else {
          // Mostly the oldest answered first, sometimes one far out of order; stuck ones when their time comes.
          const keys = [...model.keys()].filter((k) => (stuck.get(k) ?? 0) <= step);
          if (keys.length === 0) continue;
          const pick = r < 0.9 ? keys[0]! : keys[Math.floor(random() * keys.length)]!;
          expect(table.delete(pick)).toBe(true);
          model.delete(pick);
          stuck.delete(pick);
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

  it("holds keys taken in strides, as each backup sees an owner's copy numbers", () => {
    for (const stride of [2, 3, 5]) {
      const table = new CorrTable<number>();
      const live: number[] = [];
      for (let k = 1; k <= 5_000; k++) {
        const corr = k * stride;
        table.set(corr, corr);
        live.push(corr);
        if (live.length > 200) expect(table.delete(live.shift()!)).toBe(true);
      }
      expect(table.size).toBe(200);
      for (const corr of live) expect(table.get(corr)).toBe(corr);
      expect(table.list().sort((x, y) => x - y)).toEqual(live);
    }
  });

  it('keeps every key through a burst, the drain after it and the calls after that', () => {
    const table = new CorrTable<number>();
    // One call stuck through all of it, in a slot the burst's numbers come round to again and again.
    table.set(5, 5);
    for (let corr = 6; corr < 20_006; corr++) table.set(corr, corr);
    expect(table.size).toBe(20_001);
    // Drained from both ends, so the table halves while keys remain on either side of what left.
    for (let k = 0; k < 10_000; k++) {
      expect(table.delete(6 + k)).toBe(true);
      expect(table.delete(20_005 - k)).toBe(true);
      if (k % 997 === 0) for (const probe of [5, 7 + k, 20_004 - k]) expect(table.get(probe)).toBe(probe);
    }
    expect(table.list()).toEqual([5]);
    for (let corr = 20_006; corr < 20_406; corr++) table.set(corr, corr);
    expect(table.size).toBe(401);
    expect(table.get(5)).toBe(5);
    expect(table.get(20_405)).toBe(20_405);
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

  it('replaces the value of a key already in, in its slot or displaced', () => {
    const table = new CorrTable<string>();
    table.set(7, 'a');
    table.set(7, 'b');
    // 71 has 7's slot in a table of 64: it is displaced, and replaced where it is.
    table.set(71, 'c');
    table.set(71, 'd');
    expect(table.size).toBe(2);
    expect([table.get(7), table.get(71)]).toEqual(['b', 'd']);
    expect(table.list().sort()).toEqual(['b', 'd']);
    // Its slot freed, a displaced key set again stays one key, and leaves entirely when deleted.
    table.delete(7);
    table.set(71, 'e');
    expect(table.size).toBe(1);
    expect(table.get(71)).toBe('e');
    expect(table.delete(71)).toBe(true);
    expect([table.size, table.get(71)]).toEqual([0, undefined]);
  });
});
