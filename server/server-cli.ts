/**
 * Standalone signaling server:
 *   tsx server/server-cli.ts --port 3000 --host 0.0.0.0 [--token T] [--redis redis://...] [--max-peers N]
 *                            [--ice-servers '<json array>'] [--turn-secret S --turn-urls turn:...]
 *                            [--identity-key key.pem] [--allowed-origins https://app.example.org] ...
 * Every option falls back to an environment variable (see HELP). Prints the URL once listening; SIGTERM /
 * SIGINT close it gracefully (its peers keep their data channels and re-join through another instance).
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { InvalidArgumentError, describeThrown } from '../shared/errors.js';
import type { PeerKind } from '../shared/placement/membership.js';
import type { IceServerConfig } from '../shared/wire/signaling.js';
import { startSignaling } from './redis.js';
import {
  DEFAULT_CLAIM_TTL_MS,
  DEFAULT_JOIN_TIMEOUT_MS,
  DEFAULT_MAX_PENDING_SOCKETS,
  DEFAULT_SIGNAL_BURST,
  DEFAULT_SIGNALS_PER_SECOND,
  installShutdown,
  type CapabilityGrants,
  type IceServersFactory,
  type TokenScope,
} from './signaling-server.js';
import { DEFAULT_IDENTITY_TTL_MS } from './identity.js';
import { DEFAULT_TURN_TTL_SECONDS, turnIceServers } from './turn.js';
import { parseOrExit } from './cli-args.js';

const HELP = `rtc-mesh signaling server

Usage: rtc-mesh-server [options]      (in this repository: npm run signaling -- ...)

  --port <n>              port to listen on (env PORT; default 3000; 0 picks a free one)
  --host <addr>           address to bind (env HOST; default 0.0.0.0)
  --token <token>         require clients to send this token, valid for every room (env RTC_MESH_TOKEN;
                          prefer the env var: command lines are visible to other local users)
  --tokens-file <file>    room-scoped tokens, a JSON object {"<token>": {"rooms": ["a", "b"] or "*",
                          "caps": [...] (optional)}}: a token admits only to its rooms
                          (env RTC_MESH_TOKENS_FILE)
  --redis <url>           share rooms with other instances through this Redis, redis:// or rediss://
                          (env REDIS_URL; default: none, a single instance)
  --max-peers <n>         peers per room, counted across all instances (env MAX_PEERS; default 64)
  --ice-servers <json>    STUN/TURN servers handed to clients, a JSON array of RTCIceServer objects,
                          e.g. '[{"urls":"stun:stun.l.google.com:19302"}]' (env ICE_SERVERS; default [])
  --turn-secret <secret>  coturn static-auth-secret: issue a fresh time-limited TURN credential, named
                          after the peer, on every join (env TURN_SECRET; prefer the env var); needs
                          --turn-urls
  --turn-urls <list>      comma-separated turn:/turns: URLs of the TURN servers sharing that secret
                          (env TURN_URLS)
  --turn-ttl <seconds>    lifetime of each TURN credential without signed identities (env TURN_TTL;
                          default ${DEFAULT_TURN_TTL_SECONDS}); with them it is the token's lifetime

Identity and access:
  --server-secret <s>     key of the peer ids' reclaim secrets, at least 16 bytes (env
                          RTC_MESH_SERVER_SECRET); every instance of a cluster must share it (with --redis
                          and none given, one is shared through Redis); default: random per process
  --claim-ttl <seconds>   how long a peer id stays held for its peer after it left (env CLAIM_TTL;
                          default ${DEFAULT_CLAIM_TTL_MS / 1000})
  --identity-key <file>   Ed25519 private key (PKCS#8 PEM): issue signed peer identities; joins must then
                          carry the peer's public key (env RTC_MESH_IDENTITY_KEY_FILE). Make one with
                          openssl genpkey -algorithm ed25519 -out identity.pem
  --identity-previous-keys <list>
                          comma-separated base64url public keys of earlier identity keys whose tokens
                          peers still accept (env RTC_MESH_IDENTITY_PREVIOUS_KEYS)
  --identity-ttl <seconds>
                          lifetime of a signed identity (env IDENTITY_TTL; default ${DEFAULT_IDENTITY_TTL_MS / 1000});
                          peers refresh theirs at 2/3 of it
  --grants <spec>         capabilities a signed identity may carry, by peer kind, e.g.
                          'browser=game;node=game,bank' ('*': any; a kind not listed: none)
                          (env GRANTS; default: any capability for every kind)
  --allowed-origins <list>
                          comma-separated origins whose pages may connect, e.g. https://app.example.org;
                          connections without an Origin header (Node peers) are admitted (env
                          ALLOWED_ORIGINS; default: any origin)

Limits:
  --max-pending <n>       connections not yet in a room, per instance (env MAX_PENDING_SOCKETS; default ${DEFAULT_MAX_PENDING_SOCKETS})
  --join-timeout <seconds>
                          close a connection that is not in a room after this long (env JOIN_TIMEOUT;
                          default ${DEFAULT_JOIN_TIMEOUT_MS / 1000})
  --signal-rate <n>       signals a connection may relay per second (env SIGNAL_RATE; default ${DEFAULT_SIGNALS_PER_SECOND})
  --signal-burst <n>      ... and at once (env SIGNAL_BURST; default ${DEFAULT_SIGNAL_BURST})

  --quiet                 print only the URL, warnings and errors
  -h, --help              show this help

An empty environment variable counts as unset, except RTC_MESH_TOKEN, TURN_SECRET and
RTC_MESH_SERVER_SECRET: an empty secret is refused rather than silently running without it.
`;

export interface ServerCliOptions {
  readonly port: number;
  readonly host: string;
  readonly token: string | undefined;
  /** Read by main(), so that parsing stays free of I/O. */
  readonly tokensFile: string | undefined;
  readonly redisUrl: string | undefined;
  readonly maxPeers: number;
  readonly iceServers: readonly IceServerConfig[];
  readonly turn: { readonly secret: string; readonly urls: readonly string[]; readonly ttlSeconds: number } | undefined;
  readonly serverSecret: string | undefined;
  readonly claimTtlMs: number;
  readonly identity: { readonly keyFile: string; readonly previousPublicKeys: readonly string[]; readonly ttlMs: number } | undefined;
  readonly grants: CapabilityGrants | undefined;
  readonly allowedOrigins: readonly string[] | undefined;
  readonly maxPendingSockets: number;
  readonly joinTimeoutMs: number;
  readonly signalsPerSecond: number;
  readonly signalBurst: number;
  readonly quiet: boolean;
}

/** A mistake on the command line or in the environment: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Env = Readonly<Record<string, string | undefined>>;

export function parseServerCli(argv: readonly string[], env: Env = process.env): ServerCliOptions | 'help' {
  const values = readArgs(argv);
  if (values.help) return 'help';

  // Secrets: an empty value is kept (and refused below) rather than treated as unset.
  const setting = (flag: string | undefined, name: string): string | undefined => flag ?? nonEmpty(env[name]);
  const secret = (flag: string | undefined, name: string): string | undefined => flag ?? env[name];

  const port = integer(setting(values.port, 'PORT') ?? '3000', '--port (PORT)', 0, 65535);
  const maxPeers = integer(setting(values['max-peers'], 'MAX_PEERS') ?? '64', '--max-peers (MAX_PEERS)', 1, Number.MAX_SAFE_INTEGER);
  const token = secret(values.token, 'RTC_MESH_TOKEN');
  if (token === '') throw new UsageError('--token (RTC_MESH_TOKEN) must not be empty: unset it to run without auth');
  const iceServers = parseIceServers(setting(values['ice-servers'], 'ICE_SERVERS'));

  const turnSecret = secret(values['turn-secret'], 'TURN_SECRET');
  const turnUrls = splitList(setting(values['turn-urls'], 'TURN_URLS'));
  const turnTtl = setting(values['turn-ttl'], 'TURN_TTL');
  let turn: ServerCliOptions['turn'];
  if (turnSecret !== undefined) {
    if (turnSecret === '') throw new UsageError('--turn-secret (TURN_SECRET) must not be empty');
    if (turnUrls.length === 0) throw new UsageError('--turn-secret needs --turn-urls (TURN_URLS), e.g. turn:turn.example.org:3478');
    const ttlSeconds = integer(turnTtl ?? String(DEFAULT_TURN_TTL_SECONDS), '--turn-ttl (TURN_TTL)', 1, Number.MAX_SAFE_INTEGER);
    turn = { secret: turnSecret, urls: turnUrls, ttlSeconds };
  } else if (turnUrls.length > 0) {
    throw new UsageError('--turn-urls needs --turn-secret (TURN_SECRET); for TURN with fixed credentials use --ice-servers');
  }

  const serverSecret = secret(values['server-secret'], 'RTC_MESH_SERVER_SECRET');
  if (serverSecret !== undefined && Buffer.byteLength(serverSecret) < 16) {
    throw new UsageError('--server-secret (RTC_MESH_SERVER_SECRET) must be at least 16 bytes');
  }
  const seconds = (flag: string | undefined, name: string, what: string, fallbackMs: number, minSeconds = 1): number =>
    integer(setting(flag, name) ?? String(fallbackMs / 1000), `${what} (${name})`, minSeconds, 365 * 86_400) * 1000;

  const keyFile = setting(values['identity-key'], 'RTC_MESH_IDENTITY_KEY_FILE');
  const previousPublicKeys = splitList(setting(values['identity-previous-keys'], 'RTC_MESH_IDENTITY_PREVIOUS_KEYS'));
  const identityTtlMs = seconds(values['identity-ttl'], 'IDENTITY_TTL', '--identity-ttl', DEFAULT_IDENTITY_TTL_MS);
  if (keyFile === undefined && previousPublicKeys.length > 0) throw new UsageError('--identity-previous-keys needs --identity-key');
  const grantsText = setting(values.grants, 'GRANTS');
  const origins = splitList(setting(values['allowed-origins'], 'ALLOWED_ORIGINS'));

  return {
    port,
    host: setting(values.host, 'HOST') ?? '0.0.0.0',
    token,
    tokensFile: setting(values['tokens-file'], 'RTC_MESH_TOKENS_FILE'),
    redisUrl: setting(values.redis, 'REDIS_URL'),
    maxPeers,
    iceServers,
    turn,
    serverSecret,
    claimTtlMs: seconds(values['claim-ttl'], 'CLAIM_TTL', '--claim-ttl', DEFAULT_CLAIM_TTL_MS),
    identity: keyFile === undefined ? undefined : { keyFile, previousPublicKeys, ttlMs: identityTtlMs },
    grants: grantsText === undefined ? undefined : parseGrants(grantsText),
    allowedOrigins: origins.length === 0 ? undefined : origins,
    maxPendingSockets: integer(
      setting(values['max-pending'], 'MAX_PENDING_SOCKETS') ?? String(DEFAULT_MAX_PENDING_SOCKETS),
      '--max-pending (MAX_PENDING_SOCKETS)',
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    joinTimeoutMs: seconds(values['join-timeout'], 'JOIN_TIMEOUT', '--join-timeout', DEFAULT_JOIN_TIMEOUT_MS),
    signalsPerSecond: integer(
      setting(values['signal-rate'], 'SIGNAL_RATE') ?? String(DEFAULT_SIGNALS_PER_SECOND),
      '--signal-rate (SIGNAL_RATE)',
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    signalBurst: integer(
      setting(values['signal-burst'], 'SIGNAL_BURST') ?? String(DEFAULT_SIGNAL_BURST),
      '--signal-burst (SIGNAL_BURST)',
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    quiet: values.quiet,
  };
}

const KINDS: ReadonlySet<string> = new Set<PeerKind>(['browser', 'node', 'memory']);

/** 'browser=game;node=game,bank': capabilities per kind; '*' for any. */
export function parseGrants(text: string): CapabilityGrants {
  const grants: Partial<Record<PeerKind, readonly string[] | null>> = {};
  for (const part of text
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p.length > 0)) {
    const match = /^([a-z]+)\s*=\s*(.*)$/.exec(part);
    const kind = match?.[1];
    if (match === null || kind === undefined || !KINDS.has(kind)) {
      throw new UsageError(`--grants (GRANTS): ${JSON.stringify(part)} is not <browser|node|memory>=<capabilities>`);
    }
    const caps = (match[2] ?? '').trim();
    grants[kind as PeerKind] = caps === '*' ? null : splitList(caps);
  }
  return grants;
}

/** The JSON of --tokens-file, checked in shape; createSignalingServer checks the rest. */
export function parseTokensFile(text: string, file: string): Record<string, TokenScope> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--tokens-file ${file} must be JSON: ${describeThrown(error)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`--tokens-file ${file} must be a JSON object {"<token>": {"rooms": [...] or "*"}}`);
  }
  return parsed as Record<string, TokenScope>;
}

function readArgs(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        token: { type: 'string' },
        redis: { type: 'string' },
        'max-peers': { type: 'string' },
        'ice-servers': { type: 'string' },
        'turn-secret': { type: 'string' },
        'turn-urls': { type: 'string' },
        'turn-ttl': { type: 'string' },
        'tokens-file': { type: 'string' },
        'server-secret': { type: 'string' },
        'claim-ttl': { type: 'string' },
        'identity-key': { type: 'string' },
        'identity-previous-keys': { type: 'string' },
        'identity-ttl': { type: 'string' },
        grants: { type: 'string' },
        'allowed-origins': { type: 'string' },
        'max-pending': { type: 'string' },
        'join-timeout': { type: 'string' },
        'signal-rate': { type: 'string' },
        'signal-burst': { type: 'string' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError(describeThrown(error));
  }
}

const nonEmpty = (value: string | undefined): string | undefined => (value === '' ? undefined : value);

const splitList = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);

function integer(text: string, what: string, min: number, max: number): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${what} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

function parseIceServers(text: string | undefined): IceServerConfig[] {
  if (text === undefined) return [];
  const what = '--ice-servers (ICE_SERVERS)';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${what} must be JSON: ${describeThrown(error)}`);
  }
  if (!Array.isArray(parsed)) throw new UsageError(`${what} must be a JSON array of {"urls": ...} objects`);
  return parsed.map((entry: unknown, index): IceServerConfig => {
    const at = `${what}[${index}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new UsageError(`${at} must be an object`);
    const { urls, username, credential } = entry as Record<string, unknown>;
    const urlList = typeof urls === 'string' ? [urls] : urls;
    if (
      !Array.isArray(urlList) ||
      urlList.length === 0 ||
      !urlList.every((u) => typeof u === 'string' && /^(stuns?|turns?):\S+$/.test(u))
    ) {
      throw new UsageError(`${at}.urls must be a stun:, stuns:, turn: or turns: URL or a non-empty array of them`);
    }
    if (username !== undefined && typeof username !== 'string') throw new UsageError(`${at}.username must be a string`);
    if (credential !== undefined && typeof credential !== 'string') throw new UsageError(`${at}.credential must be a string`);
    return {
      urls: urls as string | string[],
      ...(username === undefined ? {} : { username }),
      ...(credential === undefined ? {} : { credential }),
    };
  });
}

function readFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${what} ${file}: ${describeThrown(error)}`);
  }
}

async function start(argv: readonly string[]): Promise<void> {
  const options = parseOrExit(parseServerCli, HELP, argv);
  if (options === null) return;
  const { quiet } = options;
  const log = (line: string): void => {
    // Warnings are for whoever runs the server: --quiet does not hide them.
    if (line.includes('warning:')) process.stderr.write(`${new Date().toISOString()} ${line}\n`);
    else if (!quiet) process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  };
  let iceServers: readonly IceServerConfig[] | IceServersFactory = options.iceServers;
  let tokens: Record<string, TokenScope> | undefined;
  let privateKey: string | undefined;
  try {
    if (options.turn !== undefined) iceServers = turnIceServers({ ...options.turn, static: options.iceServers });
    if (options.tokensFile !== undefined) tokens = parseTokensFile(readFile(options.tokensFile, '--tokens-file'), options.tokensFile);
    if (options.identity !== undefined) privateKey = readFile(options.identity.keyFile, '--identity-key');
  } catch (error) {
    process.stderr.write(`rtc-mesh signaling: ${describeThrown(error)}\n`);
    process.exit(2);
  }

  const server = await startSignaling({
    port: options.port,
    host: options.host,
    token: options.token,
    tokens,
    maxPeers: options.maxPeers,
    iceServers,
    redisUrl: options.redisUrl ?? null,
    serverSecret: options.serverSecret,
    claimTtlMs: options.claimTtlMs,
    identity:
      options.identity === undefined || privateKey === undefined
        ? undefined
        : { privateKey, previousPublicKeys: options.identity.previousPublicKeys, ttlMs: options.identity.ttlMs },
    grants: options.grants,
    allowedOrigins: options.allowedOrigins,
    maxPendingSockets: options.maxPendingSockets,
    joinTimeoutMs: options.joinTimeoutMs,
    signalsPerSecond: options.signalsPerSecond,
    signalBurst: options.signalBurst,
    log,
  });
  installShutdown(server, { log });
  const facts = [
    options.host === '0.0.0.0' || options.host === '::' ? `bound to ${options.host}` : undefined,
    server.redisUrl === null ? 'single instance' : `rooms shared through ${server.redisUrl}`,
    options.token === undefined && tokens === undefined ? 'no token' : 'token required',
    options.identity === undefined ? 'open mode' : `signed identities valid ${options.identity.ttlMs / 1000} s`,
    options.allowedOrigins === undefined ? undefined : `origins ${options.allowedOrigins.join(', ')}`,
    `max ${options.maxPeers} peers per room`,
    options.turn === undefined ? undefined : `TURN credentials for ${options.turn.urls.join(', ')}`,
  ].filter((fact) => fact !== undefined);
  process.stdout.write(`rtc-mesh signaling server listening on ${server.url} (${facts.join('; ')})\n`);
}

/**
 * Runs the server with these flags (the arguments after the program name). Never rejects: a server that
 * cannot start prints why and exits 1, so the installed command and `npm run signaling` report failures alike.
 */
export async function main(argv: readonly string[]): Promise<void> {
  try {
    await start(argv);
  } catch (error) {
    process.stderr.write(`rtc-mesh signaling: ${describeThrown(error)}\n`);
    // A configuration the server refuses (a bad key, origin or token list) is a usage error, like a bad flag.
    process.exit(error instanceof InvalidArgumentError ? 2 : 1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void main(process.argv.slice(2));
