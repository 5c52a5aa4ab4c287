/**
 * The one seam between rtc-mesh and a WebRTC implementation. Browsers pass their globals; Node passes a
 * binding (client/node.ts). Nothing else in client/ knows which one it runs on.
 */
import type SimplePeer from 'simple-peer';

export interface RtcBinding {
  readonly RTCPeerConnection: unknown;
  readonly RTCSessionDescription?: unknown;
  readonly RTCIceCandidate?: unknown;
}

/** The simple-peer constructor: 'simple-peer' in Node, its prebuilt bundle in browsers (no Node polyfills). */
export type SimplePeerConstructor = typeof SimplePeer;
export type SimplePeerInstance = SimplePeer.Instance;

/** What the transport needs to build peers on this platform. */
export interface RtcPlatform {
  readonly kind: 'browser' | 'node';
  readonly SimplePeer: SimplePeerConstructor;
  /** Absent in browsers: simple-peer then uses the page's RTCPeerConnection. */
  readonly binding?: RtcBinding;
  /** Extra RTCPeerConnection configuration merged into every connection (e.g. node-datachannel's bindAddress). */
  readonly peerConfig?: Readonly<Record<string, unknown>>;
}
