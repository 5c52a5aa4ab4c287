/** The public types of the signaling server (see signaling-server.ts). */
import type { Server as HttpServer } from 'node:http';
import type { Server, ServerOptions } from 'socket.io';
import type { PeerKind } from '../shared/placement/membership.js';
import type { ClientToServerEvents, IceServerConfig, ServerToClientEvents } from '../shared/wire/signaling.js';

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

export type SignalingIo = Server<
  ClientToServerEvents,
  ServerToClientEvents,
  SignalingInterServerEvents,
  SignalingSocketData
>;

/** Computes the ICE servers of one join; `member` is the peer being admitted. */
export type IceServersFactory = (member: RoomMember) => readonly IceServerConfig[];

/** What socket.io accepts as `adapter` (an Adapter class or a factory such as `createAdapter(pub, sub)`). */
export type SignalingAdapter = ServerOptions['adapter'];

export interface SignalingServerOptions {
  /** Default 3000; 0 picks a free port. Ignored when `httpServer` is already listening. */
  readonly port?: number | undefined;
  /** Default '0.0.0.0'. Ignored when `httpServer` is already listening. */
  readonly host?: string | undefined;
  /** When set, clients must send it as `auth: { token }`. */
  readonly token?: string | undefined;
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
  readonly relayed: number;
  /** Events refused for any reason: auth, malformed, refused joins and relays, unknown events. */
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
