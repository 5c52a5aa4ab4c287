/**
 * The Node entry point: the same Mesh API as the browser, with a Node WebRTC binding injected here and
 * only here. Default binding: node-datachannel (its W3C polyfill); '@roamhq/wrtc' is the alternative.
 */
import { createRequire } from 'node:module';
import SimplePeer from 'simple-peer';
import { InvalidArgumentError } from '../shared/errors.js';
import type { Mesh as CoreMesh } from '../shared/mesh.js';
import { startMesh, type PeerMeshOptions } from './mesh.js';
import { plainDescriptions } from './peer-connection.js';
import type { RtcBinding, RtcPlatform, SimplePeerConstructor } from './rtc.js';

export * from '../shared/public.js';
export type { PeerMeshOptions } from './mesh.js';
export type { RtcBinding, RtcPlatform } from './rtc.js';
export { WebRtcTransport } from './webrtc-transport.js';
export type { SignalingState } from './signaling-client.js';

export type NodeBindingName = 'node-datachannel' | '@roamhq/wrtc';

export interface NodeMeshOptions extends PeerMeshOptions {
  /** WebRTC binding (default 'node-datachannel'), or your own RtcBinding. */
  readonly binding?: NodeBindingName | RtcBinding;
  /** Local address ICE binds to; '127.0.0.1' makes loopback-only meshes (tests, one machine) work. */
  readonly bindAddress?: string;
}

const require = createRequire(import.meta.url);

interface PolyfillModule {
  RTCPeerConnection: Parameters<typeof plainDescriptions>[0];
  RTCSessionDescription: unknown;
  RTCIceCandidate: unknown;
}

let nodeDataChannel: RtcBinding | undefined;

/** node-datachannel through its W3C polyfill (its descriptions made plain for simple-peer, see peer-connection.ts). */
function loadNodeDataChannel(): RtcBinding {
  if (nodeDataChannel) return nodeDataChannel;
  const polyfill = require('node-datachannel/polyfill') as PolyfillModule;
  nodeDataChannel = {
    RTCPeerConnection: plainDescriptions(polyfill.RTCPeerConnection),
    RTCSessionDescription: polyfill.RTCSessionDescription,
    RTCIceCandidate: polyfill.RTCIceCandidate,
  };
  return nodeDataChannel;
}

function loadBinding(choice: NodeBindingName | RtcBinding | undefined): RtcBinding {
  if (choice === undefined || choice === 'node-datachannel') return loadNodeDataChannel();
  if (choice === '@roamhq/wrtc') {
    try {
      return require('@roamhq/wrtc') as RtcBinding;
    } catch (error) {
      throw new InvalidArgumentError(`binding '@roamhq/wrtc' is not installed: npm install @roamhq/wrtc (${String(error)})`);
    }
  }
  if (typeof choice === 'object' && choice !== null && typeof choice.RTCPeerConnection === 'function') return choice;
  throw new InvalidArgumentError(`unknown binding ${String(choice)}: use 'node-datachannel', '@roamhq/wrtc' or an RtcBinding`);
}

export function nodePlatform(options: Pick<NodeMeshOptions, 'binding' | 'bindAddress'> = {}): RtcPlatform {
  const binding = loadBinding(options.binding);
  const usesNdc = options.binding === undefined || options.binding === 'node-datachannel';
  return {
    kind: 'node',
    SimplePeer: SimplePeer as unknown as SimplePeerConstructor,
    binding,
    // node-datachannel calls back once per message, and microtasks drain after each: flush once per
    // event-loop turn instead, so one send carries the replies to every message of that turn.
    schedule: (task) => void setImmediate(task),
    ...(usesNdc && options.bindAddress !== undefined ? { peerConfig: { bindAddress: options.bindAddress } } : {}),
  };
}

export type Mesh = CoreMesh;

/** `Mesh.start(options)`: a standalone peer, or (with `signal`) a peer of a WebRTC mesh. */
export const Mesh = {
  start(options: NodeMeshOptions = {}): Promise<CoreMesh> {
    const { binding, bindAddress, ...rest } = options;
    const platform = nodePlatform({ ...(binding !== undefined ? { binding } : {}), ...(bindAddress !== undefined ? { bindAddress } : {}) });
    return startMesh(rest, platform);
  },
};
