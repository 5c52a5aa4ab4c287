import { InvalidArgumentError } from '../errors.js';
import { fmix32, hashString } from './hash.js';

/**
 * Decides which peer owns a shard of a capability. It must be a pure function of its arguments: every peer
 * runs it on its own view, and they agree exactly when their views agree. `peerIds` is sorted and non-empty
 * when called by the mesh.
 */
export interface PlacementStrategy {
  readonly name: string;
  owner(shard: number, capability: string, peerIds: readonly string[]): string | undefined;
}

/**
 * Rendezvous (highest-random-weight) hashing, version 1. For each peer p:
 *   weight = murmur3_x86_32(utf8(p), seed = fmix32(murmur3(utf8(capability)) ^ imul(shard + 1, 0x9E3779B1)))
 * The highest weight owns the shard; a tie goes to the smaller peer id. A join takes ~1/(n+1) of the shards,
 * all from the others evenly, and a leave moves only the leaver's shards.
 */
export const rendezvous: PlacementStrategy = {
  name: 'rendezvous',
  owner(shard, capability, peerIds) {
    const seed = fmix32(hashString(capability) ^ Math.imul(shard + 1, 0x9e3779b1));
    let best: string | undefined;
    let bestWeight = -1;
    for (const peer of peerIds) {
      const weight = hashString(peer, seed);
      if (weight > bestWeight || (weight === bestWeight && best !== undefined && peer < best)) {
        best = peer;
        bestWeight = weight;
      }
    }
    return best;
  },
};

/** The seed library's placement exactly: sortedPeerIds[shard % n]. Simple, but a join moves most shards. */
export const modulo: PlacementStrategy = {
  name: 'modulo',
  owner(shard, _capability, peerIds) {
    if (peerIds.length === 0) return undefined;
    return peerIds[shard % peerIds.length];
  },
};

export const BUILTIN_STRATEGIES: Readonly<Record<string, PlacementStrategy>> = { rendezvous, modulo };

export function resolveStrategy(strategy: PlacementStrategy | string | undefined): PlacementStrategy {
  if (strategy === undefined) return rendezvous;
  if (typeof strategy === 'string') {
    const found = Object.hasOwn(BUILTIN_STRATEGIES, strategy) ? BUILTIN_STRATEGIES[strategy] : undefined;
    if (!found) throw new InvalidArgumentError(`unknown placement strategy "${strategy}" (built in: rendezvous, modulo)`);
    return found;
  }
  if (typeof strategy.owner !== 'function' || typeof strategy.name !== 'string') {
    throw new InvalidArgumentError('a placement strategy needs a name and an owner(shard, capability, peerIds) function');
  }
  return strategy;
}

/**
 * Memoises a strategy per (capability, peer set): the owner table is filled lazily, shard by shard, and
 * dropped whenever the peer set changes. This keeps placement off the hot path of every call.
 */
export class OwnerTable {
  private readonly tables = new Map<string, { peers: readonly string[]; owners: (string | undefined)[] }>();

  constructor(
    private readonly strategy: PlacementStrategy,
    private readonly shardCount: number,
  ) {}

  owner(shard: number, capability: string, peers: readonly string[]): string | undefined {
    let table = this.tables.get(capability);
    if (table === undefined || table.peers !== peers) {
      table = { peers, owners: new Array<string | undefined>(this.shardCount) };
      this.tables.set(capability, table);
    }
    const cached = table.owners[shard];
    if (cached !== undefined) return cached;
    if (peers.length === 0) return undefined;
    const owner = this.strategy.owner(shard, capability, peers);
    table.owners[shard] = owner;
    return owner;
  }

  clear(): void {
    this.tables.clear();
  }
}
