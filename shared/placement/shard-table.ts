import { fmix32, hashString, murmur3, utf8Bytes } from './hash.js';
import { rendezvous, type PlacementStrategy } from './placement.js';

/** A shard whose owner changed with a view change (`undefined`: no peer held the capability). */
export interface ShardMove {
  readonly shard: number;
  readonly from: string | undefined;
  readonly to: string | undefined;
}

/**
 * The owner of every shard of one capability, kept in step with the capability's peers. Under rendezvous
 * placement it is updated incrementally: a peer that joins is weighed once per shard, a peer that leaves
 * costs only the shards it owned or came second on, so a view change costs what changed rather than a full
 * recomputation (a hostile peer toggling its capabilities cannot stall us). It also keeps each shard's
 * runner-up: who would own it without its owner. Other strategies are recomputed in full.
 */
export class ShardTable {
  private peers: readonly string[] = [];
  private readonly owners: (string | undefined)[];
  private readonly incremental: Rendezvous | null;

  constructor(
    private readonly strategy: PlacementStrategy,
    private readonly capability: string,
    private readonly shardCount: number,
  ) {
    this.owners = new Array<string | undefined>(shardCount).fill(undefined);
    this.incremental = strategy === rendezvous ? new Rendezvous(capability, shardCount) : null;
  }

  owner(shard: number): string | undefined {
    return this.owners[shard];
  }

  /** Who would own `shard` if `without` (its owner) were not there. */
  ownerWithout(shard: number, without: string): string | undefined {
    if (this.incremental && this.owners[shard] === without) return this.incremental.second[shard];
    const others = this.peers.filter((p) => p !== without);
    return others.length === 0 ? undefined : this.strategy.owner(shard, this.capability, others);
  }

  /** Under rendezvous: whether `a` ranks before `b` for `shard` (one weighing each); null for other strategies. */
  ranksBefore(a: string, b: string, shard: number): boolean | null {
    return this.incremental?.ranksBefore(a, b, shard) ?? null;
  }

  /** Applies the capability's new sorted peer list; returns the shards whose owner changed. */
  update(peers: readonly string[]): ShardMove[] {
    const before = this.owners.slice();
    if (this.incremental) this.incremental.update(this.peers, peers, this.owners);
    else {
      for (let shard = 0; shard < this.shardCount; shard++) {
        this.owners[shard] = peers.length === 0 ? undefined : this.strategy.owner(shard, this.capability, peers);
      }
    }
    this.peers = peers;
    const moves: ShardMove[] = [];
    for (let shard = 0; shard < this.shardCount; shard++) {
      if (before[shard] !== this.owners[shard]) moves.push({ shard, from: before[shard], to: this.owners[shard] });
    }
    return moves;
  }
}

/** rendezvous (placement.ts) kept incrementally: the best and second-best weight of every shard. */
class Rendezvous {
  private readonly seeds: Uint32Array;
  private readonly bestWeight: Float64Array;
  readonly second: (string | undefined)[];
  private readonly secondWeight: Float64Array;
  private readonly bytes = new Map<string, Uint8Array>();

  constructor(capability: string, shardCount: number) {
    const capHash = hashString(capability);
    this.seeds = new Uint32Array(shardCount);
    for (let shard = 0; shard < shardCount; shard++) this.seeds[shard] = fmix32(capHash ^ Math.imul(shard + 1, 0x9e3779b1));
    this.bestWeight = new Float64Array(shardCount).fill(-1);
    this.second = new Array<string | undefined>(shardCount).fill(undefined);
    this.secondWeight = new Float64Array(shardCount).fill(-1);
  }

  update(oldPeers: readonly string[], peers: readonly string[], owners: (string | undefined)[]): void {
    const now = new Set(peers);
    const was = new Set(oldPeers);
    const removed = oldPeers.filter((p) => !now.has(p));
    const added = peers.filter((p) => !was.has(p));
    for (const peer of removed) this.bytes.delete(peer);
    if (removed.length > 0) {
      const gone = new Set(removed);
      for (let shard = 0; shard < owners.length; shard++) {
        const best = owners[shard];
        const second = this.second[shard];
        if ((best !== undefined && gone.has(best)) || (second !== undefined && gone.has(second)))
          this.recompute(shard, peers, owners, added);
      }
    }
    if (added.length === 0) return;
    const weighed = added.map((peer) => [peer, this.bytesOf(peer)] as const);
    for (let shard = 0; shard < owners.length; shard++) {
      const seed = this.seeds[shard]!;
      for (const [peer, bytes] of weighed) this.offer(shard, peer, murmur3(bytes, bytes.length, seed), owners);
    }
  }

  ranksBefore(a: string, b: string, shard: number): boolean {
    const seed = this.seeds[shard]!;
    const wa = murmur3(this.bytesOf(a), this.bytesOf(a).length, seed);
    const wb = murmur3(this.bytesOf(b), this.bytesOf(b).length, seed);
    return beats(wa, a, wb, b);
  }

  /** Rebuilds a shard's best and second from scratch, over the peers that were already there. */
  private recompute(shard: number, peers: readonly string[], owners: (string | undefined)[], added: readonly string[]): void {
    owners[shard] = undefined;
    this.bestWeight[shard] = -1;
    this.second[shard] = undefined;
    this.secondWeight[shard] = -1;
    const seed = this.seeds[shard]!;
    for (const peer of peers) {
      if (added.includes(peer)) continue; // weighed for every shard right after
      const bytes = this.bytesOf(peer);
      this.offer(shard, peer, murmur3(bytes, bytes.length, seed), owners);
    }
  }

  /** Places `peer` with `weight` in the shard's ranking (ties go to the smaller id, as in rendezvous). */
  private offer(shard: number, peer: string, weight: number, owners: (string | undefined)[]): void {
    const best = owners[shard];
    if (best === undefined || beats(weight, peer, this.bestWeight[shard]!, best)) {
      this.second[shard] = best;
      this.secondWeight[shard] = this.bestWeight[shard]!;
      owners[shard] = peer;
      this.bestWeight[shard] = weight;
      return;
    }
    const second = this.second[shard];
    if (second === undefined || beats(weight, peer, this.secondWeight[shard]!, second)) {
      this.second[shard] = peer;
      this.secondWeight[shard] = weight;
    }
  }

  private bytesOf(peer: string): Uint8Array {
    let bytes = this.bytes.get(peer);
    if (bytes === undefined) {
      bytes = utf8Bytes(peer);
      this.bytes.set(peer, bytes);
    }
    return bytes;
  }
}

const beats = (weight: number, peer: string, otherWeight: number, other: string): boolean =>
  weight > otherWeight || (weight === otherWeight && peer < other);
