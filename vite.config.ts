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
  resolve: {
    // The same cbor-x without its eval-compiled record readers (the frames use no records): the demo server's
    // CSP has no 'unsafe-eval', and cbor-x probes for eval at load time even when it would not use it.
    alias: [{ find: /^cbor-x$/, replacement: 'cbor-x/index-no-eval' }],
  },
  build: {
    outDir: `${repoRoot}dist/demo`,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // The page is one small app; a single chunk keeps the served file list obvious.
    chunkSizeWarningLimit: 1024,
  },
});
