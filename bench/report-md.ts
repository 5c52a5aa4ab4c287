/**
 * Renders a bench result (bench/results/latest.json by default) as Markdown tables, for docs/benchmarks.md:
 *   npx tsx bench/report-md.ts [file.json]
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BENCH_DIR } from './lib/proc.js';
import type { Row, Target } from './scenarios/common.js';

interface Result {
  meta: {
    date: string;
    quick: boolean;
    bundled?: boolean;
    machine: { nproc: number; cpu: string; node: string };
    loadavg?: { start: number[]; end: number[]; busy: boolean };
    totalMs: number;
  };
  rows: Row[];
  targets: Target[];
  scenarios: Record<string, { error?: string; skipped?: string; ms: number }>;
}

const file = process.argv[2] ?? join(BENCH_DIR, 'results', 'latest.json');
const r = JSON.parse(await readFile(file, 'utf8')) as Result;
const esc = (s: string): string => s.replace(/\|/g, '\\|');
const out: string[] = [];
const m = r.meta;
out.push(
  `Run of ${m.date}${m.quick ? ' (--quick)' : ''}${m.bundled ? ' (--bundle)' : ''}: node ${m.machine.node}, ${m.machine.nproc} x ${m.machine.cpu}, ` +
    `${(m.totalMs / 1000).toFixed(0)} s in all` +
    (m.loadavg ? `; load average (1 min) ${m.loadavg.start[0]!.toFixed(2)} at start, ${m.loadavg.end[0]!.toFixed(2)} at end` : '') +
    '.',
  '',
);
let section = '';
for (const row of r.rows) {
  if (row.section !== section) {
    section = row.section;
    out.push('', `**${esc(section)}**`, '', '| scenario | result | baseline | ratio | note |', '| --- | --- | --- | --- | --- |');
  }
  out.push(
    `| ${esc(row.name.trim())} | ${esc(row.value)} | ${esc(row.baseline)} | ${row.ratio === null ? '' : `${row.ratio.toFixed(2)}x`} | ${esc(row.note ?? '')} |`,
  );
}
for (const [name, s] of Object.entries(r.scenarios)) {
  if (s.error) out.push('', `Scenario ${name} FAILED: ${esc(s.error)}`);
  if (s.skipped) out.push('', `Scenario ${name} skipped: ${esc(s.skipped)}`);
}
out.push('', '| target (issues 7, 14, 15) | measured | goal | |', '| --- | --- | --- | --- |');
for (const t of r.targets)
  out.push(`| ${esc(t.name)} | ${esc(t.measured)} | ${esc(t.goal)} | ${t.pass === null ? 'n/a' : t.pass ? 'PASS' : '**MISS**'} |`);
console.log(out.join('\n'));
