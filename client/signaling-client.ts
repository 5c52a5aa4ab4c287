import { io, type Socket } from 'socket.io-client';
import {
  AbortedError,
  IncompatiblePeerError,
  InvalidArgumentError,
  type MeshError,
  RoomFullError,
  SignalingError,
  UnauthorizedError,
} from '../shared/errors.js';
import { peekClaims } from '../shared/identity/token.js';
import type { PeerKind } from '../shared/placement/membership.js';
import {
  SIGNALING_PROTOCOL,
  type ClientToServerEvents,
  type IceServerConfig,
  type IdentityGrant,
  type JoinRefusalCode,
  type JoinRequest,
  type JoinResponse,
  type RefreshResponse,
  type RoomPeer,
  type ServerToClientEvents,
  type SignalData,
} from '../shared/wire/signaling.js';

export interface SignalingClientOptions {
  /** One URL, or several servers (e.g. instances sharing a Redis adapter) tried in turn. */
  readonly urls: readonly string[];
  readonly room: string;
  readonly peerId: string;
  readonly kind: PeerKind;
  readonly token?: string | undefined;
  /**
   * base64url of this peer's raw Ed25519 public key (see shared/identity/ed25519.ts). Servers that issue
   * signed identities require it, and bind the token they return to it.
   */
  readonly peerKey?: string | undefined;
  /**
   * The reclaim secret of this peer id from an earlier session (see `reclaimSecret`), for an id that must
   * survive a page reload: without it, the server keeps the id for the old session for a few minutes.
   */
  readonly secret?: string | undefined;
  /** Reconnect backoff bounds (ms). */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly onPeers: (peers: readonly RoomPeer[], iceServers: readonly IceServerConfig[]) => void;
  readonly onPeerJoined: (peer: RoomPeer) => void;
  readonly onPeerLeft: (peerId: string) => void;
  readonly onSignal: (from: string, data: SignalData) => void;
  /** The server refused to relay a signal (e.g. `to` is not in the room any more). */
  readonly onSignalError?: (to: string | null, reason: string) => void;
  readonly onState?: (state: SignalingState, detail?: MeshError) => void;
  /**
   * A signed identity from the server (servers with an identity key only): after every join, and after
   * every refresh, which this client asks for by itself at about 2/3 of the token's lifetime while joined.
   * `iceServers` come with it: a refresh renews TURN credentials too.
   */
  readonly onIdentity?: (grant: IdentityGrant, iceServers: readonly IceServerConfig[]) => void;
  /** A refresh failed; the current token stays valid until it expires (retried unless the server refused it). */
  readonly onIdentityError?: (error: MeshError) => void;
}

export type SignalingState = 'connecting' | 'joined' | 'disconnected' | 'closed';

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

// ROOM_FULL too: start() should fail at once, not after connectTimeoutMs; once joined, a full room is retried.
const FATAL = new Set(['UNAUTHORIZED', 'INVALID_ARGUMENT', 'INCOMPATIBLE_PEER', 'ROOM_FULL']);
const ACK_TIMEOUT_MS = 5000;
/** Refresh at this fraction of a token's lifetime: early enough for retries, late enough to be rare. */
const REFRESH_AT = 2 / 3;
const MIN_REFRESH_RETRY_MS = 500;
const MAX_REFRESH_RETRY_MS = 30_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

function refusalError(code: JoinRefusalCode, message: string, room: string): MeshError {
  switch (code) {
    case 'UNAUTHORIZED':
      return new UnauthorizedError(message);
    case 'ROOM_FULL':
      return new RoomFullError(room, message);
    case 'INCOMPATIBLE_PEER':
      return new IncompatiblePeerError(message);
    case 'INVALID_ARGUMENT':
      return new InvalidArgumentError(message);
    default:
      return new SignalingError(`join refused: ${code}: ${message}`, { code });
  }
}

/**
 * The signaling connection: joins the room, reports peers arriving and leaving, relays WebRTC signals.
 * Reconnects by itself with exponential backoff, rotating through the server URLs, and re-joins on every
 * connect, so a restarted or replaced server is picked up without the mesh noticing.
 */
export class SignalingClient {
  private socket: ClientSocket | null = null;
  private closed = false;
  private attempt = 0;
  /** Index of the URL to try next; advances on every failure and is kept across successful joins. */
  private urlIndex = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private joinedOnce: ((error: MeshError | null) => void) | null = null;
  private lastError: MeshError | null = null;
  /** The secret of our peer id in this room (given, or from the first successful join on); sent with every join. */
  private secret: string | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private grant: IdentityGrant | null = null;
  state: SignalingState = 'connecting';
  /** The URL of the server we are (or were last) connected to. */
  currentUrl: string;

  constructor(private readonly options: SignalingClientOptions) {
    if (options.urls.length === 0) throw new InvalidArgumentError('signal needs at least one server URL');
    this.currentUrl = options.urls[0]!;
    // An empty string is what a missing stored value often looks like; the server would refuse it outright.
    this.secret = options.secret === undefined || options.secret === '' ? null : options.secret;
  }

  /**
   * The secret that reclaims this peer id in this room, once joined: keep it (e.g. in sessionStorage) and
   * pass it back as `secret` to keep a fixed peer id across reloads.
   */
  get reclaimSecret(): string | null {
    return this.secret;
  }

  /** Connects and joins; resolves on the first successful join. Retries until `timeoutMs`, then rejects. */
  start(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        finish(
          new SignalingError(
            `could not join room "${this.options.room}" via ${this.options.urls.join(', ')} within ${timeoutMs} ms` +
              (this.lastError ? `: ${this.lastError.message}` : ''),
            { urls: [...this.options.urls] },
          ),
        );
      }, timeoutMs);
      const onAbort = (): void => finish(new AbortedError('mesh start was aborted'));
      const finish = (error: MeshError | null): void => {
        if (!this.joinedOnce) return;
        this.joinedOnce = null;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (error) {
          this.close();
          reject(error);
        } else resolve();
      };
      this.joinedOnce = finish;
      signal?.addEventListener('abort', onAbort, { once: true });
      this.connect();
    });
  }

  /** The current signed identity, or null (open-mode server, or not joined yet). */
  get identity(): IdentityGrant | null {
    return this.grant;
  }

  sendSignal(to: string, data: SignalData): void {
    if (this.socket?.connected) this.socket.emit('signal', { to, data });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.cancelRefresh();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      if (socket.connected) socket.emit('leave');
      socket.removeAllListeners();
      socket.disconnect();
    }
    this.setState('closed');
  }

  private connect(): void {
    if (this.closed) return;
    const url = this.options.urls[this.urlIndex % this.options.urls.length]!;
    this.currentUrl = url;
    this.setState('connecting');
    const socket: ClientSocket = io(url, {
      transports: ['websocket'],
      reconnection: false, // we reconnect ourselves, rotating URLs and re-joining
      forceNew: true,
      timeout: 5000,
      auth: this.options.token !== undefined ? { token: this.options.token } : {},
    });
    this.socket = socket;
    socket.on('connect', () => this.join(socket));
    socket.on('connect_error', (error) => {
      const mapped = /^UNAUTHORIZED/.test(error.message)
        ? new UnauthorizedError(error.message)
        : new SignalingError(`cannot reach signaling server ${url}: ${error.message}`, { url });
      this.failed(socket, mapped);
    });
    socket.on('disconnect', (reason) => {
      this.failed(socket, new SignalingError(`signaling connection to ${url} lost: ${reason}`, { url }));
    });
    socket.on('peer-joined', (peer) => this.options.onPeerJoined(peer));
    socket.on('peer-left', ({ peerId }) => this.options.onPeerLeft(peerId));
    socket.on('signal', ({ from, data }) => this.options.onSignal(from, data));
    socket.on('signal-error', ({ to, reason }) => this.options.onSignalError?.(to, reason));
  }

  private join(socket: ClientSocket): void {
    const { room, peerId, kind, peerKey } = this.options;
    const request: JoinRequest = {
      room,
      peerId,
      kind,
      protocol: SIGNALING_PROTOCOL,
      ...(this.secret === null ? {} : { secret: this.secret }),
      ...(peerKey === undefined ? {} : { peerKey }),
    };
    socket.timeout(ACK_TIMEOUT_MS).emit('join', request, (error, response?: JoinResponse) => {
      if (socket !== this.socket) return;
      if (error || !response) return this.failed(socket, new SignalingError('the signaling server did not answer join'));
      if (!response.ok) return this.failed(socket, refusalError(response.code, response.message, room));
      this.attempt = 0;
      this.lastError = null;
      // Kept whatever happens next: a server that forgot the claim (restart, expiry) hands out a new one.
      if (typeof response.secret === 'string') this.secret = response.secret;
      this.setState('joined');
      // The identity first: the connections onPeers starts say hello with it.
      if (response.identity) this.identified(socket, response.identity, response.iceServers);
      this.options.onPeers(response.peers, response.iceServers);
      this.joinedOnce?.(null);
    });
  }

  private identified(socket: ClientSocket, grant: IdentityGrant, iceServers: readonly IceServerConfig[]): void {
    this.grant = grant;
    const claims = peekClaims(grant.token);
    // Measured as a duration, not against our clock: the server's clock may be off from ours.
    const lifetime = claims === null ? 0 : claims.exp - claims.iat;
    if (lifetime > 0) this.scheduleRefresh(socket, lifetime * REFRESH_AT, Date.now() + lifetime);
    this.options.onIdentity?.(grant, iceServers);
  }

  private scheduleRefresh(socket: ClientSocket, delayMs: number, expiresAt: number): void {
    this.cancelRefresh();
    // Clamped: a token lifetime of a few ms would make a refresh loop, and one beyond a timer's range (about
    // 24.8 days) would fire at once.
    const delay = Math.min(MAX_TIMER_MS, Math.max(MIN_REFRESH_RETRY_MS, delayMs));
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.refresh(socket, expiresAt);
    }, delay);
  }

  private cancelRefresh(): void {
    if (this.refreshTimer !== null) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }

  private refresh(socket: ClientSocket, expiresAt: number): void {
    if (socket !== this.socket || this.closed || !socket.connected) return;
    const retry = (error: MeshError): void => {
      this.options.onIdentityError?.(error);
      const left = expiresAt - Date.now();
      // Past expiry a refresh cannot help; the next join issues a new token anyway.
      if (left > 0) this.scheduleRefresh(socket, Math.min(MAX_REFRESH_RETRY_MS, Math.max(MIN_REFRESH_RETRY_MS, left / 4)), expiresAt);
    };
    socket.timeout(ACK_TIMEOUT_MS).emit('refresh', (error, response?: RefreshResponse) => {
      if (socket !== this.socket || this.closed) return;
      if (error || !response) return retry(new SignalingError('the signaling server did not answer refresh'));
      if (!response.ok) {
        const refusal = refusalError(response.code, response.message, this.options.room);
        if (response.code === 'RATE_LIMITED') return retry(refusal);
        // Refused for good (e.g. the grant was revoked): the token runs out, and a re-join is asked again.
        return this.options.onIdentityError?.(refusal);
      }
      this.identified(socket, response.identity, response.iceServers);
    });
  }

  private failed(socket: ClientSocket, error: MeshError): void {
    if (socket !== this.socket || this.closed) return;
    this.cancelRefresh();
    this.lastError = error;
    socket.removeAllListeners();
    socket.disconnect();
    this.socket = null;
    this.setState('disconnected', error);
    // A refusal that will not change by retrying ends start-up at once instead of after the timeout.
    if (this.joinedOnce && FATAL.has(error.code)) {
      this.joinedOnce(error);
      return;
    }
    this.attempt++;
    // Move on from the server that failed, wherever we were in the list.
    this.urlIndex = (this.urlIndex + 1) % this.options.urls.length;
    const min = this.options.minBackoffMs ?? 200;
    const max = this.options.maxBackoffMs ?? 5000;
    const base = Math.min(max, min * 2 ** Math.min(this.attempt - 1, 10));
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private setState(state: SignalingState, detail?: MeshError): void {
    this.state = state;
    this.options.onState?.(state, detail);
  }
}
