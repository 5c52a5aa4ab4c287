/**
 * Time-limited TURN credentials, the "TURN REST API" scheme (draft-uberti-behave-turn-rest-00) that coturn
 * implements with `use-auth-secret` + `static-auth-secret=<secret>`:
 *
 *   username   = `${expiry}:${user}`  (expiry in Unix seconds; on joins, the user is the peer id)
 *   credential = base64(HMAC-SHA1(secret, username))
 *
 * The TURN server recomputes the HMAC from its copy of the secret and refuses usernames whose expiry has
 * passed, so the secret never leaves the signaling server and a leaked credential dies on its own. coturn
 * checks the expiry when an allocation is created, not while it lasts: a relayed connection set up in time
 * keeps working past it.
 */
import { createHmac } from 'node:crypto';
import { InvalidArgumentError } from '../shared/errors.js';
import type { IceServerConfig } from '../shared/wire/signaling.js';
import type { IceServersRequest } from './signaling-types.js';

export interface TurnCredentialOptions {
  /** coturn's `static-auth-secret`. */
  readonly secret: string;
  /** turn: / turns: URLs of the TURN server(s) sharing that secret, e.g. 'turn:turn.example.org:3478?transport=udp'. */
  readonly urls: string | readonly string[];
  /** Lifetime of the credential in seconds; default 86 400 (a day). Make it outlast the longest session. */
  readonly ttlSeconds?: number | undefined;
  /**
   * The user part of the username (shows in coturn's logs) when no peer is named: `turnCredentials`, or a
   * `turnIceServers` function called without a member. Default 'rtc-mesh'.
   */
  readonly user?: string | undefined;
  /** Clock in milliseconds, for tests; default Date.now. */
  readonly now?: (() => number) | undefined;
}

/** An ICE server entry with its credentials filled in. */
export interface TurnIceServer extends IceServerConfig {
  readonly urls: readonly string[];
  readonly username: string;
  readonly credential: string;
}

export const DEFAULT_TURN_TTL_SECONDS = 86_400;
const DEFAULT_TURN_USER = 'rtc-mesh';
const TURN_URL = /^turns?:[^\s]+$/;

/** One fresh credential for `urls`, valid for `ttlSeconds` from now. */
export function turnCredentials(options: TurnCredentialOptions): TurnIceServer {
  const checked = checkTurnOptions(options);
  return issue(checked, options.now ?? Date.now);
}

/**
 * For `createSignalingServer({ iceServers })`: a function issuing a fresh TURN credential on every join and
 * identity refresh, after any static entries (typically STUN). The username names the peer
 * (`${expiry}:${peerId}`), so TURN logs and quotas are per peer; with signed identities the credential
 * expires with the peer's token, so only a peer that keeps refreshing its identity keeps getting relays.
 * The options are checked here, once, so a misconfiguration stops the server at start-up, not joins.
 */
export function turnIceServers(
  options: TurnCredentialOptions & { readonly static?: readonly IceServerConfig[] | undefined },
): (member?: IceServersRequest) => readonly IceServerConfig[] {
  const checked = checkTurnOptions(options);
  const fixed = [...(options.static ?? [])];
  const now = options.now ?? Date.now;
  const factory = (member?: IceServersRequest): readonly IceServerConfig[] => {
    const user = member?.peerId ?? checked.user;
    const expiresAt = member?.expiresAt ?? null;
    const expiry = expiresAt === null ? undefined : Math.floor(expiresAt / 1000);
    return [...fixed, issue({ ...checked, user }, now, expiry)];
  };
  turnFactories.add(factory);
  return factory;
}

const turnFactories = new WeakSet<object>();

/** Whether `factory` came from `turnIceServers` (the server warns when it hands out TURN without auth). */
export const isTurnFactory = (factory: object): boolean => turnFactories.has(factory);

interface CheckedTurnOptions {
  readonly secret: string;
  readonly urls: readonly string[];
  readonly ttlSeconds: number;
  readonly user: string;
}

function checkTurnOptions(options: TurnCredentialOptions): CheckedTurnOptions {
  const { secret } = options;
  if (typeof secret !== 'string' || secret.length === 0) throw new InvalidArgumentError('TURN secret must be a non-empty string');
  const urls = typeof options.urls === 'string' ? [options.urls] : [...options.urls];
  if (urls.length === 0) throw new InvalidArgumentError('TURN urls must not be empty');
  for (const url of urls) {
    if (typeof url !== 'string' || !TURN_URL.test(url)) {
      throw new InvalidArgumentError(`TURN url ${JSON.stringify(url)} must start with turn: or turns: (STUN needs no credentials)`);
    }
  }
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_TURN_TTL_SECONDS;
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new InvalidArgumentError(`TURN ttlSeconds must be a positive integer, got ${ttlSeconds}`);
  }
  const user = options.user ?? DEFAULT_TURN_USER;
  if (typeof user !== 'string' || user.length === 0) throw new InvalidArgumentError('TURN user must be a non-empty string');
  return { secret, urls: Object.freeze(urls), ttlSeconds, user };
}

function issue(options: CheckedTurnOptions, now: () => number, expiry = Math.floor(now() / 1000) + options.ttlSeconds): TurnIceServer {
  const username = `${expiry}:${options.user}`;
  const credential = createHmac('sha1', options.secret).update(username, 'utf8').digest('base64');
  return { urls: options.urls, username, credential };
}
