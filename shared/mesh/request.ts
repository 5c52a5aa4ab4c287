import type { MessageTarget } from '../actors/runtime.js';
import { AbortedError, InvalidArgumentError } from '../errors.js';
import { shardFor } from '../placement/shards.js';
import { MAX_ID, MAX_NAME } from '../wire/frames.js';
import type { CallRequest } from './types.js';

/**
 * Checks a call or cast request before it is routed anywhere, against the limits the wire enforces, so a
 * request a remote owner would drop is refused here, for a local owner too, with a message saying why.
 */
export function targetOf(request: CallRequest, shardCount: number): MessageTarget {
  if (request === null || typeof request !== 'object') throw new InvalidArgumentError('call needs a request object');
  const { actor, id, capability } = request;
  const actorName = checkString(actor, 'request.actor', MAX_NAME);
  const capabilityName = checkString(capability, 'request.capability', MAX_NAME);
  const actorId = checkString(id, 'request.id', MAX_ID);
  return { actor: actorName, id: actorId, capability: capabilityName, shard: shardFor(actorId, shardCount), initArg: request.initArg };
}

/** The request's timeout (or the default); throws ABORTED if its signal already fired. */
export function timeoutOf(request: CallRequest, defaultMs: number): number {
  const timeoutMs = request.timeoutMs ?? defaultMs;
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw new InvalidArgumentError(`timeoutMs must be a positive number, got ${String(timeoutMs)}`);
  }
  if (request.signal?.aborted) throw new AbortedError();
  return timeoutMs;
}

function checkString(value: unknown, what: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError(`${what} must be a non-empty string, got ${describe(value)}`);
  }
  if (value.length > max) throw new InvalidArgumentError(`${what} is ${value.length} characters long; the limit is ${max}`);
  return value;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return 'an empty string';
  if (value === null) return 'null';
  return typeof value;
}
