import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const repoRoot = fileURLToPath(new URL('.', import.meta.url));

/**
 * The demo page: `vite` (dev server) or `vite build` -> dist/demo, which `npm start` (demo/server/)
 * serves next to the signaling server. The demo server and the e2e setup pass `build.outDir` to build
 * elsewhere.
 */
export default defineConfig({
  root: `${repoRoot}demo`,
  base: './',
  // Nothing to copy: the page has no public/ assets.
  publicDir: false,
  clearScreen: false,
  build: {
    outDir: `${repoRoot}dist/demo`,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // The page is one small app; a single chunk keeps the served file list obvious.
    chunkSizeWarningLimit: 1024,
  },
});
