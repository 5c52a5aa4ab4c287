/** What the parts of the signaling server share: its resolved configuration, counters and room keys. */
import type { RemoteSocket, Socket } from 'socket.io';
import type { ClientToServerEvents, IceServerConfig, ServerToClientEvents } from '../shared/wire/signaling.js';
import type { ClaimStore } from './claims.js';
import type { IdentityIssuer } from './identity.js';
import type { LogThrottle, TokenBucket } from './rate-limit.js';
import type { KeyedLock } from './serial.js';
import type {
  AuthorizeHook,
  CapabilityGrants,
  IceServersFactory,
  SignalingInterServerEvents,
  SignalingIo,
  SignalingSocketData,
} from './signaling-types.js';

export type SignalingSocket = Socket<ClientToServerEvents, ServerToClientEvents, SignalingInterServerEvents, SignalingSocketData>;
export type PeerSocket = RemoteSocket<ServerToClientEvents, SignalingSocketData>;

/** What the token a connection presented admits it to. */
export interface Scope {
  readonly rooms: ReadonlySet<string> | '*';
  readonly caps: readonly string[] | null;
}

export const OPEN_SCOPE: Scope = { rooms: '*', caps: null };

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly token: string | undefined;
  /** sha256 hex of each accepted token (the server-wide one included) -> what it admits; null: no token needed. */
  readonly tokens: ReadonlyMap<string, Scope> | null;
  readonly authorize: AuthorizeHook | undefined;
  readonly authorizeTimeoutMs: number;
  readonly issuer: IdentityIssuer | null;
  readonly grants: CapabilityGrants | null;
  readonly allowedOrigins: ReadonlySet<string> | null;
  readonly serverSecret: Buffer;
  readonly claimTtlMs: number;
  readonly maxPeers: number;
  readonly maxPendingSockets: number;
  readonly joinTimeoutMs: number;
  readonly signalsPerSecond: number;
  readonly signalBurst: number;
  readonly iceServers: readonly IceServerConfig[] | IceServersFactory;
}

/** What this instance knows of one of its connections, beyond the cluster-visible `socket.data`. */
export interface Connection {
  readonly scope: Scope;
  readonly credential: string | undefined;
  readonly origin: string | undefined;
  readonly address: string;
  readonly signals: TokenBucket;
  readonly joins: TokenBucket;
  readonly refreshes: TokenBucket;
  /** The claim of the current membership: re-held while connected, and once more on leaving. */
  hold: { readonly key: string; readonly nonce: string } | null;
  /** The signed identity of the current membership (signed mode only). */
  grant: { readonly caps: readonly string[] | null; readonly peerKey: string } | null;
  /** Closes the connection if it is not in a room in time; armed whenever it is not. */
  idleTimer: ReturnType<typeof setTimeout> | null;
}

export interface Context {
  readonly io: SignalingIo;
  readonly config: Config;
  readonly roomLocks: KeyedLock;
  readonly counters: { relayed: number; refused: number };
  /** Local sockets in a room, so that pending = engine connections - joined. */
  readonly members: { joined: number };
  readonly claims: ClaimStore;
  readonly connections: WeakMap<SignalingSocket, Connection>;
  readonly idleTimers: Set<ReturnType<typeof setTimeout>>;
  readonly refusalLog: LogThrottle;
  readonly log: (line: string) => void;
}

/** Bounds the memory one client can pin by flooding events faster than they are processed. */
export const MAX_PENDING_PER_SOCKET = 128;
export const KNOWN_EVENTS: ReadonlySet<unknown> = new Set<keyof ClientToServerEvents>(['join', 'refresh', 'signal', 'leave']);
export const ROOM_PREFIX = 'room:';
/** The disconnect reason socket.io gives every socket in `io.close()`. */
export const SHUTDOWN_REASON = 'server shutting down';
/** Bounds each call to the claim store (Redis in a cluster), within the client's 5 s join timeout. */
export const CLAIM_STORE_TIMEOUT_MS = 2000;
export const noop = (): void => {};

export const roomKey = (room: string): string => `${ROOM_PREFIX}${room}`;
// JSON keeps the key unambiguous whatever the room name contains (a room may contain ':').
export const peerKey = (room: string, peerId: string): string => `peer:${JSON.stringify([room, peerId])}`;

export function countRefusal(ctx: Context, socket: { readonly id: string }, reason: string): void {
  ctx.counters.refused++;
  const line = ctx.refusalLog.pass(`[signaling] refused ${socket.id}: ${reason}`);
  if (line !== null) ctx.log(line);
}

export function pendingConnections(ctx: Context): number {
  return Math.max(0, ctx.io.engine.clientsCount - ctx.members.joined);
}
