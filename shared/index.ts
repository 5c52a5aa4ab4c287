// The isomorphic core of rtc-mesh (`rtc-mesh/shared`): no Node, DOM or network dependency. Re-exports only:
// the application API (public.ts) plus the parts a transport, a test or another runtime builds on.
export * from './public.js';
export { hashString, murmur3 } from './placement/hash.js';
export { resolveStrategy } from './placement/placement.js';
export { Membership } from './placement/membership.js';
export type { MembershipChange } from './placement/membership.js';
export { MemoryNetwork } from './wire/memory-transport.js';
export type { Transport, TransportHandlers, PeerChannel, ChannelSink } from './wire/transport.js';
export type { ByteChannel, FrameLinkOptions } from './wire/frame-link.js';
export { PROTOCOL_VERSION } from './wire/frames.js';
export type { Frame } from './wire/frames.js';
export { encodeFrame, decodeBatch } from './wire/codec.js';
export { checkWireValue, wireCopy } from './wire/values.js';
export * from './wire/signaling.js';
// For a StateStore adapter of your own: the same conflict error and abort handling as the built-in ones.
export { conflict as storeConflict } from './stores/memory-store.js';
export { abortable, storeAborted } from './stores/abortable.js';
