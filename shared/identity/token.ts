import type { PeerKind } from '../placement/membership.js';
import { fromBase64Url, toBase64Url } from './base64url.js';
import { sign, verify } from './ed25519.js';

/**
 * A signed peer identity: the signaling server (or the app's own auth, through its hook) vouches that the
 * holder of `key` may be `peerId` in `room` until `exp`, hosting at most `caps`. Peers check each other's
 * tokens against the server's public key, and the hello proof (proof.ts) shows the sender holds `key`.
 */
export interface IdentityClaims {
  readonly v: 1;
  readonly room: string;
  readonly peerId: string;
  readonly kind: PeerKind;
  /** The capabilities this peer may advertise; null: any. */
  readonly caps: readonly string[] | null;
  /** base64url of the peer's raw Ed25519 public key: only its holder can use this token. */
  readonly key: string;
  /** Issued at and expires at, in Unix milliseconds. */
  readonly iat: number;
  readonly exp: number;
}

export type TokenCheck = { readonly ok: true; readonly claims: IdentityClaims } | { readonly ok: false; readonly reason: string };

const DOMAIN = 'rtc-mesh-token.v1.';
const MAX_TOKEN = 8192;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** What the issuer signs for `claims`: the token's first part and the bytes under the signature. */
export function tokenSigningInput(claims: IdentityClaims): { readonly payload: string; readonly bytes: Uint8Array } {
  const payload = toBase64Url(encoder.encode(JSON.stringify(claims)));
  return { payload, bytes: encoder.encode(DOMAIN + payload) };
}

export function assembleToken(payload: string, signature: Uint8Array): string {
  return `${payload}.${toBase64Url(signature)}`;
}

/** Issues a token with an Ed25519 private key (WebCrypto); the server may also sign with node:crypto. */
export async function issueToken(privateKey: CryptoKey, claims: IdentityClaims): Promise<string> {
  const { payload, bytes } = tokenSigningInput(claims);
  return assembleToken(payload, await sign(privateKey, bytes));
}

/** Reads a token's claims without checking its signature (for display and routing, never for trust). */
export function peekClaims(token: string): IdentityClaims | null {
  if (typeof token !== 'string' || token.length > MAX_TOKEN) return null;
  const [payload] = token.split('.', 1);
  const raw = payload === undefined ? null : fromBase64Url(payload);
  if (raw === null) return null;
  try {
    return checkClaims(JSON.parse(decoder.decode(raw)));
  } catch {
    return null;
  }
}

/** Checks a token: signed by one of `trustedKeys`, well formed, and not expired at `now` (ms). */
export async function verifyToken(token: string, trustedKeys: readonly string[], now: number): Promise<TokenCheck> {
  const parts = typeof token === 'string' && token.length <= MAX_TOKEN ? token.split('.') : [];
  if (parts.length !== 2) return { ok: false, reason: 'malformed token' };
  const [payload, sig] = parts as [string, string];
  const claims = peekClaims(token);
  const signature = fromBase64Url(sig);
  if (claims === null || signature === null) return { ok: false, reason: 'malformed token' };
  const bytes = encoder.encode(DOMAIN + payload);
  let signed = false;
  for (const key of trustedKeys) {
    signed = await verify(key, signature, bytes);
    if (signed) break;
  }
  if (!signed) return { ok: false, reason: 'token not signed by a trusted key' };
  if (claims.exp <= now) return { ok: false, reason: `token expired ${Math.round((now - claims.exp) / 1000)} s ago` };
  return { ok: true, claims };
}

const isStringList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.length <= 256 && v.every((s) => typeof s === 'string' && s.length > 0 && s.length <= 256);
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function checkClaims(value: unknown): IdentityClaims | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const c = value as Record<string, unknown>;
  if (c['v'] !== 1) return null;
  if (typeof c['room'] !== 'string' || typeof c['peerId'] !== 'string' || typeof c['key'] !== 'string') return null;
  if (c['kind'] !== 'browser' && c['kind'] !== 'node' && c['kind'] !== 'memory') return null;
  if (c['caps'] !== null && !isStringList(c['caps'])) return null;
  if (!isTime(c['iat']) || !isTime(c['exp'])) return null;
  return {
    v: 1,
    room: c['room'],
    peerId: c['peerId'],
    kind: c['kind'],
    caps: c['caps'] === null ? null : [...c['caps']],
    key: c['key'],
    iat: c['iat'],
    exp: c['exp'],
  };
}
