/**
 * Every failure rtc-mesh reports is a MeshError with a stable `code`. Codes cross the wire in error frames,
 * so a remote failure is rebuilt as the same class on the caller (see `errorFromWire`).
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'NO_PEERS_FOR_CAPABILITY',
  'UNKNOWN_ACTOR',
  'TIMEOUT',
  'ABORTED',
  'ACTOR_FAILED',
  'PEER_GONE',
  'PROTOCOL',
  'PAYLOAD_TOO_LARGE',
  'NOT_OWNER',
  'BACKPRESSURE',
  'STOPPED',
  'SIGNALING',
  'UNAUTHORIZED',
  'ROOM_FULL',
  'INCOMPATIBLE_PEER',
  'BUSY',
  'STORE_CONFLICT',
  'STORE_UNAVAILABLE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class MeshError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable facts (e.g. the owner's view version for NOT_OWNER). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, details?: Readonly<Record<string, unknown>>) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

export class InvalidArgumentError extends MeshError {
  constructor(message: string, details?: Readonly<Record<string, unknown>>) {
    super('INVALID_ARGUMENT', message, details);
  }
}
export class NoPeersForCapabilityError extends MeshError {
  constructor(capability: string) {
    super('NO_PEERS_FOR_CAPABILITY', `no peer in the mesh has capability "${capability}"`, { capability });
  }
}
export class UnknownActorError extends MeshError {
  constructor(actor: string, peerId: string) {
    super('UNKNOWN_ACTOR', `actor type "${actor}" is not registered on peer ${peerId}`, { actor, peer: peerId });
  }
}
export class TimeoutError extends MeshError {
  constructor(message: string, details?: Readonly<Record<string, unknown>>) {
    super('TIMEOUT', message, details);
  }
}
export class AbortedError extends MeshError {
  constructor(message = 'the operation was aborted') {
    super('ABORTED', message);
  }
}
export class ActorFailedError extends MeshError {
  constructor(message: string, details?: Readonly<Record<string, unknown>>) {
    super('ACTOR_FAILED', message, details);
  }
}
export class PeerGoneError extends MeshError {
  constructor(peer: string, message = `peer ${peer} left the mesh before answering`) {
    super('PEER_GONE', message, { peer });
  }
}
export class ProtocolError extends MeshError {
  constructor(message: string, details?: Readonly<Record<string, unknown>>) {
    super('PROTOCOL', message, details);
  }
}
export class PayloadTooLargeError extends MeshError {
  constructor(bytes: number, limit: number) {
    super('PAYLOAD_TOO_LARGE', `message of ${bytes} bytes exceeds maxMessageBytes (${limit})`, { bytes, limit });
  }
}
export class NotOwnerError extends MeshError {
  constructor(message: string, details?: Readonly<Record<string, unknown>>) {
    super('NOT_OWNER', message, details);
  }
}
export class BackpressureError extends MeshError {
  constructor(message: string, details?: Readonly<Record<string, unknown>>) {
    super('BACKPRESSURE', message, details);
  }
}
export class StoppedError extends MeshError {
  constructor(message = 'the mesh is stopped') {
    super('STOPPED', message);
  }
}
export class SignalingError extends MeshError {
  constructor(message: string, details?: Readonly<Record<string, unknown>>) {
    super('SIGNALING', message, details);
  }
}
export class UnauthorizedError extends MeshError {
  constructor(message = 'the signaling server refused the token') {
    super('UNAUTHORIZED', message);
  }
}
export class RoomFullError extends MeshError {
  constructor(room: string, message = `room "${room}" is full`) {
    super('ROOM_FULL', message, { room });
  }
}
export class IncompatiblePeerError extends MeshError {
  constructor(message: string, details?: Readonly<Record<string, unknown>>) {
    super('INCOMPATIBLE_PEER', message, details);
  }
}

/** The owner refused a call its sender should not have sent yet: past the owner's receive window. */
export class BusyError extends MeshError {
  constructor(message: string, details?: Readonly<Record<string, unknown>>) {
    super('BUSY', message, details);
  }
}

/**
 * A save found a newer version of the actor's state in the store than the one its activation read: another
 * activation of the same actor (a partition, a stale owner) wrote in between. Nothing was overwritten; the
 * activation stops and the next call loads the stored state.
 */
export class StoreConflictError extends MeshError {
  constructor(message: string, details?: Readonly<Record<string, unknown>>) {
    super('STORE_CONFLICT', message, details);
  }
}

/** The state store did not answer (down, unreachable, slower than its timeout) or refused the operation. */
export class StoreUnavailableError extends MeshError {
  constructor(message: string, details?: Readonly<Record<string, unknown>>) {
    super('STORE_UNAVAILABLE', message, details);
  }
}

const isCode = (code: unknown): code is ErrorCode => typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code);

/** Rebuilds an error received in an error frame; unknown codes become PROTOCOL so callers can still switch on code. */
export function errorFromWire(code: unknown, message: unknown, details?: unknown): MeshError {
  const text = typeof message === 'string' ? message : 'remote error';
  const extra = details !== null && typeof details === 'object' ? (details as Record<string, unknown>) : undefined;
  if (!isCode(code)) return new ProtocolError(`remote error with unknown code ${String(code)}: ${text}`);
  const error = new MeshError(code, text, extra);
  // Give the remote error the local class of its code, so `instanceof TimeoutError` holds on both ends.
  const cls = CLASS_BY_CODE[code];
  Object.setPrototypeOf(error, cls.prototype);
  error.name = cls.name;
  return error;
}

const CLASS_BY_CODE: Record<ErrorCode, abstract new (...args: never[]) => MeshError> = {
  INVALID_ARGUMENT: InvalidArgumentError,
  NO_PEERS_FOR_CAPABILITY: NoPeersForCapabilityError,
  UNKNOWN_ACTOR: UnknownActorError,
  TIMEOUT: TimeoutError,
  ABORTED: AbortedError,
  ACTOR_FAILED: ActorFailedError,
  PEER_GONE: PeerGoneError,
  PROTOCOL: ProtocolError,
  PAYLOAD_TOO_LARGE: PayloadTooLargeError,
  NOT_OWNER: NotOwnerError,
  BACKPRESSURE: BackpressureError,
  STOPPED: StoppedError,
  SIGNALING: SignalingError,
  UNAUTHORIZED: UnauthorizedError,
  ROOM_FULL: RoomFullError,
  INCOMPATIBLE_PEER: IncompatiblePeerError,
  BUSY: BusyError,
  STORE_CONFLICT: StoreConflictError,
  STORE_UNAVAILABLE: StoreUnavailableError,
};

/** Converts anything thrown by user code into a message that can cross the wire. */
export function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message || thrown.name;
  if (typeof thrown === 'string') return thrown;
  try {
    return JSON.stringify(thrown) ?? String(thrown);
  } catch {
    return String(thrown);
  }
}
