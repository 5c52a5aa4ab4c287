/**
 * Who may connect and who may join what: the handshake checks (origin, the bound on connections not yet
 * in a room, tokens) and, per join or refresh, the room scope of the token, the application's hook and the
 * capabilities a signed identity may carry.
 */
import { createHash } from 'node:crypto';
import type { ExtendedError } from 'socket.io';
import { InvalidArgumentError, describeThrown } from '../shared/errors.js';
import type { PeerKind } from '../shared/placement/membership.js';
import { SIGNALING_LIMITS, type ConnectRefusalCode, type JoinRefusalCode } from '../shared/wire/signaling.js';
import { TokenBucket } from './rate-limit.js';
import { bounded } from './serial.js';
import {
  OPEN_SCOPE,
  countRefusal,
  pendingConnections,
  type Connection,
  type Context,
  type Scope,
  type SignalingSocket,
} from './signaling-context.js';
import type { AuthorizeRequest, CapabilityGrants, TokenScope } from './signaling-types.js';
import { isPlainObject, isValidRoom } from './signaling-validate.js';

/** Joins one connection may make: a burst, then a steady trickle (each join can broadcast to a whole room). */
const JOIN_BURST = 10;
const JOINS_PER_SECOND = 2;
/** Refreshes one connection may ask for: a peer needs one every few minutes. */
const REFRESH_BURST = 5;
const REFRESHES_PER_SECOND = 1;
/** As the token format bounds them (shared/identity/token.ts). */
const MAX_CAPS = 256;
const MAX_CAP_LENGTH = 256;
/** Keeps a token well inside the 8 KiB peers accept, whatever the room name. */
const MAX_CAPS_JSON = 2048;

export const tokenDigest = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

// ------------------------------------------------------------------------------------------- handshake

/**
 * The one handshake middleware: cheap checks first (origin, then the pending bound), then the token. It
 * also records what the connection presented, for the joins to come.
 */
export function handshakeMiddleware(ctx: Context) {
  const { config } = ctx;
  return (socket: SignalingSocket, next: (error?: ExtendedError) => void): void => {
    const refuse = (code: ConnectRefusalCode, reason: string): void => {
      countRefusal(ctx, socket, `connection: ${reason}`);
      // The client sees this message verbatim in its connect_error; the prefix is what it switches on.
      next(new Error(`${code}: ${reason}`));
    };
    const origin = headerValue(socket.handshake.headers['origin']);
    if (config.allowedOrigins !== null && origin !== undefined && !config.allowedOrigins.has(normalizeOrigin(origin) ?? '')) {
      return refuse('UNAUTHORIZED', `origin ${JSON.stringify(origin.slice(0, 200))} is not allowed`);
    }
    // The engine count includes this connection and connections that never got as far as a handshake.
    if (pendingConnections(ctx) > config.maxPendingSockets) {
      return refuse('RATE_LIMITED', `too many connections waiting to join (${config.maxPendingSockets}); retry later`);
    }
    const auth: unknown = socket.handshake.auth;
    const presented = isPlainObject(auth) ? auth['token'] : undefined;
    const credential = typeof presented === 'string' && presented.length > 0 ? presented : undefined;
    if (credential !== undefined && credential.length > SIGNALING_LIMITS.maxCredentialLength) {
      return refuse('UNAUTHORIZED', `token longer than ${SIGNALING_LIMITS.maxCredentialLength} characters`);
    }
    let scope = OPEN_SCOPE;
    if (config.tokens !== null) {
      if (credential === undefined) return refuse('UNAUTHORIZED', 'missing token');
      // Looked up by digest: neither the token's content nor its length leaks through timing.
      const found = config.tokens.get(tokenDigest(credential));
      if (found === undefined) return refuse('UNAUTHORIZED', 'invalid token');
      scope = found;
    }
    const connection: Connection = {
      scope,
      credential,
      origin,
      address: socket.handshake.address,
      signals: new TokenBucket(config.signalsPerSecond, config.signalBurst),
      joins: new TokenBucket(JOINS_PER_SECOND, JOIN_BURST),
      refreshes: new TokenBucket(REFRESHES_PER_SECOND, REFRESH_BURST),
      hold: null,
      grant: null,
      idleTimer: null,
    };
    ctx.connections.set(socket, connection);
    next();
  };
}

const headerValue = (value: string | string[] | undefined): string | undefined =>
  typeof value === 'string' ? value : Array.isArray(value) ? value[0] : undefined;

/** scheme://host[:port] in URL's canonical form, 'null' as it is, or null when it is neither. */
export function normalizeOrigin(text: string): string | null {
  if (text === 'null') return text;
  try {
    const origin = new URL(text).origin;
    return origin === 'null' ? null : origin;
  } catch {
    return null;
  }
}

const ORIGIN_SHAPE = /^(null|[a-z][a-z0-9+.-]*:\/\/[^/?#\s]+)$/i;

export function resolveAllowedOrigins(origins: readonly string[] | undefined): ReadonlySet<string> | null {
  if (origins === undefined) return null;
  const set = new Set<string>();
  for (const origin of origins) {
    // A path or a trailing slash would never match a browser's Origin: better say so at start-up.
    const normal = typeof origin === 'string' && ORIGIN_SHAPE.test(origin) ? normalizeOrigin(origin) : null;
    if (normal === null) {
      throw new InvalidArgumentError(`allowedOrigins: ${JSON.stringify(origin)} is not an origin such as https://app.example.org`);
    }
    set.add(normal);
  }
  return set;
}

// ------------------------------------------------------------------------------------------- tokens

export function resolveTokens(
  token: string | undefined,
  tokens: Readonly<Record<string, TokenScope>> | undefined,
): ReadonlyMap<string, Scope> | null {
  if (token === undefined && tokens === undefined) return null;
  const map = new Map<string, Scope>();
  for (const [text, given] of Object.entries(tokens ?? {})) {
    if (text.length === 0) throw new InvalidArgumentError('tokens: a token must not be empty');
    if (text.length > SIGNALING_LIMITS.maxCredentialLength)
      throw new InvalidArgumentError(`tokens: a token is longer than ${SIGNALING_LIMITS.maxCredentialLength} characters`);
    if (!isPlainObject(given)) throw new InvalidArgumentError('tokens: each token maps to { rooms, caps? }');
    const { rooms, caps } = given;
    let roomSet: Scope['rooms'];
    if (rooms === '*') roomSet = '*';
    else if (Array.isArray(rooms) && rooms.length > 0 && rooms.every(isValidRoom)) roomSet = new Set(rooms);
    else throw new InvalidArgumentError(`tokens: rooms must be '*' or a non-empty list of room names, got ${JSON.stringify(rooms)}`);
    map.set(tokenDigest(text), { rooms: roomSet, caps: checkCaps(caps ?? null, 'tokens: caps') });
  }
  // The server-wide token admits to every room, with no limit on capabilities beyond `grants`.
  if (token !== undefined) map.set(tokenDigest(token), OPEN_SCOPE);
  return map;
}

export function resolveGrants(grants: CapabilityGrants | null | undefined): CapabilityGrants | null {
  if (grants === undefined || grants === null) return null;
  if (!isPlainObject(grants)) throw new InvalidArgumentError('grants must map peer kinds to capability lists');
  const out: Partial<Record<PeerKind, readonly string[] | null>> = {};
  for (const [kind, caps] of Object.entries(grants)) {
    if (kind !== 'browser' && kind !== 'node' && kind !== 'memory')
      throw new InvalidArgumentError(`grants: unknown peer kind ${JSON.stringify(kind)}`);
    out[kind] = checkCaps(caps ?? null, `grants.${kind}`);
  }
  return out;
}

function checkCaps(value: unknown, what: string): readonly string[] | null {
  if (value === null) return null;
  if (
    Array.isArray(value) &&
    value.length <= MAX_CAPS &&
    value.every((cap) => typeof cap === 'string' && cap.length > 0 && cap.length <= MAX_CAP_LENGTH) &&
    JSON.stringify(value).length <= MAX_CAPS_JSON
  ) {
    return Object.freeze([...new Set(value as string[])].sort());
  }
  throw new InvalidArgumentError(
    `${what} must be null or a list of non-empty capability names (at most ${MAX_CAPS}, ${MAX_CAP_LENGTH} characters each, ${MAX_CAPS_JSON} in all)`,
  );
}

// --------------------------------------------------------------------------------------- join policy

export type Decision =
  | { readonly ok: true; readonly caps: readonly string[] | null }
  | { readonly ok: false; readonly code: JoinRefusalCode; readonly message: string };

/** A kind the grants do not list gets nothing; one listed with null, anything. */
function kindGrant(grants: CapabilityGrants | null, kind: PeerKind): readonly string[] | null {
  if (grants === null) return null;
  return Object.hasOwn(grants, kind) ? (grants[kind] ?? null) : [];
}

/** null stands for "any"; otherwise what both allow. */
function intersect(a: readonly string[] | null, b: readonly string[] | null): readonly string[] | null {
  if (a === null) return b;
  if (b === null) return a;
  const keep = new Set(b);
  return a.filter((cap) => keep.has(cap));
}

/**
 * Whether `connection` may be `peerId` in `room` (on a join, or a refresh of that membership), and with
 * which capabilities: what the kind's grant, the token's scope and the hook allow, all three.
 */
export async function decide(
  ctx: Context,
  connection: Connection,
  request: Omit<AuthorizeRequest, 'credential' | 'origin' | 'address'>,
): Promise<Decision> {
  const { config } = ctx;
  const { rooms } = connection.scope;
  if (rooms !== '*' && !rooms.has(request.room)) {
    return { ok: false, code: 'UNAUTHORIZED', message: `this token does not admit room ${JSON.stringify(request.room)}` };
  }
  let caps = intersect(kindGrant(config.grants, request.kind), connection.scope.caps);
  if (config.authorize === undefined) return { ok: true, caps };
  let answer: unknown;
  try {
    const asked = Promise.resolve(
      config.authorize({ ...request, credential: connection.credential, origin: connection.origin, address: connection.address }),
    );
    answer = await bounded(asked, config.authorizeTimeoutMs, 'authorize()');
  } catch (error) {
    // The hook's own words stay in the log: they may describe the app's internals.
    ctx.log(`[signaling] authorize() failed for ${request.peerId} in ${JSON.stringify(request.room)}: ${describeThrown(error)}`);
    return { ok: false, code: 'UNAUTHORIZED', message: 'authorization failed' };
  }
  if (answer === false) return { ok: false, code: 'UNAUTHORIZED', message: 'not authorized' };
  if (answer === true) return { ok: true, caps };
  if (isPlainObject(answer) && 'caps' in answer) {
    try {
      caps = intersect(caps, checkCaps(answer['caps'], 'caps'));
      return { ok: true, caps };
    } catch (error) {
      ctx.log(`[signaling] authorize() answered malformed caps for ${request.peerId}: ${describeThrown(error)}`);
    }
  } else {
    ctx.log(`[signaling] authorize() answered neither a boolean nor { caps } for ${request.peerId}`);
  }
  return { ok: false, code: 'UNAUTHORIZED', message: 'authorization failed' };
}
