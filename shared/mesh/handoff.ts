import type { HandoffFrame, ReleasedFrame } from '../wire/frames.js';
import type { ShardMap } from '../placement/shard-map.js';
import type { ShardMove } from '../placement/shard-table.js';
import { activationKey, type ActivationInfo, type MessageTarget, type Snapshot } from '../actors/runtime.js';

export interface HandoffParts {
  readonly self: string;
  readonly timeoutMs: number;
  /** Who owns what in this peer's view, and who did before the last view change. */
  readonly shards: ShardMap;
  readonly shardCount: number;
  shardOf(id: string): number;
  isMember(peer: string): boolean;
  /** Whether this peer hosts any type that takes snapshots (only then is waiting for state worth it). */
  handsOff(): boolean;
  /** Sends a frame to a peer; returns its encoded size, or null when it could not be sent. */
  send(peer: string, frame: HandoffFrame | ReleasedFrame): number | null;
  /** Stores handed-over state (`bytes` encoded) for the first activation of `key`. */
  accept(target: MessageTarget, snapshot: Snapshot, bytes: number): void;
  /** True when `key` is already active here (a late snapshot must not overwrite live state). */
  isActive(key: string): boolean;
  /** Replaces the live activation of `key` with `snapshot` if that is newer; true if it did. */
  supersede(key: string, snapshot: Snapshot, bytes: number): boolean;
  /** True when state for `key` has arrived and waits for its first call. */
  hasState(key: string): boolean;
  sent(peer: string, info: ActivationInfo, bytes: number): void;
  received(peer: string, frame: HandoffFrame, bytes: number): void;
  /** A call activates an actor fresh because its previous owner vanished before handing it over. */
  lost(target: MessageTarget, from: string): void;
  /** A frame `peer` had no right to send was dropped. */
  rejected(peer: string, frame: 'handoff' | 'released', reason: string): void;
}

interface Wait {
  readonly from: string;
  readonly until: number;
}

interface Outgoing {
  pending: number;
  readonly byCapability: Map<string, { shards: Set<number>; keys: [string, string][] }>;
}

/**
 * State handoff on rebalance. The old owner of a shard stops its moved activations after their message in
 * progress, sends each snapshot to the new owner, then a `released` frame listing the shards (and actors) it
 * gave up. The new owner holds calls for those shards until that frame (or the state of every listed actor)
 * arrives, bounded by timeoutMs; if the old owner vanishes first, the actor starts fresh and `lost` says so.
 *
 * Both sides derive the moved shards from the same placement, so no extra round trip is needed: a peer
 * expects `released` from X for the shards that moved to it from X, and for the shards it keeps whose owner
 * would be X without itself when X has just appeared in its view (X held them before it saw us). State and
 * `released` are taken only from a peer that owned the shard in this peer's view (now, before the last view
 * change, or as the peer we wait for): nobody else can inject an actor's state.
 */
export class Handoff {
  private readonly awaitingShard = new Map<string, Wait>();
  private readonly awaitingKey = new Map<string, Wait>();
  /** Shards whose previous owner vanished; `told` holds the actors already reported, so each is told once. */
  private readonly lostShards = new Map<string, { from: string; until: number; told: Set<string> }>();
  private readonly waiters = new Map<string, (() => void)[]>();
  private readonly outgoing = new Map<string, Outgoing>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  /**
   * Shards a peer announced released before our view said they were coming (its caps reached us late, or
   * were coalesced): when our view catches up, there is nothing left to wait for.
   */
  private readonly releasedEarly = new Map<string, Wait>();
  /** The earliest `until` among the waits (a bound: some may be gone): past it, `holding` sweeps. */
  private nextExpiry = Number.POSITIVE_INFINITY;

  constructor(private readonly parts: HandoffParts) {}

  /** What a view change means for handoff: which shards to wait for, and which to announce as released. */
  viewChanged(moves: ReadonlyMap<string, readonly ShardMove[]>, joined: readonly string[], left: readonly string[]): void {
    const { self, shards } = this.parts;
    const now = Date.now();
    const until = now + this.parts.timeoutMs;
    for (const peer of left) this.peerGone(peer);
    const waits = this.parts.handsOff();
    const awaited = new Set<string>();
    for (const [capability, list] of moves) {
      for (const { shard, from, to } of list) {
        if (to === self && from !== undefined && from !== self) {
          if (!waits) continue;
          const sk = shardKey(capability, shard);
          awaited.add(sk);
          if (this.alreadyReleased(sk, from, now)) continue;
          if (this.parts.isMember(from)) this.awaitingShard.set(sk, { from, until });
          else this.lostShards.set(sk, { from, until: now + LOST_MS, told: new Set() });
          this.nextExpiry = Math.min(this.nextExpiry, until);
        } else if (from === self && to !== undefined && to !== self && this.parts.isMember(to)) {
          this.entry(to, capability).shards.add(shard);
        }
      }
    }
    this.dropForeignWaits();
    if (!waits || joined.length === 0) return;
    // Every capability a joined peer holds is in `moves` (its peer list changed, even if nothing moved).
    for (const capability of moves.keys()) {
      const peers = shards.peersFor(capability);
      if (!peers.includes(self)) continue;
      const joinedHere = new Set(joined.filter((p) => p !== self && peers.includes(p)));
      if (joinedHere.size === 0) continue;
      for (let shard = 0; shard < this.parts.shardCount; shard++) {
        if (shards.owner(shard, capability) !== self) continue;
        const sk = shardKey(capability, shard);
        if (awaited.has(sk)) continue;
        const second = shards.ownerWithout(shard, capability, self);
        if (second !== undefined && joinedHere.has(second) && !this.alreadyReleased(sk, second, now)) {
          this.awaitingShard.set(sk, { from: second, until });
          this.nextExpiry = Math.min(this.nextExpiry, until);
        }
      }
    }
  }

  /** Set while a rebalance sweep is stopping activations: announcements wait until it has counted them all. */
  private sweeping = false;

  /** Brackets a rebalance sweep (runtime.release): nothing is announced before every move is counted. */
  sweep(run: () => number): number {
    this.sweeping = true;
    try {
      return run();
    } finally {
      this.sweeping = false;
      this.flush();
    }
  }

  /** True while some moved activation has not stopped or its announcement is unsent. */
  busy(): boolean {
    return this.outgoing.size > 0;
  }

  /** Counts an activation being moved to `to`; the release announcement waits for it to stop. */
  moving(to: string): void {
    this.outgoingFor(to).pending++;
  }

  /** A moved activation stopped: send its snapshot (if any), and the announcement once nothing is pending. */
  moved(to: string, info: ActivationInfo, snapshot: Snapshot | null): void {
    const out = this.outgoingFor(to);
    out.pending = Math.max(0, out.pending - 1);
    if (snapshot && this.parts.isMember(to)) {
      const frame: HandoffFrame = {
        t: 'handoff',
        capability: info.capability,
        actor: info.actor,
        id: info.id,
        state: snapshot.state,
        initArg: snapshot.initArg,
        epoch: snapshot.version?.epoch ?? 0,
        seq: snapshot.version?.seq ?? 0,
        timers: snapshot.timers ?? null,
      };
      const bytes = this.parts.send(to, frame);
      if (bytes !== null) {
        this.entry(to, info.capability).keys.push([info.actor, info.id]);
        this.parts.sent(to, info, bytes);
      }
    }
    this.flush();
  }

  /** Sends every announcement that has nothing pending. */
  flush(): void {
    if (this.sweeping) return;
    for (const [to, out] of this.outgoing) {
      if (out.pending > 0) continue;
      this.outgoing.delete(to);
      if (!this.parts.isMember(to)) continue;
      for (const [capability, { shards, keys }] of out.byCapability) {
        this.parts.send(to, { t: 'released', capability, shards: [...shards], keys });
      }
    }
  }

  onHandoff(from: string, frame: HandoffFrame, bytes: number): void {
    const key = activationKey(frame.capability, frame.actor, frame.id);
    const shard = this.parts.shardOf(frame.id);
    if (!this.mayRelease(from, frame.capability, shard) && this.awaitingKey.get(key)?.from !== from) {
      return this.parts.rejected(from, 'handoff', `state of ${frame.capability}/${frame.id} from a peer that did not own its shard`);
    }
    const snapshot = {
      state: frame.state,
      initArg: frame.initArg,
      version: { epoch: frame.epoch, seq: frame.seq },
      ...(frame.timers === null ? {} : { timers: frame.timers }),
    };
    if (!this.parts.isActive(key)) {
      this.parts.accept({ capability: frame.capability, actor: frame.actor, id: frame.id, shard, initArg: frame.initArg }, snapshot, bytes);
      this.parts.received(from, frame, bytes);
    } else if (this.parts.supersede(key, snapshot, bytes)) {
      // The same actor lived on both sides of a partition: the newer state wins, the older activation stops.
      this.parts.received(from, frame, bytes);
    }
    this.awaitingKey.delete(key);
    this.wake(key);
  }

  onReleased(from: string, frame: ReleasedFrame): void {
    const until = Date.now() + this.parts.timeoutMs;
    const { capability } = frame;
    const shards = frame.shards.filter((shard) => this.mayRelease(from, capability, shard));
    const keys = frame.keys.filter(([, id]) => this.mayRelease(from, capability, this.parts.shardOf(id)));
    if (shards.length < frame.shards.length || keys.length < frame.keys.length) {
      const refused = frame.shards.length - shards.length + frame.keys.length - keys.length;
      this.parts.rejected(from, 'released', `${refused} shards or actors it did not own`);
    }
    for (const [actor, id] of keys) {
      const key = activationKey(frame.capability, actor, id);
      // The state travels ahead of this frame unless it was chunked; then wait for it a little longer.
      if (!this.parts.isActive(key) && !this.hasState(key)) {
        this.awaitingKey.set(key, { from, until });
        this.nextExpiry = Math.min(this.nextExpiry, until);
      }
    }
    for (const shard of shards) {
      const sk = shardKey(frame.capability, shard);
      if (this.awaitingShard.get(sk)?.from === from) this.awaitingShard.delete(sk);
      else this.releasedEarly.set(sk, { from, until });
      this.wake(sk);
    }
    if (this.releasedEarly.size > 2 * this.parts.shardCount) this.forgetStaleReleases(Date.now());
  }

  private alreadyReleased(sk: string, from: string, now: number): boolean {
    const early = this.releasedEarly.get(sk);
    if (early === undefined) return false;
    this.releasedEarly.delete(sk);
    return early.from === from && early.until > now;
  }

  private forgetStaleReleases(now: number): void {
    for (const [sk, early] of this.releasedEarly) if (early.until <= now) this.releasedEarly.delete(sk);
  }

  /** Whether `from` may hand over or release `shard`: it owns it in our view, did before, or we wait for it. */
  private mayRelease(from: string, capability: string, shard: number): boolean {
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.parts.shardCount) return false;
    const { shards } = this.parts;
    if (shards.owner(shard, capability) === from || shards.ownerBefore(shard, capability) === from) return true;
    return this.awaitingShard.get(shardKey(capability, shard))?.from === from;
  }

  /** True while some shard or actor waits for handed-over state (or was lost): calls must pass `gate`. */
  holding(): boolean {
    if (this.awaitingShard.size === 0 && this.awaitingKey.size === 0 && this.lostShards.size === 0) return false;
    // Waits nobody asked about are only found out lazily; past the earliest deadline, sweep them all so the
    // call path goes back to its fast lane instead of checking stale entries on every call.
    const now = Date.now();
    if (now >= this.nextExpiry) this.sweepExpired(now);
    return this.awaitingShard.size !== 0 || this.awaitingKey.size !== 0 || this.lostShards.size !== 0;
  }

  private sweepExpired(now: number): void {
    let next = Number.POSITIVE_INFINITY;
    for (const map of [this.awaitingShard, this.awaitingKey, this.lostShards]) {
      for (const [k, wait] of map) {
        if (wait.until <= now) map.delete(k);
        else next = Math.min(next, wait.until);
      }
    }
    this.nextExpiry = next;
  }

  /**
   * Views settle in steps (a joiner may see one peer before another): a shard awaited in an earlier step
   * that this peer no longer owns will never be released to it, and must not keep calls on the slow path.
   */
  private dropForeignWaits(): void {
    const { self, shards } = this.parts;
    for (const map of [this.awaitingShard, this.lostShards]) {
      for (const sk of map.keys()) {
        const cut = sk.lastIndexOf('\u0000');
        if (shards.owner(Number(sk.slice(cut + 1)), sk.slice(0, cut)) !== self) map.delete(sk);
      }
    }
  }

  /** Runs `run` now, or once the state it may need has arrived (bounded by timeoutMs). */
  gate(target: MessageTarget, run: () => void): void {
    if (!this.holding()) return run();
    const sk = shardKey(target.capability, target.shard);
    const key = activationKey(target.capability, target.actor, target.id);
    const now = Date.now();
    const wait = this.current(this.awaitingShard, sk, now) ?? this.current(this.awaitingKey, key, now);
    if (wait === undefined) {
      const lost = this.lostShards.get(sk);
      if (lost !== undefined) {
        if (lost.until < now) this.lostShards.delete(sk);
        else if (!this.parts.isActive(key) && !this.hasState(key) && !lost.told.has(key)) {
          lost.told.add(key);
          this.parts.lost(target, lost.from);
        }
      }
      run();
      return;
    }
    const waitKey = this.awaitingShard.has(sk) ? sk : key;
    let done = false;
    const resume = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.timers.delete(timer);
      this.gate(target, run);
    };
    const timer = setTimeout(
      () => {
        // The old owner is alive but said nothing in time: start fresh rather than hang the call.
        this.awaitingShard.delete(sk);
        this.awaitingKey.delete(key);
        this.parts.lost(target, wait.from);
        resume();
      },
      Math.max(0, wait.until - now),
    );
    this.timers.add(timer);
    const list = this.waiters.get(waitKey);
    if (list) list.push(resume);
    else this.waiters.set(waitKey, [resume]);
  }

  /** The peer vanished: nothing more will come from it; waiting calls start fresh (and say so). */
  peerGone(peer: string): void {
    const now = Date.now();
    for (const [map, isShard] of [
      [this.awaitingShard, true],
      [this.awaitingKey, false],
    ] as const) {
      for (const [k, wait] of map) {
        if (wait.from !== peer) continue;
        map.delete(k);
        if (isShard) this.lostShards.set(k, { from: peer, until: now + LOST_MS, told: new Set() });
        this.nextExpiry = Math.min(this.nextExpiry, now + LOST_MS);
        this.wake(k);
      }
    }
    this.outgoing.delete(peer);
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const all = [...this.waiters.values()].flat();
    this.waiters.clear();
    this.awaitingShard.clear();
    this.awaitingKey.clear();
    this.outgoing.clear();
    this.lostShards.clear();
    this.releasedEarly.clear();
    for (const resume of all) resume();
  }

  private hasState(key: string): boolean {
    return this.parts.hasState(key);
  }

  private current(map: Map<string, Wait>, k: string, now: number): Wait | undefined {
    const wait = map.get(k);
    if (wait === undefined) return undefined;
    if (wait.until <= now || !this.parts.isMember(wait.from)) {
      map.delete(k);
      return undefined;
    }
    return wait;
  }

  private wake(k: string): void {
    const list = this.waiters.get(k);
    if (!list) return;
    this.waiters.delete(k);
    for (const resume of list) resume();
  }

  private outgoingFor(to: string): Outgoing {
    let out = this.outgoing.get(to);
    if (!out) {
      out = { pending: 0, byCapability: new Map() };
      this.outgoing.set(to, out);
    }
    return out;
  }

  private entry(to: string, capability: string): { shards: Set<number>; keys: [string, string][] } {
    const out = this.outgoingFor(to);
    let entry = out.byCapability.get(capability);
    if (!entry) {
      entry = { shards: new Set(), keys: [] };
      out.byCapability.set(capability, entry);
    }
    return entry;
  }
}

const shardKey = (capability: string, shard: number): string => `${capability}\u0000${shard}`;

/** How long a shard whose previous owner vanished reports `lost` for actors that start fresh in it. */
const LOST_MS = 30_000;
