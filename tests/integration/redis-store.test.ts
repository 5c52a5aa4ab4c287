/**
 * RedisStore against a real redis-server (a throwaway one on a free port): the shared StateStore contract,
 * what it leaves in Redis, a client passed in, and outages: Redis killed (operations fail at once, never
 * hang, and the same store works again once a new server answers on the port), Redis never there, and
 * Redis frozen (SIGSTOP: commands sent and never answered, released by the signal).
 */
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../shared/errors.js';
import type { StoreKey } from '../../shared/stores/state-store.js';
import { RedisStore } from '../../server/stores/redis-store.js';
import { bytes } from '../fixtures/store-contract.js';
import { describeStoreContract } from '../fixtures/store-suite.js';
import { until, withTimeout } from '../fixtures/wait.js';
import { freePort, startRedis, type TestRedis } from './redis-helpers.js';

let redis: TestRedis;
let prefixes = 0;
/** Each case under a prefix of its own, so they never see each other's records. */
const freshPrefix = (): string => `test:${process.pid}:${++prefixes}:`;
const stores: RedisStore[] = [];
function track(store: RedisStore): RedisStore {
  stores.push(store);
  return store;
}

beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});
afterAll(async () => {
  await redis?.stop();
});

const live = (): AbortSignal => AbortSignal.timeout(10_000);
const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const KEY: StoreKey = { capability: 'game', actor: 'Player', id: 'p1' };

/** A plain node-redis client on the test server, for looking at what the store wrote. */
async function rawClient(url = redis.url) {
  const client = createClient({ url, disableOfflineQueue: true });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Resolves with how long `operation` took to reject; fails if it resolves or takes longer than `withinMs`. */
async function rejectsFast(operation: () => Promise<unknown>, withinMs: number, what: string): Promise<number> {
  const started = performance.now();
  const error = await withTimeout(
    operation().then(
      () => null,
      (e: unknown) => e,
    ),
    what,
    withinMs * 2,
  );
  const took = performance.now() - started;
  expect(error, what).toBeInstanceOf(StoreUnavailableError);
  expect((error as StoreUnavailableError).code).toBe('STORE_UNAVAILABLE');
  expect(took, `${what}: took ${Math.round(took)} ms`).toBeLessThan(withinMs);
  return took;
}

describeStoreContract('RedisStore', async () => {
  const prefix = freshPrefix();
  return {
    store: track(new RedisStore({ url: redis.url, prefix })),
    another: async () => track(new RedisStore({ url: redis.url, prefix })),
  };
});

describe('RedisStore in Redis', () => {
  it('keeps one hash per actor under prefix + key string: the version and the raw bytes', async () => {
    const prefix = freshPrefix();
    const store = track(new RedisStore({ url: redis.url, prefix }));
    const data = Uint8Array.of(0, 255, 128, 10, 13, 0);
    await store.save(KEY, data, 0, live());
    await store.save(KEY, data, 1, live());
    const raw = await rawClient();
    try {
      const fields = await raw.hGetAll(raw.commandOptions({ returnBuffers: true }), `${prefix}game/Player/p1`);
      expect(Object.keys(fields).sort()).toEqual(['d', 'v']);
      expect(fields['v']!.toString()).toBe('2');
      expect(Buffer.compare(fields['d']!, Buffer.from(data))).toBe(0);
      expect(await raw.keys(`${prefix}*`)).toEqual([`${prefix}game/Player/p1`]);
      // The default prefix, when none is given.
      expect(new RedisStore({ url: redis.url }).prefix).toBe('rtc-mesh:state:');
    } finally {
      await raw.quit();
    }
  });

  it('runs its scripts again after Redis forgot them (SCRIPT FLUSH, as after a restart)', async () => {
    const store = track(new RedisStore({ url: redis.url, prefix: freshPrefix() }));
    await store.save(KEY, text('one'), 0, live());
    const raw = await rawClient();
    try {
      await raw.scriptFlush();
    } finally {
      await raw.quit();
    }
    expect(await store.save(KEY, text('two'), 1, live())).toBe(2);
    await store.delete(KEY, 2, live());
    expect(await store.load(KEY, live())).toBeNull();
  });

  it('a key of another type under its prefix is STORE_UNAVAILABLE, not a crash or a conflict', async () => {
    const prefix = freshPrefix();
    const store = track(new RedisStore({ url: redis.url, prefix }));
    const raw = await rawClient();
    try {
      await raw.set(`${prefix}game/Player/p1`, 'a string, not a hash');
    } finally {
      await raw.quit();
    }
    await expect(store.load(KEY, live())).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/WRONGTYPE/) });
    await expect(store.save(KEY, text('x'), 0, live())).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('uses a client it is given and leaves it open on close; closing its own client ends the connection', async () => {
    const given = await rawClient();
    const prefix = freshPrefix();
    try {
      const store = new RedisStore({ client: given, prefix });
      await store.save(KEY, text('through the given client'), 0, live());
      await store.close();
      await expect(store.load(KEY, live())).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(given.isReady).toBe(true);
      expect((await given.hGet(`${prefix}game/Player/p1`, 'v')) ?? '').toBe('1');

      const own = new RedisStore({ url: redis.url, prefix });
      expect((await own.load(KEY, live()))?.version).toBe(1);
      const named = async (): Promise<number> =>
        ((await given.clientList()) as Array<{ name: string }>).filter((c) => c.name === 'rtc-mesh-state').length;
      expect(await named()).toBe(1);
      await own.close();
      await until(async () => (await named()) === 0, 'the store’s own connection to close');
    } finally {
      await given.quit();
    }
  });

  it('hundreds of operations at once: no MaxListenersExceededWarning (one listener per operation on the store’s close signal)', async () => {
    const store = track(new RedisStore({ url: redis.url, prefix: freshPrefix() }));
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const keys = Array.from({ length: 300 }, (_, i): StoreKey => ({ ...KEY, id: `many-${i}` }));
      await Promise.all(keys.map((key) => store.save(key, text('x'), 0, live())));
      expect((await Promise.all(keys.map((key) => store.load(key, live())))).every((r) => r?.version === 1)).toBe(true);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });

  it('refuses a missing or non-Redis URL, or both url and client, at construction (without showing the password)', async () => {
    expect(() => new RedisStore({})).toThrow(/url or client/);
    expect(() => new RedisStore({ url: 'http://127.0.0.1:6379' })).toThrow(/redis:\/\//);
    expect(() => new RedisStore({ url: 'redis://u:secret@' })).toThrow(/redis:\/\/\*\*\*@/);
    expect(() => new RedisStore({ url: 'nonsense://u:secret@h' })).toThrow(/u:\*\*\*@h/);
    expect(() => new RedisStore({ url: 'rediss://u:secret@redis.example.org:6380/2' })).not.toThrow();
    const given = await rawClient();
    try {
      expect(() => new RedisStore({ url: redis.url, client: given })).toThrow(/either url or client/);
    } finally {
      await given.quit();
    }
  });
});

describe('RedisStore when Redis is down', () => {
  it('killed: operations reject at once, never hang; the same store works again once Redis is back on the port', async () => {
    const own = await startRedis();
    const lines: string[] = [];
    const store = track(new RedisStore({ url: own.url, prefix: freshPrefix(), log: (line) => lines.push(line) }));
    try {
      await store.save(KEY, text('before'), 0, live());
      await own.stop();
      // Each operation with the 2 s timeout the mesh might use: it must answer well before that.
      for (const op of [
        () => store.load(KEY, AbortSignal.timeout(2000)),
        () => store.save(KEY, text('during'), 1, AbortSignal.timeout(2000)),
        () => store.delete(KEY, 1, AbortSignal.timeout(2000)),
      ]) {
        await rejectsFast(op, 500, 'an operation while Redis is down');
      }
      await until(() => lines.length > 0, 'the outage to be logged');

      const back = await startRedis({ port: own.port });
      try {
        // This server has no persistence: the record is gone, and a first save starts again at version 1.
        await until(
          async () => {
            try {
              return (await store.save(KEY, text('after'), 0, AbortSignal.timeout(2000))) === 1;
            } catch (error) {
              if (!(error instanceof StoreUnavailableError)) throw error;
              return false;
            }
          },
          'the store to work again after Redis came back',
          { timeoutMs: 10_000 },
        );
        expect(await store.load(KEY, live())).toEqual({ data: text('after'), version: 1 });
        await until(() => lines.some((line) => line.includes('reconnected')), 'the reconnection to be logged');
      } finally {
        await back.stop();
      }
    } finally {
      await own.stop();
    }
  });

  it('never there: the first operations reject quickly; the store connects once Redis starts', async () => {
    const port = await freePort();
    const store = track(new RedisStore({ url: `redis://127.0.0.1:${port}`, prefix: freshPrefix() }));
    await rejectsFast(() => store.load(KEY, AbortSignal.timeout(2000)), 1000, 'load with nothing on the port');
    await rejectsFast(() => store.connect(AbortSignal.timeout(2000)), 1000, 'connect() with nothing on the port');
    const late = await startRedis({ port });
    try {
      expect(await store.save(KEY, bytes(1000), 0, live())).toBe(1);
    } finally {
      await late.stop();
    }
  });

  it('frozen (SIGSTOP): a command sent and never answered rejects when its signal aborts; works again after SIGCONT', async () => {
    const own = await startRedis();
    const store = track(new RedisStore({ url: own.url, prefix: freshPrefix() }));
    try {
      await store.save(KEY, text('before'), 0, live());
      own.process.kill('SIGSTOP');
      const took = await rejectsFast(() => store.load(KEY, AbortSignal.timeout(300)), 1500, 'load from a frozen Redis');
      expect(took).toBeGreaterThanOrEqual(250);
      // close() does not wait for the frozen server either.
      const other = new RedisStore({ url: own.url, prefix: freshPrefix() });
      await rejectsFast(() => other.load(KEY, AbortSignal.timeout(300)), 1500, 'connecting to a frozen Redis');
      await withTimeout(other.close(), 'close() while connecting to a frozen Redis', 1000);
      own.process.kill('SIGCONT');
      expect(await store.load(KEY, live())).toEqual({ data: text('before'), version: 1 });
    } finally {
      own.process.kill('SIGCONT');
      await own.stop();
    }
  });

  it('close() releases an operation still waiting for the connection', async () => {
    const own = await startRedis();
    own.process.kill('SIGSTOP');
    const store = new RedisStore({ url: own.url, prefix: freshPrefix() });
    try {
      const pending = store.load(KEY, AbortSignal.timeout(10_000));
      await store.close();
      await expect(withTimeout(pending, 'the pending load', 1000)).rejects.toMatchObject({ message: expect.stringMatching(/closed/) });
    } finally {
      own.process.kill('SIGCONT');
      await own.stop();
    }
  });
});
