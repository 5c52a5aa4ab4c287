import { Mesh as CoreMesh, type MeshOptions } from '../shared/mesh.js';
import type { IceServerConfig } from '../shared/wire/signaling.js';
import type { ConnectionBudgetOptions } from './connection-budget.js';
import type { RtcPlatform } from './rtc.js';
import { WebRtcTransport, type WebRtcTransportOptions } from './webrtc-transport.js';
import type { SignalingState } from './signaling-client.js';
import type { MeshError } from '../shared/errors.js';

/** Options of a networked peer: the core options plus where and how to meet the other peers. */
export interface PeerMeshOptions extends Omit<MeshOptions, 'transport'> {
  /** Signaling server URL (or several, tried in turn). Absent: standalone, single-node mode. */
  readonly signal?: string | readonly string[];
  /** Room to join on the signaling server (default 'default'). */
  readonly room?: string;
  /** Token, when the signaling server requires one (sent as the handshake's auth.token). */
  readonly token?: string;
  /** ICE servers (STUN/TURN); absent: whatever the signaling server hands out (default none). */
  readonly iceServers?: readonly IceServerConfig[];
  /** How long start() waits to join the signaling room (ms, default 10000). */
  readonly connectTimeoutMs?: number;
  readonly onSignalingState?: (state: SignalingState, detail?: MeshError) => void;
  /** RTCPeerConnections to build, per remote peer and in all (default 6 per peer per minute; 400 in a tab). */
  readonly connectionBudget?: ConnectionBudgetOptions;
  /** A fixed `peerId`'s secret from an earlier session (see `onReclaimSecret`): needed to take the id again at once. */
  readonly reclaimSecret?: string;
  /** Receives the secret that lets this peer id be taken again (after a reload, say); keep it to reuse a fixed id. */
  readonly onReclaimSecret?: (secret: string) => void;
}

/** `options` without its undefined entries (optional options must be absent, not undefined). */
function defined<T extends object>(options: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

/** Builds the transport from the options (or none, standalone) and starts the core mesh. */
export function startMesh(options: PeerMeshOptions, platform: RtcPlatform): Promise<CoreMesh> {
  const { signal, room, token, iceServers, connectTimeoutMs, onSignalingState, connectionBudget, reclaimSecret, onReclaimSecret, ...core } =
    options;
  if (signal === undefined) return CoreMesh.start(core);
  const transportOptions: WebRtcTransportOptions = {
    signal,
    ...defined({ room, token, iceServers, connectTimeoutMs, onSignalingState, connectionBudget, reclaimSecret, onReclaimSecret }),
  };
  return CoreMesh.start({ ...core, transport: new WebRtcTransport(platform, transportOptions) });
}
