/**
 * IndexedDBStore: actor state in the browser's IndexedDB, shared by every tab of the origin and kept after
 * they all close. Plain IndexedDB, no library.
 *
 * One object store ('records') in the database named by the `database` option, keyed by
 * `storeKeyString(key)`. A save reads the version, compares it and writes in ONE readwrite transaction;
 * the browser runs readwrite transactions on the same object store one at a time, across every tab and
 * worker of the origin, so the check and the write are atomic even when two tabs race.
 *
 * Durability: transactions commit with `durability: 'strict'` by default (the browser flushes to disk
 * before the save resolves); 'relaxed' is faster and still survives closing every tab, not a power cut.
 * The browser may evict an origin's storage under disk pressure unless the page was granted persistent
 * storage (`navigator.storage.persist()`).
 */
import { StoreUnavailableError, describeThrown } from '../../shared/errors.js';
import { abortable, storeAborted } from '../../shared/stores/abortable.js';
import { conflict } from '../../shared/stores/memory-store.js';
import { storeKeyString, type StateStore, type StoredRecord, type StoreKey } from '../../shared/stores/state-store.js';

export interface IndexedDBStoreOptions {
  /** The IndexedDB database (default 'rtc-mesh'); give the store one of its own, it must hold 'records'. */
  readonly database?: string | undefined;
  /** How a save or delete commits (default 'strict', see above). */
  readonly durability?: 'strict' | 'relaxed' | 'default' | undefined;
}

export const DEFAULT_INDEXEDDB_DATABASE = 'rtc-mesh';
const OBJECT_STORE = 'records';

/** What a record looks like in the object store (the key parts are there for people reading DevTools). */
interface Row {
  readonly capability: string;
  readonly actor: string;
  readonly id: string;
  readonly version: number;
  readonly data: Uint8Array;
}

export class IndexedDBStore implements StateStore {
  readonly name = 'indexeddb';
  readonly database: string;
  private readonly durability: IDBTransactionDurability;
  private db: Promise<IDBDatabase> | undefined;
  /** The connection `db` resolved with, to drop it when the browser closes it. */
  private current: IDBDatabase | undefined;
  private closed = false;

  constructor(options: IndexedDBStoreOptions = {}) {
    this.database = options.database ?? DEFAULT_INDEXEDDB_DATABASE;
    this.durability = options.durability ?? 'strict';
  }

  async load(key: StoreKey, signal: AbortSignal): Promise<StoredRecord | null> {
    const k = storeKeyString(key);
    return this.transaction('readonly', signal, (store, done) => {
      const get = store.get(k);
      get.onsuccess = () =>
        done(
          () => this.rowOf(get.result, k),
          (record) => record,
        );
    });
  }

  async save(key: StoreKey, data: Uint8Array, expected: number, signal: AbortSignal): Promise<number> {
    const k = storeKeyString(key);
    // A copy now: put() clones the data only once the get below has answered.
    const row: Omit<Row, 'version'> = { capability: key.capability, actor: key.actor, id: key.id, data: data.slice() };
    return this.transaction('readwrite', signal, (store, done) => {
      const get = store.get(k);
      get.onsuccess = () =>
        done(this.versionOf(get.result, k), (current) => {
          if (current !== expected) throw conflict(key, expected, current);
          store.put({ ...row, version: current + 1 } satisfies Row, k);
          return current + 1;
        });
    });
  }

  async delete(key: StoreKey, expected: number, signal: AbortSignal): Promise<void> {
    const k = storeKeyString(key);
    return this.transaction('readwrite', signal, (store, done) => {
      const get = store.get(k);
      get.onsuccess = () =>
        done(this.versionOf(get.result, k), (current) => {
          if (current === 0) return;
          if (current !== expected) throw conflict(key, expected, current);
          store.delete(k);
        });
    });
  }

  /** Closes the connection (other tabs can then upgrade or delete the database). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const db = this.db;
    this.db = undefined;
    this.current = undefined;
    const open = await db?.catch(() => undefined);
    open?.close();
  }

  /**
   * Runs `body` in one transaction. `body` calls `done(read, decide)` from a request's success handler:
   * `read()` parses what was read, `decide` issues the writes and returns the answer. What they throw (a
   * conflict, a corrupt record) becomes the rejection, and nothing is written; otherwise the promise
   * resolves with the answer only once the transaction has committed (so a resolved save is stored), or
   * rejects with StoreUnavailableError if it aborts (quota, I/O error, the signal).
   */
  private async transaction<T>(
    mode: IDBTransactionMode,
    signal: AbortSignal,
    body: (store: IDBObjectStore, done: <R>(read: () => R, decide: (value: R) => T) => void) => void,
  ): Promise<T> {
    const db = await this.connection(signal);
    if (signal.aborted) throw storeAborted(this.name);
    let tx: IDBTransaction;
    try {
      tx = db.transaction(OBJECT_STORE, mode, { durability: this.durability });
    } catch (error) {
      // The connection is closing (another tab upgrading or deleting the database): the next call reopens.
      this.forget(db);
      throw this.unavailable('cannot start a transaction', error);
    }
    return new Promise<T>((resolve, reject) => {
      let outcome: { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown } | undefined;
      const abort = (): void => {
        try {
          tx.abort();
        } catch {
          // Already committing or finished: the event handlers below settle the promise.
        }
      };
      const onAbort = (): void => {
        abort();
        reject(storeAborted(this.name));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const finish = (settle: () => void): void => {
        signal.removeEventListener('abort', onAbort);
        settle();
      };
      const failed = (): unknown => (outcome?.ok === false ? outcome.error : undefined);
      tx.oncomplete = () =>
        finish(() => {
          if (outcome?.ok === true) resolve(outcome.value);
          else reject(failed() ?? this.unavailable('the transaction ended without an answer'));
        });
      // Also reached after the signal's abort: the promise is settled by then and this does nothing.
      tx.onabort = () => finish(() => reject(failed() ?? this.unavailable('the transaction was aborted', tx.error)));
      try {
        body(tx.objectStore(OBJECT_STORE), (read, decide) => {
          // Caught here rather than thrown from the event handler, which would abort the transaction
          // with a generic error instead of this one.
          try {
            outcome = { ok: true, value: decide(read()) };
          } catch (error) {
            outcome = { ok: false, error };
            // Whatever `decide` did before it threw is undone: a failed save writes nothing.
            abort();
          }
        });
      } catch (error) {
        outcome = { ok: false, error: this.unavailable('the request failed', error) };
        abort();
      }
    });
  }

  /** The open connection, opening it (and creating the object store in a new database) if needed. */
  private connection(signal: AbortSignal): Promise<IDBDatabase> {
    if (this.closed) return Promise.reject(new StoreUnavailableError(`the IndexedDB store (${this.database}) is closed`));
    if (this.db === undefined) {
      const opening = this.open();
      this.db = opening;
      opening.catch(() => {
        if (this.db === opening) this.db = undefined;
      });
    }
    return abortable(this.db, signal, this.name);
  }

  private open(): Promise<IDBDatabase> {
    return new Promise<IDBDatabase>((resolve, reject) => {
      const factory: IDBFactory | undefined = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
      if (factory === undefined) {
        reject(new StoreUnavailableError('IndexedDB is not available here (no indexedDB global: not a browser, or disabled)'));
        return;
      }
      let request: IDBOpenDBRequest;
      try {
        // No version: the database is created at version 1 if missing, opened as it is otherwise.
        request = factory.open(this.database);
      } catch (error) {
        // SecurityError: an opaque origin (sandboxed iframe, data: URL) or storage blocked by the user.
        reject(this.unavailable('cannot open the database', error));
        return;
      }
      let blocked = false;
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(OBJECT_STORE)) db.createObjectStore(OBJECT_STORE);
      };
      request.onblocked = () => {
        blocked = true;
        reject(this.unavailable('opening the database is blocked by another tab holding an older version open'));
      };
      request.onerror = () => reject(this.unavailable('cannot open the database', request.error));
      request.onsuccess = () => {
        const db = request.result;
        if (blocked || this.closed) {
          // Nobody is waiting for this connection any more (the caller got the error, or close() ran).
          db.close();
          reject(this.unavailable(blocked ? 'the database was blocked' : 'the store is closed'));
          return;
        }
        if (!db.objectStoreNames.contains(OBJECT_STORE)) {
          db.close();
          reject(this.unavailable(`it exists without a '${OBJECT_STORE}' object store: give IndexedDBStore a database of its own`));
          return;
        }
        // Let another tab upgrade or delete the database instead of blocking it: close, reopen on next use.
        db.onversionchange = () => {
          db.close();
          this.forget(db);
        };
        // The browser closed it (storage cleared, disk error): reopen on next use.
        db.onclose = () => this.forget(db);
        this.current = db;
        resolve(db);
      };
    });
  }

  private forget(db: IDBDatabase): void {
    if (this.current !== db) return;
    this.current = undefined;
    this.db = undefined;
  }

  private versionOf(value: unknown, k: string): () => number {
    return () => this.rowOf(value, k)?.version ?? 0;
  }

  private rowOf(value: unknown, k: string): StoredRecord | null {
    if (value === undefined) return null;
    const row = value as Partial<Row> | null;
    if (
      row === null ||
      typeof row !== 'object' ||
      !(row.data instanceof Uint8Array) ||
      !Number.isSafeInteger(row.version) ||
      row.version! < 1
    ) {
      throw this.unavailable(`the record of ${k} is not one IndexedDBStore wrote`);
    }
    return { data: row.data, version: row.version! };
  }

  private unavailable(what: string, cause?: unknown): StoreUnavailableError {
    const why = cause === undefined || cause === null ? '' : `: ${describeThrown(cause)}`;
    return new StoreUnavailableError(`IndexedDB database ${this.database}: ${what}${why}`, { database: this.database });
  }
}
