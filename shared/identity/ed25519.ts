import { fromBase64Url, toBase64Url } from './base64url.js';

/**
 * Ed25519 through WebCrypto, the same code in browsers (secure contexts: https or localhost) and Node 20+.
 * Public keys travel as base64url of their 32 raw bytes.
 */
const ED25519 = { name: 'Ed25519' } as const;

interface Subtle {
  generateKey(algorithm: typeof ED25519, extractable: boolean, usages: string[]): Promise<CryptoKeyPair>;
  exportKey(format: 'raw', key: CryptoKey): Promise<ArrayBuffer>;
  importKey(format: 'raw', key: Uint8Array, algorithm: typeof ED25519, extractable: boolean, usages: string[]): Promise<CryptoKey>;
  sign(algorithm: typeof ED25519, key: CryptoKey, data: Uint8Array): Promise<ArrayBuffer>;
  verify(algorithm: typeof ED25519, key: CryptoKey, signature: Uint8Array, data: Uint8Array): Promise<boolean>;
}

function subtle(): Subtle {
  const found = (globalThis as { crypto?: { subtle?: Subtle } }).crypto?.subtle;
  if (!found) throw new Error('WebCrypto is not available here (browsers offer it only on https or localhost)');
  return found;
}

export interface KeyPair {
  readonly privateKey: CryptoKey;
  /** base64url of the raw public key. */
  readonly publicKey: string;
}

/** A fresh key pair whose private half never leaves this process (not extractable). */
export async function generateKeyPair(): Promise<KeyPair> {
  const pair = await subtle().generateKey(ED25519, false, ['sign', 'verify']);
  const raw = new Uint8Array(await subtle().exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: toBase64Url(raw) };
}

export async function sign(privateKey: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().sign(ED25519, privateKey, data));
}

const imported = new Map<string, Promise<CryptoKey | null>>();
const IMPORT_CACHE = 256;

/** True when `signature` is `publicKey`'s over `data`; false for any malformed key or signature. */
export async function verify(publicKey: string, signature: Uint8Array, data: Uint8Array): Promise<boolean> {
  let key = imported.get(publicKey);
  if (key === undefined) {
    key = importPublic(publicKey);
    if (imported.size >= IMPORT_CACHE) imported.delete(imported.keys().next().value as string);
    imported.set(publicKey, key);
  }
  const resolved = await key;
  if (resolved === null || signature.length !== 64) return false;
  try {
    return await subtle().verify(ED25519, resolved, signature, data);
  } catch {
    return false;
  }
}

async function importPublic(publicKey: string): Promise<CryptoKey | null> {
  const raw = fromBase64Url(publicKey);
  if (raw === null || raw.length !== 32) return null;
  try {
    return await subtle().importKey('raw', raw, ED25519, true, ['verify']);
  } catch {
    return null;
  }
}
