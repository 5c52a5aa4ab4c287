/**
 * The signaling server: introduces peers of a room to each other and relays their WebRTC offers, answers
 * and ICE candidates. Actor traffic never passes through here.
 *
 * All membership lives in socket.io rooms and `socket.data`, never in a Map of this process, so that a
 * cluster adapter (e.g. Redis) makes one room span several server instances:
 *   - `room:<room>`  every socket that joined <room>; `peer-joined` / `peer-left` go there;
 *   - `peer:["<room>","<peerId>"]`  the one socket of that peer, so a relay is just an emit to a room.
 * Limits of that design: `stats()` and `/healthz` count only this instance's sockets, and the
 * DUPLICATE_PEER / ROOM_FULL checks are serialised per room only within one instance, so two instances
 * admitting the same peer id at the same instant can both succeed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { Server, type ExtendedError, type RemoteSocket, type ServerOptions, type Socket } from 'socket.io';
import { InvalidArgumentError, describeThrown } from '../shared/errors.js';
import type { PeerKind } from '../shared/placement/membership.js';
import {
  SIGNALING_LIMITS,
  type ClientToServerEvents,
  type IceServerConfig,
  type JoinRefusalCode,
  type JoinRequest,
  type JoinResponse,
  type RoomPeer,
  type ServerToClientEvents,
  type SignalToServer,
} from '../shared/wire/signaling.js';
import { checkJoinRequest, checkSignal, isPlainObject } from './signaling-validate.js';

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

type SignalingSocket = Socket<ClientToServerEvents, ServerToClientEvents, SignalingInterServerEvents, SignalingSocketData>;
type PeerSocket = RemoteSocket<ServerToClientEvents, SignalingSocketData>;

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

interface Config {
  readonly port: number;
  readonly host: string;
  readonly token: string | undefined;
  readonly maxPeers: number;
  readonly iceServers: readonly IceServerConfig[] | IceServersFactory;
}

interface Context {
  readonly io: SignalingIo;
  readonly config: Config;
  readonly roomLocks: KeyedLock;
  readonly counters: { relayed: number; refused: number };
  readonly log: (line: string) => void;
}

const DEFAULT_PORT = 3000;
const DEFAULT_HOST = '0.0.0.0';
const DEFAULT_MAX_PEERS = 64;
/**
 * A signal slightly over maxSignalBytes should get a readable `signal-error`, so the transport limit sits
 * well above it; anything beyond is abuse and engine.io simply drops the connection.
 */
const MAX_HTTP_BUFFER_SIZE = SIGNALING_LIMITS.maxSignalBytes * 4;
/** Bounds the memory one client can pin by flooding events faster than they are processed. */
const MAX_PENDING_PER_SOCKET = 128;
const KNOWN_EVENTS: ReadonlySet<unknown> = new Set<keyof ClientToServerEvents>(['join', 'signal', 'leave']);
const ROOM_PREFIX = 'room:';
/** The disconnect reason socket.io gives every socket in `io.close()`. */
const SHUTDOWN_REASON = 'server shutting down';
const noop = (): void => {};

const roomKey = (room: string): string => `${ROOM_PREFIX}${room}`;
// JSON keeps the key unambiguous whatever the room name contains (a room may contain ':').
const peerKey = (room: string, peerId: string): string => `peer:${JSON.stringify([room, peerId])}`;

export async function createSignalingServer(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const config = resolveConfig(options);
  const log = options.log ?? noop;
  const owned = options.httpServer === undefined;
  const httpServer = options.httpServer ?? createServer();
  const counters = { relayed: 0, refused: 0 };
  const io: SignalingIo = new Server({
    serveClient: false,
    maxHttpBufferSize: MAX_HTTP_BUFFER_SIZE,
    ...(options.adapter === undefined ? {} : { adapter: options.adapter }),
  });
  // Must come before attach(): engine.io captures the request listeners present at that moment.
  installHealthz(httpServer, owned, () => countMembers(io));
  io.attach(httpServer);
  const ctx: Context = { io, config, roomLocks: new KeyedLock(), counters, log };
  if (config.token !== undefined) io.use(tokenMiddleware(ctx, config.token));
  io.on('connection', (socket) => onConnection(ctx, socket));

  try {
    await ensureListening(httpServer, config.port, config.host);
  } catch (error) {
    await io.close();
    throw error;
  }
  const { url, port } = describeAddress(httpServer);
  log(`[signaling] listening on ${url}${config.token === undefined ? '' : ' (token required)'}`);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    io,
    httpServer,
    // socket.io's close() also closes the http server it is attached to, a passed-in one included: engine.io
    // cannot be detached from a server, so leaving that server running would leave a dead /socket.io/ behind.
    close: () => (closing ??= io.close().then(() => log('[signaling] closed'))),
    stats: () => ({ ...countMembers(io), relayed: counters.relayed, refused: counters.refused }),
  };
}

function resolveConfig(options: SignalingServerOptions): Config {
  const port = options.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`invalid port ${port}`);
  const maxPeers = options.maxPeers ?? DEFAULT_MAX_PEERS;
  if (!Number.isInteger(maxPeers) || maxPeers < 1) throw new InvalidArgumentError(`maxPeers must be a positive integer, got ${maxPeers}`);
  // An empty token usually means an unset environment variable; running open by accident is the worse failure.
  if (options.token === '') throw new InvalidArgumentError('token must not be empty (omit it to disable auth)');
  return {
    port,
    host: options.host ?? DEFAULT_HOST,
    token: options.token,
    maxPeers,
    iceServers: typeof options.iceServers === 'function' ? options.iceServers : Object.freeze([...(options.iceServers ?? [])]),
  };
}

// ---------------------------------------------------------------------------------------------- http side

/**
 * Serves GET/HEAD /healthz and leaves every other path to whoever else handles the server.
 *
 * Node calls every 'request' listener for every request, so answering /healthz from one more listener would
 * make a static-file handler answer it a second time. Instead this takes the listeners registered so far
 * and calls them itself for other paths, the same trick engine.io uses for /socket.io/. Consequently, when
 * passing your own `httpServer`, register its request handler BEFORE calling createSignalingServer (socket.io
 * requires the same, or your handler would also see /socket.io/ requests). With a server created here, other
 * paths get a 404.
 */
function installHealthz(server: HttpServer, owned: boolean, members: () => { rooms: number; peers: number }): void {
  const previous = server.listeners('request');
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (isHealthz(req)) return answerHealthz(req, res, members());
    if (owned) return answer(res, 404, { ok: false, error: 'not found' });
    for (const listener of previous) Reflect.apply(listener, server, [req, res]);
  });
}

function isHealthz(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  const path = url.split('?', 1)[0];
  return path === '/healthz';
}

function answerHealthz(req: IncomingMessage, res: ServerResponse, members: { rooms: number; peers: number }): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return answer(res, 405, { ok: false, error: 'method not allowed' });
  }
  answer(res, 200, { ok: true, ...members }, req.method === 'HEAD');
}

function answer(res: ServerResponse, status: number, body: object, headOnly = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(headOnly ? undefined : text);
}

function ensureListening(server: HttpServer, port: number, host: string): Promise<void> {
  if (server.listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

function describeAddress(server: HttpServer): { url: string; port: number } {
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new InvalidArgumentError('the signaling http server must listen on a TCP port');
  }
  const host = reachableHost(address.address);
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`, port: address.port };
}

/** A wildcard bind is not an address a client can dial; loopback is the one that surely works locally. */
function reachableHost(bound: string): string {
  if (bound === '0.0.0.0') return '127.0.0.1';
  if (bound === '::') return '::1';
  return bound;
}

function countMembers(io: SignalingIo): { rooms: number; peers: number } {
  let rooms = 0;
  let peers = 0;
  for (const [key, sockets] of io.of('/').adapter.rooms) {
    if (!key.startsWith(ROOM_PREFIX) || sockets.size === 0) continue;
    rooms++;
    peers += sockets.size;
  }
  return { rooms, peers };
}

// ------------------------------------------------------------------------------------------------- auth

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Compares digests so that neither the token's content nor its length leaks through timing. */
function tokenMiddleware(ctx: Context, expected: string) {
  const expectedDigest = digest(expected);
  return (socket: SignalingSocket, next: (error?: ExtendedError) => void): void => {
    const auth: unknown = socket.handshake.auth;
    const token = isPlainObject(auth) ? auth['token'] : undefined;
    if (typeof token !== 'string' || token.length === 0) return refuseConnection(ctx, socket, next, 'missing token');
    if (!timingSafeEqual(digest(token), expectedDigest)) return refuseConnection(ctx, socket, next, 'invalid token');
    next();
  };
}

function refuseConnection(
  ctx: Context,
  socket: SignalingSocket,
  next: (error?: ExtendedError) => void,
  reason: string,
): void {
  countRefusal(ctx, socket, `connection: ${reason}`);
  // The client sees this message verbatim in its connect_error; the prefix is what it switches on.
  next(new Error(`UNAUTHORIZED: ${reason}`));
}

// --------------------------------------------------------------------------------------------- sockets

function onConnection(ctx: Context, socket: SignalingSocket): void {
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

function countRefusal(ctx: Context, socket: { readonly id: string }, reason: string): void {
  ctx.counters.refused++;
  ctx.log(`[signaling] refused ${socket.id}: ${reason}`);
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

// ---------------------------------------------------------------------------------------- concurrency

/** Runs tasks one after another; a failing task is reported and does not stop the ones behind it. */
class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly limit: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  push(task: () => Promise<void>): boolean {
    if (this.pending >= this.limit) return false;
    this.pending++;
    this.tail = this.tail
      .then(task)
      .catch(this.onError)
      .finally(() => {
        this.pending--;
      });
    return true;
  }
}

/** Serialises async critical sections per key; a key's entry disappears once its last section ends. */
class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, section: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(section);
    const tail = result.then(noop, noop);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

// --------------------------------------------------------------------------------------------- shutdown

export interface ShutdownOptions {
  /** Default ['SIGTERM', 'SIGINT']. */
  readonly signals?: readonly NodeJS.Signals[] | undefined;
  /** Exit with 1 if close() has not finished by then; default 10 000 ms. */
  readonly timeoutMs?: number | undefined;
  readonly log?: ((line: string) => void) | undefined;
}

/**
 * On the first of `signals`: close() once, then exit 0 (1 if close fails or outlives `timeoutMs`). Later
 * signals are swallowed while closing rather than killing the process half-way. Returns a disposer that
 * removes the handlers.
 */
export function installShutdown(server: Pick<SignalingServer, 'close'>, options: ShutdownOptions = {}): () => void {
  const signals = [...(options.signals ?? ['SIGTERM', 'SIGINT'])];
  const timeoutMs = options.timeoutMs ?? 10_000;
  const log = options.log ?? noop;
  let started = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (started) return;
    started = true;
    log(`[signaling] ${signal}: shutting down`);
    const force = setTimeout(() => {
      log(`[signaling] close() did not finish within ${timeoutMs} ms`);
      process.exit(1);
    }, timeoutMs);
    force.unref();
    server.close().then(
      () => {
        clearTimeout(force);
        process.exit(0);
      },
      (error: unknown) => {
        clearTimeout(force);
        log(`[signaling] close() failed: ${describeThrown(error)}`);
        process.exit(1);
      },
    );
  };
  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
}
