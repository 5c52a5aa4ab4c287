import type { ActorClass } from './actors/actor.js';
import { ActorRuntime, type ActivationInfo, type MessageTarget } from './actors/runtime.js';
import { InvalidArgumentError, StoppedError, UnauthorizedError } from './errors.js';
import { Calls } from './mesh/calls.js';
import { checkNames, resolveConfig, type MeshConfig } from './mesh/config.js';
import { Host } from './mesh/host.js';
import { Inbound } from './mesh/inbound.js';
import { PeerLinks, type AppFrame, type PeerLink } from './mesh/links.js';
import { Rebalance } from './mesh/rebalance.js';
import { drainAndClose } from './mesh/shutdown.js';
import { targetOf, timeoutOf } from './mesh/request.js';
import { activationInfo, Report } from './mesh/report.js';
import type { MeshStats } from './mesh/stats.js';
import type { CallRequest, CallResult, CastRequest, MeshEvents, MeshOptions } from './mesh/types.js';
import { Waiters } from './mesh/waiters.js';
import { Membership, type MembershipChange, type PeerInfo, type PeerKind } from './placement/membership.js';
import type { PlacementStrategy } from './placement/placement.js';
import { ShardMap } from './placement/shard-map.js';
import { shardFor } from './placement/shards.js';
import { PROTOCOL_VERSION, type HelloFrame } from './wire/frames.js';
import type { Transport } from './wire/transport.js';

export type {
  CallRequest,
  CallResult,
  CastRequest,
  MeshEvents,
  MeshOptions,
  TopologyEvent,
  ActivationEvent,
  HandoffEvent,
} from './mesh/types.js';

/**
 * A peer of the mesh. With no transport it is a complete single-node mesh; with one, every peer computes
 * the same id -> shard -> owner from the same view, and calls travel to the owner over its link. This class
 * is the public API and the wiring; each job lives in a part of its own under mesh/.
 */
export class Mesh {
  readonly peerId: string;
  readonly kind: PeerKind;
  readonly shardCount: number;
  readonly strategy: PlacementStrategy;
  private readonly config: MeshConfig;
  private readonly transport: Transport | undefined;
  private readonly membership = new Membership();
  private readonly shards: ShardMap;
  private readonly actorTypes = new Map<string, ActorClass>();
  private readonly report: Report;
  private readonly runtime: ActorRuntime;
  private readonly links: PeerLinks;
  private readonly rebalance: Rebalance;
  private readonly inbound: Inbound;
  private readonly calls: Calls;
  /** Woken on every view change (calls waiting to retry after NOT_OWNER). */
  private readonly views = new Waiters();
  /** Woken whenever something a graceful stop waits for may have happened. */
  private readonly settling = new Waiters();
  private capabilities: readonly string[];
  private stopping: Promise<void> | null = null;
  /** Set once draining is over: from then on nothing runs here. */
  private closed = false;

  /** Starts a peer: standalone without a transport, else joins the transport's mesh. */
  static async start(options: MeshOptions = {}): Promise<Mesh> {
    const mesh = new Mesh(options);
    await mesh.open(options.abortSignal);
    return mesh;
  }

  protected constructor(options: MeshOptions) {
    const config = resolveConfig(options);
    this.config = config;
    ({ peerId: this.peerId, kind: this.kind, shardCount: this.shardCount, strategy: this.strategy } = config);
    this.transport = options.transport;
    this.shards = new ShardMap(config.strategy, config.shardCount);
    for (const [name, cls] of Object.entries(options.actors ?? {})) this.registerActor(name, cls);
    this.capabilities = checkNames(options.capabilities ?? [], 'capability');
    const report = new Report(config.peerId);
    this.report = report;
    const { counters, events } = report;
    const changed = (): void => this.settling.wake();
    const runtimeEvents = report.runtimeEvents(changed);
    this.runtime = new ActorRuntime({
      peerId: config.peerId,
      actors: this.actorTypes,
      idleTimeoutMs: config.idleTimeoutMs,
      events: runtimeEvents,
    });
    const ownerOf = (target: MessageTarget): string | undefined => this.ownerOf(target);
    this.links = new PeerLinks({
      config,
      membership: this.membership,
      hello: { ...config.hello, identity: options.transport?.identity },
      helloFrame: () => this.hello(),
      frame: (link, frame, bytes) => this.onFrame(link, frame, bytes),
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
    this.rebalance = new Rebalance({ config, membership, shards, runtime, links, counters, events, ownerOf, changed, rejected });
    const version = (): number => membership.version;
    const host = new Host({ self: config.peerId, runtime, handoff: this.rebalance.handoff, ownerOf, version, closed: () => this.closed });
    this.inbound = new Inbound({ shardCount: config.shardCount, host, links, report, changed });
    const [peer, stopping, nextView] = [
      (id: string) => membership.get(id),
      () => this.stopping !== null,
      (ms: number) => this.views.next(ms),
    ];
    this.calls = new Calls({ config, counters, host, links, ownerOf, peer, stopping, nextView });
    this.membership.onChange((change) => this.onViewChange(change));
  }

  on<K extends keyof MeshEvents>(event: K, listener: (payload: MeshEvents[K]) => void): () => void {
    return this.report.events.on(event, listener);
  }

  off<K extends keyof MeshEvents>(event: K, listener: (payload: MeshEvents[K]) => void): void {
    this.report.events.off(event, listener);
  }

  get stopped(): boolean {
    return this.stopping !== null;
  }

  /** The view's version: bumps on every join, leave and capability change this peer sees. */
  get version(): number {
    return this.membership.version;
  }

  /** Calls an actor, activating it on its owner if needed. Resolves with the peer, activation and result. */
  call<R = unknown>(request: CallRequest): Promise<CallResult<R>> {
    try {
      this.assertRunning();
      const target = targetOf(request, this.shardCount);
      return this.calls.call(target, request.payload, timeoutOf(request, this.config.callTimeoutMs), request.signal) as Promise<
        CallResult<R>
      >;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Fire-and-forget. Resolves once the cast is handed to the owner's mailbox (local) or queued on the
   * owner's link (remote); handler errors surface as 'cast-failed' events on the owner, never here.
   */
  async cast(request: CastRequest): Promise<void> {
    this.assertRunning();
    const target = targetOf(request, this.shardCount);
    await this.calls.cast(target, request.payload, timeoutOf(request, this.config.callTimeoutMs), request.signal);
  }

  /** Replaces the capabilities this peer advertises; peers are told at once and shards move accordingly. */
  registerCapabilities(capabilities: readonly string[]): void {
    this.assertRunning();
    const checked = checkNames(capabilities, 'capability');
    this.assertGranted(checked);
    this.capabilities = checked;
    this.advertise();
  }

  /** Registers (or replaces) an actor type this peer can host. */
  registerActor(name: string, cls: ActorClass): void {
    checkNames([name], 'actor type');
    if (typeof cls !== 'function') throw new InvalidArgumentError(`actor type "${name}" must be a class`);
    this.actorTypes.set(name, cls);
    if (this.links) this.advertise();
  }

  shardFor(id: string): number {
    return shardFor(id, this.shardCount);
  }

  /** The peer owning `shard` for `capability` in this peer's current view, or undefined if none has it. */
  ownerPeer(shard: number, capability: string): string | undefined {
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.shardCount) {
      throw new InvalidArgumentError(`shard must be an integer in [0, ${this.shardCount}), got ${shard}`);
    }
    return this.shards.owner(shard, capability);
  }

  /** Sorted ids of the peers (this one included) holding `capability`. */
  peersFor(capability: string): readonly string[] {
    return this.membership.peersFor(capability);
  }

  allCapabilities(): string[] {
    return this.membership.allCapabilities();
  }

  /** Every peer in this peer's view, itself included, with kind and capabilities. */
  peers(): PeerInfo[] {
    return this.membership.peers();
  }

  /** The activations hosted on this peer right now. */
  activations(): ActivationInfo[] {
    return this.runtime.list().map(activationInfo);
  }

  stats(): MeshStats {
    return this.report.counters.snapshot({
      peerId: this.peerId,
      activeActivations: () => this.runtime.size,
      heldHandoffs: () => this.runtime.handedOver(),
      traffic: () => this.links.traffic(),
      transport: () => this.transport?.stats?.() ?? {},
    });
  }

  /** Leaves the mesh gracefully (drain bounded by drainTimeoutMs, see mesh/shutdown.ts), then closes. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const { config, transport, links, runtime, inbound, calls, settling } = this;
    const withdraw = (): void => {
      this.capabilities = [];
      this.advertise();
    };
    try {
      const close = (): void => {
        this.closed = true;
      };
      const { handoff } = this.rebalance;
      await drainAndClose({
        drainTimeoutMs: config.drainTimeoutMs,
        transport,
        links,
        runtime,
        inbound,
        calls,
        settling,
        handoff,
        withdraw,
        close,
      });
    } finally {
      this.views.wake();
      this.report.events.emit('stopped', undefined);
      this.report.events.clear();
    }
  }

  private async open(signal?: AbortSignal): Promise<void> {
    if (!this.transport) return;
    try {
      await this.transport.start(
        this.peerId,
        {
          open: (peer, channel) => this.links.opened(peer, channel),
          closed: (peer) => this.links.closed(peer),
          suspect: (peer) => this.links.suspect(peer),
        },
        signal,
      );
      this.assertGranted(this.capabilities);
    } catch (error) {
      await this.stop();
      throw error;
    }
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
    }
  }

  private onViewChange(change: MembershipChange): void {
    const moves = this.shards.update(this.membership);
    const moved = this.rebalance.viewChanged(change, moves, !this.closed);
    for (const peer of change.joined) if (peer.id !== this.peerId) this.report.events.emit('peer-joined', peer);
    for (const peer of change.left) if (peer.id !== this.peerId) this.report.events.emit('peer-left', peer);
    const { version, joined, left, updated } = change;
    this.report.events.emit('topology', { version, peers: this.membership.peers(), joined, left, updated, moved });
    this.views.wake();
  }

  private ownerOf(target: { readonly capability: string; readonly shard: number }): string | undefined {
    return this.shards.owner(target.shard, target.capability);
  }

  /**
   * Tells every peer what we advertise, then applies it to our own view. In that order: the view change
   * sends handed-over state and `released` frames, which must reach each new owner after our caps (its own
   * view change makes it wait for them; arriving first, they would be missed and it would wait in vain).
   */
  private advertise(): void {
    this.links.broadcast({ t: 'caps', capabilities: this.capabilities, actorTypes: [...this.actorTypes.keys()] });
    this.membership.upsert(this.selfInfo());
  }

  private hello(): Omit<HelloFrame, 'window' | 'auth'> {
    const { peerId, kind, shardCount, strategy } = this;
    const { capabilities, actorTypes } = this.selfInfo();
    return { t: 'hello', protocol: PROTOCOL_VERSION, peerId, kind, capabilities, actorTypes, shards: shardCount, strategy: strategy.name };
  }

  private selfInfo(): PeerInfo {
    return { id: this.peerId, kind: this.kind, capabilities: this.capabilities, actorTypes: [...this.actorTypes.keys()] };
  }

  private assertRunning(): void {
    if (this.stopping) throw new StoppedError();
  }

  /** In a room that signs identities, peers refuse a capability our token does not grant: so do we. */
  private assertGranted(capabilities: readonly string[]): void {
    const missing = this.links.ungrantedToUs(capabilities);
    if (missing !== null) throw new UnauthorizedError(`capability "${missing}" is not granted to peer ${this.peerId} in this room`);
  }
}
