import { IncompatiblePeerError, UnauthorizedError, type MeshError } from '../errors.js';
import { peekClaims, type IdentityClaims } from '../identity/token.js';
import { FrameLink } from '../wire/frame-link.js';
import type { Frame, HelloFrame } from '../wire/frames.js';
import type { ChannelSink, PeerChannel } from '../wire/transport.js';
import { checkIdentity, checkRenewal, helloFor, incompatibility, isOpen, ungranted } from './hello.js';
import type { LinkParts, PeerLink } from './peer-link.js';
import { trafficOf, type PeerTraffic } from './stats.js';
export type { AppFrame, LinkParts, PeerLink } from './peer-link.js';

/** Departed peers whose traffic stays in stats(), at most. */
const GONE_TRAFFIC_KEPT = 256;
/** A peer's capability changes apply at most this often; changes in between are coalesced (latest wins). */
const CAPS_INTERVAL_MS = 100;
/** At most one pong per this interval per peer, however many pings it sends. */
const PONG_INTERVAL_MS = 100;
/** How long a suspected peer has to answer a probe before its link is closed (at most peerTimeoutMs). */
const PROBE_MS = 1000;
const REFUSALS: readonly [string, (message: string, peer: string) => MeshError][] = [
  ['incompatible: ', (m, peer) => new IncompatiblePeerError(m, { peer })],
  ['unauthorized: ', (m) => new UnauthorizedError(m)],
];

/**
 * The peer links: opens and closes them, admits each peer by its hello (hello.ts: compatibility and, in a
 * signed room, identity), keeps the view (membership) in step with hello, caps and bye, runs the heartbeat
 * that finds frozen peers and expired tokens, and keeps the traffic of departed peers for stats.
 * Everything else a peer sends goes to `parts.frame`.
 */
export class PeerLinks {
  private readonly links = new Map<string, PeerLink>();
  private readonly goneTraffic = new Map<string, PeerTraffic>();
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private closing = false;
  private readonly stopRenewals: () => void;

  constructor(private readonly parts: LinkParts) {
    // A renewed token of ours reaches every peer before the old one expires there.
    const identity = parts.hello.identity;
    this.stopRenewals =
      identity?.onRenewed(() => {
        const token = identity.grant()?.token;
        if (token !== undefined) this.broadcast({ t: 'token', token });
      }) ?? (() => undefined);
  }

  /** The first of `capabilities` our own token does not grant (null in an open room or when all are granted). */
  ungrantedToUs(capabilities: readonly string[]): string | null {
    const token = this.parts.hello.identity?.grant()?.token;
    return token === undefined ? null : ungranted(peekClaims(token), capabilities);
  }

  get size(): number {
    return this.links.size;
  }

  get(peer: string): PeerLink | undefined {
    return this.links.get(peer);
  }

  /** A transport opened a channel: wrap it in a link, say hello, and take its messages. */
  opened(peer: string, channel: PeerChannel): ChannelSink {
    if (this.closing) {
      channel.close();
      return { message: () => undefined };
    }
    this.links.get(peer)?.link.close();
    const link: FrameLink = new FrameLink(
      channel,
      { frame: (frame, bytes) => this.onFrame(state, frame, bytes), dropped: (error) => this.parts.dropped(peer, error) },
      this.parts.config.link,
    );
    const state: PeerLink = {
      ...{
        peer,
        link,
        channel,
        info: null,
        claims: null,
        checking: false,
        accepted: null,
        admittedUs: false,
        pendingToken: null,
        outbox: null,
        helloOut: Promise.resolve(),
        leaving: false,
        farewell: false,
      },
      ...{
        waitingSince: Date.now(),
        lastHeard: Date.now(),
        pings: 0,
        rejected: 0,
        lastPong: 0,
        pendingCaps: null,
        capsAppliedAt: 0,
        capsTimer: null,
        probe: null,
      },
    };
    this.links.set(peer, state);
    this.sayHello(state);
    this.ensureHeartbeat();
    return {
      message: (data) => {
        if (this.links.get(peer) !== state) return;
        state.lastHeard = Date.now();
        this.parts.arrived(() => link.receive(data));
      },
    };
  }

  /**
   * The transport heard the peer may be gone (e.g. its signaling socket dropped). Its data channel may be
   * fine (a signaling blip must not cut healthy links), so ask it: a peer that says nothing within the probe
   * time is closed, which fails its calls fast; one that answers stays.
   */
  suspect(peer: string): void {
    const state = this.links.get(peer);
    if (!state || state.probe !== null) return;
    const heard = state.link.counters.messagesIn;
    this.send(state, { t: 'ping', n: ++state.pings });
    state.probe = setTimeout(
      () => {
        state.probe = null;
        if (this.links.get(peer) !== state || state.link.counters.messagesIn > heard) return;
        state.channel.close();
        this.closed(peer);
      },
      Math.min(PROBE_MS, this.parts.config.peerTimeoutMs),
    );
  }

  /** The transport reports the channel gone (or we decided so): forget the peer. */
  closed(peer: string): void {
    const state = this.links.get(peer);
    if (!state) return;
    this.links.delete(peer);
    clearTimers(state);
    this.goneTraffic.set(peer, { ...trafficOf(state.link, state.rejected), inFlight: 0, queuedBytes: 0, unhandled: 0 });
    // Keep the traffic of departed peers for stats, but not of every tab that ever came and went.
    if (this.goneTraffic.size > GONE_TRAFFIC_KEPT) this.goneTraffic.delete(this.goneTraffic.keys().next().value as string);
    state.link.close();
    this.parts.closed(peer);
    this.parts.membership.remove(peer);
    this.parts.changed();
  }

  /** Drops a frame `peer` had no right to send: counted per peer (stats) and reported. */
  rejected(peer: string, frame: string, reason: string): void {
    const state = this.links.get(peer);
    if (state) state.rejected++;
    this.parts.rejectedFrame(peer, frame, reason);
  }

  /** Sends a frame; false if it could not be queued (closed, saturated, unencodable). */
  send(state: PeerLink, frame: Frame): boolean {
    if (state.outbox !== null) {
      state.outbox.push(frame);
      return true;
    }
    try {
      state.link.send(frame);
      return true;
    } catch {
      return false;
    }
  }

  broadcast(frame: Frame): void {
    for (const state of this.links.values()) this.send(state, frame);
  }

  /** Says bye to every peer: they take us out of their views and answer farewell. */
  sayBye(reason: string): void {
    this.broadcast({ t: 'bye', reason });
  }

  /** True once every open link answered our bye: no call or cast can still be on its way to us. */
  allFarewelled(): boolean {
    for (const state of this.links.values()) if (!state.farewell) return false;
    return true;
  }

  /** Resolves once every link has handed its queued frames to its channel. */
  async flushed(): Promise<void> {
    await Promise.all([...this.links.values()].map((state) => state.link.whenFlushed()));
  }

  /** Closes every link and channel and stops the heartbeat. Idempotent. */
  closeAll(): void {
    this.closing = true;
    this.stopRenewals();
    this.stopHeartbeat();
    for (const state of [...this.links.values()]) {
      clearTimers(state);
      state.link.close();
      state.channel.close();
    }
    this.links.clear();
  }

  traffic(): Record<string, PeerTraffic> {
    const peers: Record<string, PeerTraffic> = {};
    for (const [peer, traffic] of this.goneTraffic) peers[peer] = { ...traffic };
    for (const state of this.links.values()) peers[state.peer] = trafficOf(state.link, state.rejected);
    return peers;
  }

  /** Our hello goes first on every link; while it is being signed, our other frames wait behind it. */
  private sayHello(state: PeerLink): void {
    const base = { ...this.parts.helloFrame(), window: state.link.windowSize };
    const { identity } = this.parts.hello;
    if (isOpen(identity)) {
      this.send(state, { ...base, auth: null });
      return;
    }
    state.outbox = [];
    state.helloOut = helloFor(base, state.peer, state.channel, identity).then(
      (hello) => {
        const waiting = state.outbox ?? [];
        state.outbox = null;
        this.send(state, hello);
        for (const frame of waiting) this.send(state, frame);
      },
      () => state.channel.close(), // we cannot sign: this link cannot be admitted by anyone
    );
  }

  /** Its hello came and it is not in the view yet: admission (signed rooms) waits on a check, its `admitted`, or both. */
  private admitting(state: PeerLink): boolean {
    return state.info === null && (state.checking || state.accepted !== null);
  }

  private onFrame(state: PeerLink, frame: Frame, bytes: number | undefined): void {
    switch (frame.t) {
      case 'hello':
        if (state.info !== null || this.admitting(state) || state.leaving)
          return this.rejected(state.peer, 'hello', 'a second hello on one channel');
        return this.onHello(state, frame);
      case 'admitted':
        return this.onAdmitted(state);
      case 'caps':
        // Kept (the latest) until admission, when it is checked like any other.
        if (this.admitting(state)) {
          state.pendingCaps = frame;
          return;
        }
        if (!state.info || state.leaving) return this.rejected(state.peer, 'caps', 'caps before hello or after bye');
        if (ungranted(state.claims, frame.capabilities) !== null)
          return this.rejected(state.peer, 'caps', 'a capability its token does not grant');
        state.pendingCaps = frame;
        return this.applyCapsSoon(state);
      case 'token':
        if (this.admitting(state)) {
          state.pendingToken = frame.token;
          return;
        }
        return void this.onToken(state, frame.token);
      case 'ping': {
        const now = Date.now();
        if (now - state.lastPong < PONG_INTERVAL_MS) return;
        state.lastPong = now;
        this.send(state, { t: 'pong', n: frame.n });
        return;
      }
      case 'pong':
        state.pings = 0;
        return;
      case 'bye':
        return this.onBye(state, frame.reason);
      case 'farewell':
        state.farewell = true;
        this.parts.changed();
        return;
      case 'ack':
      case 'chunk':
        return; // handled inside FrameLink
      default:
        // An honest peer routes nothing to us before we admitted it: nothing here waits for a check.
        if (state.info === null) return this.rejected(state.peer, frame.t, 'before it was admitted');
        this.parts.frame(state, frame, bytes);
    }
  }

  private onHello(state: PeerLink, frame: HelloFrame): void {
    const incompatible = incompatibility(frame, state.peer, this.parts.hello);
    if (incompatible) return this.refuse(state, incompatible);
    if (isOpen(this.parts.hello.identity)) return this.admit(state, frame, null);
    state.checking = true;
    const checked = checkIdentity(frame, state.peer, state.channel, this.parts.hello);
    void Promise.all([checked, state.helloOut]).then(([check]) => {
      if (this.links.get(state.peer) !== state || state.leaving) return;
      state.checking = false;
      if (!check.ok) return this.refuse(state, check.error);
      state.accepted = { hello: frame, claims: check.claims };
      state.waitingSince = Date.now();
      this.send(state, { t: 'admitted' });
      if (state.admittedUs) this.admit(state, frame, check.claims);
    });
  }

  private onAdmitted(state: PeerLink): void {
    if (isOpen(this.parts.hello.identity)) return this.rejected(state.peer, 'admitted', 'outside a signed room');
    if (state.admittedUs || !this.admitting(state)) return this.rejected(state.peer, 'admitted', 'before its hello, or twice');
    state.admittedUs = true;
    if (state.accepted !== null && !state.leaving) this.admit(state, state.accepted.hello, state.accepted.claims);
  }

  /** The peer is in: into the view, then the capability change or token it sent while it was being admitted. */
  private admit(state: PeerLink, frame: HelloFrame, claims: IdentityClaims | null): void {
    state.accepted = null;
    state.claims = claims;
    state.link.setPeerWindow(frame.window);
    state.info = { id: state.peer, kind: frame.kind, capabilities: frame.capabilities, actorTypes: frame.actorTypes };
    this.parts.membership.upsert(state.info);
    const { pendingCaps: caps, pendingToken: token } = state;
    state.pendingCaps = null;
    state.pendingToken = null;
    // In the order an honest peer sends them: a renewed token first, then the caps it may allow.
    const applyCaps = (): void => {
      if (caps !== null && this.links.get(state.peer) === state) this.onFrame(state, { t: 'caps', ...caps }, undefined);
    };
    if (token !== null) void this.onToken(state, token).then(applyCaps);
    else applyCaps();
  }

  /** Keeps a peer out of the view, loudly: tell it why (it reports the refusal too), then close. */
  private refuse(state: PeerLink, error: MeshError): void {
    state.checking = false;
    state.accepted = null;
    state.leaving = true;
    this.parts.refused(state.peer, error);
    const prefix = error.code === 'UNAUTHORIZED' ? 'unauthorized: ' : 'incompatible: ';
    this.send(state, { t: 'bye', reason: `${prefix}${error.message}`.slice(0, 256) });
    if (state.info !== null) this.parts.membership.remove(state.peer);
    void state.link.whenFlushed().then(() => state.channel.close());
  }

  /** Checks a renewed token; resolves once it is applied or refused. */
  private onToken(state: PeerLink, token: string): Promise<void> {
    const current = state.claims;
    if (current === null || state.info === null) {
      this.rejected(state.peer, 'token', 'a token outside a signed room or before hello');
      return Promise.resolve();
    }
    return checkRenewal(token, current, this.parts.hello).then((renewed) => {
      if (this.links.get(state.peer) !== state || state.claims !== current) return;
      if (typeof renewed === 'string') return this.rejected(state.peer, 'token', renewed);
      state.claims = renewed;
      // Capabilities the new token no longer grants are dropped from the view at once.
      const info = state.info;
      if (info !== null && ungranted(renewed, info.capabilities) !== null) {
        const granted = renewed.caps ?? [];
        state.info = { ...info, capabilities: info.capabilities.filter((c) => granted.includes(c)) };
        this.parts.membership.upsert(state.info);
      }
    });
  }

  /**
   * Applies the latest capability change of a peer now, or at its next turn: every change costs us a view
   * change (shards move), so a peer flipping its capabilities gets at most one per CAPS_INTERVAL_MS.
   */
  private applyCapsSoon(state: PeerLink): void {
    if (state.capsTimer !== null) return;
    const wait = state.capsAppliedAt + CAPS_INTERVAL_MS - Date.now();
    if (wait > 0) {
      state.capsTimer = setTimeout(() => {
        state.capsTimer = null;
        if (this.links.get(state.peer) === state) this.applyCapsSoon(state);
      }, wait);
      return;
    }
    const caps = state.pendingCaps;
    state.pendingCaps = null;
    if (caps === null || state.info === null || state.leaving) return;
    state.capsAppliedAt = Date.now();
    state.info = { ...state.info, capabilities: caps.capabilities, actorTypes: caps.actorTypes };
    this.parts.membership.upsert(state.info);
  }

  private onBye(state: PeerLink, reason: string): void {
    for (const [prefix, make] of REFUSALS) {
      if (reason.startsWith(prefix))
        this.parts.refused(state.peer, make(`refused by ${state.peer}: ${reason.slice(prefix.length)}`, state.peer));
    }
    // The peer is leaving: route nothing more to it, but keep the channel until it closes it, so the
    // replies to calls it is still finishing reach us. Our farewell tells it nothing more will come.
    state.leaving = true;
    this.parts.membership.remove(state.peer);
    this.send(state, { t: 'farewell' });
  }

  private notAdmitted(peer: string, ms: number): MeshError {
    return isOpen(this.parts.hello.identity)
      ? new IncompatiblePeerError(`peer ${peer} sent no hello within ${ms} ms`, { peer })
      : new UnauthorizedError(`peer ${peer} was not admitted within ${ms} ms (no valid hello, or no admitted)`);
  }

  private ensureHeartbeat(): void {
    if (this.heartbeat !== null) return;
    this.heartbeat = setInterval(() => this.beat(), this.parts.config.heartbeatMs);
    (this.heartbeat as { unref?: () => void }).unref?.();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private beat(): void {
    if (this.links.size === 0) return this.stopHeartbeat();
    const now = Date.now();
    const { heartbeatMs, peerTimeoutMs } = this.parts.config;
    for (const state of [...this.links.values()]) {
      if (now - state.lastHeard > peerTimeoutMs) {
        // Silent for too long: frozen or cut off without a close. Treat it as gone.
        state.channel.close();
        this.closed(state.peer);
        continue;
      }
      // A channel held open without joining the view: no hello, or (signed rooms) no admission. Our own
      // check of its hello (local, bounded) does not count against it.
      if (state.info === null && !state.checking && now - state.waitingSince > peerTimeoutMs) {
        if (state.leaving) {
          state.channel.close();
          this.closed(state.peer);
        } else this.refuse(state, this.notAdmitted(state.peer, peerTimeoutMs));
        continue;
      }
      if (state.claims !== null && !state.leaving && state.claims.exp <= now) {
        this.refuse(state, new UnauthorizedError(`peer ${state.peer}: its identity token expired and was not renewed`));
        continue;
      }
      state.link.sweep();
      if (now - state.lastHeard >= heartbeatMs) this.send(state, { t: 'ping', n: ++state.pings });
    }
  }
}

function clearTimers(state: PeerLink): void {
  if (state.capsTimer !== null) clearTimeout(state.capsTimer);
  if (state.probe !== null) clearTimeout(state.probe);
  state.capsTimer = null;
  state.probe = null;
}
