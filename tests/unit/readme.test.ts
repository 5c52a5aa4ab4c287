import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

/** The README's quickstart block, exactly as a user would copy it. */
function quickstart(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const match = /<!-- quickstart:start -->\s*```ts\n([\s\S]*?)```\s*<!-- quickstart:end -->/.exec(readme);
  if (!match?.[1]) throw new Error('README.md has no quickstart block between the markers');
  return match[1];
}

describe('README quickstart', () => {
  it('runs as written and prints what the seed quickstart prints', () => {
    const dir = join(root, 'tests', '.tmp');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'quickstart.mts');
    writeFileSync(file, quickstart());
    // `rtc-mesh/node` resolves to this package itself (package.json "exports"), from source.
    const run = spawnSync(process.execPath, ['--conditions=rtc-mesh-source', '--import', 'tsx', file], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Score: 1, activation: \S+#1$/);
    expect(lines[1]).toMatch(/^Score: 2, activation: \S+#1 \(same: true\)$/);
    expect(lines[2]).toBe('Level: 2');
    expect(lines[3]).toBe('Stats: { score: 2, level: 2 }');
    expect(lines.slice(4, 9)).toEqual(['Player 1: 1', 'Player 2: 1', 'Player 3: 1', 'Player 4: 1', 'Player 5: 1']);
    expect(lines[9]).toMatch(/^player_123 is on shard \d+, owned by [0-9a-z]{16}$/);
  });
});
