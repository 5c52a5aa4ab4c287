/**
 * The one seam between rtc-mesh and a WebRTC implementation. Browsers pass their globals; Node passes a
 * binding (client/node.ts). Nothing else in client/ knows which one it runs on.
 */

export interface RtcBinding {
  readonly RTCPeerConnection: unknown;
  readonly RTCSessionDescription?: unknown;
  readonly RTCIceCandidate?: unknown;
}

/**
 * The part of simple-peer we use, typed here rather than through @types/simple-peer, so the published
 * declarations depend on no dev-only type package.
 */
export interface SimplePeerOptions {
  readonly initiator: boolean;
  readonly trickle: boolean;
  readonly config: Readonly<Record<string, unknown>>;
  readonly channelConfig: { readonly ordered: boolean };
  readonly wrtc?: unknown;
}

export interface SimplePeerInstance {
  signal(data: unknown): void;
  send(data: Uint8Array): void;
  destroy(): void;
  on(event: 'signal', listener: (data: unknown) => void): unknown;
  on(event: 'connect' | 'close', listener: () => void): unknown;
  on(event: 'data', listener: (data: Uint8Array) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeAllListeners(event?: string): unknown;
}

/** The simple-peer constructor: 'simple-peer' in Node, its prebuilt bundle in browsers (no Node polyfills). */
export type SimplePeerConstructor = new (options: SimplePeerOptions) => SimplePeerInstance;

/** What the transport needs to build peers on this platform. */
export interface RtcPlatform {
  readonly kind: 'browser' | 'node';
  readonly SimplePeer: SimplePeerConstructor;
  /** Absent in browsers: simple-peer then uses the page's RTCPeerConnection. */
  readonly binding?: RtcBinding;
  /** How frame links flush (see Transport.schedule); absent: a microtask. */
  readonly schedule?: (task: () => void) => void;
  /** Extra RTCPeerConnection configuration merged into every connection (e.g. node-datachannel's bindAddress). */
  readonly peerConfig?: Readonly<Record<string, unknown>>;
}
