import type { ActorClass } from '../actors/actor.js';
import { ActorRuntime, type MessageTarget } from '../actors/runtime.js';
import { UnauthorizedError } from '../errors.js';
import { Membership, type MembershipChange, type PeerInfo } from '../placement/membership.js';
import { ShardMap } from '../placement/shard-map.js';
import { shardFor } from '../placement/shards.js';
import { PROTOCOL_VERSION, type Frame, type HelloFrame } from '../wire/frames.js';
import type { Transport } from '../wire/transport.js';
import { Calls } from './calls.js';
import { checkNames, resolveConfig, type MeshConfig } from './config.js';
import { Host } from './host.js';
import { Inbound } from './inbound.js';
import { PeerLinks, type AppFrame, type PeerLink } from './links.js';
import { Rebalance } from './rebalance.js';
import { ReplicaStore, type HeldReplica } from './replica-store.js';
import { Persistence } from './persistence.js';
import { Replication } from './replication.js';
import { StateLogs } from './state-logs.js';
import { Report } from './report.js';
import { drainAndClose } from './shutdown.js';
import type { MeshOptions } from './types.js';
import { Waiters } from './waiters.js';

/**
 * What a Mesh is made of, built and wired once: the view (membership, shard map), the actor runtime, the
 * peer links, handoff, inbound serving and outbound calls, each a part with one job in a file of its own.
 * This is where they meet: frames go to the part they are for, view changes to every part that cares.
 */
export class MeshParts {
  readonly config: MeshConfig;
  readonly transport: Transport | undefined;
  readonly membership = new Membership();
  readonly shards: ShardMap;
  readonly actorTypes = new Map<string, ActorClass>();
  readonly report: Report;
  readonly runtime: ActorRuntime;
  readonly links: PeerLinks;
  readonly rebalance: Rebalance;
  readonly inbound: Inbound;
  readonly calls: Calls;
  /** Copies of this peer's actors on their backups (owner side) and of others' actors here (backup side). */
  readonly replication: Replication;
  readonly replicas: ReplicaStore;
  readonly persistence: Persistence | null;
  /** Woken on every view change (calls waiting to retry after NOT_OWNER). */
  readonly views = new Waiters();
  /** Woken whenever something a graceful stop waits for may have happened. */
  readonly settling = new Waiters();
  capabilities: readonly string[] = [];
  /** Set by stop(): no new calls. */
  stopping = false;
  /** Set once draining is over: from then on nothing runs here. */
  closed = false;

  constructor(options: MeshOptions) {
    const config = resolveConfig(options);
    this.config = config;
    this.transport = options.transport;
    this.shards = new ShardMap(config.strategy, config.shardCount);
    for (const [name, cls] of Object.entries(options.actors ?? {})) this.actorTypes.set(name, cls);
    this.capabilities = checkNames(options.capabilities ?? [], 'capability');
    const report = new Report(config.peerId);
    this.report = report;
    const { counters, events } = report;
    const changed = (): void => this.settling.wake();
    const runtimeEvents = report.runtimeEvents(changed);
    this.replicas = this.replicaStore();
    this.replication = this.replicationOf(this.replicas);
    this.persistence = this.persistenceOf();
    this.runtime = new ActorRuntime({
      peerId: config.peerId,
      actors: this.actorTypes,
      idleTimeoutMs: config.idleTimeoutMs,
      events: runtimeEvents,
      stateLog: new StateLogs(this.replication, this.persistence),
    });
    const ownerOf = (target: MessageTarget): string | undefined => this.ownerOf(target);
    this.links = new PeerLinks({
      config,
      membership: this.membership,
      hello: { ...config.hello, identity: options.transport?.identity },
      helloFrame: () => this.hello(),
      frame: (link, frame, bytes) => this.onFrame(link, frame, bytes),
      arrived: (handle) => counters.arrived(handle),
      closed: (peer) => this.calls.peerGone(peer),
      dropped: (peer, error) => this.inbound.onDropped(peer, error),
      refused: (peer, error) => events.emit('peer-refused', { peer, error }),
      rejectedFrame: (peer, frame, reason) => events.emit('frame-rejected', { peer, frame, reason }),
      changed,
    });
    this.membership.upsert(this.selfInfo());
    const { membership, runtime, links, shards } = this;
    shards.update(membership);
    const rejected = (peer: string, frame: string, reason: string): void => links.rejected(peer, frame, reason);
    const hasCopy = (key: string): boolean => this.replicas.has(key);
    const keepsCopies = (actor: string): boolean => {
      const cls = this.actorTypes.get(actor);
      return cls !== undefined && this.replication.keepsCopies(cls);
    };
    this.rebalance = new Rebalance({
      config,
      membership,
      shards,
      runtime,
      links,
      counters,
      events,
      ownerOf,
      changed,
      rejected,
      hasCopy,
      keepsCopies,
    });
    const version = (): number => membership.version;
    const host = new Host({ self: config.peerId, runtime, handoff: this.rebalance.handoff, ownerOf, version, closed: () => this.closed });
    this.inbound = new Inbound({ shardCount: config.shardCount, host, links, report, changed });
    const peer = (id: string): PeerInfo | undefined => membership.get(id);
    const nextView = (ms: number): Promise<void> => this.views.next(ms);
    this.calls = new Calls({ config, counters, host, links, ownerOf, peer, stopping: () => this.stopping, nextView });
    this.membership.onChange((change) => this.onViewChange(change));
  }

  /** Joins the transport's mesh (nothing to do standalone); on failure everything is stopped again. */
  async open(signal: AbortSignal | undefined, stop: () => Promise<void>): Promise<void> {
    if (!this.transport) return;
    const { links } = this;
    try {
      const handlers = { open: links.opened.bind(links), closed: links.closed.bind(links), suspect: links.suspect.bind(links) };
      await this.transport.start(this.config.peerId, handlers, signal);
      this.assertGranted(this.capabilities);
    } catch (error) {
      await stop();
      throw error;
    }
  }

  /** Leaves gracefully (see shutdown.ts), then tells listeners and forgets them. */
  async shutdown(): Promise<void> {
    const { config, transport, links, runtime, inbound, calls, settling } = this;
    const withdraw = (): void => {
      this.capabilities = [];
      this.advertise();
    };
    const close = (): void => {
      this.closed = true;
    };
    try {
      const { drainTimeoutMs } = config;
      const { handoff } = this.rebalance;
      const stored = (): Promise<void> => this.persistence?.flushAll() ?? Promise.resolve();
      await drainAndClose({ drainTimeoutMs, transport, links, runtime, inbound, calls, settling, handoff, withdraw, close, stored });
    } finally {
      this.views.wake();
      this.report.events.emit('stopped', undefined);
      this.report.events.clear();
    }
  }

  ownerOf(target: { readonly capability: string; readonly shard: number }): string | undefined {
    return this.shards.owner(target.shard, target.capability);
  }

  /**
   * Tells every peer what we advertise, then applies it to our own view. In that order: the view change
   * sends handed-over state and `released` frames, which must reach each new owner after our caps (its own
   * view change makes it wait for them; arriving first, they would be missed and it would wait in vain).
   */
  advertise(): void {
    this.links.broadcast({ t: 'caps', capabilities: this.capabilities, actorTypes: [...this.actorTypes.keys()] });
    this.membership.upsert(this.selfInfo());
  }

  /** In a room that signs identities, peers refuse a capability our token does not grant: so do we. */
  assertGranted(capabilities: readonly string[]): void {
    const missing = this.links.ungrantedToUs(capabilities);
    if (missing !== null) throw new UnauthorizedError(`capability "${missing}" is not granted to peer ${this.config.peerId} in this room`);
  }

  private onFrame(link: PeerLink, frame: AppFrame, bytes: number | undefined): void {
    switch (frame.t) {
      case 'call':
        return this.inbound.onCall(link, frame);
      case 'cast':
        return this.inbound.onCast(link, frame);
      case 'reply':
      case 'error':
        return this.calls.answer(link.peer, frame);
      case 'handoff':
        return this.rebalance.onHandoff(link.peer, frame, bytes);
      case 'released':
        return this.rebalance.onReleased(link.peer, frame);
      case 'replica':
        return this.replicas.onReplica(link.peer, frame);
      case 'replica-ack':
        if (!this.replication.onAck(link.peer, frame)) this.links.rejected(link.peer, frame.t, 'an ack for a copy it was not sent');
        return;
      case 'replica-drop':
        return this.replicas.onDrop(link.peer, frame);
    }
  }

  private onViewChange(change: MembershipChange): void {
    const moves = this.shards.update(this.membership);
    const moved = this.rebalance.viewChanged(change, moves, !this.closed);
    if (!this.closed) {
      this.replication.viewChanged((peer) => this.membership.has(peer));
      this.runtime.viewChanged();
      for (const copy of this.replicas.viewChanged()) this.promote(copy);
    }
    const { events } = this.report;
    const self = this.config.peerId;
    for (const peer of change.joined) if (peer.id !== self) events.emit('peer-joined', peer);
    for (const peer of change.left) if (peer.id !== self) events.emit('peer-left', peer);
    const { version, joined, left, updated } = change;
    events.emit('topology', { version, peers: this.membership.peers(), joined, left, updated, moved });
    this.views.wake();
  }

  /** The owner of a copy held here vanished and its shard is ours now: the actor goes on from the copy. */
  private promote(copy: HeldReplica): void {
    const taken = this.replicas.take(copy.key);
    if (taken === undefined) return;
    // State its owner handed over is newer than any copy of it (copies lag the owner): keep that.
    if (this.runtime.hasHandoff(copy.key)) return;
    const { capability, actor, id, shard } = copy;
    if (this.runtime.revive({ capability, actor, id, shard, initArg: copy.initArg }, taken.snapshot, copy.bytes)) this.promoted(copy);
  }

  private promoted(copy: HeldReplica): void {
    const { capability, actor, id, owner: from, version } = copy;
    this.report.counters.replicasPromoted++;
    this.report.events.emit('replica-promoted', { actor, id, capability, from, version });
  }

  private replicaStore(): ReplicaStore {
    const { config, shards, membership } = this;
    const self = config.peerId;
    return new ReplicaStore({
      self,
      maxBytes: config.maxReplicaBytes,
      shardOf: (id) => shardFor(id, config.shardCount),
      ranksBefore: (peer, shard, capability) => shards.ranksBefore(peer, self, shard, capability),
      ranking: (shard, capability, count) => {
        const owner = shards.owner(shard, capability);
        return owner === undefined ? [] : [owner, ...shards.backups(shard, capability, count - 1)];
      },
      isMember: (peer) => membership.has(peer),
      ack: (peer, n, refused) => void this.sendTo(peer, { t: 'replica-ack', n, refused }),
      rejected: (peer, frame, reason) => this.links.rejected(peer, frame, reason),
    });
  }

  private replicationOf(store: ReplicaStore): Replication {
    const { config, shards, report } = this;
    return new Replication({
      self: config.peerId,
      replicas: config.replicas,
      mode: config.replication,
      backups: (shard, capability, count) => shards.backups(shard, capability, count),
      send: (peer, frame) => this.sendTo(peer, frame),
      store,
      promoted: (copy) => this.promoted(copy),
      failed: (activation, error) => report.snapshotFailed(activation, error),
      counters: report.counters,
    });
  }

  private persistenceOf(): Persistence | null {
    const { config, report } = this;
    if (config.store === null) return null;
    return new Persistence({
      store: config.store,
      mode: config.persistence,
      writeBehindMs: config.writeBehindMs,
      maxUnsaved: config.maxUnsavedChanges,
      timeoutMs: config.storeTimeoutMs,
      evict: (key) => this.runtime.evict(key, 'conflict'),
      failed: (activation, error) => report.storeFailed(activation, error),
      counters: report.counters,
    });
  }

  private sendTo(peer: string, frame: Frame): boolean {
    const link = this.links.get(peer);
    return link !== undefined && this.links.send(link, frame);
  }

  private hello(): Omit<HelloFrame, 'window' | 'auth'> {
    const { peerId, kind, shardCount, strategy } = this.config;
    const { capabilities, actorTypes } = this.selfInfo();
    return { t: 'hello', protocol: PROTOCOL_VERSION, peerId, kind, capabilities, actorTypes, shards: shardCount, strategy: strategy.name };
  }

  private selfInfo(): PeerInfo {
    const { peerId, kind } = this.config;
    return { id: peerId, kind, capabilities: this.capabilities, actorTypes: [...this.actorTypes.keys()] };
  }
}
