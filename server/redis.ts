/**
 * Several signaling server instances sharing one Redis, so that a room spans all of them: a peer connected
 * to instance A meets, signals and is counted together with peers connected to instance B.
 *
 * Adapter choice: `@socket.io/redis-adapter` (Redis pub/sub), not `@socket.io/redis-streams-adapter`. The
 * signaling server needs exactly what the pub/sub adapter provides across instances -- broadcasts to a
 * room (`peer-joined`/`peer-left`, relays to `peer:<room,id>`) and `fetchSockets()` with `socket.data` (the
 * members of a room for the join ack, DUPLICATE_PEER, ROOM_FULL, relay targets) -- and nothing is stored
 * in Redis. What the streams adapter adds is durability: packets survive an instance's short disconnect
 * from Redis (it resumes reading the stream), and clients get socket.io's connection-state recovery. Neither
 * helps here: a client re-joins on every reconnect and gets the current member list, and a stale WebRTC
 * signal is worthless, so replaying it after an outage would only confuse the peers. Pub/sub also needs no
 * stream trimming or persistence and works with any Redis (or a compatible server such as Valkey).
 *
 * Claims on peer ids (./claims.ts) are the one thing kept in Redis itself, as keys with a TTL, so that all
 * instances agree on who holds an id and a peer can reclaim its id through any of them.
 *
 * The redis modules are imported lazily, so a single server without Redis never loads them.
 */
import { randomBytes } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { InvalidArgumentError, SignalingError, describeThrown } from '../shared/errors.js';
import type { ClaimStore } from './claims.js';
import { quitOrDisconnect } from './redis-quit.js';
import { redactUrl } from './redact-url.js';
import { bounded } from './serial.js';
import { createSignalingServer, type SignalingAdapter, type SignalingServer, type SignalingServerOptions } from './signaling-server.js';

export interface RedisAdapterOptions {
  /** How long connecting to Redis may take before giving up (ms, default 5000). */
  readonly connectTimeoutMs?: number | undefined;
  /**
   * How long a cross-instance request (fetchSockets: every join and every relay to a peer on another
   * instance) waits for the other instances (ms, default 5000). Bounded by the client's 5 s join timeout.
   */
  readonly requestsTimeoutMs?: number | undefined;
  /** Prefix of the pub/sub channels; instances must share it to form one cluster (default 'rtc-mesh'). */
  readonly key?: string | undefined;
  readonly log?: ((line: string) => void) | undefined;
}

export interface RedisAdapterHandle {
  /** Pass as `createSignalingServer({ adapter })`. */
  readonly adapter: SignalingAdapter;
  /** Claims on peer ids kept in this Redis: pass as `createSignalingServer({ claims })` on every instance. */
  readonly claims: ClaimStore;
  /**
   * A server secret shared by every instance using this Redis (and key): the first instance to ask stores a
   * random one, the others read it. For `createSignalingServer({ serverSecret })` when none is configured.
   */
  sharedServerSecret(): Promise<string>;
  /** Disconnects both Redis clients; idempotent. Call it after the signaling server's close(). */
  close(): Promise<void>;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_REQUESTS_TIMEOUT_MS = 5000;
const DEFAULT_KEY = 'rtc-mesh';
/** Once connected, a lost Redis connection is retried forever, backing off up to this (ms). */
const MAX_RECONNECT_DELAY_MS = 3000;
const SHARED_SECRET_TIMEOUT_MS = 5000;
const noop = (): void => {};

type Client = RedisClientType;

/**
 * Connects a publisher and a subscriber client to `url` (redis:// or rediss://) and returns the socket.io
 * adapter built on them. Rejects with a SignalingError naming the URL (password redacted) if Redis cannot
 * be reached within `connectTimeoutMs`; once connected, lost connections are retried in the background
 * (logged), during which cross-instance joins and relays fail and clients retry.
 */
export async function createRedisAdapter(url: string, options: RedisAdapterOptions = {}): Promise<RedisAdapterHandle> {
  if (typeof url !== 'string' || url.length === 0) throw new InvalidArgumentError('Redis URL must be a non-empty string');
  const where = redactUrl(url);
  const log = options.log ?? noop;
  const [{ createClient }, { createAdapter }] = await Promise.all([import('redis'), import('@socket.io/redis-adapter')]);

  const clients: Client[] = [];
  const connectOne = async (role: 'pub' | 'sub'): Promise<Client> => {
    let connected = false;
    let client: Client;
    try {
      client = createClient({
        url,
        // While Redis is unreachable, commands fail at once instead of queueing without bound: a join
        // fails (the client retries, possibly through another instance) rather than hanging, stale
        // broadcasts are not replayed after the outage, and close() does not wait for Redis to return.
        disableOfflineQueue: true,
        socket: {
          connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
          // Failing the first connection ends connect() with that error instead of retrying forever.
          reconnectStrategy: (retries: number, cause: Error) =>
            connected ? Math.min(100 * 2 ** Math.min(retries, 5), MAX_RECONNECT_DELAY_MS) : cause,
        },
      });
    } catch (error) {
      throw new InvalidArgumentError(`invalid Redis URL ${where}: ${describeThrown(error)}`);
    }
    clients.push(client);
    // Without an 'error' listener node-redis' errors would be unhandled 'error' events and kill the process.
    let lastError = '';
    client.on('error', (error: unknown) => {
      const text = describeThrown(error);
      if (connected && text !== lastError) log(`[redis] ${role} ${where}: ${text}`);
      lastError = text;
    });
    let dropped = 0;
    client.on('ready', () => {
      if (connected && lastError !== '') {
        log(`[redis] ${role} ${where}: reconnected${dropped === 0 ? '' : `; ${dropped} messages to other instances were lost meanwhile`}`);
      }
      lastError = '';
      dropped = 0;
    });
    // The adapter fires these without awaiting them; a rejection (Redis down, or the connection dropping
    // with the command in flight) would be an unhandled rejection and kill the process.
    guardFireAndForget(client, role === 'pub' ? ['publish'] : ['subscribe', 'unsubscribe', 'pSubscribe', 'pUnsubscribe'], () => {
      dropped++;
    });
    await client.connect();
    connected = true;
    return client;
  };

  try {
    const [pub, sub] = await Promise.all([connectOne('pub'), connectOne('sub')]);
    const adapter = createAdapter(pub, sub, {
      key: options.key ?? DEFAULT_KEY,
      requestsTimeout: options.requestsTimeoutMs ?? DEFAULT_REQUESTS_TIMEOUT_MS,
      // Answers to fetchSockets go to the asking instance only, not to every instance.
      publishOnSpecificResponseChannel: true,
    }) as SignalingAdapter;
    log(`[redis] connected to ${where}`);
    const prefix = options.key ?? DEFAULT_KEY;
    let closing: Promise<void> | undefined;
    return {
      adapter,
      // The publisher: the subscriber connection cannot run other commands.
      claims: redisClaimStore(pub, `${prefix}:claim:`),
      sharedServerSecret: () => sharedSecret(pub, `${prefix}:server-secret`),
      close: () => (closing ??= disconnectAll(clients)),
    };
  } catch (error) {
    await disconnectAll(clients);
    if (error instanceof InvalidArgumentError) throw error;
    throw new SignalingError(`cannot connect to Redis at ${where}: ${describeThrown(error)}`, { url: where });
  }
}

/** Atomic: see ClaimStore.hold. */
const HOLD_SCRIPT = `
local held = redis.call('GET', KEYS[1])
if not held then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
if held == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return held
`;
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`;

function redisClaimStore(client: Client, prefix: string): ClaimStore {
  return {
    get: async (key) => {
      const value = await client.get(prefix + key);
      return typeof value === 'string' ? value : null;
    },
    hold: async (key, nonce, ttlMs) => {
      const held = await client.eval(HOLD_SCRIPT, { keys: [prefix + key], arguments: [nonce, String(Math.max(1, Math.round(ttlMs)))] });
      if (typeof held !== 'string') throw new Error(`unexpected claim script answer ${JSON.stringify(held)}`);
      return held;
    },
    release: async (key, nonce) => {
      await client.eval(RELEASE_SCRIPT, { keys: [prefix + key], arguments: [nonce] });
    },
  };
}

async function sharedSecret(client: Client, key: string): Promise<string> {
  await client.set(key, randomBytes(32).toString('base64url'), { NX: true });
  const secret = await client.get(key);
  if (typeof secret !== 'string' || secret.length === 0) throw new SignalingError(`Redis holds no server secret under ${key}`);
  return secret;
}

function guardFireAndForget(client: Client, methods: readonly string[], onRejected: (error: unknown) => void): void {
  const target = client as unknown as Record<string, unknown>;
  for (const name of methods) {
    const original = target[name];
    if (typeof original !== 'function') throw new Error(`node-redis client has no ${name}() method`);
    target[name] = (...args: unknown[]): unknown => {
      const result: unknown = Reflect.apply(original, client, args);
      // Catching a promise marks it handled; whoever awaits it still sees the rejection.
      if (result instanceof Promise) result.catch(onRejected);
      return result;
    };
  }
}

/** Closes every client (see quitOrDisconnect). */
async function disconnectAll(clients: readonly Client[]): Promise<void> {
  await Promise.all(clients.map((client) => quitOrDisconnect(client)));
}

export interface StartSignalingOptions extends SignalingServerOptions {
  /**
   * Redis to share rooms with other instances. Absent: `process.env.REDIS_URL` if set and non-empty;
   * null: no Redis whatever the environment says. Cannot be combined with `adapter`. With Redis, claims on
   * peer ids live in Redis too (unless `claims` is given), and without a `serverSecret` the instances share
   * one stored in Redis.
   */
  readonly redisUrl?: string | null | undefined;
  /** Tuning of the Redis adapter (the log defaults to `log`). */
  readonly redis?: Omit<RedisAdapterOptions, 'log'> | undefined;
}

export interface StartedSignalingServer extends SignalingServer {
  /** The Redis this instance shares rooms through (password redacted), or null when it runs alone. */
  readonly redisUrl: string | null;
}

/**
 * `createSignalingServer`, plus a Redis adapter when a Redis URL is given (or in REDIS_URL). close() closes
 * the signaling server first -- so its sockets' last messages still reach Redis -- then the Redis clients.
 */
export async function startSignaling(options: StartSignalingOptions = {}): Promise<StartedSignalingServer> {
  const { redisUrl: given, redis: tuning, ...serverOptions } = options;
  const redisUrl = given === undefined ? nonEmpty(process.env['REDIS_URL']) : given;
  if (redisUrl === null) return { ...(await createSignalingServer(serverOptions)), redisUrl: null };
  if (serverOptions.adapter !== undefined) throw new InvalidArgumentError('pass either adapter or redisUrl, not both');

  const redis = await createRedisAdapter(redisUrl, { ...tuning, ...(options.log === undefined ? {} : { log: options.log }) });
  let server: SignalingServer;
  try {
    let { serverSecret } = serverOptions;
    if (serverSecret === undefined) {
      serverSecret = await bounded(redis.sharedServerSecret(), SHARED_SECRET_TIMEOUT_MS, 'reading the shared server secret from Redis');
      options.log?.(
        '[signaling] no server secret configured: using the one shared through Redis (anyone who can read Redis can reclaim peer ids)',
      );
    }
    server = await createSignalingServer({
      ...serverOptions,
      serverSecret,
      claims: serverOptions.claims ?? redis.claims,
      adapter: redis.adapter,
    });
  } catch (error) {
    await redis.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= server.close().finally(() => redis.close()));
  return {
    url: server.url,
    port: server.port,
    io: server.io,
    httpServer: server.httpServer,
    stats: () => server.stats(),
    close,
    redisUrl: redactUrl(redisUrl),
  };
}

export { redactUrl };

const nonEmpty = (value: string | undefined): string | null => (value === undefined || value === '' ? null : value);
