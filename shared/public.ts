// What an application uses: the Mesh, its types, placement helpers and the error classes. The browser and
// Node entry points re-export exactly this; wire internals (frames, codec, transports) stay in
// `rtc-mesh/shared` (shared/index.ts).
export { Mesh } from './mesh.js';
export type {
  MeshOptions,
  CallRequest,
  CastRequest,
  CallResult,
  MeshEvents,
  TopologyEvent,
  ActivationEvent,
  HandoffEvent,
  HostedActivation,
  ReplicaInfo,
} from './mesh.js';
export type { Actor, ActorClass, ActorContext, ActorRegistry, DeactivateReason, TimerOptions } from './actors/actor.js';
export type { ActivationInfo } from './actors/runtime.js';
export { shardFor, DEFAULT_SHARD_COUNT } from './placement/shards.js';
export { SHARD_HASH_VERSION } from './placement/hash.js';
export { rendezvous, modulo } from './placement/placement.js';
export type { PlacementStrategy } from './placement/placement.js';
export type { PeerInfo, PeerKind } from './placement/membership.js';
export type { MeshStats, PeerTraffic } from './mesh/stats.js';
export type { IceServerConfig } from './wire/signaling.js';
export { VALUE_LIMITS } from './wire/values.js';
export { MAX_ID, MAX_NAME } from './wire/frames.js';
export * from './errors.js';
export { storeKeyString, type StateStore, type StoreKey, type StoredRecord } from './stores/state-store.js';
export { MemoryStore } from './stores/memory-store.js';
