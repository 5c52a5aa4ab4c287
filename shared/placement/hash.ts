/**
 * The shard hash, version 1: MurmurHash3 x86_32 (seed 0 unless given) over the UTF-8 bytes of the string.
 * Lone UTF-16 surrogates are encoded as U+FFFD, exactly as `TextEncoder` does, so every runtime that encodes
 * strings as standard UTF-8 agrees on every id. Changing this function moves every actor: bump
 * SHARD_HASH_VERSION and the test vectors together, never one without the other.
 */
export const SHARD_HASH_VERSION = 1;

// Scratch space for the UTF-8 bytes; grows on demand. Hashing is synchronous, so one buffer serves all callers.
let scratch = new Uint8Array(256);

/** Writes the UTF-8 encoding of `str` into the scratch buffer and returns its length in bytes. */
function encodeUtf8(str: string): number {
  if (scratch.length < str.length * 3) scratch = new Uint8Array(str.length * 3 + 64);
  const out = scratch;
  let n = 0;
  for (let i = 0; i < str.length; i++) {
    let c = str.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
      continue;
    }
    if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 0x3f);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < str.length ? str.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        out[n++] = 0xf0 | (cp >> 18);
        out[n++] = 0x80 | ((cp >> 12) & 0x3f);
        out[n++] = 0x80 | ((cp >> 6) & 0x3f);
        out[n++] = 0x80 | (cp & 0x3f);
        continue;
      }
      c = 0xfffd;
    }
    out[n++] = 0xe0 | (c >> 12);
    out[n++] = 0x80 | ((c >> 6) & 0x3f);
    out[n++] = 0x80 | (c & 0x3f);
  }
  return n;
}

/** The final avalanche of MurmurHash3; also used on its own to mix integers. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Scrambles a block (or the tail) of MurmurHash3 x86_32: k's 32 bits, little-endian. */
function scramble(k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593);
}

/** Mixes one 4-byte block into the running hash. */
function mixBlock(h: number, k: number): number {
  h ^= scramble(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Mixes the last 1-3 bytes into the running hash. */
function mixTail(h: number, k: number): number {
  return h ^ scramble(k);
}

/** MurmurHash3 x86_32 of the first `len` bytes of `bytes`. */
export function murmur3(bytes: Uint8Array, len: number = bytes.length, seed = 0): number {
  let h = seed | 0;
  const blocks = len & ~3;
  for (let i = 0; i < blocks; i += 4) {
    h = mixBlock(h, bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
  }
  const tail = len & 3;
  if (tail > 0) {
    let k = bytes[blocks]!;
    if (tail > 1) k ^= bytes[blocks + 1]! << 8;
    if (tail > 2) k ^= bytes[blocks + 2]! << 16;
    h = mixTail(h, k);
  }
  h ^= len;
  return fmix32(h);
}

/** MurmurHash3 x86_32 of the UTF-8 encoding of `str`: an unsigned 32-bit integer. */
export function hashString(str: string, seed = 0): number {
  const ascii = murmur3Ascii(str, seed);
  if (ascii >= 0) return ascii;
  const len = encodeUtf8(str); // may replace `scratch`, so read it only afterwards
  return murmur3(scratch, len, seed);
}

/**
 * murmur3 of an ASCII string read straight from its char codes (which are then its UTF-8 bytes), or -1 at
 * the first char that is not ASCII. Ids are ASCII in most applications, and every call hashes its id:
 * skipping the copy into the scratch buffer halves the hash (43-60 ns to 24 ns for a 10-char id in cache).
 */
function murmur3Ascii(str: string, seed: number): number {
  const len = str.length;
  let h = seed | 0;
  const blocks = len & ~3;
  for (let i = 0; i < blocks; i += 4) {
    const c0 = str.charCodeAt(i);
    const c1 = str.charCodeAt(i + 1);
    const c2 = str.charCodeAt(i + 2);
    const c3 = str.charCodeAt(i + 3);
    if ((c0 | c1 | c2 | c3) >= 0x80) return -1;
    h = mixBlock(h, c0 | (c1 << 8) | (c2 << 16) | (c3 << 24));
  }
  const tail = len & 3;
  if (tail > 0) {
    const t0 = str.charCodeAt(blocks);
    const t1 = tail > 1 ? str.charCodeAt(blocks + 1) : 0;
    const t2 = tail > 2 ? str.charCodeAt(blocks + 2) : 0;
    if ((t0 | t1 | t2) >= 0x80) return -1;
    h = mixTail(h, t0 ^ (t1 << 8) ^ (t2 << 16));
  }
  h ^= len;
  return fmix32(h);
}

/** The UTF-8 bytes `hashString` hashes for `str` (a copy the caller keeps, to hash it again cheaply). */
export function utf8Bytes(str: string): Uint8Array {
  return scratch.slice(0, encodeUtf8(str));
}
