import { StoreUnavailableError } from '../errors.js';

/** What every adapter throws once the operation's signal has aborted (the mesh's storeTimeoutMs, or a cancel). */
export function storeAborted(store: string, details?: Readonly<Record<string, unknown>>): StoreUnavailableError {
  return new StoreUnavailableError(`${store} store operation aborted (timed out or cancelled)`, details);
}

/**
 * Settles like `work`, or rejects with `storeAborted` as soon as `signal` aborts, whichever comes first.
 * The work itself is not cancelled (a socket write or a disk write cannot be taken back), so an aborted save
 * may still land: the caller must treat it as "outcome unknown", which the version check makes safe (its
 * next save with the old version conflicts instead of overwriting).
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal, store: string): Promise<T> {
  if (signal.aborted) {
    // Nobody awaits `work` any more: its rejection must not surface as an unhandled one.
    work.catch(() => undefined);
    return Promise.reject(storeAborted(store));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      work.catch(() => undefined);
      reject(storeAborted(store));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
