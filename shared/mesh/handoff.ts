import type { HandoffFrame, ReleasedFrame } from '../wire/frames.js';
import type { PlacementStrategy } from '../placement/placement.js';
import { activationKey, type ActivationInfo, type MessageTarget, type Snapshot } from '../actors/runtime.js';

export interface HandoffParts {
  readonly self: string;
  readonly shardCount: number;
  readonly strategy: PlacementStrategy;
  readonly timeoutMs: number;
  isMember(peer: string): boolean;
  /** Whether this peer hosts any type that takes snapshots (only then is waiting for state worth it). */
  handsOff(): boolean;
  /** Sends a frame to a peer; returns its encoded size, or null when it could not be sent. */
  send(peer: string, frame: HandoffFrame | ReleasedFrame): number | null;
  /** Stores handed-over state for the first activation of `key`. */
  accept(key: string, snapshot: Snapshot): void;
  /** True when `key` is already active here (a late snapshot must not overwrite live state). */
  isActive(key: string): boolean;
  /** True when state for `key` has arrived and waits for its first call. */
  hasState(key: string): boolean;
  sent(peer: string, info: ActivationInfo, bytes: number): void;
  received(peer: string, frame: HandoffFrame, bytes: number): void;
  /** A call activates an actor fresh because its previous owner vanished before handing it over. */
  lost(target: MessageTarget, from: string): void;
}

interface Wait {
  readonly from: string;
  readonly until: number;
}

interface Outgoing {
  pending: number;
  readonly byCapability: Map<string, { shards: Set<number>; keys: [string, string][] }>;
}

type View = ReadonlyMap<string, readonly string[]>;

/**
 * State handoff on rebalance. The old owner of a shard stops its moved activations after their message in
 * progress, sends each snapshot to the new owner, then a `released` frame listing the shards (and actors) it
 * gave up. The new owner holds calls for those shards until that frame (or the state of every listed actor)
 * arrives, bounded by timeoutMs; if the old owner vanishes first, the actor starts fresh and `lost` says so.
 *
 * Both sides derive the moved shards from the same placement, so no extra round trip is needed: a peer
 * expects `released` from X for the shards it owns whose owner would be X without itself (X older than us
 * or not), or whose owner was X in its previous view (capability changes, modulo placement).
 */
export class Handoff {
  private readonly awaitingShard = new Map<string, Wait>();
  private readonly awaitingKey = new Map<string, Wait>();
  /** Shards whose previous owner vanished; `told` holds the actors already reported, so each is told once. */
  private readonly lostShards = new Map<string, { from: string; until: number; told: Set<string> }>();
  private readonly waiters = new Map<string, (() => void)[]>();
  private readonly outgoing = new Map<string, Outgoing>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(private readonly parts: HandoffParts) {}

  /** Recomputes which shards to hold calls for, after a view change. */
  viewChanged(before: View, after: View, joined: readonly string[], left: readonly string[]): void {
    const { self, shardCount, strategy } = this.parts;
    const now = Date.now();
    const until = now + this.parts.timeoutMs;
    for (const peer of left) this.peerGone(peer);
    const waits = this.parts.handsOff();
    const capabilities = new Set([...before.keys(), ...after.keys()]);
    for (const capability of capabilities) {
      const oldPeers = before.get(capability) ?? [];
      const newPeers = after.get(capability) ?? [];
      const holdsNow = newPeers.includes(self);
      if (!holdsNow) continue;
      const joinedHere = joined.filter((p) => p !== self && newPeers.includes(p));
      if (sameList(oldPeers, newPeers) && joinedHere.length === 0) continue;
      const withoutSelf = newPeers.filter((p) => p !== self);
      for (let shard = 0; shard < shardCount; shard++) {
        const newOwner = newPeers.length ? strategy.owner(shard, capability, newPeers) : undefined;
        if (newOwner !== self) continue;
        if (!waits) continue;
        const sk = shardKey(capability, shard);
        const oldOwner = oldPeers.length ? strategy.owner(shard, capability, oldPeers) : undefined;
        if (oldOwner !== undefined && oldOwner !== self) {
          if (this.parts.isMember(oldOwner)) this.awaitingShard.set(sk, { from: oldOwner, until });
          else this.lostShards.set(sk, { from: oldOwner, until: now + 30_000, told: new Set() });
          continue;
        }
        if (joinedHere.length > 0 && withoutSelf.length > 0) {
          const second = strategy.owner(shard, capability, withoutSelf);
          if (second !== undefined && joinedHere.includes(second)) this.awaitingShard.set(sk, { from: second, until });
        }
      }
    }
  }

  /** Shards this peer gave up (old view -> new view), grouped by their new owner: announce them once released. */
  planRelease(before: View, after: View): void {
    const { self, shardCount, strategy } = this.parts;
    for (const [capability, oldPeers] of before) {
      if (!oldPeers.includes(self)) continue;
      const newPeers = after.get(capability) ?? [];
      if (sameList(oldPeers, newPeers)) continue;
      for (let shard = 0; shard < shardCount; shard++) {
        if (strategy.owner(shard, capability, oldPeers) !== self) continue;
        const newOwner = newPeers.length ? strategy.owner(shard, capability, newPeers) : undefined;
        if (newOwner === undefined || newOwner === self || !this.parts.isMember(newOwner)) continue;
        this.entry(newOwner, capability).shards.add(shard);
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
    if (!this.parts.isActive(key)) {
      this.parts.accept(key, { state: frame.state, initArg: frame.initArg });
      this.parts.received(from, frame, bytes);
    }
    this.awaitingKey.delete(key);
    this.wake(key);
  }

  onReleased(from: string, frame: ReleasedFrame): void {
    const until = Date.now() + this.parts.timeoutMs;
    for (const [actor, id] of frame.keys) {
      const key = activationKey(frame.capability, actor, id);
      // The state travels ahead of this frame unless it was chunked; then wait for it a little longer.
      if (!this.parts.isActive(key) && !this.hasState(key)) this.awaitingKey.set(key, { from, until });
    }
    for (const shard of frame.shards) {
      const sk = shardKey(frame.capability, shard);
      if (this.awaitingShard.get(sk)?.from === from) this.awaitingShard.delete(sk);
      this.wake(sk);
    }
  }

  /** Runs `run` now, or once the state it may need has arrived (bounded by timeoutMs). */
  gate(target: MessageTarget, run: () => void): void {
    if (this.awaitingShard.size === 0 && this.awaitingKey.size === 0 && this.lostShards.size === 0) return run();
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
    const timer = setTimeout(() => {
      // The old owner is alive but said nothing in time: start fresh rather than hang the call.
      this.awaitingShard.delete(sk);
      this.awaitingKey.delete(key);
      this.parts.lost(target, wait.from);
      resume();
    }, Math.max(0, wait.until - now));
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
        if (isShard) this.lostShards.set(k, { from: peer, until: now + 30_000, told: new Set() });
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

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a === b || (a.length === b.length && a.every((value, i) => value === b[i]));
