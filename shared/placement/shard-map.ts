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
