import { IncompatiblePeerError, UnauthorizedError, type MeshError } from '../errors.js';
import { verifyProof, type ConnectionBinding } from '../identity/proof.js';
import { verifyToken, type IdentityClaims } from '../identity/token.js';
import { PROTOCOL_VERSION, type HelloFrame } from '../wire/frames.js';
import type { LocalIdentity, PeerChannel } from '../wire/transport.js';

/**
 * Who may join our view: a peer whose hello speaks our protocol, shard count and strategy and, in a room
 * with signed identities, carries a token a trusted key signed for this peer id, room and kind, with a
 * proof that the sender holds the token's key on this very connection, and claims only capabilities the
 * token grants.
 */
export interface HelloContext {
  readonly self: string;
  readonly shardCount: number;
  readonly strategy: string;
  readonly identity: LocalIdentity | undefined;
  /** Keys trusted besides the ones the signaling server names (pinned by the application). */
  readonly trustedKeys: readonly string[];
}

export type HelloCheck = { readonly ok: true; readonly claims: IdentityClaims | null } | { readonly ok: false; readonly error: MeshError };

/** Our hello on `channel` to `peer`, signed for this connection when the room signs identities. */
export async function helloFor(
  base: Omit<HelloFrame, 'auth'>,
  peer: string,
  channel: PeerChannel,
  identity: LocalIdentity | undefined,
): Promise<HelloFrame> {
  const grant = identity?.grant() ?? null;
  if (identity === undefined || grant === null) return { ...base, auth: null };
  const proof = await identity.sign(binding(identity.room, base.peerId, peer, channel.fingerprints.local, channel.fingerprints.remote));
  return { ...base, auth: { token: grant.token, proof } };
}

/** True when our hello needs no signature: it can be sent at once. */
export function isOpen(identity: LocalIdentity | undefined): boolean {
  return identity === undefined || identity.grant() === null;
}

export function incompatibility(frame: HelloFrame, peer: string, ctx: HelloContext): MeshError | null {
  const problem =
    frame.protocol !== PROTOCOL_VERSION
      ? `protocol ${frame.protocol}, we speak ${PROTOCOL_VERSION}`
      : frame.peerId !== peer
        ? `hello from ${frame.peerId} on the channel of ${peer}`
        : frame.shards !== ctx.shardCount
          ? `${frame.shards} shards, we use ${ctx.shardCount}`
          : frame.strategy !== ctx.strategy
            ? `strategy ${frame.strategy}, we use ${ctx.strategy}`
            : null;
  return problem === null ? null : new IncompatiblePeerError(problem, { peer });
}

/** Checks a peer's identity in its hello (nothing to check in an open room). */
export async function checkIdentity(frame: HelloFrame, peer: string, channel: PeerChannel, ctx: HelloContext): Promise<HelloCheck> {
  const grant = ctx.identity?.grant() ?? null;
  if (ctx.identity === undefined || grant === null) return { ok: true, claims: null };
  const refuse = (why: string): HelloCheck => ({ ok: false, error: new UnauthorizedError(`peer ${peer}: ${why}`) });
  if (frame.auth === null) return refuse('no identity token in a room that signs identities');
  const checked = await verifyToken(frame.auth.token, [...grant.serverKeys, ...ctx.trustedKeys], Date.now());
  if (!checked.ok) return refuse(checked.reason);
  const { claims } = checked;
  if (claims.peerId !== peer || claims.room !== ctx.identity.room) return refuse(`token is for ${claims.peerId} in room ${claims.room}`);
  if (claims.kind !== frame.kind) return refuse(`token is for a ${claims.kind} peer, hello says ${frame.kind}`);
  const proven = await verifyProof(
    claims.key,
    frame.auth.proof,
    binding(claims.room, peer, ctx.self, channel.fingerprints.remote, channel.fingerprints.local),
  );
  if (!proven) return refuse('proof does not match the token key and this connection');
  const extra = ungranted(claims, frame.capabilities);
  if (extra !== null) return refuse(`capability "${extra}" is not granted to it`);
  return { ok: true, claims };
}

/** A renewed token for a peer whose hello proved `current.key`: its new claims, or why not. */
export async function checkRenewal(token: string, current: IdentityClaims, ctx: HelloContext): Promise<IdentityClaims | string> {
  const grant = ctx.identity?.grant() ?? null;
  if (grant === null) return 'this room does not sign identities';
  const checked = await verifyToken(token, [...grant.serverKeys, ...ctx.trustedKeys], Date.now());
  if (!checked.ok) return checked.reason;
  const { claims } = checked;
  if (claims.key !== current.key || claims.peerId !== current.peerId || claims.room !== current.room || claims.kind !== current.kind) {
    return 'a renewed token must keep the peer, room, kind and key of the first';
  }
  return claims;
}

/** The first of `capabilities` the claims do not grant, or null. */
export function ungranted(claims: IdentityClaims | null, capabilities: readonly string[]): string | null {
  if (claims === null || claims.caps === null) return null;
  const granted = claims.caps;
  return capabilities.find((c) => !granted.includes(c)) ?? null;
}

function binding(room: string, from: string, to: string, fromFingerprint: string, toFingerprint: string): ConnectionBinding {
  return { room, from, to, fromFingerprint, toFingerprint };
}
