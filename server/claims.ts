/**
 * Peer id claims: a peer id, once joined in a room, stays held for a while after its socket leaves, and only
 * the one who holds it can take it again (identity takeover, issue #13 attack 2).
 *
 * The proof of holding is the reclaim secret the join answer carries:
 *
 *   secret = base64url(HMAC-SHA256(server secret, JSON [room, peerId, nonce]))
 *
 * where `nonce` is drawn when the id is first claimed and kept in the claim store for as long as the claim
 * lives. The store therefore never holds a secret (reading it is not enough to take an id), and once a claim
 * expires and someone else takes the id, the old secret is worthless: a new holder gets a new nonce. Without
 * the nonce, whoever once held an id in a room would hold it forever, whoever holds it now.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../shared/errors.js';
import { toBase64Url } from '../shared/identity/base64url.js';

/**
 * Where claims live: one process (MemoryClaimStore) or shared by a cluster (the Redis one in ./redis.ts).
 * Every method must settle; the server bounds each call with a timeout anyway.
 */
export interface ClaimStore {
  /** The nonce of the live claim on `key`, or null when nobody holds it (never held, or expired). */
  get(key: string): Promise<string | null>;
  /**
   * Holds `key` with `nonce` for `ttlMs` from now, atomically: when nobody holds it, claims it; when it is
   * held with the same nonce, extends it; when held with another nonce, changes nothing. Returns the nonce
   * that holds the key afterwards, so the caller knows whether it won.
   */
  hold(key: string, nonce: string, ttlMs: number): Promise<string>;
  /** Forgets the claim on `key` if `nonce` holds it (a claim made for a join that did not complete). */
  release(key: string, nonce: string): Promise<void>;
}

export interface MemoryClaimStoreOptions {
  /** Claims kept at most (default 100 000); beyond, the least recently held one is forgotten first. */
  readonly maxClaims?: number | undefined;
  /** Clock in milliseconds, for tests; default Date.now. */
  readonly now?: (() => number) | undefined;
}

export const DEFAULT_MAX_CLAIMS = 100_000;

/**
 * Claims of one process. Bounded: a flood of joins under fresh ids cannot grow it without limit. Forgetting
 * a claim frees an id whose peer is gone; the id of a peer still connected stays protected by its
 * membership (a join for an id some socket holds is refused whatever the store says), and the server
 * re-holds the claims of its connected members well before they expire, so those are never the oldest.
 */
export class MemoryClaimStore implements ClaimStore {
  /** Ordered by last hold, so the first entries are the ones to expire or forget first. */
  private readonly claims = new Map<string, { readonly nonce: string; readonly expires: number }>();
  private readonly maxClaims: number;
  private readonly now: () => number;

  constructor(options: MemoryClaimStoreOptions = {}) {
    const maxClaims = options.maxClaims ?? DEFAULT_MAX_CLAIMS;
    if (!Number.isSafeInteger(maxClaims) || maxClaims < 1)
      throw new InvalidArgumentError(`maxClaims must be a positive integer, got ${maxClaims}`);
    this.maxClaims = maxClaims;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.claims.size;
  }

  get(key: string): Promise<string | null> {
    const claim = this.claims.get(key);
    if (claim === undefined) return Promise.resolve(null);
    if (claim.expires > this.now()) return Promise.resolve(claim.nonce);
    this.claims.delete(key);
    return Promise.resolve(null);
  }

  hold(key: string, nonce: string, ttlMs: number): Promise<string> {
    const now = this.now();
    const current = this.claims.get(key);
    if (current !== undefined && current.expires > now && current.nonce !== nonce) return Promise.resolve(current.nonce);
    this.claims.delete(key);
    this.makeRoom(now);
    this.claims.set(key, { nonce, expires: now + ttlMs });
    return Promise.resolve(nonce);
  }

  release(key: string, nonce: string): Promise<void> {
    if (this.claims.get(key)?.nonce === nonce) this.claims.delete(key);
    return Promise.resolve();
  }

  private makeRoom(now: number): void {
    for (const [key, claim] of this.claims) {
      if (claim.expires > now && this.claims.size < this.maxClaims) break;
      this.claims.delete(key);
    }
  }
}

// JSON keeps the key unambiguous whatever the room name contains.
export const claimKey = (room: string, peerId: string): string => JSON.stringify([room, peerId]);

export const newNonce = (): string => toBase64Url(randomBytes(16));

export function reclaimSecret(serverSecret: Buffer, room: string, peerId: string, nonce: string): string {
  return toBase64Url(
    createHmac('sha256', serverSecret)
      .update(JSON.stringify([room, peerId, nonce]), 'utf8')
      .digest(),
  );
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Compares digests, so that neither the secret's content nor its length leaks through timing. */
export function secretMatches(presented: string | undefined, expected: string): boolean {
  return presented !== undefined && timingSafeEqual(digest(presented), digest(expected));
}

export const MIN_SERVER_SECRET_BYTES = 16;

/** The server secret as bytes: given (at least 16 bytes), or 32 random ones for this process. */
export function resolveServerSecret(given: string | Uint8Array | undefined): Buffer {
  if (given === undefined) return randomBytes(32);
  const bytes = typeof given === 'string' ? Buffer.from(given, 'utf8') : Buffer.from(given);
  if (bytes.length < MIN_SERVER_SECRET_BYTES) {
    throw new InvalidArgumentError(`serverSecret must be at least ${MIN_SERVER_SECRET_BYTES} bytes, got ${bytes.length}`);
  }
  return bytes;
}
