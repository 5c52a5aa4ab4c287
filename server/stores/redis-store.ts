/**
 * RedisStore: actor state in Redis, shared by Node peers on any number of machines.
 *
 * One hash per actor under `prefix + storeKeyString(key)`, fields `v` (the version) and `d` (the data, raw
 * bytes). Saves and deletes are Lua scripts, so the version check and the write are one atomic step on the
 * server whatever the number of peers. Durability is the Redis operator's: with AOF (`appendfsync everysec`
 * or `always`) or RDB snapshots a save outlives a Redis restart; without persistence it does not.
 *
 * It never hangs a caller: commands fail at once while the connection is down (node-redis' offline queue is
 * off), and every operation rejects with StoreUnavailableError when its signal aborts, even one stuck on a
 * Redis that stopped answering.
 *
 * The `redis` package (an optional peer dependency) is imported on first use, so importing this module
 * costs nothing to an app without Redis.
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { InvalidArgumentError, StoreConflictError, StoreUnavailableError, describeThrown } from '../../shared/errors.js';
import { abortable } from '../../shared/stores/abortable.js';
import { conflict } from '../../shared/stores/memory-store.js';
import { storeKeyString, type StateStore, type StoredRecord, type StoreKey } from '../../shared/stores/state-store.js';
import { redactUrl } from '../redact-url.js';
import { quitOrDisconnect } from '../redis-quit.js';

/**
 * What RedisStore needs of a client you pass in: node-redis v4's `sendCommand` (a `createClient()` client
 * is one). Not a Redis Cluster client: its sendCommand takes other arguments.
 */
export interface RedisStoreClient {
  sendCommand(args: Array<string | Buffer>, options?: { readonly returnBuffers?: boolean }): Promise<unknown>;
}

export interface RedisStoreOptions {
  /**
   * redis:// or rediss:// URL of the Redis to connect to (credentials and db number included). The store
   * then owns its client: it connects on first use (or `connect()`), reconnects after an outage and
   * disconnects on close().
   */
  readonly url?: string | undefined;
  /**
   * An existing, connected node-redis client instead of `url`. It stays yours: close() leaves it open. Create
   * it with `disableOfflineQueue: true`, or during an outage each operation waits out its whole signal
   * instead of failing at once; and give it an 'error' listener.
   */
  readonly client?: RedisStoreClient | undefined;
  /** Prepended to every key; peers share state only under the same prefix (default 'rtc-mesh:state:'). */
  readonly prefix?: string | undefined;
  /** How long one connection attempt may take (ms, default 5000); operations are bounded by their signal anyway. */
  readonly connectTimeoutMs?: number | undefined;
  /** Where connection trouble is reported (default: nowhere; operations reject with StoreUnavailableError). */
  readonly log?: ((line: string) => void) | undefined;
}

export const DEFAULT_REDIS_STORE_PREFIX = 'rtc-mesh:state:';
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** Once connected, a lost connection is retried forever, backing off up to this (ms). */
const MAX_RECONNECT_DELAY_MS = 1000;

/** {1, new version} or {0, version found}. A missing field reads as false in Lua, hence `or 0`. */
const SAVE_SCRIPT = `
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current ~= tonumber(ARGV[1]) then return {0, current} end
redis.call('HSET', KEYS[1], 'v', current + 1, 'd', ARGV[2])
return {1, current + 1}
`;
/** {1, 0} deleted or nothing there, {0, version found}. */
const DELETE_SCRIPT = `
local current = redis.call('HGET', KEYS[1], 'v')
if not current then return {1, 0} end
if tonumber(current) ~= tonumber(ARGV[1]) then return {0, tonumber(current)} end
redis.call('DEL', KEYS[1])
return {1, 0}
`;

interface Script {
  readonly source: string;
  readonly sha: string;
}
const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });
const SAVE = script(SAVE_SCRIPT);
const DELETE = script(DELETE_SCRIPT);

/** The part of a node-redis client this store drives when it owns the client. */
interface OwnedClient extends RedisStoreClient {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): Promise<unknown>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
}

export class RedisStore implements StateStore {
  readonly name = 'redis';
  readonly prefix: string;
  private readonly url: string | undefined;
  private readonly where: string;
  private readonly given: RedisStoreClient | undefined;
  private readonly connectTimeoutMs: number;
  private readonly log: (line: string) => void;
  /** The client this store created, once created (close() must reach it even while it connects). */
  private owned: OwnedClient | undefined;
  private connecting: Promise<RedisStoreClient> | undefined;
  /** Aborted by close(): releases operations still waiting for a connection. */
  private readonly closer = new AbortController();
  private closing: Promise<void> | undefined;

  constructor(options: RedisStoreOptions) {
    const { url, client } = options;
    if ((url === undefined) === (client === undefined)) throw new InvalidArgumentError('RedisStore needs either url or client');
    if (url !== undefined) {
      let protocol = '';
      try {
        protocol = new URL(url).protocol;
      } catch {
        // reported below
      }
      if (protocol !== 'redis:' && protocol !== 'rediss:')
        throw new InvalidArgumentError(`not a redis:// or rediss:// URL: ${redactUrl(url)}`);
    }
    this.url = url;
    this.given = client;
    this.where = url === undefined ? 'the given Redis client' : `Redis at ${redactUrl(url)}`;
    this.prefix = options.prefix ?? DEFAULT_REDIS_STORE_PREFIX;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.log = options.log ?? (() => undefined);
    // Every operation in flight listens on it (and stops listening when it settles): no limit to warn at.
    setMaxListeners(0, this.closer.signal);
  }

  /**
   * Connects now rather than on the first operation, to fail at startup when Redis is unreachable. Rejects
   * with StoreUnavailableError; a later operation tries again.
   */
  async connect(signal: AbortSignal = AbortSignal.timeout(this.connectTimeoutMs + 1000)): Promise<void> {
    await this.client(signal);
  }

  async load(key: StoreKey, signal: AbortSignal): Promise<StoredRecord | null> {
    const reply = await this.command(['HMGET', this.prefix + storeKeyString(key), 'v', 'd'], signal, true);
    if (!Array.isArray(reply) || reply.length !== 2) throw this.unexpected('HMGET', reply);
    const [version, data] = reply as unknown[];
    if (version === null || version === undefined) return null;
    const parsed = Buffer.isBuffer(version) ? Number(version.toString('latin1')) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || parsed < 1 || !Buffer.isBuffer(data)) {
      throw new StoreUnavailableError(`${this.where}: the record of ${storeKeyString(key).slice(0, 200)} is not one RedisStore wrote`);
    }
    // A copy: the reply may be a view into a larger buffer the client keeps.
    return { data: new Uint8Array(data), version: parsed };
  }

  async save(key: StoreKey, data: Uint8Array, expected: number, signal: AbortSignal): Promise<number> {
    // A copy: the socket write happens later, the caller may reuse its buffer meanwhile.
    const bytes = Buffer.from(data);
    const [ok, version] = await this.run(SAVE, this.prefix + storeKeyString(key), [String(expected), bytes], signal);
    if (ok !== 1) throw conflict(key, expected, version);
    return version;
  }

  async delete(key: StoreKey, expected: number, signal: AbortSignal): Promise<void> {
    const [ok, found] = await this.run(DELETE, this.prefix + storeKeyString(key), [String(expected)], signal);
    if (ok !== 1) throw conflict(key, expected, found);
  }

  /** Quits the client this store created (not a given one); operations then reject. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closer.abort();
      const client = this.owned;
      if (client !== undefined) await quitOrDisconnect(client);
    })();
    return this.closing;
  }

  /** EVALSHA, and EVAL when Redis does not know the script yet (first use, restart, SCRIPT FLUSH). */
  private async run(script: Script, key: string, args: Array<string | Buffer>, signal: AbortSignal): Promise<[number, number]> {
    let reply: unknown;
    try {
      reply = await this.command(['EVALSHA', script.sha, '1', key, ...args], signal, false, true);
    } catch (error) {
      if (!(error instanceof NoScript)) throw error;
      reply = await this.command(['EVAL', script.source, '1', key, ...args], signal, false);
    }
    if (!Array.isArray(reply) || reply.length !== 2 || typeof reply[0] !== 'number' || typeof reply[1] !== 'number') {
      throw this.unexpected('the script', reply);
    }
    return [reply[0], reply[1]];
  }

  private async command(args: Array<string | Buffer>, signal: AbortSignal, returnBuffers: boolean, noScript = false): Promise<unknown> {
    const client = await this.client(signal);
    try {
      return await abortable(abortable(client.sendCommand(args, { returnBuffers }), signal, this.name), this.closer.signal, this.name);
    } catch (error) {
      if (error instanceof StoreUnavailableError && this.closer.signal.aborted) throw this.closedError();
      if (error instanceof StoreUnavailableError || error instanceof StoreConflictError) throw error;
      const text = describeThrown(error);
      if (noScript && text.startsWith('NOSCRIPT')) throw new NoScript();
      throw new StoreUnavailableError(`${this.where}: ${String(args[0])} failed: ${text}`);
    }
  }

  /** The client, connecting the store's own on first use and again after a failed first connection. */
  private client(signal: AbortSignal): Promise<RedisStoreClient> {
    if (this.closer.signal.aborted) return Promise.reject(this.closedError());
    if (this.given !== undefined) return Promise.resolve(this.given);
    if (this.connecting === undefined) {
      const connecting = this.createClient();
      this.connecting = connecting;
      connecting.catch(() => {
        if (this.connecting === connecting) this.connecting = undefined;
      });
    }
    return abortable(abortable(this.connecting, signal, this.name), this.closer.signal, this.name).catch((error: unknown) => {
      throw this.closer.signal.aborted ? this.closedError() : error;
    });
  }

  private async createClient(): Promise<RedisStoreClient> {
    let redis: typeof import('redis');
    try {
      redis = await import('redis');
    } catch (error) {
      throw new StoreUnavailableError(`RedisStore needs the redis package (npm install redis): ${describeThrown(error)}`);
    }
    let connected = false;
    let client: OwnedClient;
    try {
      client = redis.createClient({
        url: this.url!,
        name: 'rtc-mesh-state',
        // During an outage commands fail at once (StoreUnavailableError) instead of queueing until Redis
        // returns: the mesh decides what to do, and nothing stale is replayed afterwards.
        disableOfflineQueue: true,
        socket: {
          connectTimeout: this.connectTimeoutMs,
          // A failed first connection ends connect() with its error (the next operation tries a new client)
          // instead of retrying forever in the background.
          reconnectStrategy: (retries: number, cause: Error) =>
            connected ? Math.min(50 * 2 ** Math.min(retries, 5), MAX_RECONNECT_DELAY_MS) : cause,
        },
      });
    } catch (error) {
      throw new StoreUnavailableError(`${this.where}: cannot create a client: ${describeThrown(error)}`);
    }
    // Without an 'error' listener node-redis' errors would be unhandled 'error' events and kill the process.
    let lastError = '';
    client.on('error', (error: Error) => {
      const text = describeThrown(error);
      if (text !== lastError) this.log(`[redis store] ${this.where}: ${text}`);
      lastError = text;
    });
    client.on('ready', () => {
      if (connected && lastError !== '') this.log(`[redis store] reconnected to ${this.where}`);
      lastError = '';
    });
    this.owned = client;
    if (this.closer.signal.aborted) throw this.closedError();
    try {
      await client.connect();
    } catch (error) {
      throw new StoreUnavailableError(`cannot connect to ${this.where}: ${describeThrown(error)}`);
    }
    connected = true;
    return client;
  }

  private closedError(): StoreUnavailableError {
    return new StoreUnavailableError(`the Redis store (${this.where}) is closed`);
  }

  private unexpected(what: string, reply: unknown): StoreUnavailableError {
    return new StoreUnavailableError(`${this.where}: unexpected answer to ${what}: ${describeThrown(reply)}`);
  }
}

/** Internal: Redis does not have the script cached. */
class NoScript extends Error {}
