import type { PeerKind } from '../shared/placement/membership.js';
import type { IceServerConfig, RoomPeer, SignalData } from '../shared/wire/signaling.js';
import type { ChannelSink, PeerChannel, Transport, TransportHandlers } from '../shared/wire/transport.js';
import { SignalingClient, type SignalingState } from './signaling-client.js';
import { ConnectionBudget, type ConnectionBudgetOptions } from './connection-budget.js';
import { openPeerConnection, type PeerConnection } from './peer-connection.js';
import { RoomIdentity } from './room-identity.js';
import type { RtcPlatform } from './rtc.js';
import type { MeshError } from '../shared/errors.js';

export interface WebRtcTransportOptions {
  readonly signal: string | readonly string[];
  readonly room?: string;
  readonly token?: string;
  /** ICE servers; when absent, the server's list is used (default: none, host candidates only). */
  readonly iceServers?: readonly IceServerConfig[];
  /** How long Mesh.start waits for the first join (ms, default 10000). */
  readonly connectTimeoutMs?: number;
  /** Give up on a peer connection that has not opened after this long and retry (ms, default 15000). */
  readonly peerConnectTimeoutMs?: number;
  /** How many RTCPeerConnections to build, per remote peer and in all (see connection-budget.ts). */
  readonly connectionBudget?: ConnectionBudgetOptions;
  /** The reclaim secret of this peer id from an earlier session (see `onReclaimSecret`). */
  readonly reclaimSecret?: string;
  /** The secret that lets this peer id be taken again after a reload; keep it (e.g. sessionStorage) to reuse a fixed id. */
  readonly onReclaimSecret?: (secret: string) => void;
  readonly onSignalingState?: (state: SignalingState, detail?: MeshError) => void;
}

interface Connection {
  readonly remote: string;
  peer: PeerConnection;
  readonly initiator: boolean;
  open: boolean;
  sink: ChannelSink | null;
  /** Messages that arrived before our own 'connect' (the remote side may open first and send its hello). */
  readonly early: Uint8Array[];
  timer: ReturnType<typeof setTimeout> | null;
}

/**
 * The WebRTC mesh: a simple-peer connection to every other peer of the room, introduced by the signaling
 * server. The lower peer id initiates (no glare). A channel that fails is retried while its peer is still
 * in the room; a peer the server reports gone is probed by the mesh and closed if it stays silent. Every
 * RTCPeerConnection, ours or asked for by a remote offer, comes out of a budget (connection-budget.ts).
 */
export class WebRtcTransport implements Transport {
  readonly kind: PeerKind;
  readonly schedule?: (task: () => void) => void;
  private readonly connections = new Map<string, Connection>();
  private readonly roomPeers = new Set<string>();
  private readonly retries = new Map<string, { attempts: number; timer: ReturnType<typeof setTimeout> | null }>();
  private signaling: SignalingClient | null = null;
  private handlers: TransportHandlers | null = null;
  private peerId = '';
  private iceServers: readonly IceServerConfig[];
  private closed = false;
  private readonly budget: ConnectionBudget;
  readonly identity: RoomIdentity;

  constructor(
    private readonly platform: RtcPlatform,
    private readonly options: WebRtcTransportOptions,
  ) {
    this.kind = platform.kind;
    if (platform.schedule) this.schedule = platform.schedule;
    this.iceServers = options.iceServers ?? [];
    this.budget = new ConnectionBudget(options.connectionBudget ?? {}, platform.kind === 'browser');
    this.identity = new RoomIdentity(options.room ?? 'default');
  }

  /** Connections built and refused by the budget (offers beyond it are ignored). */
  stats(): Readonly<Record<string, number>> {
    return { connectionsCreated: this.budget.created, connectionsRefused: this.budget.refused, connectionsOpen: this.connections.size };
  }

  /** Signaling state, for UIs: 'connecting' | 'joined' | 'disconnected' | 'closed'. */
  get signalingState(): SignalingState {
    return this.signaling?.state ?? 'closed';
  }

  async start(peerId: string, handlers: TransportHandlers, signal?: AbortSignal): Promise<void> {
    this.peerId = peerId;
    this.handlers = handlers;
    const urls = typeof this.options.signal === 'string' ? [this.options.signal] : [...this.options.signal];
    const peerKey = await this.identity.prepare();
    let secret = this.options.reclaimSecret;
    this.signaling = new SignalingClient({
      urls,
      room: this.identity.room,
      peerId,
      kind: this.kind,
      token: this.options.token,
      peerKey,
      secret,
      onIdentity: (grant, iceServers) => {
        this.identity.granted(grant);
        if (this.options.iceServers === undefined) this.iceServers = iceServers;
      },
      onPeers: (peers, iceServers) => this.onPeers(peers, iceServers),
      onPeerJoined: (peer) => this.onPeerJoined(peer.peerId),
      onPeerLeft: (remote) => this.onPeerLeft(remote),
      onSignal: (from, data) => this.onSignal(from, data),
      onSignalError: (to, reason) => this.onSignalError(to, reason),
      ...(this.options.onSignalingState ? { onState: this.options.onSignalingState } : {}),
    });
    await this.signaling.start(this.options.connectTimeoutMs ?? 10_000, signal);
    secret = this.signaling.reclaimSecret ?? undefined;
    if (secret !== undefined) this.options.onReclaimSecret?.(secret);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.signaling?.close();
    for (const retry of this.retries.values()) if (retry.timer !== null) clearTimeout(retry.timer);
    this.retries.clear();
    for (const conn of [...this.connections.values()]) this.drop(conn, 'transport closed');
    this.roomPeers.clear();
  }

  private onPeers(peers: readonly RoomPeer[], iceServers: readonly IceServerConfig[]): void {
    if (this.options.iceServers === undefined) this.iceServers = iceServers;
    for (const peer of peers) this.onPeerJoined(peer.peerId);
  }

  private onPeerJoined(remote: string): void {
    if (this.closed || remote === this.peerId) return;
    this.roomPeers.add(remote);
    if (!this.shouldInitiate(remote)) return;
    const conn = this.connections.get(remote);
    if (conn && !conn.open) {
      // A (re-)join while we were still connecting: our offer may have gone out while signaling was down
      // and been lost, so start over now rather than wait for the connect timeout.
      this.drop(conn, 'peer re-joined');
      this.cancelRetry(remote);
    }
    if (!this.connections.has(remote)) this.connect(remote);
  }

  /**
   * The server lost the peer's socket. An open data channel may well be healthy (a signaling blip, a
   * server restart): the mesh probes it rather than cutting it. A connection still being set up is dropped.
   */
  private onPeerLeft(remote: string): void {
    this.roomPeers.delete(remote);
    this.cancelRetry(remote);
    const conn = this.connections.get(remote);
    if (conn?.open) this.handlers?.suspect?.(remote);
    else if (conn) this.drop(conn, 'peer left the room');
  }

  private onSignal(from: string, data: SignalData): void {
    if (this.closed || from === this.peerId) return;
    let conn = this.connections.get(from);
    if (data['type'] === 'offer' && conn && !conn.initiator) {
      // The initiator started over (its side closed or timed out): follow it.
      this.drop(conn, 'remote restarted the connection');
      conn = undefined;
    }
    if (!conn) {
      if (data['type'] !== 'offer' || this.shouldInitiate(from)) return; // stale signal of an old connection
      if (!this.budget.take(from)) return; // too many connections from this peer: ignore its offer
      this.roomPeers.add(from);
      conn = this.create(from, false);
    }
    if (!conn.peer.signal(data)) this.drop(conn, 'bad signal');
  }

  /**
   * A peer can vanish without a `peer-left`: a signaling instance that crashes or shuts down announces
   * nothing (its peers usually re-join elsewhere). If the server says it no longer knows a peer we are
   * still trying to reach, stop retrying; an open channel is kept (the peer may be re-joining right now),
   * and a later `peer-joined` brings the peer back.
   */
  private onSignalError(to: string | null, reason: string): void {
    if (to === null || !reason.startsWith('no peer ')) return;
    const conn = this.connections.get(to);
    if (conn?.open) return;
    this.roomPeers.delete(to);
    this.cancelRetry(to);
    if (conn) this.drop(conn, 'peer is not in the room');
  }

  private shouldInitiate(remote: string): boolean {
    return this.peerId < remote;
  }

  private connect(remote: string): void {
    if (!this.budget.take(remote)) return this.scheduleRetry(remote, this.budget.waitFor(remote));
    this.create(remote, true);
  }

  private create(remote: string, initiator: boolean): Connection {
    const conn = { remote, initiator, open: false, sink: null, timer: null, early: [] } as Omit<Connection, 'peer'> as Connection;
    conn.peer = openPeerConnection(
      this.platform,
      { initiator, iceServers: this.iceServers },
      {
        signal: (data) => this.signaling?.sendSignal(remote, data),
        connect: () => this.opened(conn),
        data: (data) => {
          if (conn.sink) conn.sink.message(data);
          else if (!conn.open && conn.early.length < 1024) conn.early.push(data);
        },
        closed: (reason) => this.drop(conn, reason),
      },
    );
    this.connections.set(remote, conn);
    conn.timer = setTimeout(() => {
      conn.timer = null;
      if (!conn.open) this.drop(conn, 'connection timed out');
    }, this.options.peerConnectTimeoutMs ?? 15_000);
    return conn;
  }

  private opened(conn: Connection): void {
    if (this.connections.get(conn.remote) !== conn || this.closed || !this.handlers) return;
    conn.open = true;
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = null;
    this.cancelRetry(conn.remote);
    const sink = this.handlers.open(conn.remote, this.channel(conn));
    conn.sink = sink;
    for (const data of conn.early.splice(0)) sink.message(data);
  }

  private channel(conn: Connection): PeerChannel {
    const { peer } = conn;
    return {
      fingerprints: peer.fingerprints(),
      send: (data) => peer.send(data),
      bufferedAmount: () => peer.bufferedAmount(),
      onDrain: (threshold, callback) => peer.onDrain(threshold, callback),
      close: () => this.drop(conn, 'closed by mesh'),
    };
  }

  /** Tears a connection down exactly once; reports it closed if it was open; schedules a retry if due. */
  private drop(conn: Connection, reason: string): void {
    if (this.connections.get(conn.remote) !== conn) {
      conn.peer.destroy();
      return;
    }
    this.connections.delete(conn.remote);
    if (conn.timer !== null) clearTimeout(conn.timer);
    conn.timer = null;
    conn.peer.destroy();
    if (conn.open) this.handlers?.closed(conn.remote, reason);
    conn.sink = null;
    if (!this.closed && conn.initiator && this.roomPeers.has(conn.remote)) this.scheduleRetry(conn.remote);
  }

  private scheduleRetry(remote: string, atLeastMs = 0): void {
    const retry = this.retries.get(remote) ?? { attempts: 0, timer: null };
    if (retry.timer !== null) return;
    retry.attempts++;
    const backoff = Math.min(5000, 100 * 2 ** Math.min(retry.attempts, 6)) * (0.5 + Math.random() / 2);
    const delay = Math.max(backoff, atLeastMs);
    retry.timer = setTimeout(() => {
      retry.timer = null;
      if (!this.closed && this.roomPeers.has(remote) && !this.connections.has(remote)) this.connect(remote);
    }, delay);
    this.retries.set(remote, retry);
  }

  private cancelRetry(remote: string): void {
    const retry = this.retries.get(remote);
    if (retry?.timer != null) clearTimeout(retry.timer);
    this.retries.delete(remote);
  }
}
