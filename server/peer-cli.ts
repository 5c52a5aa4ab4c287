/**
 * Headless Node peer:
 *   rtc-mesh-peer --signal http://127.0.0.1:3000 --room demo --capabilities game,chat --actors ./actors.js
 *   (in this repository: npm run peer -- ... --actors ./demo/actors.ts)
 *   ... --store redis://127.0.0.1:6379 [--persistence write-behind]: durable actor types keep their state there
 * Prints its peer id, then connections and activations as they change; Ctrl-C (or SIGTERM) leaves the mesh.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Mesh, type ActorClass, type NodeBindingName } from '../client/node.js';
import { serveMetrics } from './metrics.js';
import { parseOrExit } from './cli-args.js';
import { redactUrl } from './redact-url.js';
import { FileStore, MemoryStore, RedisStore, type StateStore } from './stores/index.js';

const HELP = `rtc-mesh headless peer

Usage: rtc-mesh-peer --signal <url> [options]      (in this repository: npm run peer -- ...)

  --signal <url>          signaling server URL; repeat or comma-separate for several (required)
  --room <name>           room to join (default: default)
  --capabilities <list>   comma-separated capabilities to advertise (e.g. game,chat)
  --actors <module>       module whose exported classes become actor types (a .js/.mjs module; .ts needs
                          tsx, as with npm run peer); without it the peer hosts no actors but can call
  --token <token>         signaling token, if the server requires one (or RTC_MESH_TOKEN)
  --peer-id <id>          use this peer id instead of a random one
  --bind-address <addr>   local address for ICE (e.g. 127.0.0.1 for a one-machine mesh)
  --binding <name>        node-datachannel (default) or @roamhq/wrtc
  --idle-timeout <ms>     passivate actors idle this long (default: never)
  --store <spec>          where durable actor types (static durable = true) keep their state:
                          redis://host:port[/db] (or rediss://; shared by every peer using it),
                          file:<dir> (one process per directory) or memory (until the process exits)
  --store-prefix <p>      with a redis:// store: prefix of its keys (default rtc-mesh:state:)
  --persistence <mode>    with --store: write-through (default; a call answers once its state is
                          saved) or write-behind (answers at once; saved within --write-behind-ms
                          and when the peer stops)
  --write-behind-ms <ms>  with --store: write-behind saves at most this long after a change (default 1000)
  --store-timeout-ms <ms> with --store: a store operation that takes longer fails STORE_UNAVAILABLE (default 5000)
  --metrics-port <port>   serve Prometheus metrics on http://127.0.0.1:<port>/metrics (0 = any free port)
  --metrics-host <addr>   address for the metrics endpoint (default 127.0.0.1)
  --json                  print events as JSON lines (for scripts)
  --quiet                 print only the peer id and errors
  -h, --help              show this help
`;

interface CliOptions {
  readonly signal: string[];
  readonly room: string;
  readonly capabilities: string[];
  readonly actors: string | undefined;
  readonly token: string | undefined;
  readonly peerId: string | undefined;
  readonly bindAddress: string | undefined;
  readonly binding: NodeBindingName;
  readonly idleTimeoutMs: number | undefined;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly metricsPort: number | undefined;
  readonly metricsHost: string;
  readonly store: StoreSpec | undefined;
  readonly persistence: 'write-through' | 'write-behind' | undefined;
  readonly writeBehindMs: number | undefined;
  readonly storeTimeoutMs: number | undefined;
}

/** What --store (and --store-prefix) asked for; openStore() makes it. Parsing opens nothing. */
export type StoreSpec =
  | { readonly kind: 'redis'; readonly url: string; readonly prefix: string | undefined }
  | { readonly kind: 'file'; readonly directory: string }
  | { readonly kind: 'memory' };

const STORE_SPECS = 'redis://host:port[/db], file:<dir> or memory';

/** Reads a --store value: redis:// or rediss:// URL, file:<dir>, or memory. Throws a usage message otherwise. */
export function parseStoreSpec(spec: string, prefix?: string): StoreSpec {
  const text = spec.trim();
  const kind = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  if (kind === 'redis' || kind === 'rediss') {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new Error(`--store ${redactUrl(text)}: not a valid URL (expected ${STORE_SPECS})`);
    }
    if (url.hostname === '') throw new Error(`--store ${redactUrl(text)}: a redis URL needs a host, e.g. redis://127.0.0.1:6379`);
    const db = url.pathname.replace(/^\//, '');
    if (db !== '' && !/^\d+$/.test(db))
      throw new Error(`--store ${redactUrl(text)}: the database after the host must be a number, e.g. redis://127.0.0.1:6379/2`);
    if (prefix === '') throw new Error('--store-prefix must not be empty');
    return { kind: 'redis', url: text, prefix };
  }
  if (prefix !== undefined) throw new Error('--store-prefix applies to a redis:// store only');
  if (kind === 'file') {
    const directory = text.slice('file:'.length);
    if (directory.startsWith('//')) throw new Error(`--store ${text}: write file:<dir> (a path, e.g. file:./state), not a file:// URL`);
    if (directory === '') throw new Error('--store file: needs a directory, e.g. --store file:./actor-state');
    return { kind: 'file', directory };
  }
  if (text === 'memory') return { kind: 'memory' };
  throw new Error(`--store must be ${STORE_SPECS}; got ${JSON.stringify(redactUrl(text))}`);
}

/** The store a spec names (RedisStore connects on first use; see startStore). */
export function openStore(spec: StoreSpec, log: (line: string) => void = () => undefined): StateStore {
  switch (spec.kind) {
    case 'redis':
      return new RedisStore({ url: spec.url, ...(spec.prefix !== undefined ? { prefix: spec.prefix } : {}), log });
    case 'file':
      return new FileStore(spec.directory);
    case 'memory':
      return new MemoryStore();
  }
}

/** How a store is described in the start-up line (no password). */
export function describeStore(spec: StoreSpec): string {
  switch (spec.kind) {
    case 'redis':
      return `redis ${redactUrl(spec.url)}${spec.prefix !== undefined ? ` prefix ${spec.prefix}` : ''}`;
    case 'file':
      return `file ${resolve(spec.directory)}`;
    case 'memory':
      return 'memory (this process only)';
  }
}

export function parseCli(argv: readonly string[]): CliOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      signal: { type: 'string', multiple: true },
      room: { type: 'string', default: 'default' },
      capabilities: { type: 'string', default: '' },
      actors: { type: 'string' },
      token: { type: 'string' },
      'peer-id': { type: 'string' },
      'bind-address': { type: 'string' },
      binding: { type: 'string', default: 'node-datachannel' },
      'idle-timeout': { type: 'string' },
      json: { type: 'boolean', default: false },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string', default: '127.0.0.1' },
      store: { type: 'string' },
      'store-prefix': { type: 'string' },
      persistence: { type: 'string' },
      'write-behind-ms': { type: 'string' },
      'store-timeout-ms': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const signal = (values.signal ?? [])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  if (signal.length === 0) throw new Error('--signal is required (e.g. --signal http://127.0.0.1:3000)');
  const binding = values.binding;
  if (binding !== 'node-datachannel' && binding !== '@roamhq/wrtc') throw new Error(`--binding must be node-datachannel or @roamhq/wrtc`);
  const idle = values['idle-timeout'];
  const idleTimeoutMs = idle === undefined ? undefined : Number(idle);
  if (idleTimeoutMs !== undefined && !(idleTimeoutMs > 0)) throw new Error('--idle-timeout must be a positive number of ms');
  const metricsArg = values['metrics-port'];
  const metricsPort = metricsArg === undefined ? undefined : Number(metricsArg);
  if (metricsPort !== undefined && !(Number.isInteger(metricsPort) && metricsPort >= 0 && metricsPort < 65536)) {
    throw new Error('--metrics-port must be a port number (0 for any free port)');
  }
  const store = values.store === undefined ? undefined : parseStoreSpec(values.store, values['store-prefix']);
  if (store === undefined && values['store-prefix'] !== undefined) throw new Error('--store-prefix needs --store redis://...');
  const persistence = values.persistence;
  if (persistence !== undefined && persistence !== 'write-through' && persistence !== 'write-behind') {
    throw new Error(`--persistence must be write-through or write-behind; got ${JSON.stringify(persistence)}`);
  }
  if (persistence !== undefined && store === undefined) throw new Error('--persistence needs --store');
  const behindArg = values['write-behind-ms'];
  const writeBehindMs = behindArg === undefined ? undefined : Number(behindArg);
  if (writeBehindMs !== undefined && !(Number.isFinite(writeBehindMs) && writeBehindMs > 0)) {
    throw new Error('--write-behind-ms must be a positive number of ms');
  }
  if (writeBehindMs !== undefined && store === undefined) throw new Error('--write-behind-ms needs --store');
  const timeoutArg = values['store-timeout-ms'];
  const storeTimeoutMs = timeoutArg === undefined ? undefined : Number(timeoutArg);
  if (storeTimeoutMs !== undefined && !(Number.isFinite(storeTimeoutMs) && storeTimeoutMs > 0)) {
    throw new Error('--store-timeout-ms must be a positive number of ms');
  }
  if (storeTimeoutMs !== undefined && store === undefined) throw new Error('--store-timeout-ms needs --store');
  return {
    store,
    persistence,
    writeBehindMs,
    storeTimeoutMs,
    metricsPort,
    metricsHost: values['metrics-host'],
    signal,
    room: values.room,
    capabilities: values.capabilities
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    actors: values.actors,
    token: values.token ?? process.env['RTC_MESH_TOKEN'],
    peerId: values['peer-id'],
    bindAddress: values['bind-address'],
    binding,
    idleTimeoutMs,
    json: values.json,
    quiet: values.quiet,
  };
}

/** Loads every exported class of a module as an actor type, under its export name. */
export async function loadActors(modulePath: string): Promise<Record<string, ActorClass>> {
  const url = pathToFileURL(resolve(process.cwd(), modulePath)).href;
  const mod = (await import(url)) as Record<string, unknown>;
  const actors: Record<string, ActorClass> = {};
  for (const [name, value] of Object.entries(mod)) {
    if (typeof value === 'function' && typeof (value as { prototype?: { handleCall?: unknown } }).prototype?.handleCall === 'function') {
      actors[name] = value as ActorClass;
    }
  }
  if (Object.keys(actors).length === 0) throw new Error(`${modulePath} exports no actor class (a class with handleCall)`);
  return actors;
}

async function start(argv: readonly string[]): Promise<void> {
  const options = parseOrExit(parseCli, HELP, argv);
  if (options === null) return;
  const { json, quiet } = options;
  const print = (event: string, fields: Record<string, unknown>, text: string): void => {
    if (json) process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
    else if (!quiet) process.stdout.write(`${new Date().toISOString().slice(11, 23)} ${text}\n`);
  };
  const actors = options.actors === undefined ? {} : await loadActors(options.actors);
  const store = await startStore(options.store, (line) => print('store', { message: line }, line));
  let mesh: Mesh;
  try {
    mesh = await Mesh.start({
      signal: options.signal,
      room: options.room,
      capabilities: options.capabilities,
      actors,
      binding: options.binding,
      ...(options.token !== undefined ? { token: options.token } : {}),
      ...(options.peerId !== undefined ? { peerId: options.peerId } : {}),
      ...(options.bindAddress !== undefined ? { bindAddress: options.bindAddress } : {}),
      ...(options.idleTimeoutMs !== undefined ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
      ...(store !== undefined ? { store } : {}),
      ...(options.persistence !== undefined ? { persistence: options.persistence } : {}),
      ...(options.writeBehindMs !== undefined ? { writeBehindMs: options.writeBehindMs } : {}),
      ...(options.storeTimeoutMs !== undefined ? { storeTimeoutMs: options.storeTimeoutMs } : {}),
      onSignalingState: (state, detail) =>
        print('signaling', { state, error: detail?.message }, `signaling ${state}${detail ? `: ${detail.message}` : ''}`),
    });
  } catch (error) {
    await store?.close?.();
    throw error;
  }
  const durable = Object.entries(actors)
    .filter(([, cls]) => cls.durable === true)
    .map(([name]) => name);
  const storeInfo =
    options.store === undefined
      ? null
      : { store: describeStore(options.store), persistence: options.persistence ?? 'write-through', durable };
  if (json) process.stdout.write(`${JSON.stringify({ event: 'ready', peerId: mesh.peerId, room: options.room, ...(storeInfo ?? {}) })}\n`);
  else {
    process.stdout.write(
      `peer ${mesh.peerId} joined room "${options.room}" with [${options.capabilities.join(', ')}]; actors: ${Object.keys(actors).join(', ') || 'none'}\n`,
    );
    if (storeInfo !== null) {
      process.stdout.write(
        `store: ${storeInfo.store}, ${storeInfo.persistence}; durable actor types: ${durable.join(', ') || 'none (give a type static durable = true)'}\n`,
      );
    }
  }

  const metrics =
    options.metricsPort === undefined ? null : await serveMetrics(mesh, { port: options.metricsPort, host: options.metricsHost });
  if (metrics) print('metrics', { url: metrics.url }, `metrics on ${metrics.url}`);

  mesh.on('topology', (t) =>
    print(
      'topology',
      { version: t.version, peers: t.peers.map((p) => ({ id: p.id, kind: p.kind, capabilities: p.capabilities })), moved: t.moved },
      `peers (${t.peers.length}): ${t.peers.map((p) => `${p.id}${p.id === mesh.peerId ? '*' : ''}[${p.capabilities.join(',')}]`).join(' ')}` +
        (t.moved ? `; moved ${t.moved} activations away` : ''),
    ),
  );
  mesh.on('activated', (a) =>
    print(
      'activated',
      { actor: a.actor, id: a.id, capability: a.capability, activation: a.activation },
      `+ ${a.actor}(${a.id}) ${a.activation}`,
    ),
  );
  mesh.on('deactivated', (a) =>
    print('deactivated', { actor: a.actor, id: a.id, reason: a.reason, activation: a.activation }, `- ${a.actor}(${a.id}) ${a.reason}`),
  );
  mesh.on('cast-failed', (e) =>
    print(
      'cast-failed',
      { actor: e.actor, id: e.id, code: e.error.code, message: e.error.message },
      `! cast to ${e.actor}(${e.id}) failed: ${e.error.message}`,
    ),
  );
  mesh.on('store-failed', (e) =>
    print(
      'store-failed',
      { actor: e.actor, id: e.id, capability: e.capability, code: e.error.code, message: e.error.message },
      `! state of ${e.actor}(${e.id}) not saved: ${e.error.message}`,
    ),
  );
  mesh.on('peer-refused', (e) =>
    print('peer-refused', { peer: e.peer, message: e.error.message }, `! refused peer ${e.peer}: ${e.error.message}`),
  );

  let leaving = false;
  const leave = (signal: string): void => {
    if (leaving) return;
    leaving = true;
    print('leaving', { signal }, `${signal}: leaving the mesh`);
    // stop() flushes durable actors' state into the store; the mesh never closes the store: we do, after it.
    void (async () => {
      let code = 0;
      try {
        await mesh.stop();
      } catch (error) {
        code = 1;
        process.stderr.write(`rtc-mesh peer: stopping failed: ${error instanceof Error ? error.message : String(error)}\n`);
      }
      await metrics?.close();
      await store?.close?.().catch(() => undefined);
      process.exit(code);
    })();
  };
  process.on('SIGINT', () => leave('SIGINT'));
  process.on('SIGTERM', () => leave('SIGTERM'));
}

/**
 * Opens the store of --store. A Redis store connects now, so that a wrong URL or a Redis that is down fails
 * the start (exit 1) instead of the first call to a durable actor; after that it reconnects on its own.
 */
async function startStore(spec: StoreSpec | undefined, log: (line: string) => void): Promise<StateStore | undefined> {
  if (spec === undefined) return undefined;
  const store = openStore(spec, log);
  if (store instanceof RedisStore) {
    try {
      await store.connect();
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  return store;
}

/**
 * Runs the peer with these flags (the arguments after the program name). Never rejects: a peer that cannot
 * start prints why and exits 1, so the installed command and `npm run peer` report failures alike.
 */
export async function main(argv: readonly string[]): Promise<void> {
  try {
    await start(argv);
  } catch (error) {
    process.stderr.write(
      `rtc-mesh peer: ${error instanceof Error ? `${error.name} ${(error as { code?: string }).code ?? ''}: ${error.message}` : String(error)}\n`,
    );
    process.exit(1);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void main(process.argv.slice(2));
