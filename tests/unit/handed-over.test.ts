import { describe, expect, it } from 'vitest';
import { HandedOver } from '../../shared/actors/handed-over.js';

const snap = (n: number) => ({ state: { n }, initArg: undefined });

describe('HandedOver', () => {
  it('keeps state until taken, once', () => {
    const held = new HandedOver({ maxBytes: 1000, ttlMs: 1000 }, () => 0);
    held.put('a', snap(1), 10);
    expect(held.has('a')).toBe(true);
    expect(held.take('a')).toEqual(snap(1));
    expect(held.take('a')).toBeUndefined();
    expect(held.heldBytes).toBe(0);
  });

  it('drops the oldest entries past its byte bound, and refuses one larger than the bound', () => {
    const held = new HandedOver({ maxBytes: 100, ttlMs: 1000 }, () => 0);
    for (let i = 0; i < 20; i++) held.put(`k${i}`, snap(i), 10);
    expect(held.size).toBe(10);
    expect(held.heldBytes).toBe(100);
    expect(held.has('k9')).toBe(false);
    expect(held.has('k10')).toBe(true);
    held.put('huge', snap(0), 101);
    expect(held.has('huge')).toBe(false);
    expect(held.heldBytes).toBe(100);
  });

  it('forgets state nobody asked for within its ttl', () => {
    let now = 0;
    const held = new HandedOver({ maxBytes: 1000, ttlMs: 1000 }, () => now);
    held.put('old', snap(1), 10);
    now = 1500;
    expect(held.take('old')).toBeUndefined();
    held.put('a', snap(1), 10);
    now = 2000;
    held.put('b', snap(2), 10);
    now = 2600;
    held.put('c', snap(3), 10); // sweeps 'a', expired
    expect(held.has('a')).toBe(false);
    expect(held.has('b')).toBe(true);
    expect(held.heldBytes).toBe(20);
  });

  it('replacing a key counts its bytes once', () => {
    const held = new HandedOver({ maxBytes: 1000, ttlMs: 1000 }, () => 0);
    held.put('a', snap(1), 10);
    held.put('a', snap(2), 30);
    expect(held.heldBytes).toBe(30);
    expect(held.take('a')).toEqual(snap(2));
  });
});
