import { describe, expect, it } from 'vitest';
import { Fifo } from '../../shared/actors/fifo.js';

describe('Fifo', () => {
  it('gives items back in order, across the compaction of a queue that never empties', () => {
    const q = new Fifo(0);
    let next = 1;
    let expected = 0;
    // Keeps ~500 queued while 5,000 pass through: the head passes the compaction threshold several times.
    for (let round = 0; round < 5_000; round++) {
      q.push(next++);
      if (round >= 500) expect(q.shift()).toBe(expected++);
    }
    expect(q.length).toBe(next - expected);
    const rest = q.takeAll();
    expect(rest).toEqual(Array.from({ length: next - expected }, (_, i) => expected + i));
    expect(q.length).toBe(0);
    expect(q.shift()).toBeUndefined();
  });

  it('is empty after its last item, and usable again', () => {
    const q = new Fifo('a');
    q.push('b');
    expect([q.shift(), q.shift(), q.shift()]).toEqual(['a', 'b', undefined]);
    expect(q.length).toBe(0);
    q.push('c');
    expect(q.length).toBe(1);
    expect(q.takeAll()).toEqual(['c']);
  });
});
