import type { TimerSpec } from '../actors/timers.js';
import type { PeerKind } from '../placement/membership.js';

/**
 * Wire protocol version. A peer refuses a hello with another version (INCOMPATIBLE_PEER) rather than
 * guessing at frames it may misread.
 */
export const PROTOCOL_VERSION = 4;

export interface HelloFrame {
  readonly t: 'hello';
  readonly protocol: number;
  readonly peerId: string;
  readonly kind: PeerKind;
  readonly capabilities: readonly string[];
  readonly actorTypes: readonly string[];
  readonly shards: number;
  readonly strategy: string;
  /** How many unhandled calls/casts this peer accepts from the receiver of this hello (its receive window). */
  readonly window: number;
  /** In rooms with signed identities: the sender's token and its proof for this connection (identity/proof.ts). */
  readonly auth: HelloAuth | null;
}
export interface HelloAuth {
  readonly token: string;
  readonly proof: Uint8Array;
}
/** A renewed identity token (same key as the one proven in the hello), sent before the old one expires. */
export interface TokenFrame {
  readonly t: 'token';
  readonly token: string;
}
export interface CapsFrame {
  readonly t: 'caps';
  readonly capabilities: readonly string[];
  readonly actorTypes: readonly string[];
}
export interface CallFrame {
  readonly t: 'call';
  readonly corr: number;
  readonly capability: string;
  readonly actor: string;
  readonly id: string;
  readonly payload: unknown;
  readonly initArg: unknown;
  /** How long the caller still waits; the owner drops the work if it cannot start it in time. */
  readonly timeoutMs: number;
}
export interface CastFrame {
  readonly t: 'cast';
  readonly capability: string;
  readonly actor: string;
  readonly id: string;
  readonly payload: unknown;
  readonly initArg: unknown;
}
export interface ReplyFrame {
  readonly t: 'reply';
  readonly corr: number;
  /**
   * The serial of the activation that answered, on the peer that sends the reply (0: none). The caller names
   * it `${sender}#${serial}` itself: a reply is smaller without the owner's id, and cannot name an activation
   * of another peer.
   */
  readonly serial: number;
  readonly result: unknown;
}
export interface ErrorFrame {
  readonly t: 'error';
  readonly corr: number;
  readonly code: string;
  readonly message: string;
  readonly details: unknown;
}
/** Flow control: the sender of `ack` finished handling `count` more calls/casts from the receiver. */
export interface AckFrame {
  readonly t: 'ack';
  readonly count: number;
}
/** One piece of a message too large for one data-channel send (see frame-link.ts). */
export interface ChunkFrame {
  readonly t: 'chunk';
  readonly msg: number;
  readonly index: number;
  readonly count: number;
  readonly total: number;
  readonly bytes: Uint8Array;
}
export interface PingFrame {
  readonly t: 'ping';
  readonly n: number;
}
export interface PongFrame {
  readonly t: 'pong';
  readonly n: number;
}
export interface ByeFrame {
  readonly t: 'bye';
  readonly reason: string;
}
/**
 * The answer to a bye: the sender has taken the leaver out of its view and sends it no more calls or casts.
 * Channels are ordered, so everything it sent before has arrived by then (the leaver's drain waits for it).
 */
export interface FarewellFrame {
  readonly t: 'farewell';
}
/**
 * In a room with signed identities: the sender checked our hello and admitted us. Neither side routes
 * anything to the other (calls, handoffs, copies) before it has the other's `admitted`, so a peer whose
 * hello is still being checked is sent nothing that would have to wait for the check.
 */
export interface AdmittedFrame {
  readonly t: 'admitted';
}
/** State of a moved activation, sent by the old owner to the new one (handoff on rebalance). */
export interface HandoffFrame {
  readonly t: 'handoff';
  readonly capability: string;
  readonly actor: string;
  readonly id: string;
  readonly state: unknown;
  readonly initArg: unknown;
  /** The version of `state` (see actors/activation.ts). */
  readonly epoch: number;
  readonly seq: number;
  /** Timers that move with the actor (`static keepTimers`), or null. */
  readonly timers: readonly TimerSpec[] | null;
}

/** A copy of an actor's state, from its owner to a backup (the peers that would own it next). */
export interface ReplicaFrame {
  readonly t: 'replica';
  readonly capability: string;
  readonly actor: string;
  readonly id: string;
  readonly epoch: number;
  readonly seq: number;
  /** The snapshot, CBOR-encoded once by the owner. */
  readonly state: Uint8Array;
  readonly initArg: unknown;
  /** How many backups the actor's type keeps: a backup ranked further down drops its copy. */
  readonly copies: number;
  /** The owner's number for this copy, echoed in the acknowledgement. */
  readonly n: number;
  /** Timers that go on with the copy if it is promoted (`static keepTimers`), or null. */
  readonly timers: readonly TimerSpec[] | null;
}

/**
 * A backup holds these copies (by their `n`), each at its version or a newer one. One frame acknowledges
 * every copy that arrived together: under load a backup answers a batch of copies with one small frame.
 */
export interface ReplicaAckFrame {
  readonly t: 'replica-ack';
  readonly n: readonly number[];
  /** Copies it will not hold (larger than its replica store): their owner stops waiting for this backup. */
  readonly refused: readonly number[];
}

/** The owner deactivated the actor (idle, crash): copies up to this version go. */
export interface ReplicaDropFrame {
  readonly t: 'replica-drop';
  readonly capability: string;
  readonly actor: string;
  readonly id: string;
  readonly epoch: number;
  readonly seq: number;
}

/** The old owner gave up these shards (and handed over these actors' state, sent just before). */
export interface ReleasedFrame {
  readonly t: 'released';
  readonly capability: string;
  readonly shards: readonly number[];
  readonly keys: readonly (readonly [actor: string, id: string])[];
}

export type Frame =
  | HelloFrame
  | CapsFrame
  | CallFrame
  | CastFrame
  | ReplyFrame
  | ErrorFrame
  | AckFrame
  | ChunkFrame
  | PingFrame
  | PongFrame
  | ByeFrame
  | FarewellFrame
  | AdmittedFrame
  | TokenFrame
  | HandoffFrame
  | ReleasedFrame
  | ReplicaFrame
  | ReplicaAckFrame
  | ReplicaDropFrame;

export type FrameType = Frame['t'];

// How frames look on the wire (positional arrays) and how a received one is checked: frame-arrays.ts.
export { MAX_ID, MAX_NAME, fromWire, toWire } from './frame-arrays.js';
