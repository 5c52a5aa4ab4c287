import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../shared/errors.js';
import {
  BUILTIN_STRATEGIES,
  OwnerTable,
  modulo,
  rendezvous,
  resolveStrategy,
  type PlacementStrategy,
} from '../../shared/placement/placement.js';
import { referenceRendezvousOwner } from '../fixtures/murmur3-reference.js';
import { expectThrows } from '../fixtures/mesh-helpers.js';

const SHARDS = 4096;
const sorted = (ids: readonly string[]): string[] => [...ids].sort();

/** Peer id families: short names and random-looking 16-char base-36 ids like randomPeerId() makes. */
const shortPeers = (n: number): string[] => sorted(Array.from({ length: n }, (_, i) => `peer-${i}`));
const base36Peers = (n: number): string[] =>
  sorted(
    Array.from({ length: n }, (_, i) => {
      let x = (i + 1) * 2654435761;
      let id = '';
      for (let k = 0; k < 16; k++) {
        x = (Math.imul(x ^ (x >>> 13), 1274126177) + k) >>> 0;
        id += '0123456789abcdefghijklmnopqrstuvwxyz'[x % 36];
      }
      return id;
    }),
  );

function ownersOf(strategy: PlacementStrategy, capability: string, peers: readonly string[]): (string | undefined)[] {
  return Array.from({ length: SHARDS }, (_, shard) => strategy.owner(shard, capability, peers));
}

const expectInvalid = (fn: () => unknown): void => void expectThrows(fn, InvalidArgumentError, 'INVALID_ARGUMENT');

describe('rendezvous', () => {
  it('is named and registered as a built-in', () => {
    expect(rendezvous.name).toBe('rendezvous');
    expect(BUILTIN_STRATEGIES['rendezvous']).toBe(rendezvous);
  });

  it('returns undefined for no peers and the only peer for one', () => {
    expect(rendezvous.owner(0, 'game', [])).toBeUndefined();
    expect(rendezvous.owner(4095, 'game', [])).toBeUndefined();
    for (let shard = 0; shard < 100; shard++) expect(rendezvous.owner(shard, 'game', ['solo'])).toBe('solo');
  });

  it('is deterministic and independent of the order of peers', () => {
    const peers = shortPeers(7);
    const reversed = [...peers].reverse();
    const first = ownersOf(rendezvous, 'game', peers);
    expect(ownersOf(rendezvous, 'game', peers)).toEqual(first);
    expect(ownersOf(rendezvous, 'game', reversed)).toEqual(first);
    for (const owner of first) expect(peers).toContain(owner);
  });

  it('implements the documented version-1 weight formula exactly (cross-runtime agreement)', () => {
    for (const [capability, peers] of [
      ['game', shortPeers(5)],
      ['chat', base36Peers(9)],
      ['日本語', ['a', 'b', 'ü', '🎮']],
    ] as const) {
      for (let shard = 0; shard < SHARDS; shard++) {
        expect(rendezvous.owner(shard, capability, peers)).toBe(referenceRendezvousOwner(shard, capability, peers));
      }
    }
  });

  it('places the same shard differently per capability', () => {
    const peers = shortPeers(4);
    const game = ownersOf(rendezvous, 'game', peers);
    const chat = ownersOf(rendezvous, 'chat', peers);
    const differ = game.filter((owner, shard) => owner !== chat[shard]).length;
    // Independent placements of 4 peers disagree on ~3/4 of the shards.
    expect(differ / SHARDS).toBeGreaterThan(0.65);
    expect(differ / SHARDS).toBeLessThan(0.85);
  });

  for (const [family, makePeers] of [
    ['short ids', shortPeers],
    ['base-36 ids', base36Peers],
  ] as const) {
    describe(`movement bounds over ${SHARDS} shards (${family})`, () => {
      for (let n = 2; n <= 10; n++) {
        it(`join ${n} -> ${n + 1}: ~1/${n + 1} of the shards move, all to the joiner`, () => {
          const all = makePeers(n + 1);
          // The joiner is any one of them; take the middle one so it is not always first or last in sort order.
          const joiner = all[Math.floor(all.length / 2)]!;
          const before = all.filter((p) => p !== joiner);
          const ownersBefore = ownersOf(rendezvous, 'game', before);
          const ownersAfter = ownersOf(rendezvous, 'game', all);
          let moved = 0;
          for (let shard = 0; shard < SHARDS; shard++) {
            if (ownersBefore[shard] === ownersAfter[shard]) continue;
            moved++;
            expect(ownersAfter[shard], `shard ${shard} moved but not to the joiner`).toBe(joiner);
          }
          // And the joiner owns exactly the moved shards.
          expect(ownersAfter.filter((o) => o === joiner).length).toBe(moved);
          const ideal = 1 / (n + 1);
          const fraction = moved / SHARDS;
          expect(fraction).toBeGreaterThanOrEqual(0.5 * ideal);
          expect(fraction).toBeLessThanOrEqual(1.5 * ideal);
          expect(Math.abs(fraction - ideal)).toBeLessThan(0.35 * ideal);
          // Taken from the others evenly: no old peer loses more than twice its fair share.
          for (const peer of before) {
            const lost = ownersBefore.filter((o, s) => o === peer && ownersAfter[s] !== peer).length;
            expect(lost).toBeLessThan((2 * moved) / n + 20);
          }
        });

        it(`leave ${n + 1} -> ${n}: exactly the leaver's shards move`, () => {
          const all = makePeers(n + 1);
          const leaver = all[1]!;
          const after = all.filter((p) => p !== leaver);
          const ownersBefore = ownersOf(rendezvous, 'game', all);
          const ownersAfter = ownersOf(rendezvous, 'game', after);
          for (let shard = 0; shard < SHARDS; shard++) {
            if (ownersBefore[shard] === leaver) {
              expect(after).toContain(ownersAfter[shard]);
            } else {
              expect(ownersAfter[shard], `shard ${shard} of a staying peer moved`).toBe(ownersBefore[shard]);
            }
          }
        });

        it(`load balance with ${n} peers: each owns within ±30% of ${SHARDS}/${n}`, () => {
          const peers = makePeers(n);
          const owners = ownersOf(rendezvous, 'game', peers);
          const fair = SHARDS / n;
          for (const peer of peers) {
            const owned = owners.filter((o) => o === peer).length;
            expect(owned).toBeGreaterThan(0.7 * fair);
            expect(owned).toBeLessThan(1.3 * fair);
          }
        });
      }
    });
  }
});

describe('modulo', () => {
  it('is named and registered as a built-in', () => {
    expect(modulo.name).toBe('modulo');
    expect(BUILTIN_STRATEGIES['modulo']).toBe(modulo);
  });

  it('returns undefined for no peers', () => {
    expect(modulo.owner(0, 'game', [])).toBeUndefined();
    expect(modulo.owner(17, 'chat', [])).toBeUndefined();
  });

  it('equals sortedPeers[shard % n] for every shard and n = 1..10, whatever the capability', () => {
    for (let n = 1; n <= 10; n++) {
      const peers = shortPeers(n);
      for (let shard = 0; shard < SHARDS; shard++) {
        expect(modulo.owner(shard, 'game', peers)).toBe(peers[shard % n]);
        expect(modulo.owner(shard, 'chat', peers)).toBe(peers[shard % n]);
      }
    }
  });

  it('moves ~75% of the shards when going from 3 to 4 peers', () => {
    const four = ['p0', 'p1', 'p2', 'p3'];
    const three = four.slice(0, 3);
    const before = ownersOf(modulo, 'game', three);
    const after = ownersOf(modulo, 'game', four);
    const moved = before.filter((o, s) => o !== after[s]).length;
    // Owner is unchanged exactly when s % 3 === s % 4, i.e. s % 12 in {0, 1, 2}: 1026 of 4096 stay.
    expect(moved).toBe(4096 - 1026);
    expect(moved / SHARDS).toBeGreaterThan(0.7);
    expect(moved / SHARDS).toBeLessThan(0.8);
  });

  it('is deterministic', () => {
    const peers = shortPeers(6);
    expect(ownersOf(modulo, 'x', peers)).toEqual(ownersOf(modulo, 'x', peers));
  });
});

describe('OwnerTable', () => {
  /** Wraps a strategy and counts the calls that reach it. */
  function counting(inner: PlacementStrategy): PlacementStrategy & { calls: number } {
    const wrapper = {
      name: inner.name,
      calls: 0,
      owner(shard: number, capability: string, peers: readonly string[]): string | undefined {
        wrapper.calls++;
        return inner.owner(shard, capability, peers);
      },
    };
    return wrapper;
  }

  it.each([rendezvous, modulo])('returns exactly what $name returns, for every shard', (strategy) => {
    const table = new OwnerTable(strategy, SHARDS);
    const peers = Object.freeze(shortPeers(5));
    for (let pass = 0; pass < 2; pass++) {
      for (let shard = 0; shard < SHARDS; shard++) {
        expect(table.owner(shard, 'game', peers)).toBe(strategy.owner(shard, 'game', peers));
      }
    }
  });

  it('asks the strategy once per shard while the peers array is the same instance', () => {
    const strategy = counting(rendezvous);
    const table = new OwnerTable(strategy, 64);
    const peers = Object.freeze(shortPeers(3));
    for (let pass = 0; pass < 3; pass++) for (let shard = 0; shard < 64; shard++) table.owner(shard, 'game', peers);
    expect(strategy.calls).toBe(64);
  });

  it('recomputes when the peer array changes, and gives the new owners', () => {
    const strategy = counting(rendezvous);
    const table = new OwnerTable(strategy, 64);
    const three = Object.freeze(shortPeers(3));
    const four = Object.freeze(shortPeers(4));
    for (let shard = 0; shard < 64; shard++) table.owner(shard, 'game', three);
    for (let shard = 0; shard < 64; shard++) {
      expect(table.owner(shard, 'game', four)).toBe(rendezvous.owner(shard, 'game', four));
    }
    expect(strategy.calls).toBe(128);
    // A different array with equal contents is a different view as far as the cache knows: it recomputes.
    for (let shard = 0; shard < 64; shard++) table.owner(shard, 'game', [...four]);
    expect(strategy.calls).toBe(192);
  });

  it('keeps one cache per capability', () => {
    const strategy = counting(rendezvous);
    const table = new OwnerTable(strategy, 16);
    const peers = Object.freeze(shortPeers(4));
    for (let shard = 0; shard < 16; shard++) {
      expect(table.owner(shard, 'game', peers)).toBe(rendezvous.owner(shard, 'game', peers));
      expect(table.owner(shard, 'chat', peers)).toBe(rendezvous.owner(shard, 'chat', peers));
    }
    for (let shard = 0; shard < 16; shard++) {
      table.owner(shard, 'game', peers);
      table.owner(shard, 'chat', peers);
    }
    expect(strategy.calls).toBe(32);
  });

  it('clear() forgets everything', () => {
    const strategy = counting(modulo);
    const table = new OwnerTable(strategy, 8);
    const peers = Object.freeze(['a', 'b']);
    for (let shard = 0; shard < 8; shard++) table.owner(shard, 'game', peers);
    table.clear();
    for (let shard = 0; shard < 8; shard++) expect(table.owner(shard, 'game', peers)).toBe(peers[shard % 2]);
    expect(strategy.calls).toBe(16);
  });

  it('returns undefined for no peers without asking the strategy', () => {
    const strategy = counting(rendezvous);
    const table = new OwnerTable(strategy, 8);
    expect(table.owner(3, 'game', Object.freeze([]))).toBeUndefined();
    expect(strategy.calls).toBe(0);
  });
});

describe('resolveStrategy', () => {
  it('defaults to rendezvous and resolves built-in names', () => {
    expect(resolveStrategy(undefined)).toBe(rendezvous);
    expect(resolveStrategy('rendezvous')).toBe(rendezvous);
    expect(resolveStrategy('modulo')).toBe(modulo);
  });

  it('accepts a well-formed custom strategy as is', () => {
    const custom: PlacementStrategy = { name: 'first', owner: (_s, _c, peers) => peers[0] };
    expect(resolveStrategy(custom)).toBe(custom);
  });

  it.each(['', 'Rendezvous', 'consistent', 'toString', '__proto__', 'constructor'])(
    'rejects unknown name %j with INVALID_ARGUMENT',
    (name) => {
      expectInvalid(() => resolveStrategy(name));
    },
  );

  it('rejects objects without a name or an owner function', () => {
    expectInvalid(() => resolveStrategy({ name: 'x' } as unknown as PlacementStrategy));
    expectInvalid(() => resolveStrategy({ owner: () => 'a' } as unknown as PlacementStrategy));
    expectInvalid(() => resolveStrategy({ name: 'x', owner: 'a' } as unknown as PlacementStrategy));
  });
});
