import { InvalidArgumentError } from '../errors.js';
import { PEER_ID_PATTERN, randomPeerId } from '../ids.js';
import { normalizeNames, type PeerKind } from '../placement/membership.js';
import { resolveStrategy, type PlacementStrategy } from '../placement/placement.js';
import { DEFAULT_SHARD_COUNT, assertShardCount } from '../placement/shards.js';
import type { FrameLinkOptions } from '../wire/frame-link.js';
import { MAX_NAME } from '../wire/frames.js';
import type { HelloContext } from './hello.js';
import type { StateStore } from '../stores/state-store.js';
import type { MeshOptions } from './types.js';

/** MeshOptions checked once, with every default filled in. */
export interface MeshConfig {
  readonly peerId: string;
  readonly kind: PeerKind;
  readonly shardCount: number;
  readonly strategy: PlacementStrategy;
  readonly callTimeoutMs: number;
  readonly maxMessageBytes: number;
  readonly heartbeatMs: number;
  readonly peerTimeoutMs: number;
  readonly handoffTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly idleTimeoutMs: number | undefined;
  readonly replicas: number;
  readonly replication: 'sync' | 'async';
  readonly maxReplicaBytes: number;
  readonly store: StateStore | null;
  readonly persistence: 'write-through' | 'write-behind';
  readonly writeBehindMs: number;
  readonly maxUnsavedChanges: number;
  readonly storeTimeoutMs: number;
  readonly link: FrameLinkOptions;
  /** What admitting peers needs from the configuration (the transport adds the identity). */
  readonly hello: Omit<HelloContext, 'identity'>;
}

export function resolveConfig(options: MeshOptions): MeshConfig {
  const shardCount = options.shards ?? DEFAULT_SHARD_COUNT;
  assertShardCount(shardCount);
  const peerId = options.peerId ?? randomPeerId();
  if (!PEER_ID_PATTERN.test(peerId)) throw new InvalidArgumentError(`peerId must match ${PEER_ID_PATTERN}, got "${peerId}"`);
  const maxMessageBytes = positive(options.maxMessageBytes ?? 16 * 1024 * 1024, 'maxMessageBytes');
  const strategy = resolveStrategy(options.strategy);
  return {
    peerId,
    kind: options.transport?.kind ?? 'memory',
    shardCount,
    strategy,
    callTimeoutMs: positive(options.callTimeoutMs ?? 5000, 'callTimeoutMs'),
    maxMessageBytes,
    heartbeatMs: positive(options.heartbeatMs ?? 1000, 'heartbeatMs'),
    peerTimeoutMs: positive(options.peerTimeoutMs ?? 5000, 'peerTimeoutMs'),
    handoffTimeoutMs: positive(options.handoffTimeoutMs ?? 2000, 'handoffTimeoutMs'),
    drainTimeoutMs: options.drainTimeoutMs === 0 ? 0 : positive(options.drainTimeoutMs ?? 2000, 'drainTimeoutMs'),
    idleTimeoutMs: options.idleTimeoutMs,
    replicas: count(options.replicas ?? 1, 'replicas'),
    replication: mode(options.replication ?? 'sync'),
    maxReplicaBytes: positive(options.maxReplicaBytes ?? 64 * 1024 * 1024, 'maxReplicaBytes'),
    store: checkStore(options.store),
    persistence: persistenceMode(options.persistence ?? 'write-through'),
    writeBehindMs: positive(options.writeBehindMs ?? 1000, 'writeBehindMs'),
    maxUnsavedChanges: positive(options.maxUnsavedChanges ?? 1000, 'maxUnsavedChanges'),
    storeTimeoutMs: positive(options.storeTimeoutMs ?? 5000, 'storeTimeoutMs'),
    link: {
      ...options.link,
      maxMessageBytes,
      ...(options.transport?.schedule ? { schedule: options.transport.schedule } : {}),
    },
    hello: { self: peerId, shardCount, strategy: strategy.name, trustedKeys: checkKeys(options.trustedKeys ?? []) },
  };
}

function checkKeys(keys: readonly string[]): readonly string[] {
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string' && k.length > 0 && k.length <= 64)) {
    throw new InvalidArgumentError('trustedKeys must be base64url Ed25519 public keys');
  }
  return [...keys];
}

function count(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 16)
    throw new InvalidArgumentError(`${name} must be an integer in [0, 16], got ${String(value)}`);
  return value;
}

function mode(value: string): 'sync' | 'async' {
  if (value !== 'sync' && value !== 'async') throw new InvalidArgumentError(`replication must be 'sync' or 'async', got ${String(value)}`);
  return value;
}

function checkStore(store: StateStore | undefined): StateStore | null {
  if (store === undefined) return null;
  const methods = ['load', 'save', 'delete'] as const;
  if (store === null || typeof store !== 'object' || !methods.every((m) => typeof store[m] === 'function')) {
    throw new InvalidArgumentError('store must be a StateStore: an object with load, save and delete');
  }
  return store;
}

function persistenceMode(value: string): 'write-through' | 'write-behind' {
  if (value !== 'write-through' && value !== 'write-behind') {
    throw new InvalidArgumentError(`persistence must be 'write-through' or 'write-behind', got ${String(value)}`);
  }
  return value;
}

export function positive(value: number, name: string): number {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new InvalidArgumentError(`${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}

/** Capability and actor type names: non-empty strings of at most MAX_NAME characters; sorted, unique. */
export function checkNames(names: readonly string[], what: string): string[] {
  if (!Array.isArray(names)) throw new InvalidArgumentError(`${what} list must be an array of strings`);
  for (const name of names) {
    if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME) {
      throw new InvalidArgumentError(`${what} names must be non-empty strings of at most ${MAX_NAME} characters`);
    }
  }
  return normalizeNames(names);
}
