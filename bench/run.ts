/**
 * rtc-mesh benchmarks: `npm run bench -- [--quick] [--only name,...]`.
 * Scenarios: placement, local, memory, store, raw, remote, replicas, formation, browser, scale (see docs/benchmarks.md).
 * Prints a table (every figure next to its baseline) and PASS/MISS for the targets of issue 7, and writes
 * everything to bench/results/latest.json. Children are killed and servers closed however the run ends.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createSignalingServer, type SignalingServer } from '../server/signaling-server.js';
import { BENCH_DIR, BenchChild, killAllChildren } from './lib/proc.js';
import { buildChildren, childScript } from './lib/bundle.js';
import { describe } from './lib/workload.js';
import { runBrowser } from './scenarios/browser.js';
import type { BenchContext, Row, ScenarioResult, Target } from './scenarios/common.js';
import { runFormation } from './scenarios/formation.js';
import { runLocal, runMemory, SEED, SEED_README } from './scenarios/local.js';
import { runPlacement } from './scenarios/placement.js';
import { runRaw } from './scenarios/raw.js';
import { runRemote } from './scenarios/remote.js';
import { runReplicas } from './scenarios/replicas.js';
import { runScale } from './scenarios/scale.js';
import { runStore } from './scenarios/store.js';

const ALL = ['placement', 'local', 'memory', 'store', 'raw', 'remote', 'replicas', 'formation', 'browser', 'scale'] as const;
type Name = (typeof ALL)[number];

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    bundle: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (values.help) {
  console.log(`npm run bench -- [--quick] [--only ${ALL.join(',')}] [--out file.json] [--cpu-prof]

  --quick      short runs (under a minute in all)
  --only       run only these scenarios (remote and browser compare with raw, which then runs too)
  --out        where the JSON goes (default bench/results/latest.json)
  --cpu-prof   start every bench child with --cpu-prof (profiles in bench/results/prof/)
  --bundle     run the Node children as esbuild bundles under plain node, without tsx (closer to dist/)`);
  process.exit(0);
}
const quick = values.quick;
let selected: Set<Name>;
if (values.only !== undefined) {
  const names = values.only
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(ALL as readonly string[]).includes(n));
  if (unknown.length > 0) {
    console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${ALL.join(', ')}`);
    process.exit(2);
  }
  selected = new Set(names as Name[]);
  if (selected.has('remote') || selected.has('browser')) selected.add('raw');
} else {
  selected = new Set(ALL);
}

const started = performance.now();
const loadAtStart = loadavg();
const log = (line: string): void => console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);
const profDir = join(BENCH_DIR, 'results', 'prof');
const ctx: BenchContext = {
  quick,
  bundled: values.bundle,
  childNodeArgs: values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
  raw: null,
  log,
};

// However the run ends, children die and the process exits.
const watchdogMs = quick ? 58_000 : 15 * 60_000;
const watchdog = setTimeout(() => {
  console.error(`bench: watchdog: still running after ${watchdogMs / 1000} s; killing children and exiting`);
  killAllChildren();
  // Keep what was measured: the JSON says which scenarios finished and that the run was cut short.
  const file = values.out ?? join(BENCH_DIR, 'results', 'latest.json');
  try {
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(
      file,
      `${JSON.stringify({ meta: { date: new Date().toISOString(), quick, aborted: `watchdog after ${watchdogMs / 1000} s` }, scenarios: outcomes }, null, 2)}\n`,
    );
    console.error(`bench: partial results in ${file}`);
  } catch {
    // nothing more to save
  }
  process.exit(3);
}, watchdogMs);
watchdog.unref();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`bench: ${signal}; killing children`);
    killAllChildren();
    process.exit(130);
  });
}

interface Outcome extends Partial<ScenarioResult> {
  readonly ms: number;
  readonly error?: string;
}
const outcomes: Partial<Record<Name, Outcome>> = {};

async function scenario(name: Name, body: () => Promise<ScenarioResult> | ScenarioResult): Promise<void> {
  if (!selected.has(name)) return;
  log(`${name}: start`);
  const t0 = performance.now();
  try {
    const result = await body();
    outcomes[name] = { ...result, ms: performance.now() - t0 };
    log(`${name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s${result.skipped ? ` (skipped: ${result.skipped})` : ''}`);
  } catch (error) {
    outcomes[name] = { ms: performance.now() - t0, error: describe(error) };
    log(`${name}: FAILED: ${describe(error)}`);
  }
}

let server: SignalingServer | null = null;
let pool: BenchChild[] = [];
try {
  if (ctx.bundled) log(`bundled the bench children in ${(await buildChildren()).toFixed(0)} ms (--bundle: plain node, no tsx)`);
  await scenario('placement', () => runPlacement(ctx));
  await scenario('local', () => runLocal(ctx));
  await scenario('memory', () => runMemory(ctx));
  await scenario('store', () => runStore(ctx));

  const poolSize = selected.has('formation')
    ? 10
    : selected.has('remote')
      ? 4
      : selected.has('replicas')
        ? 3
        : selected.has('raw')
          ? 2
          : selected.has('browser')
            ? 1
            : 0;
  if (poolSize > 0) {
    const t0 = performance.now();
    const { script, plain } = childScript('peer', ctx.bundled);
    pool = Array.from({ length: poolSize }, (_, i) => BenchChild.spawn(`peer${i}`, script, { nodeArgs: ctx.childNodeArgs, plain }));
    await Promise.all(pool.map((p) => p.ready));
    log(`spawned ${poolSize} bench peer processes in ${(performance.now() - t0).toFixed(0)} ms`);
  }
  // scale meshes its own peers, and only in full runs.
  if (selected.has('remote') || selected.has('replicas') || selected.has('formation') || (selected.has('scale') && !quick)) {
    server = await createSignalingServer({ port: 0, host: '127.0.0.1' });
  }
  await scenario('raw', () => runRaw(ctx, pool[0]!, pool[1]!));
  await scenario('remote', () => runRemote(ctx, pool, server!.url));
  await scenario('replicas', () => runReplicas(ctx, pool, server!.url));
  await scenario('formation', () => runFormation(ctx, pool.slice(0, 10), server!.url));
  if (pool.length > 1) {
    // Only one peer is needed from here on: fewer idle processes on a 2-core machine.
    await Promise.all(pool.slice(1).map((p) => p.stop()));
    pool = pool.slice(0, 1);
  }
  await scenario('browser', () => runBrowser(ctx, pool[0]!));
  // Last: it is the longest, and with everything selected a --quick run may reach the watchdog before it.
  await scenario('scale', () => runScale(ctx, server?.url ?? null));
} finally {
  await Promise.all(pool.map((p) => p.stop(values['cpu-prof'] ? 15_000 : 2000)));
  killAllChildren();
  await server?.close().catch(() => undefined);
}

// ------------------------------------------------------------------------------------------ report
const rows: Row[] = [];
const targets: Target[] = [];
for (const name of ALL) {
  const o = outcomes[name];
  if (!o) continue;
  rows.push(...(o.rows ?? []));
  targets.push(...(o.targets ?? []));
}

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

const machine = {
  nproc: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
};
const loadAtEnd = loadavg();
// The bench itself keeps about 1-2 cores busy; much more than that means something else ran alongside.
const busy = Math.max(loadAtStart[0]!, loadAtEnd[0]!) > machine.nproc + 1;
console.log('');
console.log(
  `rtc-mesh bench${quick ? ' (--quick)' : ''}${ctx.bundled ? ' (--bundle: children are esbuild bundles on plain node)' : ' (children run through tsx)'}: node ${machine.node}, ${machine.nproc} x ${machine.cpu}`,
);
console.log(`load average (1 min) at start ${loadAtStart[0]!.toFixed(2)}, at end ${loadAtEnd[0]!.toFixed(2)}`);
if (busy)
  console.log('WARNING: the machine was busy with other work during this run; figures are lower and noisier than on a quiet machine');
let section = '';
const body: string[][] = [];
for (const r of rows) {
  if (r.section !== section) {
    section = r.section;
    body.push([`## ${section}`, '', '', '', '']);
  }
  body.push([r.name, r.value, r.baseline, r.ratio === null ? '' : `${r.ratio.toFixed(2)}x`, r.note ?? '']);
}
console.log(table(['scenario', 'result', 'baseline', 'ratio', 'note'], body));
for (const name of ALL) {
  const o = outcomes[name];
  if (o?.error) console.log(`!! ${name} FAILED: ${o.error}`);
  if (o?.skipped) console.log(`-- ${name} skipped: ${o.skipped}`);
}
console.log('');
console.log(
  table(
    ['target (issues 7, 14, 15)', 'measured', 'goal', ''],
    targets.map((t) => [t.name, t.measured, t.goal, t.pass === null ? 'n/a' : t.pass ? 'PASS' : 'MISS']),
  ),
);
const missed = targets.filter((t) => t.pass === false).length;
console.log(
  `\n${targets.length - missed} of ${targets.length} targets met; seed (Elixir) figures: ${JSON.stringify(SEED)}; seed README claims ${SEED_README.creationsPerSec / 1000}k creations/s, ${SEED_README.callsPerSec / 1000}k req/s`,
);

const outFile = values.out ?? join(BENCH_DIR, 'results', 'latest.json');
await mkdir(join(outFile, '..'), { recursive: true });
const json = {
  meta: {
    date: new Date().toISOString(),
    bundled: ctx.bundled,
    loadavg: { start: loadAtStart, end: loadAtEnd, busy },
    quick,
    only: [...selected],
    argv: process.argv.slice(2),
    machine,
    totalMs: performance.now() - started,
  },
  seed: SEED,
  seedReadme: SEED_README,
  targets,
  rows,
  scenarios: outcomes,
};
await writeFile(outFile, `${JSON.stringify(json, null, 2)}\n`);
console.log(`wrote ${outFile} (${((performance.now() - started) / 1000).toFixed(1)} s in all)`);
clearTimeout(watchdog);
const failed = Object.values(outcomes).some((o) => o?.error);
process.exit(failed ? 1 : 0);
