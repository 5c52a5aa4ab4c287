/**
 * The browser entry point. simple-peer's prebuilt bundle needs no Node polyfills in the page (its main
 * entry expects `global` and `process`); RTCPeerConnection is the page's own.
 */
import SimplePeer from 'simple-peer/simplepeer.min.js';
import type { Mesh as CoreMesh } from '../shared/mesh.js';
import { startMesh, type PeerMeshOptions } from './mesh.js';
import type { RtcPlatform, SimplePeerConstructor } from './rtc.js';

export * from '../shared/public.js';
export type { PeerMeshOptions } from './mesh.js';
export type { SignalingState } from './signaling-client.js';
export { DEFAULT_INDEXEDDB_DATABASE, IndexedDBStore, type IndexedDBStoreOptions } from './stores/indexeddb-store.js';

// simple-peer's own typings are stricter about `wrtc` than the seam needs; the constructor is the same.
const browserPlatform: RtcPlatform = { kind: 'browser', SimplePeer: SimplePeer as unknown as SimplePeerConstructor };

export type Mesh = CoreMesh;

/** `Mesh.start(options)`: a standalone peer, or (with `signal`) a tab in a WebRTC mesh. */
export const Mesh = {
  start(options: PeerMeshOptions = {}): Promise<CoreMesh> {
    return startMesh(options, browserPlatform);
  },
};
