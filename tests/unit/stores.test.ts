/**
 * The state stores that need no server: the shared contract (tests/fixtures/store-contract.ts) against
 * MemoryStore and FileStore (in a fresh temporary directory per case), then what only FileStore does:
 * its files on disk, a restart, leftovers of a crash, corrupt files, a directory it cannot use.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../shared/errors.js';
import { MemoryStore } from '../../shared/stores/memory-store.js';
import { storeKeyString, type StoreKey } from '../../shared/stores/state-store.js';
import { FileStore } from '../../server/stores/file-store.js';
import { IndexedDBStore } from '../../client/stores/indexeddb-store.js';
import { TRICKY_KEYS, bytes } from '../fixtures/store-contract.js';
import { describeStoreContract } from '../fixtures/store-suite.js';

const directories: string[] = [];
async function freshDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rtc-mesh-file-store-'));
  directories.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(directories.map((dir) => rm(dir, { recursive: true, force: true })));
});

const live = (): AbortSignal => AbortSignal.timeout(10_000);
const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const KEY: StoreKey = { capability: 'game', actor: 'Player', id: 'p1' };

describeStoreContract('MemoryStore', async () => {
  const store = new MemoryStore();
  return { store, another: async () => store };
});

describeStoreContract('FileStore', async () => {
  const dir = await freshDirectory();
  return { store: new FileStore(dir), another: async () => new FileStore(dir) };
});

describeStoreContract('FileStore without fsync', async () => {
  const dir = await freshDirectory();
  return { store: new FileStore(dir, { fsync: false }), another: async () => new FileStore(dir, { fsync: false }) };
});

describe('storeKeyString', () => {
  it('gives distinct strings to distinct keys, whatever UTF-16 (lone surrogates included) they hold', () => {
    const part = fc.oneof(
      fc.constantFrom('', '/', '%', '%2F', '%uD800', '\ud800', '\udc00', '\ufffd', 'a'),
      fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 6 }).map((units) => String.fromCharCode(...units)),
    );
    const key = fc.record({ capability: part, actor: part, id: part });
    fc.assert(
      fc.property(key, key, (a, b) => {
        const same = a.capability === b.capability && a.actor === b.actor && a.id === b.id;
        expect(storeKeyString(a) === storeKeyString(b)).toBe(same);
      }),
      { numRuns: 5000 },
    );
  });

  it('is plain URL-safe ASCII with exactly two separators', () => {
    for (const key of TRICKY_KEYS) {
      const s = storeKeyString(key);
      expect(s).toMatch(/^[\x21-\x7e]*$/);
      expect(s.split('/')).toHaveLength(3);
    }
  });
});

describe('FileStore on disk', () => {
  it('keeps one file per actor, named by the SHA-256 of its key string, holding the key; no temporary file stays', async () => {
    const dir = await freshDirectory();
    const store = new FileStore(dir);
    const long: StoreKey = { capability: 'game', actor: 'Player', id: 'x'.repeat(4096) };
    await store.save(KEY, text('one'), 0, live());
    await store.save(long, bytes(1000), 0, live());
    await store.save(long, bytes(2000), 1, live());
    const names = (await readdir(dir)).sort();
    const expected = [KEY, long].map((k) => `${createHash('sha256').update(storeKeyString(k)).digest('hex')}.rec`).sort();
    expect(names).toEqual(expected);
    expect(store.fileFor(long)).toBe(
      join(dir, expected.find((n) => n.startsWith(createHash('sha256').update(storeKeyString(long)).digest('hex')))!),
    );
    const file = await readFile(store.fileFor(long));
    expect(file.includes(Buffer.from(storeKeyString(long)))).toBe(true);
    await store.delete(KEY, 1, live());
    expect(await readdir(dir)).toEqual([expected.find((n) => store.fileFor(long).endsWith(n))]);
    await store.close();
  });

  it('survives a new FileStore instance on the same directory: the data is on disk', async () => {
    const dir = await freshDirectory();
    const first = new FileStore(dir);
    await first.save(KEY, text('before the restart'), 0, live());
    await first.save(KEY, bytes(64 * 1024, 5), 1, live());
    await first.close();
    const second = new FileStore(join(dir, '.', ''));
    expect(await second.load(KEY, live())).toEqual({ data: bytes(64 * 1024, 5), version: 2 });
    expect(await second.save(KEY, text('after'), 2, live())).toBe(3);
    await second.close();
  });

  it('removes the temporary files a crashed run left behind, and no others', async () => {
    const dir = await freshDirectory();
    const leftover = `${'a'.repeat(64)}.rec.0123456789ab.7.tmp`;
    await writeFile(join(dir, leftover), 'half a record');
    await writeFile(join(dir, 'notes.txt'), 'not ours');
    const store = new FileStore(dir);
    await store.save(KEY, text('one'), 0, live());
    expect((await readdir(dir)).sort()).toEqual([`${createHash('sha256').update(storeKeyString(KEY)).digest('hex')}.rec`, 'notes.txt']);
    await store.close();
  });

  it('an operation aborted while queued behind another one on the key writes nothing', async () => {
    const store = new FileStore(await freshDirectory());
    const big = bytes(1024 * 1024, 11);
    const controller = new AbortController();
    const first = store.save(KEY, big, 0, live());
    // Queued behind the first save, whose version (1) it expects: without the abort it would succeed.
    const second = store.save(KEY, text('aborted'), 1, controller.signal);
    controller.abort();
    await expect(second).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await first).toBe(1);
    const record = await store.load(KEY, live());
    // Buffer.equals: toEqual walks a 1 MiB array element by element for seconds.
    expect(record?.version).toBe(1);
    expect(Buffer.from(record!.data).equals(big)).toBe(true);
    await store.close();
  });

  it('a corrupt or truncated record is STORE_UNAVAILABLE for that actor only', async () => {
    const dir = await freshDirectory();
    const store = new FileStore(dir);
    const other: StoreKey = { ...KEY, id: 'p2' };
    await store.save(KEY, bytes(100), 0, live());
    await store.save(other, text('fine'), 0, live());
    const file = store.fileFor(KEY);
    const whole = await readFile(file);
    await writeFile(file, whole.subarray(0, whole.length - 1));
    await expect(store.load(KEY, live())).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/corrupt/) });
    await expect(store.save(KEY, text('x'), 1, live())).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await writeFile(file, 'not a record at all, but long enough for a header');
    await expect(store.load(KEY, live())).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/corrupt/) });
    // Another actor's record copied over this one's name: not this actor's state.
    await writeFile(file, await readFile(store.fileFor(other)));
    await expect(store.load(KEY, live())).rejects.toMatchObject({ message: expect.stringMatching(/another key/) });
    expect(await store.load(other, live())).toEqual({ data: text('fine'), version: 1 });
    await store.close();
  });

  it('a directory it cannot create is STORE_UNAVAILABLE on every operation, not a crash', async () => {
    const dir = await freshDirectory();
    await writeFile(join(dir, 'taken'), 'a file where the directory should be');
    const store = new FileStore(join(dir, 'taken', 'state'));
    await expect(store.load(KEY, live())).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/taken/) });
    await expect(store.save(KEY, text('x'), 0, live())).rejects.toBeInstanceOf(StoreUnavailableError);
    await store.close();
  });

  it('refuses an empty directory name', () => {
    expect(() => new FileStore('')).toThrow(/directory/);
  });
});

describe('IndexedDBStore outside a browser', () => {
  it('with no indexedDB global, every operation is STORE_UNAVAILABLE (the browser suite covers the rest)', async () => {
    expect('indexedDB' in globalThis).toBe(false);
    const store = new IndexedDBStore();
    expect(store.database).toBe('rtc-mesh');
    await expect(store.load(KEY, live())).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: expect.stringMatching(/no indexedDB/),
    });
    await expect(store.save(KEY, text('x'), 0, live())).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.delete(KEY, 1, live())).rejects.toBeInstanceOf(StoreUnavailableError);
    await store.close();
    await store.close();
  });
});
