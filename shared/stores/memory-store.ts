import { StoreConflictError, StoreUnavailableError } from '../errors.js';
import { storeKeyString, type StateStore, type StoredRecord, type StoreKey } from './state-store.js';

/**
 * A store in this process's memory: it outlives every activation and every mesh that shares it, not the
 * process. For tests and for meshes in one process; the reference the other adapters are checked against.
 */
export class MemoryStore implements StateStore {
  readonly name = 'memory';
  private readonly records = new Map<string, StoredRecord>();
  private closed = false;

  get size(): number {
    return this.records.size;
  }

  async load(key: StoreKey, signal: AbortSignal): Promise<StoredRecord | null> {
    this.check(signal);
    const record = this.records.get(storeKeyString(key));
    return record === undefined ? null : { data: new Uint8Array(record.data), version: record.version };
  }

  async save(key: StoreKey, data: Uint8Array, expected: number, signal: AbortSignal): Promise<number> {
    this.check(signal);
    const k = storeKeyString(key);
    const current = this.records.get(k)?.version ?? 0;
    if (current !== expected) throw conflict(key, expected, current);
    // A copy either way: a Buffer's slice() would be a view of the caller's memory.
    this.records.set(k, { data: new Uint8Array(data), version: current + 1 });
    return current + 1;
  }

  async delete(key: StoreKey, expected: number, signal: AbortSignal): Promise<void> {
    this.check(signal);
    const k = storeKeyString(key);
    const current = this.records.get(k)?.version ?? 0;
    if (current === 0) return;
    if (current !== expected) throw conflict(key, expected, current);
    this.records.delete(k);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private check(signal: AbortSignal): void {
    if (this.closed) throw new StoreUnavailableError('the memory store is closed');
    if (signal.aborted) throw new StoreUnavailableError('store operation aborted (timed out or cancelled)');
  }
}

/** The conflict every adapter reports, with the same message and details. */
export function conflict(key: StoreKey, expected: number, found: number): StoreConflictError {
  return new StoreConflictError(
    `${key.capability}/${key.actor}(${key.id}): the store holds version ${found}, this activation read ${expected}`,
    { capability: key.capability, actor: key.actor, id: key.id, expected, found },
  );
}
