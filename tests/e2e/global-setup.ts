import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDemo } from '../../demo/server/build.js';

/**
 * Builds the demo page once, into a temporary directory that the workers serve (RTC_MESH_E2E_DIST; set it
 * yourself to reuse an existing build while iterating). Returns the teardown that removes it.
 */
export default async function globalSetup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env['RTC_MESH_E2E_DIST']) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'rtc-mesh-e2e-'));
  const outDir = join(dir, 'demo');
  await buildDemo(outDir, 'warn');
  process.env['RTC_MESH_E2E_DIST'] = outDir;
  return async () => {
    await rm(dir, { recursive: true, force: true });
  };
}
