/**
 * `rtc-mesh/server`: the signaling server as a library, for a Node service that serves its own app and
 * lets peers meet on the same port (`createSignalingServer({ httpServer })`) or runs it standalone.
 * Node only. The redis modules behind `startSignaling` / `createRedisAdapter` are loaded lazily, so a
 * server without Redis never imports them.
 */
export {
  createSignalingServer,
  installShutdown,
  type AuthorizeHook,
  type AuthorizeRequest,
  type AuthorizeResult,
  type CapabilityGrants,
  type IceServersFactory,
  type IceServersRequest,
  type RoomMember,
  type ShutdownOptions,
  type SignalingAdapter,
  type SignalingIo,
  type SignalingServer,
  type SignalingServerOptions,
  type SignalingSocketData,
  type SignalingStats,
  type TokenScope,
} from './signaling-server.js';
export { MemoryClaimStore, type ClaimStore, type MemoryClaimStoreOptions } from './claims.js';
export { DEFAULT_IDENTITY_TTL_MS, type IdentityOptions } from './identity.js';
export {
  createRedisAdapter,
  startSignaling,
  type RedisAdapterHandle,
  type RedisAdapterOptions,
  type StartSignalingOptions,
  type StartedSignalingServer,
} from './redis.js';
export { DEFAULT_TURN_TTL_SECONDS, turnCredentials, turnIceServers, type TurnCredentialOptions, type TurnIceServer } from './turn.js';
export type { IceServerConfig, IdentityGrant, JoinRefusalCode } from '../shared/wire/signaling.js';
