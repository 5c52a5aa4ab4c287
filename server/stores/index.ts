/**
 * `rtc-mesh/stores`: durable state stores for Node peers. Not part of `rtc-mesh/server`, which needs
 * socket.io: a peer that only keeps actor state needs neither it nor, until a RedisStore is used, `redis`
 * (imported on first use). Browsers get IndexedDBStore and MemoryStore from `rtc-mesh` itself.
 */
export { FileStore, type FileStoreOptions } from './file-store.js';
export { DEFAULT_REDIS_STORE_PREFIX, RedisStore, type RedisStoreClient, type RedisStoreOptions } from './redis-store.js';
export { MemoryStore } from '../../shared/stores/memory-store.js';
export { storeKeyString, type StateStore, type StoreKey, type StoredRecord } from '../../shared/stores/state-store.js';
export { StoreConflictError, StoreUnavailableError } from '../../shared/errors.js';
