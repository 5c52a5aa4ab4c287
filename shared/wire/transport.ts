import type { ByteChannel } from './frame-link.js';
import type { PeerKind } from '../placement/membership.js';
import type { ConnectionBinding } from '../identity/proof.js';
import type { IdentityGrant } from './signaling.js';

/** A byte channel the transport opened to one remote peer. */
export interface PeerChannel extends ByteChannel {
  /** Closes this channel; the transport then reports `closed` for the peer. */
  close(): void;
  /**
   * The DTLS certificate fingerprints of this connection, ours and the remote's, as the SDPs announced them
   * (WebRTC checks the remote's against its certificate). Signed hellos are bound to them.
   */
  readonly fingerprints: { readonly local: string; readonly remote: string };
}

export type { IdentityGrant };

/**
 * This peer's identity in a room whose server signs identities: its current token, the keys that vouch
 * for tokens, and its private key (only through `sign`). Absent (or a null grant) means open mode.
 */
export interface LocalIdentity {
  readonly room: string;
  /** The current grant, renewed before it expires; null when the server signs no identities. */
  grant(): IdentityGrant | null;
  /** Signs a hello proof with the private key the token names. */
  sign(binding: ConnectionBinding): Promise<Uint8Array>;
  /** Runs `listener` whenever the grant is renewed; returns the unsubscribe function. */
  onRenewed(listener: () => void): () => void;
}

/** Where a transport delivers the messages of a channel it opened. */
export interface ChannelSink {
  message(data: Uint8Array): void;
}

export interface TransportHandlers {
  /** A channel to `remoteId` is open and ready to send; returns the sink for its incoming messages. */
  open(remoteId: string, channel: PeerChannel): ChannelSink;
  /** The channel to `remoteId` closed (or could not be kept); nothing more arrives from it. */
  closed(remoteId: string, reason: string): void;
  /**
   * Something other than the channel says `remoteId` may be gone (the signaling server lost its socket).
   * The channel may still be healthy: the mesh probes it and closes it only if the peer stays silent.
   */
  suspect?(remoteId: string): void;
}

/**
 * How a mesh reaches other peers: the WebRTC mesh (client/), or an in-memory network (unit tests, several
 * meshes in one process). A transport finds peers and keeps one channel per peer; the mesh does the rest.
 */
export interface Transport {
  readonly kind: PeerKind;
  /** Set when the room may sign identities: available once start() resolved. */
  readonly identity?: LocalIdentity;
  /**
   * How the links over this transport schedule a flush (default: a microtask). Node's WebRTC transport
   * passes setImmediate: its channels deliver each message in a callback of its own, so a microtask flush
   * would send once per incoming message and split batches across links.
   */
  readonly schedule?: (task: () => void) => void;
  start(peerId: string, handlers: TransportHandlers, signal?: AbortSignal): Promise<void>;
  /** Counters of the transport itself (connections built, refused...), shown in the mesh's stats(). */
  stats?(): Readonly<Record<string, number>>;
  /** Closes every channel and connection. Idempotent. */
  close(): Promise<void>;
}
