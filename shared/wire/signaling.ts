/**
 * The socket.io event maps of the signaling protocol, shared by server/ and client/ so both ends are typed
 * from one declaration. The server only introduces peers and relays opaque WebRTC signal blobs: actor
 * traffic never passes through it.
 */
import type { PeerKind } from '../placement/membership.js';

export const SIGNALING_PROTOCOL = 1;

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
}

export type JoinRefusalCode = 'UNAUTHORIZED' | 'ROOM_FULL' | 'INVALID_ARGUMENT' | 'DUPLICATE_PEER' | 'INCOMPATIBLE_PEER';

export type JoinResponse =
  | { readonly ok: true; readonly peers: readonly RoomPeer[]; readonly iceServers: readonly IceServerConfig[] }
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
  readonly token?: string;
}

/** Limits the server enforces and clients should respect. */
export const SIGNALING_LIMITS = {
  maxRoomLength: 128,
  maxPeerIdLength: 128,
  maxSignalBytes: 64 * 1024,
} as const;
