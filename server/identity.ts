/**
 * The signaling server's side of signed identities: it signs short-lived peer tokens (see
 * shared/identity/token.ts) with an Ed25519 key, and tells peers which public keys to accept.
 */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { InvalidArgumentError, describeThrown } from '../shared/errors.js';
import { fromBase64Url, toBase64Url } from '../shared/identity/base64url.js';
import { assembleToken, tokenSigningInput, type IdentityClaims } from '../shared/identity/token.js';
import type { PeerKind } from '../shared/placement/membership.js';

export interface IdentityOptions {
  /** The Ed25519 signing key: PKCS#8 PEM text or a KeyObject. */
  readonly privateKey: string | KeyObject;
  /**
   * Public keys (base64url of the 32 raw bytes, as `serverKeys` lists them) of keys this server signed with
   * before: peers keep accepting tokens they signed until those expire, so a key can be rotated without
   * cutting the mesh in two.
   */
  readonly previousPublicKeys?: readonly string[] | undefined;
  /** Lifetime of a token (ms, default 10 minutes); peers refresh theirs at about 2/3 of it. */
  readonly ttlMs?: number | undefined;
}

export const DEFAULT_IDENTITY_TTL_MS = 10 * 60_000;
/** Below this a refresh would be due before its answer could arrive. */
const MIN_IDENTITY_TTL_MS = 1000;

export interface IdentityIssuer {
  /** The current public key, then the previous ones. */
  readonly serverKeys: readonly string[];
  readonly ttlMs: number;
  issue(
    claims: {
      readonly room: string;
      readonly peerId: string;
      readonly kind: PeerKind;
      readonly caps: readonly string[] | null;
      readonly key: string;
    },
    now: number,
  ): { readonly token: string; readonly exp: number };
}

export function createIdentityIssuer(options: IdentityOptions): IdentityIssuer {
  const privateKey = loadPrivateKey(options.privateKey);
  const current = rawPublicKey(createPublicKey(privateKey));
  const previous = [...(options.previousPublicKeys ?? [])];
  for (const key of previous) {
    if (!isPeerKey(key))
      throw new InvalidArgumentError(`previousPublicKeys: ${JSON.stringify(key)} is not the base64url of a raw Ed25519 public key`);
  }
  const ttlMs = options.ttlMs ?? DEFAULT_IDENTITY_TTL_MS;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < MIN_IDENTITY_TTL_MS) {
    throw new InvalidArgumentError(`identity ttlMs must be an integer of at least ${MIN_IDENTITY_TTL_MS}, got ${ttlMs}`);
  }
  const serverKeys = Object.freeze([current, ...previous.filter((key) => key !== current)]);
  return {
    serverKeys,
    ttlMs,
    issue: (fields, now) => {
      const claims: IdentityClaims = { v: 1, ...fields, iat: now, exp: now + ttlMs };
      const { payload, bytes } = tokenSigningInput(claims);
      return { token: assembleToken(payload, sign(null, bytes, privateKey)), exp: claims.exp };
    },
  };
}

function loadPrivateKey(given: string | KeyObject): KeyObject {
  let key: KeyObject;
  try {
    key = typeof given === 'string' ? createPrivateKey(given) : given;
  } catch (error) {
    throw new InvalidArgumentError(`identity privateKey is not a PEM private key: ${describeThrown(error)}`);
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
    throw new InvalidArgumentError(
      `identity privateKey must be an Ed25519 private key, got a ${key.type} ${key.asymmetricKeyType ?? ''} key`,
    );
  }
  return key;
}

/** base64url of the 32 raw bytes, which is exactly the JWK `x` member. */
function rawPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new InvalidArgumentError('the identity key has no raw public part');
  return jwk.x;
}

/**
 * True for the canonical base64url of 32 bytes that Node accepts as an Ed25519 public key. Canonical: the
 * same key must not travel under several spellings, since peers compare keys as strings.
 */
export function isPeerKey(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== 43) return false;
  const raw = fromBase64Url(value);
  if (raw === null || raw.length !== 32 || toBase64Url(raw) !== value) return false;
  try {
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: value }, format: 'jwk' });
    return true;
  } catch {
    return false;
  }
}
