/**
 * How many RTCPeerConnections this peer builds. Chrome allows a tab about 500 over its lifetime, and every
 * offer a remote peer sends would cost one: so each remote peer gets a few per minute, and the whole tab a
 * lifetime budget, whatever the peers (or a hostile one) send.
 */
export interface ConnectionBudgetOptions {
  /** Connections per remote peer within `perPeerWindowMs` (default 6). */
  readonly perPeer?: number;
  readonly perPeerWindowMs?: number;
  /** Connections over the whole life of this peer (default: 400 in browsers, unlimited in Node). */
  readonly lifetime?: number;
}

/** Peers whose recent history is remembered, at most (the oldest is forgotten first). */
const HISTORY_KEPT = 1024;

export class ConnectionBudget {
  private readonly recent = new Map<string, number[]>();
  private readonly perPeer: number;
  private readonly windowMs: number;
  private readonly lifetime: number;
  created = 0;
  refused = 0;

  constructor(options: ConnectionBudgetOptions, browser: boolean) {
    this.perPeer = options.perPeer ?? 6;
    this.windowMs = options.perPeerWindowMs ?? 60_000;
    this.lifetime = options.lifetime ?? (browser ? 400 : Infinity);
  }

  /** True (and counted) when one more connection to `remote` is within budget at `now`. */
  take(remote: string, now = Date.now()): boolean {
    const times = (this.recent.get(remote) ?? []).filter((t) => now - t < this.windowMs);
    if (times.length >= this.perPeer || this.created >= this.lifetime) {
      this.refused++;
      return false;
    }
    times.push(now);
    this.recent.delete(remote);
    this.recent.set(remote, times);
    if (this.recent.size > HISTORY_KEPT) this.recent.delete(this.recent.keys().next().value as string);
    this.created++;
    return true;
  }

  /** When the next connection to `remote` fits its per-peer budget (ms from `now`), 0 if it does now. */
  waitFor(remote: string, now = Date.now()): number {
    const times = (this.recent.get(remote) ?? []).filter((t) => now - t < this.windowMs);
    if (times.length < this.perPeer) return 0;
    return this.windowMs - (now - times[0]!);
  }
}
