import type { ActorClass } from './actors/actor.js';
import { InvalidArgumentError, StoppedError } from './errors.js';
import { checkNames } from './mesh/config.js';
import { MeshParts } from './mesh/parts.js';
import { activationInfo } from './mesh/report.js';
import { targetOf, timeoutOf } from './mesh/request.js';
import type { MeshStats } from './mesh/stats.js';
import type { CallRequest, CallResult, CastRequest, HostedActivation, MeshEvents, MeshOptions, ReplicaInfo } from './mesh/types.js';
import type { PeerInfo, PeerKind } from './placement/membership.js';
import type { PlacementStrategy } from './placement/placement.js';
import { shardFor } from './placement/shards.js';

export type {
  CallRequest,
  CallResult,
  CastRequest,
  MeshEvents,
  MeshOptions,
  TopologyEvent,
  ActivationEvent,
  HandoffEvent,
  HostedActivation,
  ReplicaInfo,
} from './mesh/types.js';

/**
 * A peer of the mesh. With no transport it is a complete single-node mesh; with one, every peer computes
 * the same id -> shard -> owner from the same view, and calls travel to the owner over its link. This class
 * is the public API; the parts it is made of, and how they are wired, are in mesh/parts.ts.
 */
export class Mesh {
  readonly peerId: string;
  readonly kind: PeerKind;
  readonly shardCount: number;
  readonly strategy: PlacementStrategy;
  private readonly parts: MeshParts;
  private stopping: Promise<void> | null = null;

  /** Starts a peer: standalone without a transport, else joins the transport's mesh. */
  static async start(options: MeshOptions = {}): Promise<Mesh> {
    const mesh = new Mesh(options);
    await mesh.parts.open(options.abortSignal, () => mesh.stop());
    return mesh;
  }

  protected constructor(options: MeshOptions) {
    for (const [name, cls] of Object.entries(options.actors ?? {})) checkActor(name, cls);
    this.parts = new MeshParts(options);
    ({ peerId: this.peerId, kind: this.kind, shardCount: this.shardCount, strategy: this.strategy } = this.parts.config);
  }

  on<K extends keyof MeshEvents>(event: K, listener: (payload: MeshEvents[K]) => void): () => void {
    return this.parts.report.events.on(event, listener);
  }

  off<K extends keyof MeshEvents>(event: K, listener: (payload: MeshEvents[K]) => void): void {
    this.parts.report.events.off(event, listener);
  }

  get stopped(): boolean {
    return this.stopping !== null;
  }

  /** The view's version: bumps on every join, leave and capability change this peer sees. */
  get version(): number {
    return this.parts.membership.version;
  }

  /** Calls an actor, activating it on its owner if needed. Resolves with the peer, activation and result. */
  call<R = unknown>(request: CallRequest): Promise<CallResult<R>> {
    try {
      this.assertRunning();
      const target = targetOf(request, this.shardCount);
      const timeoutMs = timeoutOf(request, this.parts.config.callTimeoutMs);
      return this.parts.calls.call(target, request.payload, timeoutMs, request.signal) as Promise<CallResult<R>>;
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
    await this.parts.calls.cast(target, request.payload, timeoutOf(request, this.parts.config.callTimeoutMs), request.signal);
  }

  /** Replaces the capabilities this peer advertises; peers are told at once and shards move accordingly. */
  registerCapabilities(capabilities: readonly string[]): void {
    this.assertRunning();
    const checked = checkNames(capabilities, 'capability');
    this.parts.assertGranted(checked);
    this.parts.capabilities = checked;
    this.parts.advertise();
  }

  /** Registers (or replaces) an actor type this peer can host. */
  registerActor(name: string, cls: ActorClass): void {
    checkActor(name, cls);
    this.parts.actorTypes.set(name, cls);
    this.parts.advertise();
  }

  shardFor(id: string): number {
    return shardFor(id, this.shardCount);
  }

  /** The peer owning `shard` for `capability` in this peer's current view, or undefined if none has it. */
  ownerPeer(shard: number, capability: string): string | undefined {
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.shardCount) {
      throw new InvalidArgumentError(`shard must be an integer in [0, ${this.shardCount}), got ${shard}`);
    }
    return this.parts.shards.owner(shard, capability);
  }

  /** Sorted ids of the peers (this one included) holding `capability`. */
  peersFor(capability: string): readonly string[] {
    return this.parts.membership.peersFor(capability);
  }

  allCapabilities(): string[] {
    return this.parts.membership.allCapabilities();
  }

  /** Every peer in this peer's view, itself included, with kind and capabilities. */
  peers(): PeerInfo[] {
    return this.parts.membership.peers();
  }

  /** The activations hosted on this peer right now, with the peers their copies go to. */
  activations(): HostedActivation[] {
    const { runtime } = this.parts;
    return runtime.list().map((info) => ({ ...activationInfo(info), backups: runtime.backupsOf(info.key) }));
  }

  /** The copies of other owners' actors held on this peer (it would take over if their owner vanished). */
  replicas(): ReplicaInfo[] {
    return this.parts.replicas.list().map(({ key, actor, capability, id, shard, owner, version, bytes }) => ({
      key,
      actor,
      capability,
      id,
      shard,
      owner,
      version,
      bytes,
    }));
  }

  stats(): MeshStats {
    const { runtime, links, transport, report, replicas } = this.parts;
    return report.counters.snapshot({
      peerId: this.peerId,
      activeActivations: () => runtime.size,
      heldHandoffs: () => runtime.handedOver(),
      heldReplicas: () => ({ held: replicas.size, bytes: replicas.heldBytes, evicted: replicas.evicted }),
      traffic: () => links.traffic(),
      transport: () => transport?.stats?.() ?? {},
    });
  }

  /** Leaves the mesh gracefully (drain bounded by drainTimeoutMs, see mesh/shutdown.ts), then closes. Idempotent. */
  stop(): Promise<void> {
    if (this.stopping === null) {
      this.parts.stopping = true;
      this.stopping = this.parts.shutdown();
    }
    return this.stopping;
  }

  private assertRunning(): void {
    if (this.stopping) throw new StoppedError();
  }
}

function checkActor(name: string, cls: ActorClass): void {
  checkNames([name], 'actor type');
  if (typeof cls !== 'function') throw new InvalidArgumentError(`actor type "${name}" must be a class`);
}
