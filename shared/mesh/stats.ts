import type { DeactivateReason } from '../actors/actor.js';
import type { FrameLink } from '../wire/frame-link.js';

/** A fixed-bucket latency histogram (microsecond resolution), cheap enough for every call. */
export class LatencyHistogram {
  // Bucket upper bounds in microseconds: 1-2-5 steps from 10 us to 60 s.
  static readonly BOUNDS_US: readonly number[] = [
    10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000,
    10_000_000, 60_000_000,
  ];
  readonly counts = new Array<number>(LatencyHistogram.BOUNDS_US.length + 1).fill(0);
  count = 0;
  sumUs = 0;

  record(us: number): void {
    const bounds = LatencyHistogram.BOUNDS_US;
    let i = 0;
    while (i < bounds.length && us > bounds[i]!) i++;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.count++;
    this.sumUs += us;
  }

  /** The bucket bound at or above quantile q (0..1), in milliseconds; 0 when empty. */
  quantileMs(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return (LatencyHistogram.BOUNDS_US[i] ?? 60_000_000) / 1000;
    }
    return 60_000;
  }
}

export interface PeerTraffic {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Data-channel messages: frames travel batched, so framesOut / messagesOut is the batching achieved. */
  messagesIn: number;
  messagesOut: number;
  /** Frames that could not be read (malformed, oversized). */
  dropped: number;
  /** Frames the peer had no right to send (a reply for a call not sent to it, state for a shard it never owned, calls past our window...). */
  rejected: number;
  /** Calls/casts sent to the peer and not yet handled there (bounded by the link window). */
  inFlight: number;
  /** Calls/casts the peer sent us that we have not handled yet (bounded by our window). */
  unhandled: number;
  /** Bytes waiting in our send queue for the peer (bounded by maxQueuedBytes). */
  queuedBytes: number;
}

export interface MeshStats {
  readonly peerId: string;
  readonly calls: { readonly ok: number; readonly failed: number; readonly local: number; readonly remote: number };
  readonly casts: { readonly sent: number; readonly received: number; readonly failed: number };
  readonly errors: Readonly<Record<string, number>>;
  readonly activations: { readonly active: number; readonly created: number };
  readonly deactivations: Readonly<Record<DeactivateReason, number>>;
  readonly handoffs: {
    readonly sent: number;
    readonly received: number;
    readonly bytes: number;
    readonly fresh: number;
    /** Handed-over state waiting here for its actor's first message (bounded). */
    readonly held: { readonly entries: number; readonly bytes: number };
  };
  /** Live copies of actor state: sent and acknowledged by this peer as owner; held here as a backup. */
  readonly replicas: {
    readonly sent: number;
    readonly acked: number;
    /** Copies held here for other owners, and their bytes (bounded by maxReplicaBytes). */
    readonly held: number;
    readonly bytes: number;
    /** Copies dropped here because the store was full. */
    readonly evicted: number;
    /** Copies activated here because their owner vanished. */
    readonly promoted: number;
  };
  /** Durable actors' store: loads and saves done, saves refused for a newer version, operations failed. */
  readonly store: { readonly loads: number; readonly saves: number; readonly conflicts: number; readonly failures: number };
  readonly droppedFrames: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly count: number; readonly sumMs: number };
  readonly latencyBuckets: { readonly boundsUs: readonly number[]; readonly counts: readonly number[] };
  readonly peers: Readonly<Record<string, PeerTraffic>>;
  /** The transport's own counters (WebRTC: connectionsCreated, connectionsRefused, connectionsOpen). */
  readonly transport: Readonly<Record<string, number>>;
}

export interface StatsSources {
  readonly peerId: string;
  activeActivations(): number;
  /** Handed-over state waiting for its actor's first message. */
  heldHandoffs(): { readonly entries: number; readonly bytes: number };
  /** Copies held here for other owners. */
  heldReplicas(): { readonly held: number; readonly bytes: number; readonly evicted: number };
  /** Per-peer traffic of open links and of recently departed peers. */
  traffic(): Record<string, PeerTraffic>;
  transport(): Readonly<Record<string, number>>;
}

/**
 * The latency clock: performance.now where the host has it (monotonic), else Date.now. The Performance
 * object is looked up once, when the mesh starts: in a browser `globalThis.performance` is an accessor on
 * the window, and reading it on every call cost more than the clock itself (8% of a tab's CPU under load).
 * Not at module load, so a clock faked before a mesh starts (tests) is the one it reads.
 */
function latencyClock(): () => number {
  const perf: Performance | undefined = globalThis.performance;
  return typeof perf?.now === 'function' ? () => perf.now() : () => Date.now();
}

/** The mesh's counters, in one place: every part counts here, and `snapshot()` is what `stats()` returns. */
export class MeshCounters {
  callsOk = 0;
  callsFailed = 0;
  callsLocal = 0;
  callsRemote = 0;
  castsSent = 0;
  castsReceived = 0;
  castsFailed = 0;
  created = 0;
  dropped = 0;
  handoffsSent = 0;
  handoffsReceived = 0;
  handoffBytes = 0;
  handoffFresh = 0;
  replicasSent = 0;
  replicasAcked = 0;
  replicasPromoted = 0;
  storeLoads = 0;
  storeSaves = 0;
  storeConflicts = 0;
  storeFailures = 0;
  private readonly errors: Record<string, number> = {};
  private readonly deactivations: Record<DeactivateReason, number> = { crash: 0, idle: 0, rebalance: 0, stop: 0, conflict: 0 };
  private readonly latency = new LatencyHistogram();

  /** A clock for call latency (performance.now where the host has it). */
  readonly now = latencyClock();
  /**
   * When the data-channel message being handled arrived (-1 outside one): the calls it answers end then,
   * so a batch of replies reads the clock once, not once per reply.
   */
  private arrival = -1;

  /** Runs `handle` (the handling of one inbound message) with its arrival time as the end of the calls it answers. */
  arrived(handle: () => void): void {
    const outer = this.arrival;
    this.arrival = this.now();
    try {
      handle();
    } finally {
      this.arrival = outer;
    }
  }

  countError(code: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
  }

  deactivated(reason: DeactivateReason): void {
    this.deactivations[reason]++;
  }

  /** A call of ours settled; `started` is `now()` when it was made. */
  callSettled(error: { readonly code: string } | null, started: number): void {
    if (error) {
      this.callsFailed++;
      this.countError(error.code);
    } else {
      this.callsOk++;
    }
    // A call started while the message was handled ended after it arrived: read the clock for it.
    const ended = this.arrival >= started ? this.arrival : this.now();
    this.latency.record((ended - started) * 1000);
  }

  snapshot(sources: StatsSources): MeshStats {
    const latency = this.latency;
    return {
      peerId: sources.peerId,
      calls: { ok: this.callsOk, failed: this.callsFailed, local: this.callsLocal, remote: this.callsRemote },
      casts: { sent: this.castsSent, received: this.castsReceived, failed: this.castsFailed },
      errors: { ...this.errors },
      activations: { active: sources.activeActivations(), created: this.created },
      deactivations: { ...this.deactivations },
      handoffs: {
        sent: this.handoffsSent,
        received: this.handoffsReceived,
        bytes: this.handoffBytes,
        fresh: this.handoffFresh,
        held: sources.heldHandoffs(),
      },
      replicas: { sent: this.replicasSent, acked: this.replicasAcked, promoted: this.replicasPromoted, ...sources.heldReplicas() },
      store: { loads: this.storeLoads, saves: this.storeSaves, conflicts: this.storeConflicts, failures: this.storeFailures },
      droppedFrames: this.dropped,
      latencyMs: {
        p50: latency.quantileMs(0.5),
        p90: latency.quantileMs(0.9),
        p99: latency.quantileMs(0.99),
        count: latency.count,
        sumMs: latency.sumUs / 1000,
      },
      latencyBuckets: { boundsUs: LatencyHistogram.BOUNDS_US, counts: [...latency.counts] },
      peers: sources.traffic(),
      transport: sources.transport(),
    };
  }
}

/** A link's traffic as stats() reports it; `rejected` is counted by the links, not by the FrameLink. */
export function trafficOf(link: FrameLink, rejected: number): PeerTraffic {
  const c = link.counters;
  return {
    framesIn: c.framesIn,
    framesOut: c.framesOut,
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut,
    messagesIn: c.messagesIn,
    messagesOut: c.messagesOut,
    dropped: c.dropped,
    rejected,
    inFlight: link.framesInFlight,
    unhandled: link.framesUnhandled,
    queuedBytes: link.queued,
  };
}
