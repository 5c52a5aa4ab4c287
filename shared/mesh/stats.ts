import type { DeactivateReason } from '../actors/actor.js';

/** A fixed-bucket latency histogram (microsecond resolution), cheap enough for every call. */
export class LatencyHistogram {
  // Bucket upper bounds in microseconds: 1-2-5 steps from 10 us to 60 s.
  static readonly BOUNDS_US: readonly number[] = [
    10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
    2_000_000, 5_000_000, 10_000_000, 60_000_000,
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
  dropped: number;
  /** Calls/casts sent to the peer and not yet handled there (bounded by the link window). */
  inFlight: number;
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
  readonly handoffs: { readonly sent: number; readonly received: number; readonly bytes: number; readonly fresh: number };
  readonly droppedFrames: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly count: number; readonly sumMs: number };
  readonly latencyBuckets: { readonly boundsUs: readonly number[]; readonly counts: readonly number[] };
  readonly peers: Readonly<Record<string, PeerTraffic>>;
}
