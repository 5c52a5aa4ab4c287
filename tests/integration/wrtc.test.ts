/**
 * The alternative Node binding: a @roamhq/wrtc peer (in a child process, so a native crash cannot take the
 * test runner down) and a node-datachannel peer (in this process) join one room and call each other.
 * @roamhq/wrtc has no bindAddress option: it offers its host candidates, which reach the loopback-bound
 * node-datachannel peer on this machine.
 */
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, idsOwnedBy, spawnPeer, startPeer, startServer, uniqueRoom, waitForViews } from './helpers.js';

afterEach(cleanup, 30_000);

const wrtcInstalled = (() => {
  try {
    createRequire(import.meta.url).resolve('@roamhq/wrtc');
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!wrtcInstalled)("binding '@roamhq/wrtc'", () => {
  // The peer with the smaller id initiates the connection; both roles are exercised for each binding.
  it.each([
    { initiator: 'node-datachannel', ndcId: 'a-ndc', wrtcId: 'b-wrtc' },
    { initiator: '@roamhq/wrtc', ndcId: 'b-ndc', wrtcId: 'a-wrtc' },
  ])(
    'joins a mesh with a node-datachannel peer ($initiator initiates); each calls actors owned by the other',
    async ({ ndcId, wrtcId }) => {
      const server = await startServer();
      const room = uniqueRoom('wrtc');
      const base = { signal: server.url, room, capabilities: ['game'] };
      const [ndc, wrtc] = await Promise.all([
        startPeer({ ...base, peerId: ndcId }),
        spawnPeer('proc-wrtc', { ...base, peerId: wrtcId, binding: '@roamhq/wrtc' }),
      ]);
      await waitForViews([ndc, wrtc], [ndc, wrtc], 20_000);

      // node-datachannel -> @roamhq/wrtc, several calls on one activation.
      const [onWrtc] = idsOwnedBy(ndc, wrtc.peerId, 'game', 1, 'w-');
      for (let i = 1; i <= 3; i++) {
        const r = await ndc.call({
          actor: 'GameActor',
          id: onWrtc!,
          capability: 'game',
          payload: { action: 'increment_score' },
          timeoutMs: 10_000,
        });
        expect(r).toMatchObject({ peer: wrtc.peerId, result: i });
      }
      // @roamhq/wrtc -> node-datachannel, and to the actor on itself, which the other peer created.
      const [onNdc] = idsOwnedBy(ndc, ndc.peerId, 'game', 1, 'n-');
      const back = await wrtc.call({
        actor: 'GameActor',
        id: onNdc!,
        capability: 'game',
        payload: { action: 'increment_score' },
        timeoutMs: 10_000,
      });
      expect(back).toMatchObject({ peer: ndc.peerId, result: 1 });
      const same = await wrtc.call({
        actor: 'GameActor',
        id: onWrtc!,
        capability: 'game',
        payload: { action: 'increment_score' },
        timeoutMs: 10_000,
      });
      expect(same).toMatchObject({ peer: wrtc.peerId, result: 4 });

      // A chunked message (256 KiB) crosses the binding boundary intact.
      const text = 'wrtc'.repeat(64 * 1024);
      const echoed = await ndc.call<string>({ actor: 'EchoActor', id: onWrtc!, capability: 'game', payload: text, timeoutMs: 10_000 });
      expect(echoed.peer).toBe(wrtc.peerId);
      expect(echoed.result === text, '256 KiB echo through the @roamhq/wrtc peer').toBe(true);
    },
    60_000,
  );
});
