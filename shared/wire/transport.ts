import type { ByteChannel } from './frame-link.js';
import type { PeerKind } from '../placement/membership.js';

/** A byte channel the transport opened to one remote peer. */
export interface PeerChannel extends ByteChannel {
  /** Closes this channel; the transport then reports `closed` for the peer. */
  close(): void;
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
}

/**
 * How a mesh reaches other peers: the WebRTC mesh (client/), or an in-memory network (unit tests, several
 * meshes in one process). A transport finds peers and keeps one channel per peer; the mesh does the rest.
 */
export interface Transport {
  readonly kind: PeerKind;
  /**
   * How the links over this transport schedule a flush (default: a microtask). Node's WebRTC transport
   * passes setImmediate: its channels deliver each message in a callback of its own, so a microtask flush
   * would send once per incoming message and split batches across links.
   */
  readonly schedule?: (task: () => void) => void;
  start(peerId: string, handlers: TransportHandlers, signal?: AbortSignal): Promise<void>;
  /** Closes every channel and connection. Idempotent. */
  close(): Promise<void>;
}
