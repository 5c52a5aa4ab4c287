import type { Membership } from './membership.js';
import type { PlacementStrategy } from './placement.js';
import { ShardTable, type ShardMove } from './shard-table.js';

/**
 * Who owns every shard of every capability in this peer's view, updated once per view change. Lookups are
 * one array read; an update returns what moved, per capability, which is all the rebalance needs.
 */
export class ShardMap {
  private readonly tables = new Map<string, ShardTable>();
  private readonly peers = new Map<string, readonly string[]>();
  /** The previous owner of each shard that moved in the last update, per capability. */
  private lastMoves = new Map<string, Map<number, string | undefined>>();

  constructor(
    private readonly strategy: PlacementStrategy,
    private readonly shardCount: number,
  ) {}

  owner(shard: number, capability: string): string | undefined {
    return this.tables.get(capability)?.owner(shard);
  }

  /** The owner of `shard` before the last update. */
  ownerBefore(shard: number, capability: string): string | undefined {
    const moved = this.lastMoves.get(capability);
    if (moved?.has(shard)) return moved.get(shard);
    return this.owner(shard, capability);
  }

  /** Who would own `shard` without `peer` (its owner): the peer that held it before `peer` arrived. */
  ownerWithout(shard: number, capability: string, peer: string): string | undefined {
    return this.tables.get(capability)?.ownerWithout(shard, peer);
  }

  peersFor(capability: string): readonly string[] {
    return this.peers.get(capability) ?? [];
  }

  /**
   * The peers that would own `shard` next after its owner, best first, at most `count`: where its copies
   * live, so that when the owner goes the new owner already holds one.
   */
  backups(shard: number, capability: string, count: number): string[] {
    const table = this.tables.get(capability);
    const owner = table?.owner(shard);
    if (table === undefined || owner === undefined || count <= 0) return [];
    const first = table.ownerWithout(shard, owner);
    if (first === undefined) return [];
    const found = [first];
    let rest = this.peersFor(capability).filter((p) => p !== owner && p !== first);
    while (found.length < count && rest.length > 0) {
      const next = this.strategy.owner(shard, capability, rest);
      if (next === undefined) break;
      found.push(next);
      rest = rest.filter((p) => p !== next);
    }
    return found;
  }

  /**
   * Whether `peer` comes before `other` in the ranking of `shard` (would own it before `other` does as
   * peers leave), in this view. A peer not holding the capability comes before nobody.
   */
  ranksBefore(peer: string, other: string, shard: number, capability: string): boolean {
    let rest = this.peersFor(capability);
    if (!rest.includes(peer)) return false;
    const fast = this.tables.get(capability)?.ranksBefore(peer, other, shard);
    if (fast !== undefined && fast !== null) return fast;
    while (rest.length > 0) {
      const next = this.strategy.owner(shard, capability, rest);
      if (next === peer) return true;
      if (next === other || next === undefined) return false;
      rest = rest.filter((p) => p !== next);
    }
    return false;
  }

  /** Brings every table in step with `membership`; returns the moved shards of each capability that changed. */
  update(membership: Membership): Map<string, ShardMove[]> {
    const changed = new Map<string, ShardMove[]>();
    const capabilities = new Set([...this.tables.keys(), ...membership.allCapabilities()]);
    for (const capability of capabilities) {
      const peers = membership.peersFor(capability);
      if (sameList(this.peers.get(capability) ?? [], peers)) continue;
      let table = this.tables.get(capability);
      if (table === undefined) {
        table = new ShardTable(this.strategy, capability, this.shardCount);
        this.tables.set(capability, table);
      }
      changed.set(capability, table.update(peers));
      if (peers.length === 0) {
        this.tables.delete(capability);
        this.peers.delete(capability);
      } else this.peers.set(capability, peers);
    }
    this.lastMoves = new Map(
      [...changed].map(([capability, moves]) => [capability, new Map(moves.map((m) => [m.shard, m.from] as const))]),
    );
    return changed;
  }
}

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a === b || (a.length === b.length && a.every((value, i) => value === b[i]));
