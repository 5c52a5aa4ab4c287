/**
 * Profiles one workload with `node --cpu-prof` in every process involved, then prints the top self-time
 * functions and areas of each profile:
 *   npx tsx bench/profile.ts <mode> [--seconds N] [--bundle] [--node-args="<node flags for every child>"]
 * Modes: local-activations, local-capabilities, local-hot, remote2, remote4, remote4-activations, replicas3
 * (a driver, an owner and its backup, one synchronous copy per call).
 * --bundle runs the children as esbuild bundles under plain node (no tsx: no loader thread, no keepNames
 * `__name` wrappers, real line numbers through the source map) - closer to a production build.
 * Profiles land in bench/results/prof/<mode>-<time>/ (ignored by git).
 */
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { SourceMap, type SourceMapPayload, type SourceMapping } from 'node:module';
import { join, relative, resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { createSignalingServer } from '../server/signaling-server.js';
import { formatSummary, summarizeProfile, type Resolver } from './lib/cpuprofile.js';
import { BUNDLE_DIR, buildChildren, childScript } from './lib/bundle.js';
import { BENCH_DIR, BenchChild, REPO_DIR, killAllChildren } from './lib/proc.js';
import type { DriveResult } from './lib/workload.js';
import { nextRoom, startMeshes, stopMeshes } from './scenarios/remote.js';

const MODES = ['local-activations', 'local-capabilities', 'local-hot', 'remote2', 'remote4', 'remote4-activations', 'replicas3'] as const;
type Mode = (typeof MODES)[number];

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: 'string', default: '5' },
    top: { type: 'string', default: '25' },
    bundle: { type: 'boolean', default: false },
    'node-args': { type: 'string', default: '' },
  },
  allowPositionals: true,
});
const mode = positionals[0] as Mode | undefined;
if (!mode || !MODES.includes(mode)) {
  console.error(`usage: npx tsx bench/profile.ts <${MODES.join('|')}> [--seconds N] [--bundle]`);
  process.exit(2);
}
const seconds = Number(values.seconds);
/** More flags for every child, e.g. `--node-args=--trace-gc-nvp` (with "=": parseArgs takes no separate value that starts with --). */
const extraArgs = values['node-args'].split(' ').filter((a) => a !== '');
const tag = `${mode}${values.bundle ? '-bundle' : ''}`;
const dir = join(BENCH_DIR, 'results', 'prof', `${tag}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
await mkdir(dir, { recursive: true });

/** With --bundle: the child scripts as plain ESM bundles (see lib/bundle.ts), positions mapped back to sources. */
let resolver: Resolver | undefined;
if (values.bundle) {
  await buildChildren();
  const maps = new Map<string, SourceMap>();
  for (const name of ['local', 'peer']) {
    const payload = JSON.parse(await readFile(join(BUNDLE_DIR, `${name}.mjs.map`), 'utf8')) as SourceMapPayload;
    maps.set(name, new SourceMap(payload));
  }
  resolver = (url, line, column) => {
    const m = /\/results\/build\/(\w+)\.mjs$/.exec(url);
    // findEntry answers {} where nothing maps.
    const hit: Partial<SourceMapping> | undefined = m ? maps.get(m[1]!)?.findEntry(line, column) : undefined;
    if (hit?.originalSource === undefined || hit.originalLine === undefined) return null;
    // Map sources are relative to the map file: make them relative to the repository.
    return { source: relative(REPO_DIR, resolvePath(BUNDLE_DIR, hit.originalSource)), line: hit.originalLine + 1 };
  };
}
const script = (name: 'local' | 'peer'): string => childScript(name, values.bundle).script;
// One dir per process: tsx's loader runs in a worker thread that writes its own profile, and a fixed
// --cpu-prof-name would let it overwrite the main thread's. Default names end in .<pid>.<tid>.<seq>.
const prof = (name: string): string[] => ['--cpu-prof', `--cpu-prof-dir=${join(dir, name)}`, ...extraArgs];
const watchdog = setTimeout(
  () => {
    console.error('profile: watchdog');
    killAllChildren();
    process.exit(3);
  },
  (seconds + 90) * 1000,
);
watchdog.unref();

const children: BenchChild[] = [];
try {
  if (mode.startsWith('local-')) {
    const what = mode.slice('local-'.length);
    const child = BenchChild.spawn('local', script('local'), { nodeArgs: prof('local'), plain: values.bundle });
    children.push(child);
    await child.ready;
    console.log(await child.call('profile', { what, seconds }, (seconds + 60) * 1000));
  } else {
    const n = mode === 'remote2' ? 2 : mode === 'replicas3' ? 3 : 4;
    const server = await createSignalingServer({ port: 0, host: '127.0.0.1' });
    try {
      const names = Array.from({ length: n }, (_, i) => (i === 0 ? 'driver' : `owner${i}`));
      for (const name of names) children.push(BenchChild.spawn(name, script('peer'), { nodeArgs: prof(name), plain: values.bundle }));
      await Promise.all(children.map((c) => c.ready));
      const started = await startMeshes(children, server.url, nextRoom('prof'), ['game'], { replicas: mode === 'replicas3' ? 1 : 0 });
      const owners = mode === 'remote2' || mode === 'replicas3' ? [started[1]!.peerId] : 'remote';
      const backup = mode === 'replicas3' ? { backup: started[2]!.peerId } : {};
      if (mode === 'remote4-activations') {
        await Promise.all(
          children.map((c, i) =>
            c.call('mesh-ids', { name: 'fresh', capability: 'game', prefix: `p${i}_`, count: 60_000 * seconds, owners: 'remote' }, 120_000),
          ),
        );
        const r = await Promise.all(
          children.map((c) =>
            c.call<DriveResult>('mesh-load', { ids: 'fresh', inflight: 256, durationMs: seconds * 1000 }, (seconds + 60) * 1000),
          ),
        );
        console.log('activations/s (sum):', Math.round(r.reduce((s, x) => s + x.rate, 0)));
      } else {
        const driver = children[0]!;
        await driver.call('mesh-ids', { name: 'hot', capability: 'game', prefix: 'player_', count: 1000, owners, ...backup });
        const r = await driver.call<DriveResult>(
          'mesh-load',
          { ids: 'hot', inflight: 256, durationMs: seconds * 1000 },
          (seconds + 60) * 1000,
        );
        console.log('calls/s:', Math.round(r.rate), 'stalls:', r.stalls, 'max gap ms:', r.maxGapMs.toFixed(1));
        const stats = await driver.call<{
          links: Record<string, { framesOut: number; messagesOut: number; framesIn: number; messagesIn: number }> | null;
        }>('mesh-stats');
        for (const [peer, c] of Object.entries(stats.links ?? {})) {
          console.log(
            `link to ${peer}: ${(c.framesOut / Math.max(1, c.messagesOut)).toFixed(1)} frames per message sent, ${(c.framesIn / Math.max(1, c.messagesIn)).toFixed(1)} per message received`,
          );
        }
      }
      await stopMeshes(children);
    } finally {
      await server.close();
    }
  }
} finally {
  // A clean exit writes the profile; give it time.
  await Promise.all(children.map((c) => c.stop(20_000)));
  killAllChildren();
}

const top = Number(values.top);
for (const name of (await readdir(dir)).sort()) {
  // The main thread is thread 0: CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile
  const files = (await readdir(join(dir, name))).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
  for (const file of files) {
    console.log('');
    const title = `${mode}${values.bundle ? ' (bundled, plain node)' : ' (tsx)'}: ${name} (main thread)`;
    console.log(formatSummary(title, await summarizeProfile(join(dir, name, file), top, resolver)));
  }
}
console.log(`\nprofiles in ${dir}`);
clearTimeout(watchdog);
process.exit(0);
