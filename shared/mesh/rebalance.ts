import { activationKey, type ActorRuntime } from '../actors/runtime.js';
import type { Emitter } from '../emitter.js';
import type { Membership, MembershipChange } from '../placement/membership.js';
import type { ShardMap } from '../placement/shard-map.js';
import { shardFor } from '../placement/shards.js';
import type { ShardMove } from '../placement/shard-table.js';
import { encodeFrameShared } from '../wire/codec.js';
import type { HandoffFrame, ReleasedFrame } from '../wire/frames.js';
import type { MeshConfig } from './config.js';
import { Handoff } from './handoff.js';
import type { PeerLinks } from './links.js';
import type { MeshCounters } from './stats.js';
import type { MeshEvents } from './types.js';

export interface RebalanceParts {
  readonly config: MeshConfig;
  readonly membership: Membership;
  readonly shards: ShardMap;
  readonly runtime: ActorRuntime;
  readonly links: PeerLinks;
  readonly counters: MeshCounters;
  readonly events: Emitter<MeshEvents>;
  ownerOf(target: { readonly capability: string; readonly shard: number }): string | undefined;
  /** Something a graceful stop waits on (moves in progress) may have changed. */
  changed(): void;
  /** A frame `peer` had no right to send was dropped. */
  rejected(peer: string, frame: string, reason: string): void;
  /** Whether a copy of `key` is held here (the activation will start from it instead of fresh). */
  hasCopy(key: string): boolean;
  /** Whether actors of this type keep copies on backups (replicas > 0 and a snapshot). */
  keepsCopies(actor: string): boolean;
}

/**
 * What a view change does to this peer's actors: it works out which shards arrive here (and holds their
 * calls until their state does) and which leave, stops the activations that moved after their message in
 * progress, and hands their snapshots to the new owners (handoff.ts), then announces the release.
 */
export class Rebalance {
  readonly handoff: Handoff;

  constructor(private readonly parts: RebalanceParts) {
    const { config, membership, runtime, links, counters, events, shards } = parts;
    this.handoff = new Handoff({
      self: config.peerId,
      shardCount: config.shardCount,
      shards,
      shardOf: (id) => shardFor(id, config.shardCount),
      // With a store, a moving durable actor's last save goes before its state (up to twice storeTimeoutMs):
      // wait that long too, or we would start from the older stored state while the newer is on its way.
      timeoutMs: config.handoffTimeoutMs + (config.store !== null ? 2 * config.storeTimeoutMs : 0),
      isMember: (peer) => membership.has(peer),
      handsOff: () => runtime.handsOff(),
      send: (peer, frame) => sendHandoff(links, peer, frame),
      accept: (target, snapshot, bytes) => {
        // State with timers cannot wait for a first call: its timers must fire on their own. State of a type
        // with copies cannot either: until it is active here it has no copy on our backups, and the old
        // backups drop theirs, so one crash of ours would lose every acknowledged change.
        const now = (snapshot.timers !== undefined && snapshot.timers.length > 0) || parts.keepsCopies(target.actor);
        if (now && runtime.revive(target, snapshot, bytes)) return;
        runtime.acceptHandoff(activationKey(target.capability, target.actor, target.id), snapshot, bytes);
      },
      rejected: (peer, frame, reason) => parts.rejected(peer, frame, reason),
      isActive: (key) => runtime.get(key) !== undefined,
      supersede: (key, snapshot, bytes) => runtime.supersede(key, snapshot, bytes),
      hasState: (key) => runtime.hasHandoff(key),
      sent: (peer, info, bytes) => {
        counters.handoffsSent++;
        counters.handoffBytes += bytes;
        events.emit('handoff', { direction: 'sent', peer, actor: info.actor, id: info.id, capability: info.capability, bytes });
        parts.changed();
      },
      received: (peer, frame, bytes) => {
        counters.handoffsReceived++;
        counters.handoffBytes += bytes;
        events.emit('handoff', { direction: 'received', peer, actor: frame.actor, id: frame.id, capability: frame.capability, bytes });
      },
      lost: (target, from) => {
        // A copy held here takes the place of the lost handoff (the activation starts from it).
        if (parts.hasCopy(activationKey(target.capability, target.actor, target.id))) return;
        counters.handoffFresh++;
        events.emit('handoff-lost', { actor: target.actor, id: target.id, capability: target.capability, from });
      },
    });
  }

  /** A handoff frame arrived; `bytes` is its encoded size when known (chunked frames). */
  onHandoff(from: string, frame: HandoffFrame, bytes: number | undefined): void {
    this.handoff.onHandoff(from, frame, bytes ?? encodeFrameShared(frame).length);
  }

  onReleased(from: string, frame: ReleasedFrame): void {
    this.handoff.onReleased(from, frame);
  }

  /**
   * Applies a view change (`moves`: the shards whose owner changed, per capability whose peers changed);
   * returns how many activations this peer stopped because they moved away.
   */
  viewChanged(change: MembershipChange, moves: ReadonlyMap<string, readonly ShardMove[]>, serving: boolean): number {
    if (!serving) return 0;
    const { handoff } = this;
    handoff.viewChanged(
      moves,
      change.joined.map((p) => p.id),
      change.left.map((p) => p.id),
    );
    const destination = new Map<string, string>();
    const self = this.parts.config.peerId;
    const moved = handoff.sweep(() =>
      this.parts.runtime.release(
        (info) => {
          const owner = this.parts.ownerOf(info);
          if (owner === self) return true;
          if (owner !== undefined) {
            handoff.moving(owner);
            destination.set(info.key, owner);
          }
          return false;
        },
        (info, snapshot) => {
          const to = destination.get(info.key);
          if (to !== undefined) handoff.moved(to, info, snapshot);
          this.parts.changed();
        },
      ),
    );
    this.parts.changed();
    return moved;
  }
}

/** A snapshot that cannot be encoded or is too large is not sent: the actor restarts fresh on the new owner. */
function sendHandoff(links: PeerLinks, peer: string, frame: HandoffFrame | ReleasedFrame): number | null {
  const state = links.get(peer);
  if (!state) return null;
  try {
    return state.link.send(frame);
  } catch {
    return null;
  }
}
