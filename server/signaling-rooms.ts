/** Rooms of the signaling server: each socket's join, refresh, leave and signal relay. */
import { describeThrown } from '../shared/errors.js';
import type {
  IceServerConfig,
  IdentityGrant,
  JoinRefusalCode,
  JoinRequest,
  JoinResponse,
  RefreshResponse,
  RoomPeer,
  SignalToServer,
} from '../shared/wire/signaling.js';
import { SIGNALING_LIMITS } from '../shared/wire/signaling.js';
import { claimKey, newNonce, reclaimSecret, secretMatches } from './claims.js';
import { decide } from './signaling-auth.js';
import { SerialQueue, bounded } from './serial.js';
import {
  CLAIM_STORE_TIMEOUT_MS,
  KNOWN_EVENTS,
  MAX_PENDING_PER_SOCKET,
  SHUTDOWN_REASON,
  countRefusal,
  peerKey,
  roomKey,
  type Connection,
  type Context,
  type PeerSocket,
  type SignalingSocket,
} from './signaling-context.js';
import type { RoomMember } from './signaling-types.js';
import { checkJoinRequest, checkSignal, isPlainObject, isValidPeerId } from './signaling-validate.js';

export function onConnection(ctx: Context, socket: SignalingSocket): void {
  const connection = ctx.connections.get(socket);
  // The handshake middleware records every connection it lets through, so this is only a safety net.
  if (connection === undefined) {
    countRefusal(ctx, socket, 'connection without a handshake record');
    socket.disconnect(true);
    return;
  }
  armIdle(ctx, socket, connection);
  // One queue per socket: a client may emit `join` and then `signal` without awaiting the ack, and the
  // signal must see the completed join. It also keeps a peer's signals in order across async lookups.
  const queue = new SerialQueue(MAX_PENDING_PER_SOCKET, (error) => countRefusal(ctx, socket, `handler failed: ${describeThrown(error)}`));
  const on = <A extends unknown[]>(event: string, handler: (...args: A) => void) => guarded(ctx, socket, event, handler);

  socket.on(
    'join',
    on('join', (...args: unknown[]) => onJoin(ctx, socket, connection, queue, args)),
  );
  socket.on(
    'refresh',
    on('refresh', (...args: unknown[]) => onRefresh(ctx, socket, connection, queue, args)),
  );
  socket.on(
    'signal',
    on('signal', (message: unknown) => onSignal(ctx, socket, connection, queue, message)),
  );
  socket.on(
    'leave',
    on('leave', () => onLeave(ctx, socket, connection, queue)),
  );
  socket.on(
    'disconnect',
    on('disconnect', (reason: string) => {
      disarmIdle(ctx, connection);
      leaveRoom(ctx, socket, connection, `disconnect (${reason})`, reason !== SHUTDOWN_REASON);
    }),
  );
  socket.onAny(
    on('any', (event: unknown) => {
      if (!KNOWN_EVENTS.has(event)) countRefusal(ctx, socket, `unknown event ${describeEventName(event)}`);
    }),
  );
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

// ------------------------------------------------------------------------------------------ idle bound

/** A connection not in a room holds a slot of `maxPendingSockets`: it gets `joinTimeoutMs` to use it. */
function armIdle(ctx: Context, socket: SignalingSocket, connection: Connection): void {
  if (connection.idleTimer !== null || !socket.connected) return;
  const timer = setTimeout(() => {
    ctx.idleTimers.delete(timer);
    connection.idleTimer = null;
    if (socket.data.member !== undefined) return;
    countRefusal(ctx, socket, `not in a room within ${ctx.config.joinTimeoutMs} ms, disconnecting`);
    socket.disconnect(true);
  }, ctx.config.joinTimeoutMs);
  connection.idleTimer = timer;
  ctx.idleTimers.add(timer);
}

function disarmIdle(ctx: Context, connection: Connection): void {
  if (connection.idleTimer === null) return;
  clearTimeout(connection.idleTimer);
  ctx.idleTimers.delete(connection.idleTimer);
  connection.idleTimer = null;
}

// ------------------------------------------------------------------------------------------------- join

/** socket.io always passes the ack last, so with extra arguments it would not sit in the second slot. */
function onJoin(ctx: Context, socket: SignalingSocket, connection: Connection, queue: SerialQueue, args: readonly unknown[]): void {
  const ack = args[args.length - 1];
  // Without an ack the client can never learn the outcome, so the event is malformed: drop it.
  if (typeof ack !== 'function') return countRefusal(ctx, socket, 'join without an ack callback');
  const reply = (response: JoinResponse): void => {
    Reflect.apply(ack, undefined, [response]);
  };
  if (args.length !== 2) return reply(refuse(ctx, socket, 'join', 'INVALID_ARGUMENT', 'join takes exactly one request and an ack'));
  const request = args[0];
  const accepted = queue.push(async () => {
    let response: JoinResponse;
    try {
      response = await join(ctx, socket, connection, request);
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
  if (!accepted) reply(refuse(ctx, socket, 'join', 'INVALID_ARGUMENT', 'too many requests pending on this connection'));
}

function onLeave(ctx: Context, socket: SignalingSocket, connection: Connection, queue: SerialQueue): void {
  // Queued so that a leave sent right after a join applies to that join.
  if (!queue.push(async () => leaveRoom(ctx, socket, connection, 'leave'))) {
    countRefusal(ctx, socket, 'leave: too many requests pending on this connection');
  }
}

function refuse(
  ctx: Context,
  socket: SignalingSocket,
  what: 'join' | 'refresh',
  code: JoinRefusalCode,
  message: string,
): { readonly ok: false; readonly code: JoinRefusalCode; readonly message: string } {
  countRefusal(ctx, socket, `${what} ${code}: ${message}`);
  return { ok: false, code, message };
}

async function join(ctx: Context, socket: SignalingSocket, connection: Connection, raw: unknown): Promise<JoinResponse> {
  const check = checkJoinRequest(raw);
  if (!check.ok) return refuse(ctx, socket, 'join', check.code, check.message);
  const request = check.request;
  // Counted only for well-formed joins: those are the ones that cost lookups and room-wide broadcasts.
  if (!connection.joins.take()) return refuse(ctx, socket, 'join', 'RATE_LIMITED', 'too many joins on this connection; retry later');
  const { room, peerId, kind, peerKey: key } = request;
  if (ctx.config.issuer !== null && key === undefined) {
    return refuse(
      ctx,
      socket,
      'join',
      'UNAUTHORIZED',
      "this server issues signed identities: a join must carry the peer's public key (peerKey)",
    );
  }
  // Before the room lock: an application's hook may be slow, and must not hold up the room's other joins.
  const decision = await decide(ctx, connection, { room, peerId, kind, peerKey: key, reason: 'join' });
  if (!decision.ok) return refuse(ctx, socket, 'join', decision.code, decision.message);
  const grant = ctx.config.issuer !== null && key !== undefined ? { caps: decision.caps, peerKey: key } : null;

  const current = socket.data.member;
  // Repeating the very same join (e.g. a client retrying after a lost ack) must not make the others tear
  // down their connections to this peer, which a leave + join would.
  if (current !== undefined && sameMember(current, request)) {
    connection.grant = grant;
    const sockets = await ctx.io.in(roomKey(room)).fetchSockets();
    return accepted(ctx, connection, current, othersIn(sockets, room, socket.id, peerId));
  }
  // A socket re-joining under the id it holds (with another kind, say) is its holder, secret or not.
  const ownHold = connection.hold;
  if (current !== undefined) leaveRoom(ctx, socket, connection, `rejoin into ${JSON.stringify(room)}`);
  return ctx.roomLocks.run(roomKey(room), () => admit(ctx, socket, connection, request, grant, ownHold));
}

const sameMember = (member: RoomMember, request: JoinRequest): boolean =>
  member.room === request.room && member.peerId === request.peerId && member.kind === request.kind;

/**
 * Runs under the room's lock, so concurrent joins on this instance see each other's result; across
 * instances, the claim store's atomic hold decides which of two racing joins gets a new id.
 *
 * A claimed id goes only to a join presenting its secret. That join takes the id over even from a socket
 * still connected (a client whose old connection the server has not noticed dead yet): the stale socket is
 * closed, and nobody hears a `peer-left`, since the same peer is still there.
 */
async function admit(
  ctx: Context,
  socket: SignalingSocket,
  connection: Connection,
  request: JoinRequest,
  grant: Connection['grant'],
  ownHold: Connection['hold'],
): Promise<JoinResponse> {
  const { room, peerId, kind } = request;
  const sockets = await ctx.io.in(roomKey(room)).fetchSockets();
  const stale = sockets.some((peer) => peer.id !== socket.id && peer.data.member?.room === room && peer.data.member.peerId === peerId);
  const others = othersIn(sockets, room, socket.id, peerId);
  const key = claimKey(room, peerId);
  const claimed = await bounded(ctx.claims.get(key), CLAIM_STORE_TIMEOUT_MS, 'the claim store');
  let nonce: string;
  if (claimed !== null) {
    const holder = ownHold !== null && ownHold.key === key && ownHold.nonce === claimed;
    if (!holder && !secretMatches(request.secret, reclaimSecret(ctx.config.serverSecret, room, peerId, claimed))) {
      const by = stale ? 'a connected peer' : 'a peer that left less than the claim time ago';
      return refuse(
        ctx,
        socket,
        'join',
        'DUPLICATE_PEER',
        `peer id "${peerId}" is held in room ${JSON.stringify(room)} by ${by}; only its secret can reclaim it`,
      );
    }
    nonce = claimed;
  } else if (stale) {
    // A member without a claim (the store forgot it or lost it): its membership still protects its id.
    return refuse(ctx, socket, 'join', 'DUPLICATE_PEER', `peer id "${peerId}" is already in room ${JSON.stringify(room)}`);
  } else {
    nonce = newNonce();
  }
  if (others.length >= ctx.config.maxPeers) {
    return refuse(ctx, socket, 'join', 'ROOM_FULL', `room ${JSON.stringify(room)} already has its maximum of ${ctx.config.maxPeers} peers`);
  }
  const held = await bounded(ctx.claims.hold(key, nonce, ctx.config.claimTtlMs), CLAIM_STORE_TIMEOUT_MS, 'the claim store');
  if (held !== nonce) {
    return refuse(ctx, socket, 'join', 'DUPLICATE_PEER', `peer id "${peerId}" was just taken in room ${JSON.stringify(room)}`);
  }
  let entered: boolean;
  try {
    entered = await enterRooms(socket, room, peerId);
  } catch (error) {
    if (claimed === null) releaseClaim(ctx, key, nonce);
    throw error;
  }
  if (!entered) {
    // Nobody learnt this claim's secret: keeping it would lock the id out for the whole claim time.
    if (claimed === null) releaseClaim(ctx, key, nonce);
    return refuse(ctx, socket, 'join', 'INVALID_ARGUMENT', 'the connection closed while joining');
  }
  if (stale) {
    // Cluster-wide. The stale socket's leave sees this one in the peer's key and announces nothing.
    ctx.io.in(peerKey(room, peerId)).except(socket.id).disconnectSockets(true);
    ctx.log(`[signaling] ${peerId} reclaimed its id in ${JSON.stringify(room)}; its previous connection is closed`);
  }
  const member: RoomMember = { room, peerId, kind };
  socket.data.member = member;
  ctx.members.joined++;
  connection.hold = { key, nonce };
  connection.grant = grant;
  disarmIdle(ctx, connection);
  socket.to(roomKey(room)).emit('peer-joined', { peerId, kind });
  // Look again now that we are in the room and announced: a peer joining at the same time through another
  // instance either saw us in its own look, or announced itself before we entered (missed) and is in this one.
  const present = othersIn(await ctx.io.in(roomKey(room)).fetchSockets(), room, socket.id, peerId);
  ctx.log(`[signaling] ${peerId} (${kind}) joined ${JSON.stringify(room)} (${present.length + 1} peers)`);
  return accepted(ctx, connection, member, present);
}

function releaseClaim(ctx: Context, key: string, nonce: string): void {
  void bounded(ctx.claims.release(key, nonce), CLAIM_STORE_TIMEOUT_MS, 'the claim store').catch((error: unknown) =>
    ctx.log(`[signaling] releasing the claim ${key} failed: ${describeThrown(error)}`),
  );
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

/** The room's members but `selfId` and any socket holding `peerId` (a stale one being taken over). */
function othersIn(sockets: readonly PeerSocket[], room: string, selfId: string, peerId: string): RoomPeer[] {
  const peers: RoomPeer[] = [];
  for (const peer of sockets) {
    const member = peer.data.member;
    if (peer.id === selfId || member === undefined || member.room !== room || member.peerId === peerId) continue;
    peers.push({ peerId: member.peerId, kind: member.kind });
  }
  return peers.sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0));
}

function accepted(ctx: Context, connection: Connection, member: RoomMember, peers: readonly RoomPeer[]): JoinResponse {
  const hold = connection.hold;
  if (hold === null) throw new Error(`${member.peerId} is a member without a claim`);
  const identity = issueIdentity(ctx, connection, member);
  return {
    ok: true,
    peers,
    iceServers: iceServersFor(ctx, member, identity?.exp ?? null),
    secret: reclaimSecret(ctx.config.serverSecret, member.room, member.peerId, hold.nonce),
    identity: identity?.grant ?? null,
  };
}

function issueIdentity(ctx: Context, connection: Connection, member: RoomMember): { grant: IdentityGrant; exp: number } | null {
  const { issuer } = ctx.config;
  const grant = connection.grant;
  if (issuer === null || grant === null) return null;
  const { token, exp } = issuer.issue({ ...member, caps: grant.caps, key: grant.peerKey }, Date.now());
  return { grant: { token, serverKeys: issuer.serverKeys }, exp };
}

/** Runs after admission, so a throwing factory must not fail the join: the peer is already announced. */
function iceServersFor(ctx: Context, member: RoomMember, expiresAt: number | null): readonly IceServerConfig[] {
  const { iceServers } = ctx.config;
  if (typeof iceServers !== 'function') return iceServers;
  try {
    return iceServers({ ...member, expiresAt });
  } catch (error) {
    ctx.log(`[signaling] iceServers() failed for ${member.peerId}, answering with none: ${describeThrown(error)}`);
    return [];
  }
}

/**
 * Used for leave, rejoin and disconnect; on disconnect socket.io has already dropped the rooms. The claim
 * is held once more for the full claim time from now, so a peer coming back within it gets its id back.
 *
 * `announce` is false when this server is shutting down: its peers are alive and keep their data channels,
 * and they re-join through another instance (or this one once restarted). Announcing `peer-left` would make
 * every other peer -- on the other instances of a cluster, too -- tear its connections to them down. This
 * way a graceful shutdown looks like a crash, where nobody could announce anything either.
 */
function leaveRoom(ctx: Context, socket: SignalingSocket, connection: Connection, why: string, announce = true): void {
  const member = socket.data.member;
  if (member === undefined) return;
  delete socket.data.member;
  ctx.members.joined--;
  const hold = connection.hold;
  connection.hold = null;
  connection.grant = null;
  for (const key of [roomKey(member.room), peerKey(member.room, member.peerId)]) {
    void Promise.resolve(socket.leave(key)).catch((error: unknown) =>
      ctx.log(`[signaling] leaving ${key} failed: ${describeThrown(error)}`),
    );
  }
  if (hold !== null) {
    void bounded(ctx.claims.hold(hold.key, hold.nonce, ctx.config.claimTtlMs), CLAIM_STORE_TIMEOUT_MS, 'the claim store').catch(
      (error: unknown) => ctx.log(`[signaling] keeping the claim of ${member.peerId} failed: ${describeThrown(error)}`),
    );
  }
  if (announce) void announceLeft(ctx, socket, member);
  armIdle(ctx, socket, connection);
  ctx.log(`[signaling] ${member.peerId} left ${JSON.stringify(member.room)}: ${why}`);
}

/** Says nothing when another socket holds the id by now: the peer reclaimed it, so it has not left. */
async function announceLeft(ctx: Context, socket: SignalingSocket, member: RoomMember): Promise<void> {
  const key = peerKey(member.room, member.peerId);
  const local = ctx.io.of('/').adapter.rooms.get(key);
  let held = local !== undefined && [...local].some((id) => id !== socket.id);
  if (!held) {
    try {
      held = (await ctx.io.in(key).fetchSockets()).some((peer) => peer.id !== socket.id);
    } catch (error) {
      // Not knowing, the departure is announced: a peer wrongly kept would be waited for in vain.
      ctx.log(`[signaling] could not ask the cluster about ${member.peerId}: ${describeThrown(error)}`);
    }
  }
  if (!held) ctx.io.to(roomKey(member.room)).emit('peer-left', { peerId: member.peerId });
}

// ---------------------------------------------------------------------------------------------- refresh

function onRefresh(ctx: Context, socket: SignalingSocket, connection: Connection, queue: SerialQueue, args: readonly unknown[]): void {
  const ack = args[args.length - 1];
  if (typeof ack !== 'function') return countRefusal(ctx, socket, 'refresh without an ack callback');
  const reply = (response: RefreshResponse): void => {
    Reflect.apply(ack, undefined, [response]);
  };
  if (args.length !== 1) return reply(refuse(ctx, socket, 'refresh', 'INVALID_ARGUMENT', 'refresh takes nothing but an ack'));
  if (!connection.refreshes.take())
    return reply(refuse(ctx, socket, 'refresh', 'RATE_LIMITED', 'too many refreshes on this connection; retry later'));
  // Queued behind any join in flight, so a refresh sent right after a join refreshes that membership.
  if (!queue.push(async () => reply(await refresh(ctx, socket, connection)))) {
    reply(refuse(ctx, socket, 'refresh', 'INVALID_ARGUMENT', 'too many requests pending on this connection'));
  }
}

/** Asks the policy again (token scope, hook): a grant the application has revoked is not renewed. */
async function refresh(ctx: Context, socket: SignalingSocket, connection: Connection): Promise<RefreshResponse> {
  if (ctx.config.issuer === null) return refuse(ctx, socket, 'refresh', 'INVALID_ARGUMENT', 'this server does not issue signed identities');
  const member = socket.data.member;
  const grant = connection.grant;
  if (member === undefined || grant === null) return refuse(ctx, socket, 'refresh', 'INVALID_ARGUMENT', 'join a room before refreshing');
  const decision = await decide(ctx, connection, { ...member, peerKey: grant.peerKey, reason: 'refresh' });
  if (socket.data.member !== member) return refuse(ctx, socket, 'refresh', 'INVALID_ARGUMENT', 'left the room while refreshing');
  if (!decision.ok) return refuse(ctx, socket, 'refresh', decision.code, decision.message);
  connection.grant = { caps: decision.caps, peerKey: grant.peerKey };
  const identity = issueIdentity(ctx, connection, member);
  if (identity === null) return refuse(ctx, socket, 'refresh', 'INVALID_ARGUMENT', 'no identity to refresh');
  return { ok: true, identity: identity.grant, iceServers: iceServersFor(ctx, member, identity.exp) };
}

// ----------------------------------------------------------------------------------------------- signal

function onSignal(ctx: Context, socket: SignalingSocket, connection: Connection, queue: SerialQueue, raw: unknown): void {
  // Before any other work: the bucket is what keeps a flood cheap.
  if (!connection.signals.take()) {
    const to = isPlainObject(raw) && isValidPeerId(raw['to']) ? raw['to'] : null;
    return refuseSignal(
      ctx,
      socket,
      to,
      `rate limited: at most ${ctx.config.signalBurst} signals at once and ${ctx.config.signalsPerSecond}/s per connection`,
    );
  }
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
