/** The public types of the signaling server (see signaling-server.ts). */
import type { Server as HttpServer } from 'node:http';
import type { Server, ServerOptions } from 'socket.io';
import type { PeerKind } from '../shared/placement/membership.js';
import type { ClientToServerEvents, IceServerConfig, ServerToClientEvents } from '../shared/wire/signaling.js';
import type { ClaimStore } from './claims.js';
import type { IdentityOptions } from './identity.js';

export interface RoomMember {
  readonly room: string;
  readonly peerId: string;
  readonly kind: PeerKind;
}

/** Kept in `socket.data` so that `fetchSockets()` can read it from any instance of a cluster. */
export interface SignalingSocketData {
  member?: RoomMember;
}

export type SignalingInterServerEvents = Record<never, never>;

export type SignalingIo = Server<ClientToServerEvents, ServerToClientEvents, SignalingInterServerEvents, SignalingSocketData>;

/** The peer whose ICE servers are being computed (on its join, and on each refresh of its identity). */
export interface IceServersRequest extends RoomMember {
  /**
   * When the peer's signed identity expires (Unix ms), for credentials that should not outlive it; null in
   * open mode (no identity key), where the factory picks its own lifetime.
   */
  readonly expiresAt: number | null;
}

/** Computes the ICE servers of one join or refresh. */
export type IceServersFactory = (member: IceServersRequest) => readonly IceServerConfig[];

/** What a room-scoped token admits (see `tokens`). */
export interface TokenScope {
  /** The rooms this token may join; '*': any room. */
  readonly rooms: readonly string[] | '*';
  /** The most capabilities a signed identity issued through this token may carry; absent or null: no limit. */
  readonly caps?: readonly string[] | null | undefined;
}

/** What the `authorize` hook is asked about: one join (or one refresh of a joined peer's identity). */
export interface AuthorizeRequest {
  readonly room: string;
  readonly peerId: string;
  readonly kind: PeerKind;
  /** What the client sent as `auth.token` in its socket.io handshake; undefined when it sent none. */
  readonly credential: string | undefined;
  /** The handshake's Origin header (browsers always send one; Node clients usually none). */
  readonly origin: string | undefined;
  /** The remote address of the connection (a reverse proxy's, behind one). */
  readonly address: string;
  /** The peer's public key (base64url), when it sent one. */
  readonly peerKey: string | undefined;
  readonly reason: 'join' | 'refresh';
}

/**
 * The hook's answer: false refuses (UNAUTHORIZED); true admits with the capabilities `grants` allows;
 * `{ caps }` admits with at most those (null: no limit beyond `grants`). Throwing, or answering late, refuses.
 */
export type AuthorizeResult = boolean | { readonly caps: readonly string[] | null };

export type AuthorizeHook = (request: AuthorizeRequest) => AuthorizeResult | Promise<AuthorizeResult>;

/** Capabilities by peer kind; a kind not listed gets none. */
export type CapabilityGrants = Readonly<Partial<Record<PeerKind, readonly string[] | null>>>;

/** What socket.io accepts as `adapter` (an Adapter class or a factory such as `createAdapter(pub, sub)`). */
export type SignalingAdapter = ServerOptions['adapter'];

export interface SignalingServerOptions {
  /** Default 3000; 0 picks a free port. Ignored when `httpServer` is already listening. */
  readonly port?: number | undefined;
  /** Default '0.0.0.0'. Ignored when `httpServer` is already listening. */
  readonly host?: string | undefined;
  /** When set, clients must send it (or one of `tokens`) as `auth: { token }`; it admits to every room. */
  readonly token?: string | undefined;
  /**
   * Room-scoped tokens: a client presenting one of these may join only its rooms (UNAUTHORIZED elsewhere).
   * When `token` or `tokens` is set, a client presenting neither is refused at the handshake.
   */
  readonly tokens?: Readonly<Record<string, TokenScope>> | undefined;
  /**
   * Asked on every join and every identity refresh, after the token checks: the application's own auth
   * (reads `credential`, checks the room, decides the capabilities). Bounded by `authorizeTimeoutMs`.
   */
  readonly authorize?: AuthorizeHook | undefined;
  /** How long `authorize` may take before the join is refused (ms, default 3000; clients wait 5000). */
  readonly authorizeTimeoutMs?: number | undefined;
  /**
   * Signed identities: when set, every join must carry the peer's public key (`peerKey`) and is answered
   * with a token binding the peer id, room, kind and granted capabilities to that key.
   */
  readonly identity?: IdentityOptions | undefined;
  /** The capabilities signed identities carry, by peer kind; absent: any capability for every kind. */
  readonly grants?: CapabilityGrants | null | undefined;
  /**
   * Origins (scheme://host[:port]) whose pages may connect; a connection with another Origin header is
   * refused at the handshake. A connection without an Origin header (Node peers, scripts) is admitted:
   * every browser sends one, and anything else can forge one, so this guards a visitor's browser against
   * other sites, it does not authenticate. Absent: any origin.
   */
  readonly allowedOrigins?: readonly string[] | undefined;
  /**
   * Key of the reclaim secrets (at least 16 bytes). Default: random per process, so secrets do not survive
   * a restart (nor do in-memory claims). Every instance of a cluster must share it; `startSignaling` with a
   * Redis URL shares a random one through Redis when none is given.
   */
  readonly serverSecret?: string | Uint8Array | undefined;
  /** How long a peer id stays held after its socket leaves (ms, default 5 minutes, at least 100). */
  readonly claimTtlMs?: number | undefined;
  /** Where claims live; default an in-memory store of this process (`startSignaling` uses Redis with Redis). */
  readonly claims?: ClaimStore | undefined;
  /** Connections not yet in a room that this instance keeps at once (default 256); more are refused. */
  readonly maxPendingSockets?: number | undefined;
  /** A connection that has not joined a room within this long is closed (ms, default 10 000). */
  readonly joinTimeoutMs?: number | undefined;
  /** Signals one connection may relay per second on average (default 50)... */
  readonly signalsPerSecond?: number | undefined;
  /** ... and at once (default 500: a newcomer to a full room signals to every member at once). */
  readonly signalBurst?: number | undefined;
  /** Per room; default 64. */
  readonly maxPeers?: number | undefined;
  /**
   * Handed to clients in the join ack; default []. A function is called for every successful join, e.g. to
   * issue fresh time-limited TURN credentials (see `turnIceServers` in ./turn.ts); if it throws, the join
   * is still accepted, with an empty list, and the error is logged.
   */
  readonly iceServers?: readonly IceServerConfig[] | IceServersFactory | undefined;
  /** Attach to this server instead of creating one; see `installHealthz` for how requests are shared. */
  readonly httpServer?: HttpServer | undefined;
  readonly adapter?: SignalingAdapter | undefined;
  readonly log?: ((line: string) => void) | undefined;
}

export interface SignalingStats {
  /** Rooms with at least one peer on this instance. */
  readonly rooms: number;
  /** Joined peers on this instance. */
  readonly peers: number;
  /** Connections to this instance that are not in a room (bounded by `maxPendingSockets`). */
  readonly pending: number;
  readonly relayed: number;
  /** Events refused for any reason: auth, malformed, rate limits, refused joins and relays, unknown events. */
  readonly refused: number;
}

export interface SignalingServer {
  /** http://host:port, with 127.0.0.1 standing in for a wildcard bind. */
  readonly url: string;
  readonly port: number;
  readonly io: SignalingIo;
  readonly httpServer: HttpServer;
  /** Disconnects every client and closes the http server (a passed-in one too, see below); idempotent. */
  close(): Promise<void>;
  stats(): SignalingStats;
}
