/** Rooms of the signaling server: each socket's join, leave and signal relay. */
import { describeThrown } from '../shared/errors.js';
import type { JoinRefusalCode, JoinRequest, JoinResponse, RoomPeer, SignalToServer, IceServerConfig } from '../shared/wire/signaling.js';
import { SIGNALING_LIMITS } from '../shared/wire/signaling.js';
import { SerialQueue } from './serial.js';
import {
  KNOWN_EVENTS,
  MAX_PENDING_PER_SOCKET,
  SHUTDOWN_REASON,
  countRefusal,
  peerKey,
  roomKey,
  type Context,
  type PeerSocket,
  type SignalingSocket,
} from './signaling-context.js';
import type { RoomMember } from './signaling-types.js';
import { checkJoinRequest, checkSignal } from './signaling-validate.js';

export function onConnection(ctx: Context, socket: SignalingSocket): void {
  // One queue per socket: a client may emit `join` and then `signal` without awaiting the ack, and the
  // signal must see the completed join. It also keeps a peer's signals in order across async lookups.
  const queue = new SerialQueue(MAX_PENDING_PER_SOCKET, (error) =>
    countRefusal(ctx, socket, `handler failed: ${describeThrown(error)}`),
  );
  const on = <A extends unknown[]>(event: string, handler: (...args: A) => void) => guarded(ctx, socket, event, handler);

  socket.on('join', on('join', (...args: unknown[]) => onJoin(ctx, socket, queue, args)));
  socket.on('signal', on('signal', (message: unknown) => onSignal(ctx, socket, queue, message)));
  socket.on('leave', on('leave', () => onLeave(ctx, socket, queue)));
  socket.on('disconnect', on('disconnect', (reason: string) => leaveRoom(ctx, socket, `disconnect (${reason})`, reason !== SHUTDOWN_REASON)));
  socket.onAny(on('any', (event: unknown) => {
    if (!KNOWN_EVENTS.has(event)) countRefusal(ctx, socket, `unknown event ${describeEventName(event)}`);
  }));
}

/** A throwing handler would be reported by socket.io as an uncaught exception that can kill the process. */
function guarded<A extends unknown[]>(
  ctx: Context,
  socket: SignalingSocket,
  event: string,
  handler: (...args: A) => void,
): (...args: A) => void {
  return (...args) => {
    try {
      handler(...args);
    } catch (error) {
      countRefusal(ctx, socket, `${event} handler failed: ${describeThrown(error)}`);
    }
  };
}


function describeEventName(event: unknown): string {
  const text = typeof event === 'string' ? event : typeof event;
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

// ------------------------------------------------------------------------------------------------- join

/** socket.io always passes the ack last, so with extra arguments it would not sit in the second slot. */
function onJoin(ctx: Context, socket: SignalingSocket, queue: SerialQueue, args: readonly unknown[]): void {
  const ack = args[args.length - 1];
  // Without an ack the client can never learn the outcome, so the event is malformed: drop it.
  if (typeof ack !== 'function') return countRefusal(ctx, socket, 'join without an ack callback');
  const reply = (response: JoinResponse): void => {
    Reflect.apply(ack, undefined, [response]);
  };
  if (args.length !== 2) return reply(refuseJoin(ctx, socket, 'INVALID_ARGUMENT', 'join takes exactly one request and an ack'));
  const request = args[0];
  const accepted = queue.push(async () => {
    let response: JoinResponse;
    try {
      response = await join(ctx, socket, request);
    } catch (error) {
      // Not the client's fault (e.g. the cluster adapter lost Redis) and no refusal code fits: dropping the
      // connection makes the client retry at once, through its next server URL, instead of waiting for its
      // ack to time out. Any half-done admission is undone by the disconnect.
      countRefusal(ctx, socket, `join failed, disconnecting: ${describeThrown(error)}`);
      socket.disconnect(true);
      return;
    }
    reply(response);
  });
  if (!accepted) reply(refuseJoin(ctx, socket, 'INVALID_ARGUMENT', 'too many requests pending on this connection'));
}

function onLeave(ctx: Context, socket: SignalingSocket, queue: SerialQueue): void {
  // Queued so that a leave sent right after a join applies to that join.
  if (!queue.push(async () => leaveRoom(ctx, socket, 'leave'))) {
    countRefusal(ctx, socket, 'leave: too many requests pending on this connection');
  }
}

function refuseJoin(ctx: Context, socket: SignalingSocket, code: JoinRefusalCode, message: string): JoinResponse {
  countRefusal(ctx, socket, `join ${code}: ${message}`);
  return { ok: false, code, message };
}

async function join(ctx: Context, socket: SignalingSocket, raw: unknown): Promise<JoinResponse> {
  const check = checkJoinRequest(raw);
  if (!check.ok) return refuseJoin(ctx, socket, check.code, check.message);
  const request = check.request;
  const current = socket.data.member;
  // Repeating the very same join (e.g. a client retrying after a lost ack) must not make the others tear
  // down their connections to this peer, which a leave + join would.
  if (current !== undefined && sameMember(current, request)) {
    const sockets = await ctx.io.in(roomKey(request.room)).fetchSockets();
    return accepted(ctx, current, othersIn(sockets, request.room, socket.id));
  }
  if (current !== undefined) leaveRoom(ctx, socket, `rejoin into ${JSON.stringify(request.room)}`);
  return ctx.roomLocks.run(roomKey(request.room), () => admit(ctx, socket, request));
}

const sameMember = (member: RoomMember, request: JoinRequest): boolean =>
  member.room === request.room && member.peerId === request.peerId && member.kind === request.kind;

/** Runs under the room's lock, so concurrent joins on this instance see each other's result. */
async function admit(ctx: Context, socket: SignalingSocket, request: JoinRequest): Promise<JoinResponse> {
  const { room, peerId, kind } = request;
  const others = othersIn(await ctx.io.in(roomKey(room)).fetchSockets(), room, socket.id);
  if (others.some((peer) => peer.peerId === peerId)) {
    return refuseJoin(ctx, socket, 'DUPLICATE_PEER', `peer id "${peerId}" is already in room ${JSON.stringify(room)}`);
  }
  if (others.length >= ctx.config.maxPeers) {
    return refuseJoin(ctx, socket, 'ROOM_FULL', `room ${JSON.stringify(room)} already has its maximum of ${ctx.config.maxPeers} peers`);
  }
  if (!(await enterRooms(socket, room, peerId))) {
    return refuseJoin(ctx, socket, 'INVALID_ARGUMENT', 'the connection closed while joining');
  }
  const member: RoomMember = { room, peerId, kind };
  socket.data.member = member;
  socket.to(roomKey(room)).emit('peer-joined', { peerId, kind });
  ctx.log(`[signaling] ${peerId} (${kind}) joined ${JSON.stringify(room)} (${others.length + 1} peers)`);
  return accepted(ctx, member, others);
}

/**
 * Joining a socket.io room after its socket disconnected would leave a ghost entry in the adapter, and
 * with an async (cluster) adapter the disconnect can happen during the join itself.
 */
async function enterRooms(socket: SignalingSocket, room: string, peerId: string): Promise<boolean> {
  const keys = [roomKey(room), peerKey(room, peerId)];
  if (!socket.connected) return false;
  await socket.join(keys);
  if (socket.connected) return true;
  for (const key of keys) await socket.leave(key);
  return false;
}

function othersIn(sockets: readonly PeerSocket[], room: string, selfId: string): RoomPeer[] {
  const peers: RoomPeer[] = [];
  for (const peer of sockets) {
    const member = peer.data.member;
    if (peer.id === selfId || member === undefined || member.room !== room) continue;
    peers.push({ peerId: member.peerId, kind: member.kind });
  }
  return peers.sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0));
}

const accepted = (ctx: Context, member: RoomMember, peers: readonly RoomPeer[]): JoinResponse => ({
  ok: true,
  peers,
  iceServers: iceServersFor(ctx, member),
});

/** Runs after admission, so a throwing factory must not fail the join: the peer is already announced. */
function iceServersFor(ctx: Context, member: RoomMember): readonly IceServerConfig[] {
  const { iceServers } = ctx.config;
  if (typeof iceServers !== 'function') return iceServers;
  try {
    return iceServers(member);
  } catch (error) {
    ctx.log(`[signaling] iceServers() failed for ${member.peerId}, answering with none: ${describeThrown(error)}`);
    return [];
  }
}

/**
 * Used for leave, rejoin and disconnect; on disconnect socket.io has already dropped the rooms.
 *
 * `announce` is false when this server is shutting down: its peers are alive and keep their data channels,
 * and they re-join through another instance (or this one once restarted). Announcing `peer-left` would make
 * every other peer -- on the other instances of a cluster, too -- tear its connections to them down. This
 * way a graceful shutdown looks like a crash, where nobody could announce anything either.
 */
function leaveRoom(ctx: Context, socket: SignalingSocket, why: string, announce = true): void {
  const member = socket.data.member;
  if (member === undefined) return;
  delete socket.data.member;
  for (const key of [roomKey(member.room), peerKey(member.room, member.peerId)]) {
    void Promise.resolve(socket.leave(key)).catch((error: unknown) =>
      ctx.log(`[signaling] leaving ${key} failed: ${describeThrown(error)}`),
    );
  }
  if (announce) ctx.io.to(roomKey(member.room)).emit('peer-left', { peerId: member.peerId });
  ctx.log(`[signaling] ${member.peerId} left ${JSON.stringify(member.room)}: ${why}`);
}

// ----------------------------------------------------------------------------------------------- signal

function onSignal(ctx: Context, socket: SignalingSocket, queue: SerialQueue, raw: unknown): void {
  // Checked before queueing so that an oversized blob is never retained.
  const check = checkSignal(raw, SIGNALING_LIMITS.maxSignalBytes);
  if (!check.ok) return refuseSignal(ctx, socket, check.to, check.reason);
  const message = check.message;
  if (!queue.push(() => relay(ctx, socket, message))) {
    refuseSignal(ctx, socket, message.to, 'too many signals pending on this connection');
  }
}

function refuseSignal(ctx: Context, socket: SignalingSocket, to: string | null, reason: string): void {
  countRefusal(ctx, socket, `signal: ${reason}`);
  socket.emit('signal-error', { to, reason });
}

async function relay(ctx: Context, socket: SignalingSocket, { to, data }: SignalToServer): Promise<void> {
  const member = socket.data.member;
  if (member === undefined) return refuseSignal(ctx, socket, to, 'join a room before signaling');
  // The target key embeds the sender's room: a peer of another room is simply not found.
  const target = peerKey(member.room, to);
  if (!(await peerExists(ctx, target))) return refuseSignal(ctx, socket, to, `no peer "${to}" in this room`);
  if (socket.data.member !== member) return refuseSignal(ctx, socket, to, 'left the room before the signal was relayed');
  ctx.io.to(target).emit('signal', { from: member.peerId, data });
  ctx.counters.relayed++;
}

/** The local adapter answers for peers on this instance without a round trip; only misses ask the cluster. */
async function peerExists(ctx: Context, target: string): Promise<boolean> {
  const local = ctx.io.of('/').adapter.rooms.get(target);
  if (local !== undefined && local.size > 0) return true;
  return (await ctx.io.in(target).fetchSockets()).length > 0;
}
