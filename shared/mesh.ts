import type { ActorClass, ActorRegistry, DeactivateReason } from './actors/actor.js';
import {
  AbortedError,
  IncompatiblePeerError,
  InvalidArgumentError,
  MeshError,
  NoPeersForCapabilityError,
  NotOwnerError,
  PayloadTooLargeError,
  PeerGoneError,
  ProtocolError,
  StoppedError,
  TimeoutError,
  UnknownActorError,
  describeThrown,
  errorFromWire,
} from './errors.js';
import { Emitter } from './emitter.js';
import { FrameLink, type FrameLinkOptions } from './wire/frame-link.js';
import { PROTOCOL_VERSION, type CallFrame, type CastFrame, type Frame } from './wire/frames.js';
import { Handoff } from './mesh/handoff.js';
import { PEER_ID_PATTERN, randomPeerId } from './ids.js';
import { Membership, normalizeNames, type MembershipChange, type PeerInfo, type PeerKind } from './placement/membership.js';
import { OwnerTable, resolveStrategy, type PlacementStrategy } from './placement/placement.js';
import { ActorRuntime, type ActivationInfo, type MessageTarget } from './actors/runtime.js';
import { DEFAULT_SHARD_COUNT, assertShardCount, shardFor } from './placement/shards.js';
import { LatencyHistogram, type MeshStats, type PeerTraffic } from './mesh/stats.js';
import type { ChannelSink, PeerChannel, Transport } from './wire/transport.js';

export interface MeshOptions {
  /** Capabilities this peer advertises (e.g. ['game', 'chat']). */
  readonly capabilities?: readonly string[];
  /** Actor types this peer can host, by name. */
  readonly actors?: ActorRegistry;
  /** Shard count; every peer of a mesh must use the same (default 4096). */
  readonly shards?: number;
  /** Placement strategy: 'rendezvous' (default), 'modulo', or your own. Every peer must use the same. */
  readonly strategy?: PlacementStrategy | 'rendezvous' | 'modulo';
  /** Stop activations quiet for this long (ms); 0/absent = never. Per-type `idleTimeoutMs` wins. */
  readonly idleTimeoutMs?: number;
  /** Default timeout of call() (ms, default 5000). */
  readonly callTimeoutMs?: number;
  /** Largest encoded call, cast or reply (bytes, default 16 MiB). */
  readonly maxMessageBytes?: number;
  /** This peer's id (default: random). */
  readonly peerId?: string;
  /** How to reach other peers. Absent: standalone, single-node mode. */
  readonly transport?: Transport;
  /** Ping quiet peers this often (ms, default 1000). */
  readonly heartbeatMs?: number;
  /** Drop a peer heard nothing from for this long (ms, default 5000). */
  readonly peerTimeoutMs?: number;
  /** How long a call waits for handed-over state before activating fresh (ms, default 2000). */
  readonly handoffTimeoutMs?: number;
  /** Aborts start-up (e.g. while the transport connects). (`signal` is the signaling URL in client options.) */
  readonly abortSignal?: AbortSignal;
  /** On stop, hand actors over and answer calls in progress for up to this long before closing (ms, default 2000; 0 = no drain). */
  readonly drainTimeoutMs?: number;
  /** Tuning of the per-peer link (chunk size, window, queue bound). */
  readonly link?: Omit<FrameLinkOptions, 'maxMessageBytes' | 'schedule'>;
}

export interface CallRequest {
  /** The registered actor type name. */
  readonly actor: string;
  readonly id: string;
  readonly capability: string;
  readonly payload?: unknown;
  /** Passed to the constructor only when this call creates the activation. */
  readonly initArg?: unknown;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export type CastRequest = CallRequest;

export interface CallResult<R = unknown> {
  /** The peer that ran the call. */
  readonly peer: string;
  /** The activation that ran it (the seed's pid). */
  readonly activation: string;
  readonly result: R;
}

export interface TopologyEvent {
  readonly version: number;
  readonly peers: readonly PeerInfo[];
  readonly joined: readonly PeerInfo[];
  readonly left: readonly PeerInfo[];
  readonly updated: readonly PeerInfo[];
  /** Activations this peer stopped because their shard moved away. */
  readonly moved: number;
}

export interface ActivationEvent extends ActivationInfo {
  readonly peer: string;
}

export interface MeshEvents {
  topology: TopologyEvent;
  'peer-joined': PeerInfo;
  'peer-left': PeerInfo;
  activated: ActivationEvent;
  deactivated: ActivationEvent & { readonly reason: DeactivateReason };
  'cast-failed': { readonly actor: string; readonly id: string; readonly capability: string; readonly error: MeshError };
  'frame-dropped': { readonly peer: string; readonly error: ProtocolError };
  'peer-refused': { readonly peer: string; readonly error: MeshError };
  handoff: {
    readonly direction: 'sent' | 'received';
    readonly peer: string;
    readonly actor: string;
    readonly id: string;
    readonly capability: string;
    readonly bytes: number;
  };
  /** The previous owner vanished before handing state over: the actor starts fresh. */
  'handoff-lost': { readonly actor: string; readonly id: string; readonly capability: string; readonly from: string };
  stopped: undefined;
}

interface LinkState {
  readonly peer: string;
  readonly link: FrameLink;
  readonly channel: PeerChannel;
  info: PeerInfo | null;
  /** It said bye: out of the view, channel kept open for its last replies. */
  leaving: boolean;
  lastHeard: number;
  lastSent: number;
  pings: number;
}

const nowMs = (): number => Date.now();
const perfNow: () => number =
  typeof globalThis.performance?.now === 'function' ? () => globalThis.performance.now() : () => Date.now();

/**
 * A peer of the mesh: membership, placement, the local actor runtime and routing of calls to owners.
 * With no transport it is a complete single-node mesh; with one, every peer computes the same
 * id -> shard -> owner from the same view, and calls travel to the owner over its link.
 */
export class Mesh {
  readonly peerId: string;
  readonly kind: PeerKind;
  readonly shardCount: number;
  readonly strategy: PlacementStrategy;
  private readonly membership = new Membership();
  private readonly owners: OwnerTable;
  private readonly runtime: ActorRuntime;
  private readonly actorTypes = new Map<string, ActorClass>();
  private readonly emitter = new Emitter<MeshEvents>();
  private readonly links = new Map<string, LinkState>();
  private readonly pending = new Map<number, CallOp>();
  /** Calls that did not complete synchronously: stop() answers every one of them. */
  private readonly inflight = new Set<CallOp>();
  private readonly callTimeoutMs: number;
  private readonly maxMessageBytes: number;
  private readonly heartbeatMs: number;
  private readonly peerTimeoutMs: number;
  private readonly handoffTimeoutMs: number;
  private readonly linkOptions: FrameLinkOptions;
  private readonly transport: Transport | undefined;
  private capabilities: readonly string[];
  private nextCorr = 1;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private stopping: Promise<void> | null = null;
  /** Set once draining is over: from then on nothing runs here. */
  private closed = false;
  private readonly drainTimeoutMs: number;
  /** Inbound calls accepted and not yet answered (drain waits for them). */
  private inboundInProgress = 0;
  private lastInboundCall = 0;
  private viewWaiters: (() => void)[] = [];
  private readonly handoff: Handoff;
  /** peersFor of every capability as of the last view change: the "before" of the next one. */
  private lastView: Map<string, readonly string[]> = new Map();
  private readonly counters = {
    callsOk: 0,
    callsFailed: 0,
    callsLocal: 0,
    callsRemote: 0,
    castsSent: 0,
    castsReceived: 0,
    castsFailed: 0,
    created: 0,
    dropped: 0,
    handoffsSent: 0,
    handoffsReceived: 0,
    handoffBytes: 0,
    handoffFresh: 0,
  };
  private readonly errorCounts: Record<string, number> = {};
  private readonly deactivationCounts: Record<DeactivateReason, number> = { crash: 0, idle: 0, rebalance: 0, stop: 0 };
  private readonly latency = new LatencyHistogram();
  private readonly goneTraffic = new Map<string, PeerTraffic>();

  /** Starts a peer: standalone without a transport, else joins the transport's mesh. */
  static async start(options: MeshOptions = {}): Promise<Mesh> {
    const mesh = new Mesh(options);
    await mesh.open(options.abortSignal);
    return mesh;
  }

  protected constructor(options: MeshOptions) {
    const shards = options.shards ?? DEFAULT_SHARD_COUNT;
    assertShardCount(shards);
    this.shardCount = shards;
    this.strategy = resolveStrategy(options.strategy);
    this.owners = new OwnerTable(this.strategy, shards);
    this.peerId = options.peerId ?? randomPeerId();
    if (!PEER_ID_PATTERN.test(this.peerId)) {
      throw new InvalidArgumentError(`peerId must match ${PEER_ID_PATTERN}, got "${this.peerId}"`);
    }
    this.transport = options.transport;
    this.kind = options.transport?.kind ?? 'memory';
    this.callTimeoutMs = positive(options.callTimeoutMs ?? 5000, 'callTimeoutMs');
    this.maxMessageBytes = positive(options.maxMessageBytes ?? 16 * 1024 * 1024, 'maxMessageBytes');
    this.heartbeatMs = positive(options.heartbeatMs ?? 1000, 'heartbeatMs');
    this.peerTimeoutMs = positive(options.peerTimeoutMs ?? 5000, 'peerTimeoutMs');
    this.handoffTimeoutMs = positive(options.handoffTimeoutMs ?? 2000, 'handoffTimeoutMs');
    this.drainTimeoutMs = options.drainTimeoutMs === 0 ? 0 : positive(options.drainTimeoutMs ?? 2000, 'drainTimeoutMs');
    this.linkOptions = {
      ...options.link,
      maxMessageBytes: this.maxMessageBytes,
      ...(options.transport?.schedule ? { schedule: options.transport.schedule } : {}),
    };
    for (const [name, cls] of Object.entries(options.actors ?? {})) this.registerActor(name, cls);
    this.capabilities = checkNames(options.capabilities ?? [], 'capability');
    this.runtime = new ActorRuntime({
      peerId: this.peerId,
      actors: this.actorTypes,
      idleTimeoutMs: options.idleTimeoutMs,
      events: {
        activated: (info) => {
          this.counters.created++;
          if (this.emitter.has('activated')) this.emitter.emit('activated', { ...pick(info), peer: this.peerId });
        },
        deactivated: (info, reason) => {
          this.deactivationCounts[reason]++;
          if (this.emitter.has('deactivated')) this.emitter.emit('deactivated', { ...pick(info), peer: this.peerId, reason });
        },
        castFailed: (info, error) => {
          this.counters.castsFailed++;
          this.countError(error.code);
          this.emitter.emit('cast-failed', { actor: info.actor, id: info.id, capability: info.capability, error });
        },
      },
    });
    this.handoff = new Handoff({
      self: this.peerId,
      shardCount: this.shardCount,
      strategy: this.strategy,
      timeoutMs: this.handoffTimeoutMs,
      isMember: (peer) => this.membership.has(peer),
      handsOff: () => this.runtime.handsOff(),
      send: (peer, frame) => {
        const state = this.links.get(peer);
        if (!state) return null;
        try {
          return state.link.send(frame);
        } catch {
          return null; // unencodable or too large: the actor restarts fresh on the new owner, as in the seed
        }
      },
      accept: (key, snapshot) => this.runtime.acceptHandoff(key, snapshot),
      isActive: (key) => this.runtime.get(key) !== undefined,
      hasState: (key) => this.runtime.hasHandoff(key),
      sent: (peer, info, bytes) => {
        this.counters.handoffsSent++;
        this.counters.handoffBytes += bytes;
        this.emitter.emit('handoff', { direction: 'sent', peer, actor: info.actor, id: info.id, capability: info.capability, bytes });
      },
      received: (peer, frame, bytes) => {
        this.counters.handoffsReceived++;
        this.counters.handoffBytes += bytes;
        this.emitter.emit('handoff', { direction: 'received', peer, actor: frame.actor, id: frame.id, capability: frame.capability, bytes });
      },
      lost: (target, from) => {
        this.counters.handoffFresh++;
        this.emitter.emit('handoff-lost', { actor: target.actor, id: target.id, capability: target.capability, from });
      },
    });
    this.membership.upsert(this.selfInfo());
    this.lastView = this.currentView();
    this.membership.onChange((change) => this.onViewChange(change));
  }

  // ---------------------------------------------------------------- public API

  on<K extends keyof MeshEvents>(event: K, listener: (payload: MeshEvents[K]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  off<K extends keyof MeshEvents>(event: K, listener: (payload: MeshEvents[K]) => void): void {
    this.emitter.off(event, listener);
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
    let target: MessageTarget;
    let timeoutMs: number;
    try {
      target = this.target(request);
      timeoutMs = this.timeoutOf(request);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<CallResult<R>>((resolve, reject) => {
      const op = new CallOp(this, target, request.payload, timeoutMs, request.signal, resolve as (r: CallResult) => void, reject);
      op.attempt();
    });
  }

  /**
   * Fire-and-forget. Resolves once the cast is handed to the owner's mailbox (local) or queued on the
   * owner's link (remote); handler errors surface as 'cast-failed' events on the owner, never here.
   */
  async cast(request: CastRequest): Promise<void> {
    const target = this.target(request);
    const timeoutMs = this.timeoutOf(request);
    const owner = this.ownerOf(target);
    if (owner === undefined) throw new NoPeersForCapabilityError(target.capability);
    if (owner === this.peerId) {
      if (!this.runtime.hasType(target.actor)) throw new UnknownActorError(target.actor, this.peerId);
      this.counters.castsSent++;
      this.runtime.cast(target, request.payload);
      return;
    }
    const state = this.links.get(owner);
    if (state === undefined || state.link.isClosed) throw new PeerGoneError(owner);
    const frame: CastFrame = {
      t: 'cast',
      capability: target.capability,
      actor: target.actor,
      id: target.id,
      payload: request.payload,
      initArg: target.initArg,
    };
    // Waits in line while the link's queue is full; PAYLOAD_TOO_LARGE (nothing sent) reaches the caller.
    await state.link.sendWhenRoom(frame, timeoutMs, request.signal).catch((error: unknown) => {
      throw state.link.isClosed ? new PeerGoneError(owner) : error;
    });
    state.lastSent = nowMs();
    this.counters.castsSent++;
  }


  /** Replaces the capabilities this peer advertises; peers are told at once and shards move accordingly. */
  registerCapabilities(capabilities: readonly string[]): void {
    this.assertRunning();
    this.capabilities = checkNames(capabilities, 'capability');
    this.membership.upsert(this.selfInfo());
    this.broadcastCaps();
  }

  /** Registers (or replaces) an actor type this peer can host. */
  registerActor(name: string, cls: ActorClass): void {
    checkNames([name], 'actor type');
    if (typeof cls !== 'function') throw new InvalidArgumentError(`actor type "${name}" must be a class`);
    this.actorTypes.set(name, cls);
    if (this.runtime) {
      this.membership.upsert(this.selfInfo());
      this.broadcastCaps();
    }
  }

  shardFor(id: string): number {
    return shardFor(id, this.shardCount);
  }

  /** The peer owning `shard` for `capability` in this peer's current view, or undefined if none has it. */
  ownerPeer(shard: number, capability: string): string | undefined {
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.shardCount) {
      throw new InvalidArgumentError(`shard must be an integer in [0, ${this.shardCount}), got ${shard}`);
    }
    return this.owners.owner(shard, capability, this.membership.peersFor(capability));
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
    return this.runtime.list().map(pick);
  }

  stats(): MeshStats {
    const peers: Record<string, PeerTraffic> = {};
    for (const [peer, traffic] of this.goneTraffic) peers[peer] = { ...traffic };
    for (const state of this.links.values()) {
      const c = state.link.counters;
      peers[state.peer] = {
        framesIn: c.framesIn,
        framesOut: c.framesOut,
        bytesIn: c.bytesIn,
        bytesOut: c.bytesOut,
        dropped: c.dropped,
        inFlight: state.link.framesInFlight,
        queuedBytes: state.link.queued,
      };
    }
    return {
      peerId: this.peerId,
      calls: { ok: this.counters.callsOk, failed: this.counters.callsFailed, local: this.counters.callsLocal, remote: this.counters.callsRemote },
      casts: { sent: this.counters.castsSent, received: this.counters.castsReceived, failed: this.counters.castsFailed },
      errors: { ...this.errorCounts },
      activations: { active: this.runtime.size, created: this.counters.created },
      deactivations: { ...this.deactivationCounts },
      handoffs: {
        sent: this.counters.handoffsSent,
        received: this.counters.handoffsReceived,
        bytes: this.counters.handoffBytes,
        fresh: this.counters.handoffFresh,
      },
      droppedFrames: this.counters.dropped,
      latencyMs: {
        p50: this.latency.quantileMs(0.5),
        p90: this.latency.quantileMs(0.9),
        p99: this.latency.quantileMs(0.99),
        count: this.latency.count,
        sumMs: this.latency.sumUs / 1000,
      },
      latencyBuckets: { boundsUs: LatencyHistogram.BOUNDS_US, counts: [...this.latency.counts] },
      peers,
    };
  }

  /**
   * Graceful leave: advertise no capability, so every peer moves our shards away and sends new calls
   * elsewhere; our activations finish their message in progress and hand their state over; replies to
   * calls in progress still go out. Bounded by drainTimeoutMs.
   */
  private async drain(deadline: number): Promise<void> {
    if (this.drainTimeoutMs === 0 || this.links.size === 0 || !this.transport) return;
    this.capabilities = [];
    this.membership.upsert(this.selfInfo());
    this.broadcastCaps();
    await this.until(deadline, () => this.runtime.size === 0 && !this.handoff.busy() && this.inboundInProgress === 0);
  }

  private async until(deadline: number, done: () => boolean): Promise<void> {
    while (nowMs() < deadline && this.links.size > 0 && !done()) {
      await new Promise<void>((resolve) => setTimeout(resolve, 5));
    }
  }

  private queuesEmpty(): boolean {
    for (const state of this.links.values()) if (state.link.queued > 0) return false;
    return true;
  }

  /** Leaves the mesh: deactivates every actor, fails pending calls with STOPPED, closes links. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  // ---------------------------------------------------------------- start-up and links

  private async open(signal?: AbortSignal): Promise<void> {
    if (!this.transport) return;
    try {
      await this.transport.start(
        this.peerId,
        { open: (peer, channel) => this.linkOpened(peer, channel), closed: (peer, reason) => this.linkClosed(peer, reason) },
        signal,
      );
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  private linkOpened(peer: string, channel: PeerChannel): ChannelSink {
    if (this.closed) {
      channel.close();
      return { message: () => undefined };
    }
    this.links.get(peer)?.link.close();
    const link: FrameLink = new FrameLink(
      channel,
      {
        frame: (frame, bytes) => this.onFrame(state, frame, bytes),
        dropped: (error) => {
          this.counters.dropped++;
          this.emitter.emit('frame-dropped', { peer, error });
        },
      },
      this.linkOptions,
    );
    const state: LinkState = { peer, link, channel, info: null, leaving: false, lastHeard: nowMs(), lastSent: nowMs(), pings: 0 };
    this.links.set(peer, state);
    this.sendTo(state, {
      t: 'hello',
      protocol: PROTOCOL_VERSION,
      peerId: this.peerId,
      kind: this.kind,
      capabilities: this.capabilities,
      actorTypes: [...this.actorTypes.keys()],
      shards: this.shardCount,
      strategy: this.strategy.name,
    });
    this.ensureHeartbeat();
    return {
      message: (data) => {
        if (this.links.get(peer) !== state) return;
        state.lastHeard = nowMs();
        link.receive(data);
      },
    };
  }

  private linkClosed(peer: string, _reason: string): void {
    const state = this.links.get(peer);
    if (!state) return;
    this.links.delete(peer);
    const c = state.link.counters;
    this.goneTraffic.set(peer, {
      framesIn: c.framesIn,
      framesOut: c.framesOut,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      dropped: c.dropped,
      inFlight: 0,
      queuedBytes: 0,
    });
    // Keep the traffic of departed peers for stats, but not of every tab that ever came and went.
    if (this.goneTraffic.size > 256) this.goneTraffic.delete(this.goneTraffic.keys().next().value as string);
    state.link.close();
    for (const op of [...this.pending.values()]) if (op.peer === peer) op.fail(new PeerGoneError(peer));
    this.membership.remove(peer);
  }

  private onFrame(state: LinkState, frame: Frame, bytes: number): void {
    switch (frame.t) {
      case 'hello': {
        const problem =
          frame.protocol !== PROTOCOL_VERSION
            ? `protocol ${frame.protocol}, we speak ${PROTOCOL_VERSION}`
            : frame.peerId !== state.peer
              ? `hello from ${frame.peerId} on the channel of ${state.peer}`
              : frame.shards !== this.shardCount
                ? `${frame.shards} shards, we use ${this.shardCount}`
                : frame.strategy !== this.strategy.name
                  ? `strategy ${frame.strategy}, we use ${this.strategy.name}`
                  : null;
        if (problem) {
          // Peers that would compute different owners must not share a view: keep them out, loudly.
          this.emitter.emit('peer-refused', { peer: state.peer, error: new IncompatiblePeerError(problem, { peer: state.peer }) });
          // Tell the other side why, so it reports the refusal too, then close once the bye has left.
          state.leaving = true;
          this.sendTo(state, { t: 'bye', reason: `incompatible: ${problem}`.slice(0, 256) });
          setTimeout(() => state.channel.close(), 50);
          return;
        }
        state.info = { id: state.peer, kind: frame.kind, capabilities: frame.capabilities, actorTypes: frame.actorTypes };
        this.membership.upsert(state.info);
        return;
      }
      case 'caps':
        if (!state.info || state.leaving) return;
        state.info = { ...state.info, capabilities: frame.capabilities, actorTypes: frame.actorTypes };
        this.membership.upsert(state.info);
        return;
      case 'call':
        return this.onCall(state, frame);
      case 'cast':
        return this.onCast(state, frame);
      case 'reply':
      case 'error':
        this.pending.get(frame.corr)?.answer(frame);
        return;
      case 'handoff':
        return this.handoff.onHandoff(state.peer, frame, bytes);
      case 'released':
        return this.handoff.onReleased(state.peer, frame);
      case 'ping':
        this.sendTo(state, { t: 'pong', n: frame.n });
        return;
      case 'pong':
        state.pings = 0;
        return;
      case 'bye':
        if (frame.reason.startsWith('incompatible: ')) {
          this.emitter.emit('peer-refused', {
            peer: state.peer,
            error: new IncompatiblePeerError(`refused by ${state.peer}: ${frame.reason.slice(14)}`, { peer: state.peer }),
          });
        }
        // The peer is leaving: route nothing more to it, but keep the channel until it closes it, so the
        // replies to calls it is still finishing reach us.
        state.leaving = true;
        this.membership.remove(state.peer);
        return;
      case 'ack':
      case 'chunk':
        return; // handled inside FrameLink
    }
  }

  private onCall(state: LinkState, frame: CallFrame): void {
    this.inboundInProgress++;
    this.lastInboundCall = nowMs();
    const answer = (error: MeshError | null, result?: unknown, activation?: string): void => {
      this.inboundInProgress--;
      state.link.credit(1);
      if (this.links.get(state.peer) !== state) return;
      if (error) return this.sendError(state, frame.corr, error);
      try {
        state.link.send({ t: 'reply', corr: frame.corr, activation: activation ?? '', result });
        state.lastSent = nowMs();
      } catch (sendError) {
        const reason =
          sendError instanceof MeshError
            ? sendError
            : new MeshError('ACTOR_FAILED', `reply could not be encoded: ${describeThrown(sendError)}`);
        this.sendError(state, frame.corr, reason);
      }
    };
    const target = this.inboundTarget(frame);
    const refusal = this.refuse(target);
    if (refusal) return answer(refusal);
    this.handoff.gate(target, () => {
      // Re-check after a wait: the view may have moved the shard again meanwhile.
      const late = this.refuse(target);
      if (late) return answer(late);
      this.runtime.call(target, frame.payload, answer);
    });
  }

  private onCast(state: LinkState, frame: CastFrame): void {
    this.counters.castsReceived++;
    const target = this.inboundTarget(frame);
    const refusal = this.refuse(target);
    if (refusal) {
      state.link.credit(1);
      this.counters.castsFailed++;
      this.countError(refusal.code);
      this.emitter.emit('cast-failed', { actor: frame.actor, id: frame.id, capability: frame.capability, error: refusal });
      return;
    }
    this.handoff.gate(target, () => {
      this.runtime.cast(target, frame.payload, () => state.link.credit(1));
    });
  }

  /** Why this peer will not run an inbound call/cast, or null. Ownership is checked against our own view. */
  private refuse(target: MessageTarget): MeshError | null {
    const owner = this.ownerOf(target);
    if (owner !== this.peerId) {
      // Also while draining: we advertise no capability then, so callers retry on the new owner.
      return new NotOwnerError(`peer ${this.peerId} does not own ${target.capability}/${target.id} in its view`, {
        peer: this.peerId,
        version: this.membership.version,
        owner: owner ?? null,
      });
    }
    if (this.closed) return new StoppedError(`peer ${this.peerId} is stopping`);
    if (!this.runtime.hasType(target.actor)) return new UnknownActorError(target.actor, this.peerId);
    return null;
  }

  private inboundTarget(frame: CallFrame | CastFrame): MessageTarget {
    return {
      capability: frame.capability,
      actor: frame.actor,
      id: frame.id,
      shard: shardFor(frame.id, this.shardCount),
      initArg: frame.initArg,
    };
  }

  private sendError(state: LinkState, corr: number, error: MeshError): void {
    this.countError(error.code);
    try {
      state.link.send({ t: 'error', corr, code: error.code, message: error.message, details: error.details ?? null });
    } catch {
      // Details that cannot be encoded (or a full queue) must not cost the caller its answer.
      try {
        state.link.send({ t: 'error', corr, code: error.code, message: error.message, details: null });
      } catch {
        // The link is gone or saturated; the caller's own timeout answers it.
      }
    }
  }

  /** Sends a frame on a link; false if it could not be queued (closed or saturated). */
  private sendTo(state: LinkState, frame: Frame): boolean {
    try {
      state.link.send(frame);
      state.lastSent = nowMs();
      return true;
    } catch {
      return false;
    }
  }

  private broadcastCaps(): void {
    const frame: Frame = { t: 'caps', capabilities: this.capabilities, actorTypes: [...this.actorTypes.keys()] };
    for (const state of this.links.values()) this.sendTo(state, frame);
  }

  private selfInfo(): PeerInfo {
    return { id: this.peerId, kind: this.kind, capabilities: this.capabilities, actorTypes: [...this.actorTypes.keys()] };
  }

  // ---------------------------------------------------------------- topology

  private onViewChange(change: MembershipChange): void {
    this.owners.clear();
    const before = this.lastView;
    const after = this.currentView();
    this.lastView = after;
    let moved = 0;
    if (!this.closed) {
      const joined = change.joined.map((p) => p.id);
      this.handoff.viewChanged(before, after, joined, change.left.map((p) => p.id));
      this.handoff.planRelease(before, after);
      const destination = new Map<string, string>();
      moved = this.handoff.sweep(() =>
        this.runtime.release(
          (info) => {
            const owner = this.ownerOf(info);
            if (owner === this.peerId) return true;
            if (owner !== undefined) {
              this.handoff.moving(owner);
              destination.set(info.key, owner);
            }
            return false;
          },
          (info, snapshot) => {
            const to = destination.get(info.key);
            if (to !== undefined) this.handoff.moved(to, info, snapshot);
          },
        ),
      );
    }
    for (const peer of change.joined) if (peer.id !== this.peerId) this.emitter.emit('peer-joined', peer);
    for (const peer of change.left) if (peer.id !== this.peerId) this.emitter.emit('peer-left', peer);
    this.emitter.emit('topology', {
      version: change.version,
      peers: this.membership.peers(),
      joined: change.joined,
      left: change.left,
      updated: change.updated,
      moved,
    });
    const waiters = this.viewWaiters;
    this.viewWaiters = [];
    for (const wake of waiters) wake();
  }

  private currentView(): Map<string, readonly string[]> {
    const view = new Map<string, readonly string[]>();
    for (const capability of this.membership.allCapabilities()) view.set(capability, this.membership.peersFor(capability));
    return view;
  }

  /** Resolves on the next view change or after `ms`, whichever comes first. */
  waitForViewChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.viewWaiters.push(done);
    });
  }

  /** @internal the owner of a target in this view */
  ownerOf(target: { readonly capability: string; readonly shard: number; readonly id: string }): string | undefined {
    return this.owners.owner(target.shard, target.capability, this.membership.peersFor(target.capability));
  }

  // ---------------------------------------------------------------- heartbeat

  private ensureHeartbeat(): void {
    if (this.heartbeat !== null) return;
    this.heartbeat = setInterval(() => this.beat(), this.heartbeatMs);
    (this.heartbeat as { unref?: () => void }).unref?.();
  }

  private beat(): void {
    const now = nowMs();
    if (this.links.size === 0 && this.heartbeat !== null) {
      clearInterval(this.heartbeat);
      this.heartbeat = null;
      return;
    }
    for (const state of [...this.links.values()]) {
      if (now - state.lastHeard > this.peerTimeoutMs) {
        // Silent for too long: frozen or cut off without a close. Treat it as gone.
        state.channel.close();
        this.linkClosed(state.peer, 'peer timed out');
        continue;
      }
      if (now - state.lastHeard >= this.heartbeatMs) this.sendTo(state, { t: 'ping', n: ++state.pings });
    }
  }

  // ---------------------------------------------------------------- calls

  /** @internal used by CallOp */
  route(op: CallOp): void {
    if (this.stopping) return op.fail(new StoppedError());
    const owner = this.ownerOf(op.target);
    if (owner === undefined) return op.fail(new NoPeersForCapabilityError(op.target.capability));
    if (owner === this.peerId) {
      this.counters.callsLocal++;
      op.peer = owner;
      this.handoff.gate(op.target, () => {
        if (op.settled) return;
        if (this.ownerOf(op.target) !== this.peerId) return op.retry(); // moved while we waited for state
        op.ticket = this.runtime.call(op.target, op.payload, op.localDone);
      });
      return;
    }
    const state = this.links.get(owner);
    if (state === undefined) return op.fail(new PeerGoneError(owner));
    this.counters.callsRemote++;
    op.peer = owner;
    op.corr = this.nextCorr++;
    const remaining = Math.max(1, Math.ceil(op.deadline - nowMs()));
    const frame: CallFrame = {
      t: 'call',
      corr: op.corr,
      capability: op.target.capability,
      actor: op.target.actor,
      id: op.target.id,
      payload: op.payload,
      initArg: op.target.initArg,
      timeoutMs: remaining,
    };
    try {
      state.link.send(frame);
      state.lastSent = nowMs();
    } catch (error) {
      if (state.link.isClosed) return op.fail(new PeerGoneError(owner));
      if (error instanceof MeshError && error.code === 'BACKPRESSURE') {
        // The queue is full: wait in line for room (bounded by the call's deadline), keeping the corr.
        this.pending.set(op.corr, op);
        state.link.sendWhenRoom(frame, remaining, op.signal).then(
          () => void (state.lastSent = nowMs()),
          (waitError: unknown) =>
            op.fail(state.link.isClosed ? new PeerGoneError(owner) : waitError instanceof MeshError ? waitError : new TimeoutError(String(waitError))),
        );
        return;
      }
      return op.fail(error instanceof MeshError ? error : new PayloadTooLargeError(0, this.maxMessageBytes));
    }
    this.pending.set(op.corr, op);
  }

  /** @internal */
  track(op: CallOp, on: boolean): void {
    if (on) this.inflight.add(op);
    else this.inflight.delete(op);
  }

  /** @internal */
  forget(op: CallOp): void {
    if (op.corr !== 0) this.pending.delete(op.corr);
  }

  /** @internal */
  settled(op: CallOp, error: MeshError | null): void {
    if (error) {
      this.counters.callsFailed++;
      this.countError(error.code);
    } else {
      this.counters.callsOk++;
    }
    this.latency.record((perfNow() - op.started) * 1000);
  }

  private countError(code: string): void {
    this.errorCounts[code] = (this.errorCounts[code] ?? 0) + 1;
  }

  private target(request: CallRequest): MessageTarget {
    this.assertRunning();
    if (request === null || typeof request !== 'object') throw new InvalidArgumentError('call needs a request object');
    const { actor, id, capability } = request;
    if (typeof actor !== 'string' || actor.length === 0) throw new InvalidArgumentError('request.actor must be a non-empty string');
    if (typeof capability !== 'string' || capability.length === 0) {
      throw new InvalidArgumentError('request.capability must be a non-empty string');
    }
    return { actor, id, capability, shard: shardFor(id, this.shardCount), initArg: request.initArg };
  }

  private timeoutOf(request: CallRequest): number {
    const timeoutMs = request.timeoutMs ?? this.callTimeoutMs;
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
      throw new InvalidArgumentError(`timeoutMs must be a positive number, got ${String(timeoutMs)}`);
    }
    if (request.signal?.aborted) throw new AbortedError();
    return timeoutMs;
  }

  private assertRunning(): void {
    if (this.stopping) throw new StoppedError();
  }

  private async shutdown(): Promise<void> {
    const deadline = nowMs() + this.drainTimeoutMs;
    await this.drain(deadline);
    for (const state of this.links.values()) this.sendTo(state, { t: 'bye', reason: 'stop' });
    // Peers stop routing to us when the bye arrives; answer what they sent before that.
    await this.until(deadline, () => this.inboundInProgress === 0 && nowMs() - this.lastInboundCall >= 50 && this.queuesEmpty());
    this.closed = true;
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
    for (const op of [...this.inflight]) op.fail(new StoppedError());
    this.handoff.close();
    this.runtime.stopAll();
    if (this.links.size > 0) await new Promise<void>((resolve) => setTimeout(resolve, 10)); // flush the last frames
    for (const state of [...this.links.values()]) {
      state.link.close();
      state.channel.close();
    }
    this.links.clear();
    try {
      await this.transport?.close();
    } finally {
      const waiters = this.viewWaiters;
      this.viewWaiters = [];
      for (const wake of waiters) wake();
      this.emitter.emit('stopped', undefined);
      this.emitter.clear();
    }
  }
}

/**
 * One call in flight: routes, retries after NOT_OWNER while its deadline allows, and settles exactly once.
 * The timer is armed only when the call does not complete synchronously, which keeps hot local calls cheap.
 */
class CallOp {
  peer = '';
  corr = 0;
  ticket: { cancel(): void } | null = null;
  readonly deadline: number;
  readonly started = perfNow();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private done = false;

  get settled(): boolean {
    return this.done;
  }
  private attempts = 0;
  private onAbort: (() => void) | null = null;
  private lastNotOwner: MeshError | null = null;

  constructor(
    private readonly mesh: Mesh,
    readonly target: MessageTarget,
    readonly payload: unknown,
    private readonly timeoutMs: number,
    readonly signal: AbortSignal | undefined,
    private readonly resolve: (result: CallResult) => void,
    private readonly reject: (error: MeshError) => void,
  ) {
    this.deadline = nowMs() + timeoutMs;
  }

  readonly localDone = (error: MeshError | null, result?: unknown, activation?: string): void => {
    this.ticket = null;
    if (error) {
      if (error.code === 'NOT_OWNER') return this.notOwner(error);
      return this.fail(error);
    }
    this.succeed({ peer: this.peer, activation: activation ?? '', result });
  };

  attempt(): void {
    this.attempts++;
    this.mesh.route(this);
    if (!this.done && this.timer === null) this.arm();
  }

  retry(): void {
    if (this.done) return;
    if (nowMs() >= this.deadline) return this.timeout();
    this.attempt();
  }

  answer(frame: Extract<Frame, { t: 'reply' | 'error' }>): void {
    this.mesh.forget(this);
    this.corr = 0;
    if (frame.t === 'reply') return this.succeed({ peer: this.peer, activation: frame.activation, result: frame.result });
    const error = errorFromWire(frame.code, frame.message, frame.details);
    if (error.code === 'NOT_OWNER') return this.notOwner(error);
    this.fail(error);
  }

  fail(error: MeshError): void {
    if (this.done) return;
    this.finish();
    this.mesh.settled(this, error);
    this.reject(error);
  }

  /** The owner we tried disagrees with our view: wait for our view to change (or a short backoff), then retry. */
  private notOwner(error: MeshError): void {
    if (this.done) return;
    this.lastNotOwner = error;
    const remaining = this.deadline - nowMs();
    if (remaining <= 0) return this.fail(error);
    const backoff = Math.min(remaining, Math.min(200, 5 * 2 ** Math.min(this.attempts, 6)));
    void this.mesh.waitForViewChange(backoff).then(() => this.retry());
  }

  private succeed(result: CallResult): void {
    if (this.done) return;
    this.finish();
    this.mesh.settled(this, null);
    this.resolve(result);
  }

  private arm(): void {
    this.mesh.track(this, true);
    this.timer = setTimeout(() => this.timeout(), Math.max(0, this.deadline - nowMs()));
    if (this.signal) {
      this.onAbort = () => this.fail(new AbortedError());
      this.signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  private timeout(): void {
    // Only ever refused: the call certainly did not run, which NOT_OWNER says and TIMEOUT would not.
    if (this.lastNotOwner && this.corr === 0 && this.ticket === null) return this.fail(this.lastNotOwner);
    this.fail(
      new TimeoutError(`call to ${this.target.actor}(${this.target.id}) timed out after ${this.timeoutMs} ms`, {
        peer: this.peer,
        actor: this.target.actor,
        id: this.target.id,
      }),
    );
  }

  private finish(): void {
    this.done = true;
    if (this.timer !== null) this.mesh.track(this, false);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    this.onAbort = null;
    this.ticket?.cancel();
    this.ticket = null;
    this.mesh.forget(this);
  }
}

function pick(info: ActivationInfo): ActivationInfo {
  return {
    key: info.key,
    actor: info.actor,
    capability: info.capability,
    id: info.id,
    shard: info.shard,
    activation: info.activation,
  };
}

function positive(value: number, name: string): number {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new InvalidArgumentError(`${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}

function checkNames(names: readonly string[], what: string): string[] {
  if (!Array.isArray(names)) throw new InvalidArgumentError(`${what} list must be an array of strings`);
  for (const name of names) {
    if (typeof name !== 'string' || name.length === 0 || name.length > 256) {
      throw new InvalidArgumentError(`${what} names must be non-empty strings of at most 256 characters`);
    }
  }
  return normalizeNames(names);
}
