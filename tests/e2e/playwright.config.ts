import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../chromium.js';
import { fileURLToPath } from 'node:url';
import { defineConfig } from '@playwright/test';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/**
 * Browser suite: real Chromium tabs and headless Node peers in one WebRTC mesh. globalSetup builds the demo
 * once; each worker serves it with its own signaling server on a free port; each test uses its own room.
 * Uses Debian's Chromium (tests/provision.mjs installs it); no browser is downloaded.
 */
export default defineConfig({
  testDir: here('.'),
  testMatch: '**/*.spec.ts',
  outputDir: here('../../test-results/e2e'),
  globalSetup: here('./global-setup.ts'),
  // The tabs of a test talk to each other over WebRTC; parallel workers would only compete for 2 CPUs.
  workers: 1,
  fullyParallel: false,
  timeout: 120_000,
  expect: { timeout: 30_000 },
  forbidOnly: !!process.env['CI'],
  retries: 0,
  reporter: process.env['CI'] ? [['list'], ['html', { open: 'never', outputFolder: here('../../playwright-report') }]] : 'list',
  use: {
    viewport: { width: 1440, height: 900 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: CHROMIUM_PATH,
      args: [...CHROMIUM_ARGS],
    },
  },
});
