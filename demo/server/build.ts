/** Where the repository and the demo's build live, and the vite build of the page. */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DEFAULT_DIST_DIR = join(REPO_ROOT, 'dist', 'demo');

/** Builds the demo with vite.config.ts into `outDir`. */
export async function buildDemo(outDir: string = DEFAULT_DIST_DIR, logLevel: 'info' | 'warn' | 'silent' = 'warn'): Promise<void> {
  const { build } = await import('vite');
  await build({
    configFile: join(REPO_ROOT, 'vite.config.ts'),
    logLevel,
    build: { outDir: resolve(outDir), emptyOutDir: true },
  });
}
