/**
 * The IndexedDBStore test page (tests/e2e/indexeddb-store.spec.ts builds it with vite and serves it with
 * the demo's static handler and CSP). Everything the spec does in the page goes through `window.storeTests`,
 * so the store runs exactly as an app bundles it: this module, the store, nothing of Node.
 */
import { IndexedDBStore } from '../../../client/stores/indexeddb-store.js';
import type { StoreKey } from '../../../shared/stores/state-store.js';
import { STORE_CONTRACT, bytes, runContractCase } from '../../fixtures/store-contract.js';

/** What an operation came to, in a form that crosses page.evaluate. */
export type Outcome =
  | { readonly ok: true; readonly version: number }
  | { readonly ok: false; readonly code: string; readonly message: string };

export interface StoreTestApi {
  readonly cases: readonly string[];
  /** Runs one contract case against IndexedDBStores on `database` (which should not exist yet). */
  runCase(name: string, database: string): Promise<void>;
  /** Opens a store on `database` (so a race starts with the connection already open). */
  open(database: string): Promise<void>;
  /**
   * Arms a race: once `go()` runs in any page of the origin, this page saves every id with `expected`,
   * all at once. `results()` then answers, per id, what the save came to.
   */
  arm(database: string, ids: readonly string[], expected: number, tag: string): void;
  go(): void;
  results(): Promise<Outcome[]>;
  save(database: string, id: string, data: { readonly seed: number; readonly length: number }, expected: number): Promise<Outcome>;
  /** The version and a digest of the data (so 1 MiB does not cross the bridge), or null. */
  load(
    database: string,
    id: string,
  ): Promise<{ readonly version: number; readonly length: number; readonly sum: number } | { readonly code: string } | null>;
  loadText(database: string, id: string): Promise<string | null>;
  close(database: string): Promise<void>;
  /** Whether the browser reports no IndexedDB connection left open: deleteDatabase must not be blocked. */
  deleteDatabase(database: string): Promise<'deleted' | 'blocked' | 'error'>;
  /** Writes a row IndexedDBStore did not write, straight through IndexedDB. */
  putForeignRow(database: string, id: string): Promise<void>;
  /** Creates `database` with an object store that is not IndexedDBStore's. */
  createForeignDatabase(database: string): Promise<void>;
}

declare global {
  interface Window {
    storeTests?: StoreTestApi;
  }
}

const key = (id: string): StoreKey => ({ capability: 'game', actor: 'Player', id });
const live = (): AbortSignal => AbortSignal.timeout(20_000);
const stores = new Map<string, IndexedDBStore>();
const storeFor = (database: string): IndexedDBStore => {
  let store = stores.get(database);
  if (store === undefined) {
    store = new IndexedDBStore({ database });
    stores.set(database, store);
  }
  return store;
};

const outcome = (work: Promise<number>): Promise<Outcome> =>
  work.then(
    (version): Outcome => ({ ok: true, version }),
    (error: unknown): Outcome => ({
      ok: false,
      code: String((error as { code?: unknown }).code ?? 'none'),
      message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    }),
  );

const checksum = (data: Uint8Array): number => data.reduce((sum, byte, i) => (sum + byte * ((i % 251) + 1)) % 1_000_000_007, 0);

function request<T>(make: () => IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = make();
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let armed: Promise<Outcome[]> | undefined;
const channel = new BroadcastChannel('store-race');

const api: StoreTestApi = {
  cases: STORE_CONTRACT.map((c) => c.name),
  async runCase(name, database) {
    await runContractCase(name, async () => ({
      store: new IndexedDBStore({ database }),
      another: async () => new IndexedDBStore({ database }),
    }));
  },
  async open(database) {
    await storeFor(database).load(key('warm-up'), live());
  },
  arm(database, ids, expected, tag) {
    const store = storeFor(database);
    armed = new Promise<Outcome[]>((resolve) => {
      const start = (): void => {
        channel.removeEventListener('message', start);
        void Promise.all(ids.map((id) => outcome(store.save(key(id), new TextEncoder().encode(`${tag} ${id}`), expected, live())))).then(
          resolve,
        );
      };
      channel.addEventListener('message', start);
      // go() in this very page: BroadcastChannel does not deliver to its sender.
      addEventListener('store-race-go', start, { once: true });
    });
  },
  go() {
    channel.postMessage('go');
    dispatchEvent(new Event('store-race-go'));
  },
  async results() {
    if (armed === undefined) throw new Error('no race armed');
    return armed;
  },
  save(database, id, data, expected) {
    return outcome(storeFor(database).save(key(id), bytes(data.length, data.seed), expected, live()));
  },
  async load(database, id) {
    try {
      const record = await storeFor(database).load(key(id), live());
      return record === null ? null : { version: record.version, length: record.data.length, sum: checksum(record.data) };
    } catch (error) {
      return { code: String((error as { code?: unknown }).code ?? 'none') };
    }
  },
  async loadText(database, id) {
    const record = await storeFor(database).load(key(id), live());
    return record === null ? null : new TextDecoder().decode(record.data);
  },
  async close(database) {
    await stores.get(database)?.close();
    stores.delete(database);
  },
  deleteDatabase(database) {
    return new Promise((resolve) => {
      const req = indexedDB.deleteDatabase(database);
      req.onblocked = () => resolve('blocked');
      req.onsuccess = () => resolve('deleted');
      req.onerror = () => resolve('error');
    });
  },
  async putForeignRow(database, id) {
    const db = await request(() => indexedDB.open(database));
    try {
      const tx = db.transaction('records', 'readwrite');
      tx.objectStore('records').put({ something: 'else' }, `game/Player/${encodeURIComponent(id)}`);
      await new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  },
  async createForeignDatabase(database) {
    const open = indexedDB.open(database, 1);
    open.onupgradeneeded = () => open.result.createObjectStore('theirs');
    const db = await request(() => open);
    db.close();
  },
};

window.storeTests = api;
document.body.dataset['state'] = 'ready';
