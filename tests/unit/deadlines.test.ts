import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../../shared/mesh/deadlines.js';

interface Item {
  readonly name: string;
  readonly deadline: number;
  duePrev: Item | null;
  dueNext: Item | null;
}
const item = (name: string, deadline: number): Item => ({ name, deadline, duePrev: null, dueNext: null });

describe('Deadlines: one timer for many calls', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const make = () => {
    const expired: string[] = [];
    const deadlines = new Deadlines<Item>((item) => expired.push(`${item.name}@${Date.now()}`));
    return { deadlines, expired };
  };

  it('expires each item at its deadline, in one timer', () => {
    const { deadlines, expired } = make();
    deadlines.add(item('a', 1_100));
    deadlines.add(item('b', 1_300));
    deadlines.add(item('c', 1_300));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(99);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['a@1100']);
    vi.advanceTimersByTime(200);
    expect(expired).toEqual(['a@1100', 'b@1300', 'c@1300']);
    expect(deadlines.size).toBe(0);
  });

  it('re-arms for an item added with an earlier deadline than the armed one', () => {
    const { deadlines, expired } = make();
    deadlines.add(item('late', 6_000));
    deadlines.add(item('early', 1_050));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(50);
    expect(expired).toEqual(['early@1050']);
    vi.advanceTimersByTime(4_950);
    expect(expired).toEqual(['early@1050', 'late@6000']);
  });

  it('never expires an item deleted before its deadline', () => {
    const { deadlines, expired } = make();
    const a = item('a', 1_100);
    deadlines.add(a);
    deadlines.add(item('b', 1_200));
    deadlines.delete(a);
    vi.advanceTimersByTime(500);
    expect(expired).toEqual(['b@1200']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('once nothing is left, its timer fires once with nothing to do; close() clears the armed one', () => {
    const { deadlines, expired } = make();
    const a = item('a', 1_100);
    deadlines.add(a);
    deadlines.delete(a);
    // Kept for the next item rather than cleared and set again per call (it no longer holds the process).
    expect(vi.getTimerCount()).toBe(1);
    const next = item('next', 1_050);
    deadlines.add(next);
    expect(vi.getTimerCount()).toBe(1);
    deadlines.delete(next);
    vi.advanceTimersByTime(200);
    expect(expired).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    deadlines.add(item('b', 1_500));
    deadlines.close();
    deadlines.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(deadlines.values().map((i) => i.name)).toEqual(['b']);
    vi.advanceTimersByTime(1_000);
    expect(expired).toEqual([]);
  });

  it('an item added twice is in once: it expires once and leaves with one delete', () => {
    const { deadlines, expired } = make();
    const a = item('a', 1_100);
    deadlines.add(a);
    deadlines.add(a);
    deadlines.add(item('b', 1_200));
    deadlines.add(a);
    expect(deadlines.values().map((i) => i.name)).toEqual(['a', 'b']);
    expect(deadlines.size).toBe(2);
    vi.advanceTimersByTime(200);
    expect(expired).toEqual(['a@1100', 'b@1200']);
  });

  it('an item an earlier expiry removed does not expire', () => {
    const expired: string[] = [];
    const items: Item[] = [item('a', 1_100), item('b', 1_100)];
    const deadlines: Deadlines<Item> = new Deadlines<Item>((item) => {
      expired.push(item.name);
      for (const other of items) deadlines.delete(other);
    });
    for (const item of items) deadlines.add(item);
    vi.advanceTimersByTime(100);
    expect(expired).toEqual(['a']);
  });

  it('an expiry that throws does not stop the later deadlines', () => {
    const expired: string[] = [];
    const deadlines = new Deadlines<Item>((item) => {
      expired.push(item.name);
      if (item.name === 'a') throw new Error('boom');
    });
    deadlines.add(item('a', 1_100));
    deadlines.add(item('c', 1_500));
    expect(() => vi.advanceTimersByTime(100)).toThrow('boom');
    vi.advanceTimersByTime(400);
    expect(expired).toEqual(['a', 'c']);
  });

  it('a deadline beyond what setTimeout takes arms one timer, not a 1 ms loop', () => {
    const { deadlines, expired } = make();
    deadlines.add(item('far', 1_000 + 2 ** 31 + 10));
    vi.advanceTimersByTime(100);
    expect(vi.getTimerCount()).toBe(1);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(2 ** 31 + 10);
    expect(expired).toEqual([`far@${1_000 + 2 ** 31 + 10}`]);
  });
});

describe('Deadlines and the Node process', () => {
  const timersHoldingTheProcess = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  it('holds the process while something is in, and not once it is empty (an idle peer lets Node exit)', () => {
    const deadlines = new Deadlines<Item>(() => undefined);
    const before = timersHoldingTheProcess();
    const a = item('a', Date.now() + 60_000);
    deadlines.add(a);
    expect(timersHoldingTheProcess()).toBe(before + 1);
    deadlines.delete(a);
    expect(timersHoldingTheProcess()).toBe(before);
    deadlines.add(a);
    expect(timersHoldingTheProcess()).toBe(before + 1);
    deadlines.close();
    expect(timersHoldingTheProcess()).toBe(before);
  });
});
