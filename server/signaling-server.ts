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
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { InvalidArgumentError } from '../shared/errors.js';
import { SIGNALING_LIMITS } from '../shared/wire/signaling.js';
import { KeyedLock } from './serial.js';
import { noop, type Config, type Context } from './signaling-context.js';
import { tokenMiddleware } from './signaling-auth.js';
import { countMembers, describeAddress, ensureListening, installHealthz } from './signaling-http.js';
import { onConnection } from './signaling-rooms.js';
import type { SignalingIo, SignalingServer, SignalingServerOptions } from './signaling-types.js';

export type {
  IceServersFactory,
  RoomMember,
  SignalingAdapter,
  SignalingInterServerEvents,
  SignalingIo,
  SignalingServer,
  SignalingServerOptions,
  SignalingSocketData,
  SignalingStats,
} from './signaling-types.js';
export { installShutdown, type ShutdownOptions } from './shutdown.js';

const DEFAULT_PORT = 3000;
const DEFAULT_HOST = '0.0.0.0';
const DEFAULT_MAX_PEERS = 64;
/**
 * A signal slightly over maxSignalBytes should get a readable `signal-error`, so the transport limit sits
 * well above it; anything beyond is abuse and engine.io simply drops the connection.
 */
const MAX_HTTP_BUFFER_SIZE = SIGNALING_LIMITS.maxSignalBytes * 4;

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
