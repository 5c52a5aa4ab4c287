/** Graceful shutdown of a server process on SIGTERM/SIGINT. */
import { describeThrown } from '../shared/errors.js';
import type { SignalingServer } from './signaling-types.js';

const noop = (): void => {};

export interface ShutdownOptions {
  /** Default ['SIGTERM', 'SIGINT']. */
  readonly signals?: readonly NodeJS.Signals[] | undefined;
  /** Exit with 1 if close() has not finished by then; default 10 000 ms. */
  readonly timeoutMs?: number | undefined;
  readonly log?: ((line: string) => void) | undefined;
}

/**
 * On the first of `signals`: close() once, then exit 0 (1 if close fails or outlives `timeoutMs`). Later
 * signals are swallowed while closing rather than killing the process half-way. Returns a disposer that
 * removes the handlers.
 */
export function installShutdown(server: Pick<SignalingServer, 'close'>, options: ShutdownOptions = {}): () => void {
  const signals = [...(options.signals ?? ['SIGTERM', 'SIGINT'])];
  const timeoutMs = options.timeoutMs ?? 10_000;
  const log = options.log ?? noop;
  let started = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (started) return;
    started = true;
    log(`[signaling] ${signal}: shutting down`);
    const force = setTimeout(() => {
      log(`[signaling] close() did not finish within ${timeoutMs} ms`);
      process.exit(1);
    }, timeoutMs);
    force.unref();
    server.close().then(
      () => {
        clearTimeout(force);
        process.exit(0);
      },
      (error: unknown) => {
        clearTimeout(force);
        log(`[signaling] close() failed: ${describeThrown(error)}`);
        process.exit(1);
      },
    );
  };
  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
}
