/**
 * A throwaway redis-server for the bench (the `store` scenario): the tests' own (tests/integration/
 * redis-helpers.ts), also killed when the bench ends however it ends (watchdog, signal, exception).
 */
import { existsSync } from 'node:fs';
import { REDIS_SERVER_BIN, startRedis } from '../../tests/integration/redis-helpers.js';

export interface BenchRedis {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Why the bench cannot start Redis here, or null when it can. */
export function redisMissing(): string | null {
  return existsSync(REDIS_SERVER_BIN) ? null : `${REDIS_SERVER_BIN} not found (apt-get install redis-server, or set REDIS_SERVER_BIN)`;
}

/** Starts redis-server on a free port and resolves once it answers PING. */
export async function startBenchRedis(timeoutMs = 10_000): Promise<BenchRedis> {
  const redis = await startRedis({ timeoutMs });
  const killOnExit = (): void => void redis.process.kill('SIGKILL');
  process.on('exit', killOnExit);
  return {
    url: redis.url,
    port: redis.port,
    stop: async () => {
      process.off('exit', killOnExit);
      await redis.stop();
    },
  };
}
