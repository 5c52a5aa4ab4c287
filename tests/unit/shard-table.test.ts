/**
 * The incremental shard tables must agree exactly with the placement strategies they keep: for random
 * sequences of joins and leaves, every shard's owner equals `strategy.owner(...)` over the current peers,
 * the reported moves are exactly the shards whose owner changed, and the runner-up equals the owner
 * without the owner.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { modulo, rendezvous, type PlacementStrategy } from '../../shared/placement/placement.js';
import { ShardTable } from '../../shared/placement/shard-table.js';

const SHARDS = 256;
const peerIds = fc.uniqueArray(fc.stringMatching(/^[a-z0-9]{1,12}$/), { minLength: 1, maxLength: 12 });

function check(strategy: PlacementStrategy, capability: string, steps: readonly (readonly string[])[]): void {
  const table = new ShardTable(strategy, capability, SHARDS);
  let previous: (string | undefined)[] = new Array<string | undefined>(SHARDS).fill(undefined);
  for (const step of steps) {
    const peers = [...step].sort();
    const moves = table.update(peers);
    const expected = Array.from({ length: SHARDS }, (_, shard) =>
      peers.length === 0 ? undefined : strategy.owner(shard, capability, peers),
    );
    expect(Array.from({ length: SHARDS }, (_, shard) => table.owner(shard))).toEqual(expected);
    const moved = expected.flatMap((owner, shard) => (owner !== previous[shard] ? [{ shard, from: previous[shard], to: owner }] : []));
    expect(moves).toEqual(moved);
    for (let shard = 0; shard < SHARDS; shard++) {
      const owner = expected[shard];
      if (owner === undefined) continue;
      const others = peers.filter((p) => p !== owner);
      expect(table.ownerWithout(shard, owner)).toBe(others.length === 0 ? undefined : strategy.owner(shard, capability, others));
    }
    previous = expected;
  }
}

describe('ShardTable', () => {
  it.each([
    ['rendezvous', rendezvous],
    ['modulo', modulo],
  ] as const)('%s: owners, moves and runners-up match the strategy through random joins and leaves', (_name, strategy) => {
    fc.assert(
      fc.property(
        peerIds,
        fc.array(fc.array(fc.nat(), { maxLength: 12 }), { minLength: 1, maxLength: 8 }),
        fc.string({ maxLength: 8 }),
        (pool, picks, capability) => {
          const steps = picks.map((indexes) => [...new Set(indexes.map((i) => pool[i % pool.length]!))]);
          check(strategy, capability || 'game', [...steps, []]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a join moves shards only to the joiner, about 1/(n+1) of them', () => {
    const table = new ShardTable(rendezvous, 'game', 4096);
    const peers = Array.from({ length: 32 }, (_, i) => `peer-${i}`);
    table.update(peers);
    const joined = [...peers, 'peer-new'].sort();
    const moves = table.update(joined);
    // Every move goes to the joiner, roughly 1/33 of the shards.
    expect(moves.every((m) => m.to === 'peer-new')).toBe(true);
    expect(moves.length).toBeGreaterThan(4096 / 33 / 2);
    expect(moves.length).toBeLessThan((4096 / 33) * 2);
  });
});
