/**
 * Headless Node peer:
 *   rtc-mesh-peer --signal http://127.0.0.1:3000 --room demo --capabilities game,chat --actors ./actors.js
 *   (in this repository: npm run peer -- ... --actors ./demo/actors.ts)
 * Prints its peer id, then connections and activations as they change; Ctrl-C (or SIGTERM) leaves the mesh.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Mesh, type ActorClass, type NodeBindingName } from '../client/node.js';
import { serveMetrics } from './metrics.js';
import { parseOrExit } from './cli-args.js';

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
  return {
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
  const mesh = await Mesh.start({
    signal: options.signal,
    room: options.room,
    capabilities: options.capabilities,
    actors,
    binding: options.binding,
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.peerId !== undefined ? { peerId: options.peerId } : {}),
    ...(options.bindAddress !== undefined ? { bindAddress: options.bindAddress } : {}),
    ...(options.idleTimeoutMs !== undefined ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
    onSignalingState: (state, detail) =>
      print('signaling', { state, error: detail?.message }, `signaling ${state}${detail ? `: ${detail.message}` : ''}`),
  });
  if (json) process.stdout.write(`${JSON.stringify({ event: 'ready', peerId: mesh.peerId, room: options.room })}\n`);
  else
    process.stdout.write(
      `peer ${mesh.peerId} joined room "${options.room}" with [${options.capabilities.join(', ')}]; actors: ${Object.keys(actors).join(', ') || 'none'}\n`,
    );

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
  mesh.on('peer-refused', (e) =>
    print('peer-refused', { peer: e.peer, message: e.error.message }, `! refused peer ${e.peer}: ${e.error.message}`),
  );

  let leaving = false;
  const leave = (signal: string): void => {
    if (leaving) return;
    leaving = true;
    print('leaving', { signal }, `${signal}: leaving the mesh`);
    void mesh
      .stop()
      .then(() => metrics?.close())
      .then(() => process.exit(0));
  };
  process.on('SIGINT', () => leave('SIGINT'));
  process.on('SIGTERM', () => leave('SIGTERM'));
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
