const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/**
 * A random peer id, 16 base-36 characters (~82 bits). Uses Web Crypto when the host has it (browsers and
 * Node 20 both do) and falls back to Math.random, since ids need uniqueness, not secrecy.
 */
export function randomPeerId(): string {
  const bytes = new Uint8Array(16);
  const cryptoLike = (globalThis as { crypto?: { getRandomValues?: (b: Uint8Array) => Uint8Array } }).crypto;
  if (cryptoLike?.getRandomValues) cryptoLike.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  let id = '';
  for (const byte of bytes) id += ALPHABET[byte % 36];
  return id;
}

export const PEER_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
