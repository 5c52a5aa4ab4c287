/**
 * `--bundle`: the bench's child scripts as esbuild bundles run by plain node, without tsx. tsx compiles
 * with esbuild's keepNames, which wraps every named closure in a `__name(fn, "name")` call that runs
 * Object.defineProperty each time the closure is created (per call, on the hot paths); the shipped
 * package (tsc build, dist/) has no such wrapper. Packages stay external, as for a dist/ consumer.
 */
import { join } from 'node:path';
import { BENCH_DIR } from './proc.js';

export const BUNDLE_DIR = join(BENCH_DIR, 'results', 'build');
export type ChildScript = 'local' | 'memory' | 'peer' | 'store' | 'scale';

export async function buildChildren(): Promise<number> {
  const { build } = await import('esbuild');
  const t0 = performance.now();
  await build({
    entryPoints: (['local', 'memory', 'peer', 'store', 'scale'] as const).map((n) => join(BENCH_DIR, 'peers', `${n}.ts`)),
    outdir: BUNDLE_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'external',
    logLevel: 'warning',
  });
  return performance.now() - t0;
}

/** Script path and spawn mode of a child, tsx (default) or bundled. */
export function childScript(name: ChildScript, bundled: boolean): { script: string; plain: boolean } {
  return bundled ? { script: join(BUNDLE_DIR, `${name}.mjs`), plain: true } : { script: `peers/${name}.ts`, plain: false };
}
