/**
 * The signaling server: introduces peers of a room to each other and relays their WebRTC offers, answers
 * and ICE candidates. Actor traffic never passes through here.
 *
 * All membership lives in socket.io rooms and `socket.data`, never in a Map of this process, so that a
 * cluster adapter (e.g. Redis) makes one room span several server instances:
 *   - `room:<room>`  every socket that joined <room>; `peer-joined` / `peer-left` go there;
 *   - `peer:["<room>","<peerId>"]`  the one socket of that peer, so a relay is just an emit to a room.
 * Claims on peer ids (./claims.ts) are the exception: they must outlive the socket, so they live in a
 * ClaimStore, which a cluster shares (Redis), and whose atomic hold decides between two instances
 * admitting the same new peer id at the same instant.
 * Limits of that design: `stats()` and `/healthz` count only this instance's sockets, and the ROOM_FULL
 * check is serialised per room only within one instance, so two instances admitting the last seat of a
 * room at the same instant can both succeed.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { InvalidArgumentError, describeThrown } from '../shared/errors.js';
import { SIGNALING_LIMITS } from '../shared/wire/signaling.js';
import { MemoryClaimStore, resolveServerSecret } from './claims.js';
import { createIdentityIssuer } from './identity.js';
import { LogThrottle } from './rate-limit.js';
import { KeyedLock, bounded } from './serial.js';
import { handshakeMiddleware, resolveAllowedOrigins, resolveGrants, resolveTokens } from './signaling-auth.js';
import { CLAIM_STORE_TIMEOUT_MS, noop, pendingConnections, type Config, type Context } from './signaling-context.js';
import { countMembers, describeAddress, ensureListening, installHealthz } from './signaling-http.js';
import { onConnection } from './signaling-rooms.js';
import type { SignalingIo, SignalingServer, SignalingServerOptions } from './signaling-types.js';
import { isTurnFactory } from './turn.js';

export type {
  AuthorizeHook,
  AuthorizeRequest,
  AuthorizeResult,
  CapabilityGrants,
  IceServersFactory,
  IceServersRequest,
  RoomMember,
  SignalingAdapter,
  SignalingInterServerEvents,
  SignalingIo,
  SignalingServer,
  SignalingServerOptions,
  SignalingSocketData,
  SignalingStats,
  TokenScope,
} from './signaling-types.js';
export { installShutdown, type ShutdownOptions } from './shutdown.js';

const DEFAULT_PORT = 3000;
const DEFAULT_HOST = '0.0.0.0';
const DEFAULT_MAX_PEERS = 64;
export const DEFAULT_CLAIM_TTL_MS = 5 * 60_000;
const MIN_CLAIM_TTL_MS = 100;
export const DEFAULT_MAX_PENDING_SOCKETS = 256;
export const DEFAULT_JOIN_TIMEOUT_MS = 10_000;
export const DEFAULT_SIGNALS_PER_SECOND = 50;
export const DEFAULT_SIGNAL_BURST = 500;
const DEFAULT_AUTHORIZE_TIMEOUT_MS = 3000;
/** Refusal lines logged per second at most; the counters still count every refusal. */
const REFUSAL_LOG_PER_SECOND = 20;
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
    // A connection that never gets as far as the socket.io handshake is bounded like one that never joins.
    connectTimeout: config.joinTimeoutMs,
    ...(options.adapter === undefined ? {} : { adapter: options.adapter }),
  });
  // Must come before attach(): engine.io captures the request listeners present at that moment.
  installHealthz(httpServer, owned, () => countMembers(io));
  io.attach(httpServer);
  const ctx: Context = {
    io,
    config,
    roomLocks: new KeyedLock(),
    counters,
    members: { joined: 0 },
    claims: options.claims ?? new MemoryClaimStore(),
    connections: new WeakMap(),
    idleTimers: new Set(),
    refusalLog: new LogThrottle(REFUSAL_LOG_PER_SECOND),
    log,
  };
  io.use(handshakeMiddleware(ctx));
  io.on('connection', (socket) => onConnection(ctx, socket));

  try {
    await ensureListening(httpServer, config.port, config.host);
  } catch (error) {
    await io.close();
    throw error;
  }
  const { url, port } = describeAddress(httpServer);
  log(`[signaling] listening on ${url} (${describeAuth(config)})`);
  if (handsOutTurn(options) && config.tokens === null && config.authorize === undefined && config.issuer === null) {
    log('[signaling] warning: TURN credentials go to anyone who can connect: set a token, tokens, an authorize hook or an identity key');
  }
  const sweep = startClaimSweep(ctx);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    io,
    httpServer,
    // socket.io's close() also closes the http server it is attached to, a passed-in one included: engine.io
    // cannot be detached from a server, so leaving that server running would leave a dead /socket.io/ behind.
    close: () =>
      (closing ??= (async () => {
        clearInterval(sweep);
        try {
          await io.close();
        } finally {
          // Disconnecting clears each connection's timer; a connection socket.io never finished is the exception.
          for (const timer of ctx.idleTimers) clearTimeout(timer);
          ctx.idleTimers.clear();
        }
        log('[signaling] closed');
      })()),
    stats: () => ({ ...countMembers(io), pending: pendingConnections(ctx), relayed: counters.relayed, refused: counters.refused }),
  };
}

function describeAuth(config: Config): string {
  const parts = [
    config.tokens === null ? 'no token' : 'token required',
    config.authorize === undefined ? undefined : 'authorize hook',
    config.issuer === null ? 'open mode' : 'signed identities',
    config.allowedOrigins === null ? undefined : `origins ${[...config.allowedOrigins].join(', ')}`,
  ];
  return parts.filter((part) => part !== undefined).join('; ');
}

function handsOutTurn(options: SignalingServerOptions): boolean {
  const { iceServers } = options;
  if (typeof iceServers === 'function') return isTurnFactory(iceServers);
  return (iceServers ?? []).some((server) =>
    (typeof server.urls === 'string' ? [server.urls] : server.urls).some((u) => /^turns?:/i.test(u)),
  );
}

/**
 * Claims of connected members are held again every third of the claim time, so that they outlive a crash
 * of this instance by at least two thirds of it, and are never the oldest in a bounded store.
 */
function startClaimSweep(ctx: Context): ReturnType<typeof setInterval> {
  let running = false;
  const timer = setInterval(
    () => {
      if (running) return;
      running = true;
      const holds: Promise<string>[] = [];
      for (const socket of ctx.io.of('/').sockets.values()) {
        const hold = ctx.connections.get(socket)?.hold;
        if (hold)
          holds.push(bounded(ctx.claims.hold(hold.key, hold.nonce, ctx.config.claimTtlMs), CLAIM_STORE_TIMEOUT_MS, 'the claim store'));
      }
      void Promise.allSettled(holds).then((results) => {
        running = false;
        const failed = results.filter((result) => result.status === 'rejected');
        if (failed.length > 0) ctx.log(`[signaling] holding ${failed.length} claims failed: ${describeThrown(failed[0]?.reason)}`);
      });
    },
    Math.max(1, Math.floor(ctx.config.claimTtlMs / 3)),
  );
  timer.unref();
  return timer;
}

const positiveInteger = (value: number, what: string, min = 1): number => {
  if (!Number.isSafeInteger(value) || value < min)
    throw new InvalidArgumentError(`${what} must be an integer of at least ${min}, got ${value}`);
  return value;
};

function resolveConfig(options: SignalingServerOptions): Config {
  const port = options.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`invalid port ${port}`);
  const maxPeers = options.maxPeers ?? DEFAULT_MAX_PEERS;
  if (!Number.isInteger(maxPeers) || maxPeers < 1) throw new InvalidArgumentError(`maxPeers must be a positive integer, got ${maxPeers}`);
  // An empty token usually means an unset environment variable; running open by accident is the worse failure.
  if (options.token === '') throw new InvalidArgumentError('token must not be empty (omit it to disable auth)');
  if (options.authorize !== undefined && typeof options.authorize !== 'function')
    throw new InvalidArgumentError('authorize must be a function');
  const signalsPerSecond = options.signalsPerSecond ?? DEFAULT_SIGNALS_PER_SECOND;
  if (!(Number.isFinite(signalsPerSecond) && signalsPerSecond > 0))
    throw new InvalidArgumentError(`signalsPerSecond must be positive, got ${signalsPerSecond}`);
  return {
    port,
    host: options.host ?? DEFAULT_HOST,
    token: options.token,
    tokens: resolveTokens(options.token, options.tokens),
    authorize: options.authorize,
    authorizeTimeoutMs: positiveInteger(options.authorizeTimeoutMs ?? DEFAULT_AUTHORIZE_TIMEOUT_MS, 'authorizeTimeoutMs'),
    issuer: options.identity === undefined ? null : createIdentityIssuer(options.identity),
    grants: resolveGrants(options.grants),
    allowedOrigins: resolveAllowedOrigins(options.allowedOrigins),
    serverSecret: resolveServerSecret(options.serverSecret),
    claimTtlMs: positiveInteger(options.claimTtlMs ?? DEFAULT_CLAIM_TTL_MS, 'claimTtlMs', MIN_CLAIM_TTL_MS),
    maxPeers,
    maxPendingSockets: positiveInteger(options.maxPendingSockets ?? DEFAULT_MAX_PENDING_SOCKETS, 'maxPendingSockets'),
    joinTimeoutMs: positiveInteger(options.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS, 'joinTimeoutMs'),
    signalsPerSecond,
    signalBurst: positiveInteger(options.signalBurst ?? DEFAULT_SIGNAL_BURST, 'signalBurst'),
    iceServers: typeof options.iceServers === 'function' ? options.iceServers : Object.freeze([...(options.iceServers ?? [])]),
  };
}
