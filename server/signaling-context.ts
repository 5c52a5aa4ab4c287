/** What the parts of the signaling server share: its resolved configuration, counters and room keys. */
import type { RemoteSocket, Socket } from 'socket.io';
import type { ClientToServerEvents, IceServerConfig, ServerToClientEvents } from '../shared/wire/signaling.js';
import type { KeyedLock } from './serial.js';
import type { IceServersFactory, SignalingInterServerEvents, SignalingIo, SignalingSocketData } from './signaling-types.js';

export type SignalingSocket = Socket<ClientToServerEvents, ServerToClientEvents, SignalingInterServerEvents, SignalingSocketData>;
export type PeerSocket = RemoteSocket<ServerToClientEvents, SignalingSocketData>;

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly token: string | undefined;
  readonly maxPeers: number;
  readonly iceServers: readonly IceServerConfig[] | IceServersFactory;
}

export interface Context {
  readonly io: SignalingIo;
  readonly config: Config;
  readonly roomLocks: KeyedLock;
  readonly counters: { relayed: number; refused: number };
  readonly log: (line: string) => void;
}

/** Bounds the memory one client can pin by flooding events faster than they are processed. */
export const MAX_PENDING_PER_SOCKET = 128;
export const KNOWN_EVENTS: ReadonlySet<unknown> = new Set<keyof ClientToServerEvents>(['join', 'signal', 'leave']);
export const ROOM_PREFIX = 'room:';
/** The disconnect reason socket.io gives every socket in `io.close()`. */
export const SHUTDOWN_REASON = 'server shutting down';
export const noop = (): void => {};

export const roomKey = (room: string): string => `${ROOM_PREFIX}${room}`;
// JSON keeps the key unambiguous whatever the room name contains (a room may contain ':').
export const peerKey = (room: string, peerId: string): string => `peer:${JSON.stringify([room, peerId])}`;

export function countRefusal(ctx: Context, socket: { readonly id: string }, reason: string): void {
  ctx.counters.refused++;
  ctx.log(`[signaling] refused ${socket.id}: ${reason}`);
}
