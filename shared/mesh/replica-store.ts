import { activationKey, newer, type Snapshot, type Version } from '../actors/activation.js';
import { decodeValue, encodedLength } from '../wire/codec.js';
import type { ReplicaDropFrame, ReplicaFrame } from '../wire/frames.js';

export interface ReplicaStoreParts {
  readonly self: string;
  /** Bytes of copies held here, at most; past it the oldest go (and are counted). */
  readonly maxBytes: number;
  shardOf(id: string): number;
  /** Whether `peer` comes before this peer in the ranking of the shard (ShardMap.ranksBefore). */
  ranksBefore(peer: string, shard: number, capability: string): boolean;
  /** The peers that would own the shard, best first, at most `count` (owner first). */
  ranking(shard: number, capability: string, count: number): readonly string[];
  isMember(peer: string): boolean;
  /** Acknowledges the copies numbered `n` to `peer` (one frame for all of them). */
  ack(peer: string, n: readonly number[], refused: readonly number[]): void;
  rejected(peer: string, frame: string, reason: string): void;
}

/** One actor's copy, as its owner last sent it. */
export interface HeldReplica {
  readonly key: string;
  readonly capability: string;
  readonly actor: string;
  readonly id: string;
  readonly shard: number;
  /** The peer that sent it (the owner, as far as this peer knew). */
  readonly owner: string;
  readonly version: Version;
  readonly copies: number;
  readonly state: Uint8Array;
  readonly initArg: unknown;
  readonly timers: ReplicaFrame['timers'];
  readonly bytes: number;
}

export interface ReplicaCounters {
  held: number;
  bytes: number;
  evicted: number;
}

/**
 * The copies this peer keeps for owners it would succeed. A copy is taken only from a peer that ranks
 * before this one for the actor's shard (the owner, or one that would be before us), never overwritten by
 * an older version, acknowledged to its sender, bounded by bytes, and dropped when this peer is no longer
 * among the ranks that keep it. When the owner vanishes, the new owner (which holds the freshest copy, being
 * next in the ranking) takes it out of here to activate the actor from it.
 */
export class ReplicaStore {
  /**
   * A copy replaces the one before it in its slot, which moves to the newest end of the eviction order.
   * Deleting and re-adding the key instead made the Map rebuild its table every few hundred copies, and
   * the old tables, promoted and linked to the new ones, kept every young copy alive through scavenges
   * (CorrTable says how): a third of a backup's young generation was promoted.
   */
  private readonly held = new Map<string, Slot>();
  /** The least recently written slot, first to be evicted, and the most recently written. */
  private oldest: Slot | null = null;
  private newest: Slot | null = null;
  private bytes = 0;
  evicted = 0;
  /** Copies to acknowledge, per owner: sent together once the frames that arrived together are handled. */
  private readonly toAck = new Map<string, { readonly n: number[]; readonly refused: number[] }>();

  constructor(private readonly parts: ReplicaStoreParts) {}

  get size(): number {
    return this.held.size;
  }

  get heldBytes(): number {
    return this.bytes;
  }

  has(key: string): boolean {
    return this.held.has(key);
  }

  /** The copies, least recently written first. */
  list(): HeldReplica[] {
    const out: HeldReplica[] = [];
    for (let slot = this.oldest; slot !== null; slot = slot.newer) out.push(slot.copy);
    return out;
  }

  onReplica(from: string, frame: ReplicaFrame): void {
    const shard = this.parts.shardOf(frame.id);
    if (!this.parts.ranksBefore(from, shard, frame.capability)) {
      return this.parts.rejected(from, 'replica', `a copy of ${frame.capability}/${frame.id} from a peer that does not rank before us`);
    }
    const key = activationKey(frame.capability, frame.actor, frame.id);
    const version: Version = { epoch: frame.epoch, seq: frame.seq };
    const slot = this.held.get(key);
    if (slot === undefined || newer(version, slot.copy.version)) {
      // Everything the copy keeps counts against maxBytes, its initArg and timers too (usually none).
      const bytes = frame.state.length + key.length * 2 + 64 + encodedLength(frame.initArg) + encodedLength(frame.timers);
      if (bytes > this.parts.maxBytes) {
        this.parts.rejected(from, 'replica', 'a copy larger than the replica store');
        // Said to its owner too, or its synchronous callers would wait for an acknowledgement that never comes.
        return this.acknowledge(from, frame.n, true);
      }
      // The decoder gave `state` (and any bytes inside initArg) memory of their own (codec.ts, copyBuffers).
      const { capability, actor, id, state, initArg, copies, timers } = frame;
      const copy: HeldReplica = { key, capability, actor, id, shard, owner: from, version, copies, state, initArg, timers, bytes };
      if (slot === undefined) {
        const added: Slot = { copy, older: null, newer: null };
        this.held.set(key, added);
        this.append(added);
      } else {
        this.bytes -= slot.copy.bytes;
        slot.copy = copy;
        this.unlink(slot);
        this.append(slot);
      }
      this.bytes += bytes;
      this.evictPastBound();
    }
    // An acknowledgement promises this version (or a newer one) is here.
    this.acknowledge(from, frame.n);
  }

  private acknowledge(peer: string, n: number, refused = false): void {
    const pending = this.toAck.get(peer);
    if (pending !== undefined) {
      (refused ? pending.refused : pending.n).push(n);
      return;
    }
    this.toAck.set(peer, refused ? { n: [], refused: [n] } : { n: [n], refused: [] });
    // Frames that arrived in one message are handled in one synchronous pass: ack them all after it.
    if (this.toAck.size === 1) queueMicrotask(() => this.flushAcks());
  }

  private flushAcks(): void {
    const all = [...this.toAck];
    this.toAck.clear();
    for (const [peer, { n, refused }] of all) this.parts.ack(peer, n, refused);
  }

  onDrop(from: string, frame: ReplicaDropFrame): void {
    const key = activationKey(frame.capability, frame.actor, frame.id);
    const current = this.held.get(key)?.copy;
    if (current === undefined) return;
    if (!this.parts.ranksBefore(from, current.shard, current.capability)) return this.parts.rejected(from, 'replica-drop', 'not the owner');
    // A drop never removes a copy newer than the state it ends (written by a later owner).
    if (!newer(current.version, { epoch: frame.epoch, seq: frame.seq })) this.forget(key);
  }

  /** Removes and returns the copy for `key` as a snapshot (decoded), with the copy it came from. */
  take(key: string): { readonly snapshot: Snapshot; readonly copy: HeldReplica } | undefined {
    const copy = this.held.get(key)?.copy;
    if (copy === undefined) return undefined;
    this.forget(key);
    try {
      const timers = copy.timers === null ? {} : { timers: copy.timers };
      return { snapshot: { state: decodeValue(copy.state), initArg: copy.initArg, version: copy.version, ...timers }, copy };
    } catch {
      return undefined;
    }
  }

  /**
   * After a view change: the copies whose owner vanished and whose shard this peer now owns (to promote at
   * once), and the copies this peer no longer ranks high enough to keep (dropped).
   */
  viewChanged(): HeldReplica[] {
    const promote: HeldReplica[] = [];
    const { self } = this.parts;
    for (const entry of this.list()) {
      const ranks = this.parts.ranking(entry.shard, entry.capability, entry.copies + 1);
      if (ranks[0] === self) {
        if (!this.parts.isMember(entry.owner)) promote.push(entry);
      } else if (!ranks.includes(self)) {
        this.forget(entry.key);
      }
    }
    return promote;
  }

  /** Drops the copy for `key`, if any. */
  discard(key: string): void {
    this.forget(key);
  }

  clear(): void {
    this.held.clear();
    this.oldest = null;
    this.newest = null;
    this.toAck.clear();
    this.bytes = 0;
  }

  private forget(key: string): void {
    const slot = this.held.get(key);
    if (slot !== undefined) this.remove(slot);
  }

  private remove(slot: Slot): void {
    this.held.delete(slot.copy.key);
    this.unlink(slot);
    this.bytes -= slot.copy.bytes;
  }

  private evictPastBound(): void {
    while (this.bytes > this.parts.maxBytes && this.oldest !== null) {
      this.remove(this.oldest);
      this.evicted++;
    }
  }

  private append(slot: Slot): void {
    slot.older = this.newest;
    slot.newer = null;
    if (this.newest !== null) this.newest.newer = slot;
    else this.oldest = slot;
    this.newest = slot;
  }

  private unlink(slot: Slot): void {
    if (slot.older !== null) slot.older.newer = slot.newer;
    else this.oldest = slot.newer;
    if (slot.newer !== null) slot.newer.older = slot.older;
    else this.newest = slot.older;
    slot.older = null;
    slot.newer = null;
  }
}

/** A key's place in the store: its latest copy and its neighbours in the order of writing. */
interface Slot {
  copy: HeldReplica;
  older: Slot | null;
  newer: Slot | null;
}
