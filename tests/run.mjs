#!/usr/bin/env node
// `npm test`: provisions system packages, typechecks, lints (formatting included), runs the unit + integration suites (vitest) and the
// browser suite (Playwright), then prints one closing line "N passed, N failed, N skipped" over all of them.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = (name) => join('node_modules', '.bin', name);
const out = mkdtempSync(join(tmpdir(), 'rtc-mesh-test-'));
const totals = { passed: 0, failed: 0, skipped: 0 };
let ok = true;

function step(title, command, args, env = {}) {
  console.log(`\n=== ${title}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.status !== 0) ok = false;
  return result.status === 0;
}

if (!step('provision', process.execPath, ['tests/provision.mjs'])) {
  console.log('\n0 passed, 1 failed');
  process.exit(1);
}
step('typecheck', bin('tsc'), ['-p', 'tsconfig.json', '--noEmit']);
step('lint and format (biome)', bin('biome'), ['ci', '.']);

const vitestJson = join(out, 'vitest.json');
step('unit + integration (vitest)', bin('vitest'), [
  'run',
  '--config',
  'tests/vitest.config.ts',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${vitestJson}`,
]);
if (existsSync(vitestJson)) {
  const report = JSON.parse(readFileSync(vitestJson, 'utf8'));
  totals.passed += report.numPassedTests ?? 0;
  totals.failed += report.numFailedTests ?? 0;
  totals.skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
} else ok = false;

const playwrightJson = join(out, 'playwright.json');
step('browser (playwright)', bin('playwright'), ['test', '--config', 'tests/e2e/playwright.config.ts', '--reporter=list,json'], {
  PLAYWRIGHT_JSON_OUTPUT_NAME: playwrightJson,
});
if (existsSync(playwrightJson)) {
  const stats = JSON.parse(readFileSync(playwrightJson, 'utf8')).stats ?? {};
  totals.passed += (stats.expected ?? 0) + (stats.flaky ?? 0);
  totals.failed += stats.unexpected ?? 0;
  totals.skipped += stats.skipped ?? 0;
} else ok = false;

if (!ok && totals.failed === 0) totals.failed = 1; // a step failed outside any test (typecheck, crash)
console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(ok && totals.failed === 0 ? 0 : 1);
