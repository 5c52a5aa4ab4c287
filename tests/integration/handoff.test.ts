/**
 * State handoff over real WebRTC: a join that moves a scored player keeps its score; the crash of an old
 * owner gives a fresh actor and a `handoff-lost` event, never a hang.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Mesh } from '../../client/node.js';
import { rendezvous, type MeshEvents } from '../../shared/index.js';
import { cleanup, spawnPeer, startPeer, startPeers, startServer, uniqueRoom } from './helpers.js';
import { until } from '../fixtures/wait.js';

afterEach(cleanup);

const game = (action: string, id: string) => ({ actor: 'GameActor', id, capability: 'game', payload: { action } });

/** An id whose rendezvous owner among `peers` is `owner`. */
function idOwnedAmong(mesh: Mesh, peers: readonly string[], owner: string, prefix: string): string {
  const sorted = [...peers].sort();
  for (let i = 0; i < 100_000; i++) {
    const id = `${prefix}${i}`;
    if (rendezvous.owner(mesh.shardFor(id), 'game', sorted) === owner) return id;
  }
  throw new Error(`no id owned by ${owner}`);
}

describe('handoff over WebRTC', () => {
  it('a peer joining takes a scored player with its score and level intact', async () => {
    const server = await startServer();
    const room = uniqueRoom('handoff');
    const [a, b] = await startPeers(2, { signal: server.url, room, capabilities: ['game'] });
    await until(() => a.peers().length === 2 && b.peers().length === 2, 'a and b to see each other', { timeoutMs: 15_000 });
    const joinerId = 'zz-joiner-handoff';
    const player = idOwnedAmong(a, [a.peerId, b.peerId, joinerId], joinerId, 'player_');
    for (let k = 0; k < 5; k++) await a.call(game('increment_score', player));
    await a.call(game('level_up', player));
    const oldOwner = (await a.call(game('get_stats', player))).peer;
    const old = oldOwner === a.peerId ? a : b;
    const sent: MeshEvents['handoff'][] = [];
    old.on('handoff', (e) => sent.push(e));

    const joiner = await startPeer({ signal: server.url, room, capabilities: ['game'], peerId: joinerId });
    const received: MeshEvents['handoff'][] = [];
    const lost: MeshEvents['handoff-lost'][] = [];
    joiner.on('handoff', (e) => received.push(e));
    joiner.on('handoff-lost', (e) => lost.push(e));
    await until(() => [a, b, joiner].every((m) => m.peers().length === 3), 'the three views to converge', { timeoutMs: 15_000 });

    const next = await a.call(game('increment_score', player));
    expect(next.peer).toBe(joinerId);
    expect(next.result).toBe(6);
    expect((await b.call(game('get_stats', player))).result).toEqual({ score: 6, level: 2 });
    expect(sent.some((e) => e.direction === 'sent' && e.id === player && e.peer === joinerId)).toBe(true);
    expect(received.some((e) => e.direction === 'received' && e.id === player && e.peer === oldOwner)).toBe(true);
    expect(lost).toEqual([]);
    expect(joiner.stats().handoffs.received).toBeGreaterThanOrEqual(1);
    expect(old.activations().some((x) => x.id === player)).toBe(false);
  }, 60_000);

  it('without copies (replicas: 0), the old owner crashing: the new owner starts the player fresh and says so with handoff-lost', async () => {
    const server = await startServer();
    const room = uniqueRoom('handoff-crash');
    const [a, b] = await startPeers(2, {
      signal: server.url,
      room,
      capabilities: ['game'],
      heartbeatMs: 250,
      peerTimeoutMs: 2000,
      replicas: 0,
    });
    const child = await spawnPeer('doomed', { signal: server.url, room, capabilities: ['game'], replicas: 0 });
    const doomed = await child.ready();
    await until(() => a.peers().length === 3 && b.peers().length === 3, 'a and b to see the child peer', { timeoutMs: 15_000 });
    const player = idOwnedAmong(a, [a.peerId, b.peerId, doomed], doomed, 'crash_');
    for (let k = 0; k < 5; k++) expect((await a.call(game('increment_score', player))).peer).toBe(doomed);
    const lost: MeshEvents['handoff-lost'][] = [];
    a.on('handoff-lost', (e) => lost.push(e));
    b.on('handoff-lost', (e) => lost.push(e));

    child.kill('SIGKILL');
    await until(() => a.peers().length === 2 && b.peers().length === 2, 'the killed peer to leave both views', { timeoutMs: 15_000 });
    const fresh = await a.call(game('increment_score', player));
    expect([a.peerId, b.peerId]).toContain(fresh.peer);
    expect(fresh.result).toBe(1);
    expect(lost).toEqual([expect.objectContaining({ id: player, actor: 'GameActor', capability: 'game', from: doomed })]);
    const newOwner = fresh.peer === a.peerId ? a : b;
    expect(newOwner.stats().handoffs.fresh).toBe(1);
  }, 60_000);

  it('with a copy (the default), the old owner crashing: the next owner goes on from its copy, score intact, no handoff-lost', async () => {
    const server = await startServer();
    const room = uniqueRoom('replica-crash');
    const [a, b] = await startPeers(2, { signal: server.url, room, capabilities: ['game'], heartbeatMs: 250, peerTimeoutMs: 2000 });
    const child = await spawnPeer('doomed', { signal: server.url, room, capabilities: ['game'] });
    const doomed = await child.ready();
    await until(() => a.peers().length === 3 && b.peers().length === 3, 'a and b to see the child peer', { timeoutMs: 15_000 });
    const player = idOwnedAmong(a, [a.peerId, b.peerId, doomed], doomed, 'copy_');
    for (let k = 0; k < 5; k++) expect((await a.call(game('increment_score', player))).peer).toBe(doomed);
    const lost: MeshEvents['handoff-lost'][] = [];
    const promoted: MeshEvents['replica-promoted'][] = [];
    for (const m of [a, b]) {
      m.on('handoff-lost', (e) => lost.push(e));
      m.on('replica-promoted', (e) => promoted.push(e));
    }

    child.kill('SIGKILL');
    await until(() => a.peers().length === 2 && b.peers().length === 2, 'the killed peer to leave both views', { timeoutMs: 15_000 });
    const next = await a.call(game('increment_score', player));
    expect([a.peerId, b.peerId]).toContain(next.peer);
    expect(next.result).toBe(6);
    expect(lost).toEqual([]);
    expect(promoted).toEqual([expect.objectContaining({ id: player, actor: 'GameActor', capability: 'game', from: doomed })]);
  }, 60_000);
});
