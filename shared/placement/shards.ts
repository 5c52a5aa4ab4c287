import { InvalidArgumentError } from '../errors.js';
import { hashString } from './hash.js';

export const DEFAULT_SHARD_COUNT = 4096;

export function assertShardCount(shardCount: unknown): asserts shardCount is number {
  if (typeof shardCount !== 'number' || !Number.isInteger(shardCount) || shardCount < 1 || shardCount > 0x7fffffff) {
    throw new InvalidArgumentError(`shardCount must be a positive integer, got ${String(shardCount)}`);
  }
}

export function assertActorId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new InvalidArgumentError(`actor id must be a non-empty string, got ${describe(id)}`);
  }
}

/** id -> shard: MurmurHash3 x86_32 of the id's UTF-8 bytes, modulo shardCount (see hash.ts for the version). */
export function shardFor(id: string, shardCount: number = DEFAULT_SHARD_COUNT): number {
  assertActorId(id);
  assertShardCount(shardCount);
  return hashString(id) % shardCount;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return 'an empty string';
  if (value === null) return 'null';
  return typeof value;
}
