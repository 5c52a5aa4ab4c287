/**
 * Where durable actors keep their state when no peer holds it (every tab closed, every Node peer
 * redeployed). A store is a small versioned key-value map: the mesh encodes each actor's snapshot to bytes
 * and names the version it read on every save, so two activations of one actor can never silently
 * overwrite each other (optimistic concurrency, as Orleans' ETags). Adapters: MemoryStore (here, tests and
 * one process), FileStore and RedisStore (Node), IndexedDBStore (browsers).
 */

/** Which actor a record belongs to: the same id under another capability or type is another actor. */
export interface StoreKey {
  readonly capability: string;
  readonly actor: string;
  readonly id: string;
}

/** What a store keeps per actor. */
export interface StoredRecord {
  /** Opaque to the store: the mesh's encoding of the actor's state. */
  readonly data: Uint8Array;
  /** The store's version of the record: 1 after the first save, one more after every later one. */
  readonly version: number;
}

/**
 * Every method rejects with StoreUnavailableError when the store cannot answer (down, unreachable, or
 * `signal` aborted: the mesh aborts an operation at its `storeTimeoutMs`), never hangs past `signal`.
 */
export interface StateStore {
  /** For messages and stats: 'memory', 'file', 'redis', 'indexeddb'... */
  readonly name: string;
  /** The record, or null when the actor has none. */
  load(key: StoreKey, signal: AbortSignal): Promise<StoredRecord | null>;
  /**
   * Writes `data` if the stored version is `expected` (0: there must be no record yet) and resolves with the
   * new version (expected + 1). Rejects with StoreConflictError, writing nothing, when it is not.
   */
  save(key: StoreKey, data: Uint8Array, expected: number, signal: AbortSignal): Promise<number>;
  /** Deletes the record if its version is `expected` (StoreConflictError if not; nothing to delete is fine). */
  delete(key: StoreKey, expected: number, signal: AbortSignal): Promise<void>;
  /** Releases connections and handles. Idempotent. */
  close?(): Promise<void>;
}

/**
 * One string per actor, the same for every adapter: capability, type and id, each percent-encoded (so no
 * part can contain the separator), joined by '/'.
 */
export function storeKeyString(key: StoreKey): string {
  return `${encodePart(key.capability)}/${encodePart(key.actor)}/${encodePart(key.id)}`;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * encodeURIComponent, except that it throws on lone surrogates, which actor ids may hold (the mesh places
 * them, hashed as U+FFFD): each becomes `%uD800`-style, which encodeURIComponent never produces (after its
 * '%' come two hex digits), so distinct strings still get distinct keys.
 */
function encodePart(value: string): string {
  let out = '';
  let from = 0;
  for (const match of value.matchAll(LONE_SURROGATE)) {
    out += `${encodeURIComponent(value.slice(from, match.index))}%u${match[0].charCodeAt(0).toString(16).toUpperCase()}`;
    from = match.index + 1;
  }
  return out + encodeURIComponent(value.slice(from));
}
