/** Small concurrency helpers of the signaling server. */
const noop = (): void => {};

/** Runs tasks one after another; a failing task is reported and does not stop the ones behind it. */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly limit: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  push(task: () => Promise<void>): boolean {
    if (this.pending >= this.limit) return false;
    this.pending++;
    this.tail = this.tail
      .then(task)
      .catch(this.onError)
      .finally(() => {
        this.pending--;
      });
    return true;
  }
}

/** Serialises async critical sections per key; a key's entry disappears once its last section ends. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, section: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(section);
    const tail = result.then(noop, noop);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

/** Rejects with `what` timed out if `promise` has not settled within `ms`; the timer never outlives it. */
export function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
