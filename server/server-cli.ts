/**
 * Standalone signaling server:
 *   tsx server/server-cli.ts --port 3000 --host 0.0.0.0 [--token T] [--redis redis://...] [--max-peers N]
 *                            [--ice-servers '<json array>'] [--turn-secret S --turn-urls turn:...]
 * Every option falls back to an environment variable (see HELP). Prints the URL once listening; SIGTERM /
 * SIGINT close it gracefully (its peers keep their data channels and re-join through another instance).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { describeThrown } from '../shared/errors.js';
import type { IceServerConfig } from '../shared/wire/signaling.js';
import { startSignaling } from './redis.js';
import { installShutdown, type IceServersFactory } from './signaling-server.js';
import { DEFAULT_TURN_TTL_SECONDS, turnIceServers } from './turn.js';
import { parseOrExit } from './cli-args.js';

const HELP = `rtc-mesh signaling server

Usage: rtc-mesh-server [options]      (in this repository: npm run signaling -- ...)

  --port <n>              port to listen on (env PORT; default 3000; 0 picks a free one)
  --host <addr>           address to bind (env HOST; default 0.0.0.0)
  --token <token>         require clients to send this token (env RTC_MESH_TOKEN; prefer the env var:
                          command lines are visible to other local users)
  --redis <url>           share rooms with other instances through this Redis, redis:// or rediss://
                          (env REDIS_URL; default: none, a single instance)
  --max-peers <n>         peers per room, counted across all instances (env MAX_PEERS; default 64)
  --ice-servers <json>    STUN/TURN servers handed to clients, a JSON array of RTCIceServer objects,
                          e.g. '[{"urls":"stun:stun.l.google.com:19302"}]' (env ICE_SERVERS; default [])
  --turn-secret <secret>  coturn static-auth-secret: issue a fresh time-limited TURN credential on every
                          join (env TURN_SECRET; prefer the env var); needs --turn-urls
  --turn-urls <list>      comma-separated turn:/turns: URLs of the TURN servers sharing that secret
                          (env TURN_URLS)
  --turn-ttl <seconds>    lifetime of each TURN credential (env TURN_TTL; default ${DEFAULT_TURN_TTL_SECONDS})
  --quiet                 print only the URL and errors
  -h, --help              show this help

An empty environment variable counts as unset, except RTC_MESH_TOKEN and TURN_SECRET: an empty secret is
refused rather than silently running without it.
`;

export interface ServerCliOptions {
  readonly port: number;
  readonly host: string;
  readonly token: string | undefined;
  readonly redisUrl: string | undefined;
  readonly maxPeers: number;
  readonly iceServers: readonly IceServerConfig[];
  readonly turn: { readonly secret: string; readonly urls: readonly string[]; readonly ttlSeconds: number } | undefined;
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

  return {
    port,
    host: setting(values.host, 'HOST') ?? '0.0.0.0',
    token,
    redisUrl: setting(values.redis, 'REDIS_URL'),
    maxPeers,
    iceServers,
    turn,
    quiet: values.quiet,
  };
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
  (value ?? '').split(',').map((part) => part.trim()).filter((part) => part.length > 0);

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
    if (!Array.isArray(urlList) || urlList.length === 0 || !urlList.every((u) => typeof u === 'string' && /^(stuns?|turns?):\S+$/.test(u))) {
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

async function start(argv: readonly string[]): Promise<void> {
  const options = parseOrExit(parseServerCli, HELP, argv);
  if (options === null) return;
  const { quiet } = options;
  const log = (line: string): void => {
    if (!quiet) process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  };
  let iceServers: readonly IceServerConfig[] | IceServersFactory = options.iceServers;
  try {
    if (options.turn !== undefined) iceServers = turnIceServers({ ...options.turn, static: options.iceServers });
  } catch (error) {
    process.stderr.write(`rtc-mesh signaling: ${describeThrown(error)}\n`);
    process.exit(2);
  }

  const server = await startSignaling({
    port: options.port,
    host: options.host,
    token: options.token,
    maxPeers: options.maxPeers,
    iceServers,
    redisUrl: options.redisUrl ?? null,
    log,
  });
  installShutdown(server, { log });
  const facts = [
    options.host === '0.0.0.0' || options.host === '::' ? `bound to ${options.host}` : undefined,
    server.redisUrl === null ? 'single instance' : `rooms shared through ${server.redisUrl}`,
    options.token === undefined ? 'no token' : 'token required',
    `max ${options.maxPeers} peers per room`,
    options.turn === undefined ? undefined : `TURN credentials for ${options.turn.urls.join(', ')} valid ${options.turn.ttlSeconds} s`,
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
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void main(process.argv.slice(2));
