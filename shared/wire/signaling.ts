/**
 * The socket.io event maps of the signaling protocol, shared by server/ and client/ so both ends are typed
 * from one declaration. The server only introduces peers and relays opaque WebRTC signal blobs: actor
 * traffic never passes through it.
 */
import type { PeerKind } from '../placement/membership.js';

export const SIGNALING_PROTOCOL = 2;

/** An RTCIceServer as the server may hand it to clients (STUN/TURN). */
export interface IceServerConfig {
  readonly urls: string | readonly string[];
  readonly username?: string;
  readonly credential?: string;
}

export interface RoomPeer {
  readonly peerId: string;
  readonly kind: PeerKind;
}

export interface JoinRequest {
  readonly room: string;
  readonly peerId: string;
  readonly kind: PeerKind;
  readonly protocol: number;
  /**
   * The secret an earlier join of this peer id in this room returned. A peer id, once held, can be taken
   * again only with it: a signaling blip never hands the id to someone else.
   */
  readonly secret?: string;
  /** base64url of the peer's raw Ed25519 public key; a server issuing signed identities binds the token to it. */
  readonly peerKey?: string;
}

/**
 * Why a join or a refresh was refused. RATE_LIMITED is the only one that says "same request, later": the
 * connection sent joins or refreshes faster than the server accepts them.
 */
export type JoinRefusalCode = 'UNAUTHORIZED' | 'ROOM_FULL' | 'INVALID_ARGUMENT' | 'DUPLICATE_PEER' | 'INCOMPATIBLE_PEER' | 'RATE_LIMITED';

/**
 * A connection refused at the handshake gets a socket.io `connect_error` whose message is
 * `${ConnectRefusalCode}: reason`: UNAUTHORIZED (token, origin) will not change by retrying, RATE_LIMITED
 * (too many connections waiting to join) may.
 */
export type ConnectRefusalCode = 'UNAUTHORIZED' | 'RATE_LIMITED';

/** A signed identity the server issued (see shared/identity/token.ts), and the keys peers check it with. */
export interface IdentityGrant {
  readonly token: string;
  /** base64url raw Ed25519 public keys whose tokens peers of this room accept (current first, then older ones). */
  readonly serverKeys: readonly string[];
}

export type JoinResponse =
  | {
      readonly ok: true;
      readonly peers: readonly RoomPeer[];
      readonly iceServers: readonly IceServerConfig[];
      /** Present this on every later join of the same peer id in this room. */
      readonly secret: string;
      /** Set when the server issues signed identities: every peer of the room then checks its neighbours' tokens. */
      readonly identity: IdentityGrant | null;
    }
  | { readonly ok: false; readonly code: JoinRefusalCode; readonly message: string };

/** The answer to `refresh`: a fresh token (and TURN credentials) before the current one expires. */
export type RefreshResponse =
  | { readonly ok: true; readonly identity: IdentityGrant; readonly iceServers: readonly IceServerConfig[] }
  | { readonly ok: false; readonly code: JoinRefusalCode; readonly message: string };

/** An opaque simple-peer signal (offer, answer, candidate, renegotiate); the server checks only its size. */
export type SignalData = Readonly<Record<string, unknown>>;

export interface SignalToServer {
  readonly to: string;
  readonly data: SignalData;
}

export interface SignalFromServer {
  readonly from: string;
  readonly data: SignalData;
}

export interface ClientToServerEvents {
  join: (request: JoinRequest, ack: (response: JoinResponse) => void) => void;
  /** A joined peer asks for a fresh identity token before its current one expires. */
  refresh: (ack: (response: RefreshResponse) => void) => void;
  signal: (message: SignalToServer) => void;
  leave: () => void;
}

export interface ServerToClientEvents {
  'peer-joined': (peer: RoomPeer) => void;
  'peer-left': (peer: { readonly peerId: string }) => void;
  signal: (message: SignalFromServer) => void;
  /** A relay was refused (unknown target, other room, too large, malformed). */
  'signal-error': (error: { readonly to: string | null; readonly reason: string }) => void;
}

/** Handshake auth sent with the socket.io connection. */
export interface SignalingAuth {
  /** The server-wide or room-scoped token, or whatever credential the server's auth hook reads. */
  readonly token?: string;
}

/** Limits the server enforces and clients should respect. */
export const SIGNALING_LIMITS = {
  maxRoomLength: 128,
  maxPeerIdLength: 128,
  maxSignalBytes: 64 * 1024,
  /** Of a join's `secret` (the server issues 43 characters). */
  maxSecretLength: 128,
  /** Of the handshake's `auth.token`. */
  maxCredentialLength: 8192,
} as const;
