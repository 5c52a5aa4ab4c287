/**
 * Signed identities in real Chromium tabs and a Node peer: the demo server signs each peer's identity
 * (Ed25519, checked by every peer in its neighbours' hellos), grants browsers fewer capabilities than Node
 * peers, and renews tokens while peers stay; a tab asking for a capability not granted is refused, and a
 * tab whose token is not renewed is dropped by the others when it expires.
 */
import { generateKeyPairSync } from 'node:crypto';
import { startDemoServer, type DemoServer } from '../../demo/server/demo-server.js';
import { expect, test as base, tabPeerIds } from './fixtures.js';

const DOOMED = 'tab-doomed';

const test = base.extend<object, { demoServer: DemoServer }>({
  demoServer: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const distDir = process.env['RTC_MESH_E2E_DIST'];
      if (!distDir) throw new Error('RTC_MESH_E2E_DIST is not set: run through the Playwright config');
      const privateKey = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      const server = await startDemoServer({
        port: 0,
        host: '127.0.0.1',
        build: false,
        distDir,
        log: () => undefined,
        signaling: {
          // Short-lived tokens, renewed at 2/3 of their life: the test sees renewals and one expiry.
          identity: { privateKey, ttlMs: 6000 },
          grants: { browser: ['game', 'chat'], node: ['game', 'chat', 'payment'] },
          // The doomed tab's renewals are refused, so its token runs out.
          authorize: (request) => !(request.reason === 'refresh' && request.peerId === DOOMED),
        },
      });
      await use(server);
      await server.close();
    },
    { scope: 'worker' },
  ],
});

test('tabs and a Node peer form a mesh of signed identities; a refused capability claim and an expired token keep peers out', async ({
  mesh,
  browser,
}) => {
  const a = await mesh.openTab('tab A', { capabilities: ['game', 'chat'] });
  const b = await mesh.openTab('tab B', { capabilities: ['game'] });
  const node = await mesh.startNodePeer('node', { capabilities: ['game', 'payment'] });
  await mesh.waitForMesh();
  // Calls cross the mesh between tabs and the Node peer, signed hellos and all.
  const owners = await a.page.evaluate(async () => {
    const r = window.rtcMesh!;
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++)
      seen.add(
        (await r.mesh.call({ actor: 'GameActor', id: `signed_${i}`, capability: 'game', payload: { action: 'increment_score' } })).peer,
      );
    return [...seen].sort();
  });
  expect(owners).toEqual([a.peerId, b.peerId, node.peerId].sort());

  // A tab asking for payment, which browsers are not granted, is refused before it joins anyone's view.
  const greedy = await (await browser.newContext()).newPage();
  await greedy.goto(`${mesh.server.origin}/?room=${encodeURIComponent(mesh.room)}&caps=game,payment`);
  await expect(greedy.locator('body')).toHaveAttribute('data-state', 'error');
  expect(await greedy.evaluate(() => window.rtcMeshError)).toMatch(/"payment" is not granted/);

  // Tokens live 6 s and renew at 4 s. By the time the doomed tab's token runs out, the first tokens of the
  // others have expired too: they are still together only because their renewals reached every peer.
  const doomed = await mesh.openTab('doomed tab', { capabilities: ['game'], peerId: DOOMED });
  const everyone = [a.peerId, b.peerId, node.peerId, DOOMED].sort();
  await expect.poll(() => tabPeerIds(a), { timeout: 45_000 }).toEqual(everyone);
  // The doomed tab's renewal is refused: once its token expires, every other peer drops it.
  await expect
    .poll(() => tabPeerIds(a), { timeout: 20_000, message: 'tab A drops the tab whose token expired' })
    .toEqual([a.peerId, b.peerId, node.peerId].sort());
  await expect.poll(() => tabPeerIds(b), { timeout: 10_000 }).toEqual([a.peerId, b.peerId, node.peerId].sort());
  // Each peer drops it at its own check of the token's expiry: the Node peer may be a moment behind the tabs.
  await expect.poll(() => node.peerIds(), { timeout: 10_000 }).toEqual([a.peerId, b.peerId, node.peerId].sort());
  void doomed;
});
