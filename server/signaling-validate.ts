/**
 * Pure checks for what clients send to the signaling server. Everything arriving over socket.io is
 * attacker-controlled, so these take `unknown` and never throw: the server turns a refusal into an ack or a
 * `signal-error` instead of letting a bad event escape a handler.
 */
import type { PeerKind } from '../shared/placement/membership.js';
import { isPeerKey } from './identity.js';
import {
  SIGNALING_LIMITS,
  SIGNALING_PROTOCOL,
  type JoinRefusalCode,
  type JoinRequest,
  type SignalData,
  type SignalToServer,
} from '../shared/wire/signaling.js';

/** Peer ids end up in room keys, logs and WebRTC labels, so they are restricted to a boring alphabet. */
export const PEER_ID_PATTERN = /^[A-Za-z0-9_.:-]+$/;

const PEER_KINDS: ReadonlySet<string> = new Set<PeerKind>(['browser', 'node', 'memory']);

export type JoinCheck =
  | { readonly ok: true; readonly request: JoinRequest }
  | { readonly ok: false; readonly code: JoinRefusalCode; readonly message: string };

export type SignalCheck =
  | { readonly ok: true; readonly message: SignalToServer }
  | { readonly ok: false; readonly to: string | null; readonly reason: string };

/** JSON decoding only ever yields Object.prototype objects; anything else (arrays, Buffers) is not a signal. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function isValidPeerId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= SIGNALING_LIMITS.maxPeerIdLength && PEER_ID_PATTERN.test(value);
}

export function isValidRoom(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= SIGNALING_LIMITS.maxRoomLength;
}

const refuseJoin = (code: JoinRefusalCode, message: string): JoinCheck => ({ ok: false, code, message });

/**
 * The protocol is checked before the other fields: a client speaking a newer protocol may shape its
 * request differently, and it deserves INCOMPATIBLE_PEER rather than a confusing INVALID_ARGUMENT.
 */
export function checkJoinRequest(value: unknown): JoinCheck {
  if (!isPlainObject(value)) return refuseJoin('INVALID_ARGUMENT', 'join request must be an object');
  const { room, peerId, kind, protocol } = value;
  if (protocol !== SIGNALING_PROTOCOL) {
    const got = typeof protocol === 'number' ? String(protocol) : typeof protocol;
    return refuseJoin('INCOMPATIBLE_PEER', `server speaks signaling protocol ${SIGNALING_PROTOCOL}, client sent ${got}`);
  }
  if (!isValidRoom(room)) {
    return refuseJoin('INVALID_ARGUMENT', `room must be a non-empty string of at most ${SIGNALING_LIMITS.maxRoomLength} characters`);
  }
  if (!isValidPeerId(peerId)) {
    return refuseJoin('INVALID_ARGUMENT', `peerId must be 1-${SIGNALING_LIMITS.maxPeerIdLength} characters of ${PEER_ID_PATTERN.source}`);
  }
  if (typeof kind !== 'string' || !PEER_KINDS.has(kind)) {
    return refuseJoin('INVALID_ARGUMENT', `kind must be one of ${[...PEER_KINDS].join(', ')}`);
  }
  const { secret, peerKey } = value;
  if (secret !== undefined && (typeof secret !== 'string' || secret.length === 0 || secret.length > SIGNALING_LIMITS.maxSecretLength)) {
    return refuseJoin('INVALID_ARGUMENT', `secret must be a non-empty string of at most ${SIGNALING_LIMITS.maxSecretLength} characters`);
  }
  if (peerKey !== undefined && !isPeerKey(peerKey)) {
    return refuseJoin('INVALID_ARGUMENT', 'peerKey must be the base64url (no padding) of a raw 32-byte Ed25519 public key');
  }
  return {
    ok: true,
    request: {
      room,
      peerId,
      kind: kind as PeerKind,
      protocol: SIGNALING_PROTOCOL,
      ...(secret === undefined ? {} : { secret }),
      ...(peerKey === undefined ? {} : { peerKey }),
    },
  };
}

/** UTF-8 size of the JSON form, or null when it cannot be serialised (e.g. nesting deep enough to overflow). */
export function jsonByteLength(value: unknown): number | null {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? null : Buffer.byteLength(text, 'utf8');
  } catch {
    return null;
  }
}

const refuseSignal = (to: string | null, reason: string): SignalCheck => ({ ok: false, to, reason });

/**
 * Checks only the envelope and the size: the payload is an opaque simple-peer blob that the server must not
 * interpret. `to` is echoed back in a refusal only when it is a well-formed peer id, so a client cannot make
 * the server reflect arbitrary (possibly huge) strings.
 */
export function checkSignal(value: unknown, maxSignalBytes: number = SIGNALING_LIMITS.maxSignalBytes): SignalCheck {
  if (!isPlainObject(value)) return refuseSignal(null, 'signal must be an object { to, data }');
  const { to, data } = value;
  if (!isValidPeerId(to)) return refuseSignal(null, 'signal target "to" must be a valid peer id');
  if (!isPlainObject(data)) return refuseSignal(to, 'signal data must be a plain object');
  const bytes = jsonByteLength(data);
  if (bytes === null) return refuseSignal(to, 'signal data is not serialisable as JSON');
  if (bytes > maxSignalBytes) return refuseSignal(to, `signal data of ${bytes} bytes exceeds maxSignalBytes (${maxSignalBytes})`);
  return { ok: true, message: { to, data: data as SignalData } };
}
