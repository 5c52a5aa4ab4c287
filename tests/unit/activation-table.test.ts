import { describe, expect, it } from 'vitest';
import { Activation, type ActivationKind, activationKey } from '../../shared/actors/activation.js';
import { ActivationTable } from '../../shared/actors/activation-table.js';

const kind: ActivationKind = { peerId: 'p', idleTimeoutMs: 0, readOnly: null, onTimer: () => undefined };
let serial = 0;
const make = (capability: string, actor: string, id: string): Activation =>
  new Activation(kind, 0, { capability, actor, id, shard: 0, initArg: undefined }, { handleCall: () => null }, ++serial);

describe('ActivationTable', () => {
  it('finds an activation by capability, type and id, and by its key', () => {
    const table = new ActivationTable();
    const a = make('game', 'Player', 'x');
    const b = make('game', 'Room', 'x');
    const c = make('chat', 'Player', 'x');
    for (const activation of [a, b, c]) table.set(activation);
    expect(table.size).toBe(3);
    expect(table.get('game', 'Player', 'x')).toBe(a);
    expect(table.get('game', 'Room', 'x')).toBe(b);
    expect(table.get('chat', 'Player', 'x')).toBe(c);
    expect(table.get('chat', 'Room', 'x')).toBeUndefined();
    expect(table.getKey(activationKey('game', 'Room', 'x'))).toBe(b);
    expect(table.getKey('no separators')).toBeUndefined();
    expect([...table.values()].sort((p, q) => p.key.localeCompare(q.key))).toEqual([c, a, b]);
  });

  it('an id with the separator in it is found by its key too', () => {
    const table = new ActivationTable();
    const odd = make('game', 'Player', 'a\u0000b');
    table.set(odd);
    expect(table.getKey(odd.key)).toBe(odd);
  });

  it('a newer activation of the same actor replaces the old one, which then cannot delete it', () => {
    const table = new ActivationTable();
    const old = make('game', 'Player', 'x');
    const fresh = make('game', 'Player', 'x');
    table.set(old);
    table.set(fresh);
    expect(table.size).toBe(1);
    expect(table.delete(old)).toBe(false);
    expect(table.get('game', 'Player', 'x')).toBe(fresh);
    expect(table.delete(fresh)).toBe(true);
    expect(table.delete(fresh)).toBe(false);
    expect(table.size).toBe(0);
    expect([...table.values()]).toEqual([]);
  });

  it('deleting while iterating visits every other activation once', () => {
    const table = new ActivationTable();
    const all = Array.from({ length: 50 }, (_, i) => make(i % 2 ? 'game' : 'chat', i % 3 ? 'A' : 'B', `id${i}`));
    for (const activation of all) table.set(activation);
    const seen: Activation[] = [];
    for (const activation of table.values()) {
      seen.push(activation);
      table.delete(activation);
    }
    expect(new Set(seen)).toEqual(new Set(all));
    expect(table.size).toBe(0);
  });
});
