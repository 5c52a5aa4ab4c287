import { Mesh as CoreMesh, type MeshOptions } from '../shared/mesh.js';
import type { IceServerConfig } from '../shared/wire/signaling.js';
import type { RtcPlatform } from './rtc.js';
import { WebRtcTransport } from './webrtc-transport.js';
import type { SignalingState } from './signaling-client.js';
import type { MeshError } from '../shared/errors.js';

/** Options of a networked peer: the core options plus where and how to meet the other peers. */
export interface PeerMeshOptions extends Omit<MeshOptions, 'transport'> {
  /** Signaling server URL (or several, tried in turn). Absent: standalone, single-node mode. */
  readonly signal?: string | readonly string[];
  /** Room to join on the signaling server (default 'default'). */
  readonly room?: string;
  /** Token, when the signaling server requires one. */
  readonly token?: string;
  /** ICE servers (STUN/TURN); absent: whatever the signaling server hands out (default none). */
  readonly iceServers?: readonly IceServerConfig[];
  /** How long start() waits to join the signaling room (ms, default 10000). */
  readonly connectTimeoutMs?: number;
  readonly onSignalingState?: (state: SignalingState, detail?: MeshError) => void;
}

/** Builds the transport from the options (or none, standalone) and starts the core mesh. */
export function startMesh(options: PeerMeshOptions, platform: RtcPlatform): Promise<CoreMesh> {
  const { signal, room, token, iceServers, connectTimeoutMs, onSignalingState, ...core } = options;
  if (signal === undefined) return CoreMesh.start(core);
  const transport = new WebRtcTransport(platform, {
    signal,
    ...(room !== undefined ? { room } : {}),
    ...(token !== undefined ? { token } : {}),
    ...(iceServers !== undefined ? { iceServers } : {}),
    ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
    ...(onSignalingState !== undefined ? { onSignalingState } : {}),
  });
  return CoreMesh.start({ ...core, transport });
}
