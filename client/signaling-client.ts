import { io, type Socket } from 'socket.io-client';
import {
  AbortedError,
  IncompatiblePeerError,
  InvalidArgumentError,
  MeshError,
  RoomFullError,
  SignalingError,
  UnauthorizedError,
} from '../shared/errors.js';
import type { PeerKind } from '../shared/placement/membership.js';
import {
  SIGNALING_PROTOCOL,
  type ClientToServerEvents,
  type IceServerConfig,
  type JoinResponse,
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
}

export type SignalingState = 'connecting' | 'joined' | 'disconnected' | 'closed';

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

// ROOM_FULL too: start() should fail at once, not after connectTimeoutMs; once joined, a full room is retried.
const FATAL = new Set(['UNAUTHORIZED', 'INVALID_ARGUMENT', 'INCOMPATIBLE_PEER', 'ROOM_FULL']);

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
  state: SignalingState = 'connecting';
  /** The URL of the server we are (or were last) connected to. */
  currentUrl: string;

  constructor(private readonly options: SignalingClientOptions) {
    if (options.urls.length === 0) throw new InvalidArgumentError('signal needs at least one server URL');
    this.currentUrl = options.urls[0]!;
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

  sendSignal(to: string, data: SignalData): void {
    if (this.socket?.connected) this.socket.emit('signal', { to, data });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
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
    const { room, peerId, kind } = this.options;
    socket.timeout(5000).emit('join', { room, peerId, kind, protocol: SIGNALING_PROTOCOL }, (error, response?: JoinResponse) => {
      if (socket !== this.socket) return;
      if (error || !response) return this.failed(socket, new SignalingError('the signaling server did not answer join'));
      if (!response.ok) {
        const refusal =
          response.code === 'UNAUTHORIZED'
            ? new UnauthorizedError(response.message)
            : response.code === 'ROOM_FULL'
              ? new RoomFullError(room, response.message)
              : response.code === 'INCOMPATIBLE_PEER'
                ? new IncompatiblePeerError(response.message)
                : response.code === 'INVALID_ARGUMENT'
                  ? new InvalidArgumentError(response.message)
                  : new SignalingError(`join refused: ${response.code}: ${response.message}`);
        return this.failed(socket, refusal);
      }
      this.attempt = 0;
      this.lastError = null;
      this.setState('joined');
      this.options.onPeers(response.peers, response.iceServers);
      this.joinedOnce?.(null);
    });
  }

  private failed(socket: ClientSocket, error: MeshError): void {
    if (socket !== this.socket || this.closed) return;
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
