import type { StateStore } from '../stores/state-store.js';
import type { ActorRegistry, DeactivateReason } from '../actors/actor.js';
import type { ActivationInfo } from '../actors/runtime.js';
import type { MeshError, ProtocolError } from '../errors.js';
import type { PeerInfo } from '../placement/membership.js';
import type { PlacementStrategy } from '../placement/placement.js';
import type { FrameLinkOptions } from '../wire/frame-link.js';
import type { Transport } from '../wire/transport.js';

/** The public types of a Mesh: its options, requests, results and events. */

export interface MeshOptions {
  /** Capabilities this peer advertises (e.g. ['game', 'chat']). */
  readonly capabilities?: readonly string[];
  /** Actor types this peer can host, by name. */
  readonly actors?: ActorRegistry;
  /** Shard count; every peer of a mesh must use the same (default 4096). */
  readonly shards?: number;
  /** Placement strategy: 'rendezvous' (default), 'modulo', or your own. Every peer must use the same. */
  readonly strategy?: PlacementStrategy | 'rendezvous' | 'modulo';
  /** Stop activations quiet for this long (ms); 0/absent = never. Per-type `idleTimeoutMs` wins. */
  readonly idleTimeoutMs?: number;
  /** Default timeout of call() (ms, default 5000). */
  readonly callTimeoutMs?: number;
  /** Largest encoded call, cast or reply (bytes, default 16 MiB). */
  readonly maxMessageBytes?: number;
  /** This peer's id (default: random). */
  readonly peerId?: string;
  /** How to reach other peers. Absent: standalone, single-node mode. */
  readonly transport?: Transport;
  /** Ping quiet peers this often (ms, default 1000). */
  readonly heartbeatMs?: number;
  /** Drop a peer heard nothing from for this long (ms, default 5000). */
  readonly peerTimeoutMs?: number;
  /** How long a call waits for handed-over state before activating fresh (ms, default 2000). */
  readonly handoffTimeoutMs?: number;
  /** Aborts start-up (e.g. while the transport connects). (`signal` is the signaling URL in client options.) */
  readonly abortSignal?: AbortSignal;
  /** On stop, hand actors over and answer calls in progress for up to this long before closing (ms, default 2000; 0 = no drain). */
  readonly drainTimeoutMs?: number;
  /**
   * In rooms whose signaling server signs identities: public keys (base64url, raw Ed25519) trusted to sign
   * peer tokens besides the ones the server names, e.g. to pin your own key.
   */
  readonly trustedKeys?: readonly string[];
  /**
   * Copies of each actor's state kept on the peers that would own it next, for types with snapshot()
   * (default 1; 0: none; a type's `static replicas` wins). See README, Replicas.
   */
  readonly replicas?: number;
  /** 'sync' (default): a call resolves once its state is on every backup. 'async': at once; copies follow. */
  readonly replication?: 'sync' | 'async';
  /** Bytes of copies this peer holds for other owners, at most (default 64 MiB). */
  readonly maxReplicaBytes?: number;
  /**
   * Where durable actor types (`static durable = true`) keep their state so it outlives every peer: a
   * MemoryStore, FileStore, RedisStore, IndexedDBStore or your own StateStore. The mesh does not close it.
   */
  readonly store?: StateStore;
  /**
   * 'write-through' (default): a call that changed a durable actor resolves once its state is saved.
   * 'write-behind': at once; saved within `writeBehindMs`, on deactivation and on stop(). A type's
   * `static persistence` wins.
   */
  readonly persistence?: 'write-through' | 'write-behind';
  /** Write-behind: a change is saved at most this long after it is made (default 1000 ms). */
  readonly writeBehindMs?: number;
  /** Write-behind: past this many unsaved changes of one actor, its callers wait for the save (default 1000). */
  readonly maxUnsavedChanges?: number;
  /** Every store operation fails with STORE_UNAVAILABLE after this long (default 5000 ms). */
  readonly storeTimeoutMs?: number;
  /** Tuning of the per-peer link (chunk size, window, queue bound). */
  readonly link?: Omit<FrameLinkOptions, 'maxMessageBytes' | 'schedule'>;
}

export interface CallRequest {
  /** The registered actor type name (1-256 characters). */
  readonly actor: string;
  /** The actor id (1-4096 characters). */
  readonly id: string;
  /** The capability (1-256 characters). */
  readonly capability: string;
  readonly payload?: unknown;
  /** Passed to the constructor only when this call creates the activation. */
  readonly initArg?: unknown;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export type CastRequest = CallRequest;

export interface CallResult<R = unknown> {
  /** The peer that ran the call. */
  readonly peer: string;
  /** The activation that ran it (the seed's pid). */
  readonly activation: string;
  readonly result: R;
}

export interface TopologyEvent {
  readonly version: number;
  readonly peers: readonly PeerInfo[];
  readonly joined: readonly PeerInfo[];
  readonly left: readonly PeerInfo[];
  readonly updated: readonly PeerInfo[];
  /** Activations this peer stopped because their shard moved away. */
  readonly moved: number;
}

/** An activation hosted here, with the peers its copies are sent to (empty for types without copies). */
export interface HostedActivation extends ActivationInfo {
  readonly backups: readonly string[];
}

/** A copy of another owner's actor, held here. */
export interface ReplicaInfo {
  readonly key: string;
  readonly actor: string;
  readonly capability: string;
  readonly id: string;
  readonly shard: number;
  /** The peer that sent it. */
  readonly owner: string;
  readonly version: { readonly epoch: number; readonly seq: number };
  readonly bytes: number;
}

export interface ActivationEvent extends ActivationInfo {
  readonly peer: string;
}

export interface HandoffEvent {
  readonly direction: 'sent' | 'received';
  readonly peer: string;
  readonly actor: string;
  readonly id: string;
  readonly capability: string;
  /** The encoded size of this actor's handoff frame. */
  readonly bytes: number;
}

export interface MeshEvents {
  topology: TopologyEvent;
  'peer-joined': PeerInfo;
  'peer-left': PeerInfo;
  activated: ActivationEvent;
  deactivated: ActivationEvent & { readonly reason: DeactivateReason };
  'cast-failed': { readonly actor: string; readonly id: string; readonly capability: string; readonly error: MeshError };
  'frame-dropped': { readonly peer: string; readonly error: ProtocolError };
  /** A frame `peer` had no right to send was dropped (and counted in stats().peers[peer].rejected). */
  'frame-rejected': { readonly peer: string; readonly frame: string; readonly reason: string };
  'peer-refused': { readonly peer: string; readonly error: MeshError };
  handoff: HandoffEvent;
  /**
   * State of a durable actor that was acknowledged (write-behind, or the final save on deactivation) could
   * not be saved; the mesh keeps trying while the actor lives. Never silent: see README, Durable actors.
   */
  'store-failed': { readonly actor: string; readonly id: string; readonly capability: string; readonly error: MeshError };
  /** An actor's snapshot() failed while copying its state to its backups (its calls were still answered). */
  'snapshot-failed': { readonly actor: string; readonly id: string; readonly capability: string; readonly error: MeshError };
  /** The previous owner vanished; its copy here was activated (no state lost: see README, Replicas). */
  'replica-promoted': {
    readonly actor: string;
    readonly id: string;
    readonly capability: string;
    readonly from: string;
    readonly version: { readonly epoch: number; readonly seq: number };
  };
  /** The previous owner vanished before handing state over: the actor starts fresh. */
  'handoff-lost': { readonly actor: string; readonly id: string; readonly capability: string; readonly from: string };
  stopped: undefined;
}
