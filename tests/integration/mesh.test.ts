/**
 * The Mesh contract over real WebRTC (node-datachannel on 127.0.0.1) with a real signaling server:
 * placement agreement, single activation per id, capability isolation, rebalancing on join, and a
 * formation-time sanity check. Some peers run in child processes (fixtures/peer-process.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Mesh } from '../../client/node.js';
import type { ActivationInfo, CallResult, DeactivateReason } from '../../shared/index.js';
import {
  activationsOf,
  callOn,
  cleanup,
  idsOwnedBy,
  ownerOf,
  settle,
  shardOwners,
  spawnPeer,
  startPeer,
  startPeers,
  startServer,
  uniqueRoom,
  waitForViews,
  type AnyPeer,
} from './helpers.js';
import { until } from '../fixtures/wait.js';

afterEach(cleanup, 30_000);

/** 10,000 ids of several shapes, non-ASCII included: every peer must hash them identically. */
function manyIds(): string[] {
  return Array.from({ length: 10_000 }, (_, i) => {
    switch (i % 5) {
      case 0:
        return `player_${i}`;
      case 1:
        return `room:${i.toString(36)}`;
      case 2:
        return `joueur-é-${i}`;
      case 3:
        return `玩家${i}🎮`;
      default:
        return `${i}`;
    }
  });
}

function firstMismatch(a: readonly (string | null)[], b: readonly (string | null)[], ids: readonly string[]): string {
  const i = a.findIndex((owner, k) => owner !== b[k]);
  return i < 0 ? 'none' : `id ${JSON.stringify(ids[i])}: ${String(a[i])} vs ${String(b[i])}`;
}

describe('a 4-peer WebRTC mesh (2 peers in child processes)', () => {
  it('agrees on the owner of 10,000 ids for every capability, and routes every caller to one activation at the owner', async () => {
    const server = await startServer();
    const room = uniqueRoom('placement');
    const base = { signal: server.url, room };
    const caps: Record<string, string[]> = {};
    const [[a, b], [c, d]] = await Promise.all([
      startPeers(2, (i) => ({ ...base, capabilities: i === 0 ? ['game', 'chat'] : ['game', 'chat', 'pay'] })),
      Promise.all([
        spawnPeer('proc-c', { ...base, capabilities: ['game', 'pay'] }),
        spawnPeer('proc-d', { ...base, capabilities: ['game', 'chat'] }),
      ]),
    ]);
    caps[a.peerId] = ['chat', 'game'];
    caps[b.peerId] = ['chat', 'game', 'pay'];
    caps[c.peerId] = ['game', 'pay'];
    caps[d.peerId] = ['chat', 'game'];
    const all: AnyPeer[] = [a, b, c, d];
    await waitForViews(all, all, 20_000, caps);

    // ---- placement agreement
    const ids = manyIds();
    const capabilities = ['game', 'chat', 'pay'];
    const holders: Record<string, string[]> = {
      game: [a, b, c, d].map((p) => p.peerId),
      chat: [a.peerId, b.peerId, d.peerId],
      pay: [b.peerId, c.peerId],
    };
    const local = (mesh: Mesh): Record<string, (string | null)[]> =>
      Object.fromEntries(capabilities.map((cap) => [cap, ids.map((id) => ownerOf(mesh, id, cap) ?? null)]));
    const fromA = local(a);
    const fromB = local(b);
    const [fromC, fromD] = await Promise.all([c.owners(ids, capabilities), d.owners(ids, capabilities)]);
    expect(fromC.shards).toEqual(ids.map((id) => a.shardFor(id)));
    expect(fromD.shards).toEqual(fromC.shards);
    for (const cap of capabilities) {
      const reference = fromA[cap]!;
      for (const [name, other] of [
        ['B', fromB[cap]!],
        ['C (child process)', fromC.owners[cap]!],
        ['D (child process)', fromD.owners[cap]!],
      ] as const) {
        const differing = reference.filter((owner, i) => owner !== other[i]).length;
        expect(
          differing,
          `${name} disagrees with A on ${differing} owners for ${cap}; first: ${firstMismatch(reference, other, ids)}`,
        ).toBe(0);
      }
      // Owners are holders of the capability, and each holder gets a fair share.
      const counts = new Map<string, number>();
      for (const owner of reference) {
        expect(owner !== null && holders[cap]!.includes(owner), `owner ${String(owner)} of a ${cap} id lacks ${cap}`).toBe(true);
        counts.set(owner!, (counts.get(owner!) ?? 0) + 1);
      }
      const fairShare = ids.length / holders[cap]!.length;
      for (const peer of holders[cap]!) {
        expect(counts.get(peer) ?? 0, `${peer}'s share of ${cap} ids`).toBeGreaterThan(fairShare * 0.7);
      }
    }

    // The whole shard table too, not just the shards these ids hit.
    for (const cap of capabilities) {
      expect(await c.shardOwners(cap), `C's owner of each of the 4096 ${cap} shards`).toEqual(shardOwners(a, cap));
    }

    // ---- calls from every peer land on the owner and reuse one activation
    type Case = { actor: string; capability: string; id: string; owner: string; payload: unknown; initArg?: unknown };
    const cases: Case[] = [];
    for (const owner of holders['game']!) {
      for (const id of idsOwnedBy(a, owner, 'game', 2, 'seq-player-')) {
        cases.push({ actor: 'GameActor', capability: 'game', id, owner, payload: { action: 'increment_score' } });
      }
    }
    for (const owner of holders['chat']!) {
      const [id] = idsOwnedBy(a, owner, 'chat', 1, 'seq-room-');
      cases.push({ actor: 'ChatRoomActor', capability: 'chat', id: id!, owner, payload: { action: 'post', text: 'hi' } });
    }
    for (const owner of holders['pay']!) {
      const [id] = idsOwnedBy(a, owner, 'pay', 1, 'seq-account-');
      cases.push({
        actor: 'PaymentActor',
        capability: 'pay',
        id: id!,
        owner,
        payload: { action: 'charge', amount: 10 },
        initArg: { balance: 100 },
      });
    }
    for (const c0 of cases) {
      const results: CallResult[] = [];
      for (const caller of all) {
        results.push(
          await callOn(caller, {
            actor: c0.actor,
            capability: c0.capability,
            id: c0.id,
            payload: c0.payload,
            ...(c0.initArg !== undefined ? { initArg: c0.initArg } : {}),
            timeoutMs: 10_000,
          }),
        );
      }
      const where = `${c0.actor}(${c0.id}) owned by ${c0.owner}`;
      expect(
        results.map((r) => r.peer),
        `${where}: peers that ran the calls`,
      ).toEqual(all.map(() => c0.owner));
      expect(new Set(results.map((r) => r.activation)).size, `${where}: activations ${results.map((r) => r.activation).join(', ')}`).toBe(
        1,
      );
      expect(results[0]!.activation.startsWith(`${c0.owner}#`), `${where}: activation ${results[0]!.activation}`).toBe(true);
      // State carries across callers: one instance saw every call, in order.
      const values = results.map((r) => r.result);
      if (c0.actor === 'GameActor') expect(values, where).toEqual([1, 2, 3, 4]);
      if (c0.actor === 'ChatRoomActor')
        expect(
          values.map((v) => (v as { count: number }).count),
          where,
        ).toEqual([1, 2, 3, 4]);
      if (c0.actor === 'PaymentActor') expect(values, `${where}: initArg applies once, balance carries`).toEqual([90, 80, 70, 60]);
    }

    // A cast from a child process reaches the same activation (GameActor's 'reset' cast zeroes the score).
    const gameCase = cases.find((c0) => c0.actor === 'GameActor' && c0.owner === a.peerId)!;
    const before = await a.call<{ score: number }>({
      actor: 'GameActor',
      id: gameCase.id,
      capability: 'game',
      payload: { action: 'get_stats' },
    });
    expect(before.result.score).toBe(4);
    await d.cast({ actor: 'GameActor', id: gameCase.id, capability: 'game', payload: { action: 'reset' } });
    await until(
      async () =>
        (await b.call<{ score: number }>({ actor: 'GameActor', id: gameCase.id, capability: 'game', payload: { action: 'get_stats' } }))
          .result.score === 0,
      `the cast from D to reset ${gameCase.id} on ${a.peerId}`,
      { timeoutMs: 10_000 },
    );
    expect(
      a
        .activations()
        .filter((i) => i.id === gameCase.id)
        .map((i) => i.activation),
    ).toEqual([before.activation]);

    // Concurrent first calls from all four peers still create exactly one activation.
    const racing = holders['game']!.flatMap((owner) => idsOwnedBy(a, owner, 'game', 2, 'race-player-'));
    for (const id of racing) {
      const results = await Promise.all(
        all.map((caller) =>
          callOn<number>(caller, { actor: 'GameActor', capability: 'game', id, payload: { action: 'increment_score' }, timeoutMs: 10_000 }),
        ),
      );
      expect(
        new Set(results.map((r) => r.activation)).size,
        `racing callers of ${id} hit ${results.map((r) => r.activation).join(', ')}`,
      ).toBe(1);
      expect(results.map((r) => r.result).sort(), `scores of ${id}`).toEqual([1, 2, 3, 4]);
      expect(results[0]!.peer).toBe(ownerOf(a, id, 'game'));
    }

    // Each activation exists exactly once in the mesh, on its owner.
    const hosted = await Promise.all(all.map(activationsOf));
    for (const id of [...cases.map((c0) => c0.id), ...racing]) {
      const hosts = all.filter((_, i) => hosted[i]!.some((info) => info.id === id)).map((p) => p.peerId);
      const capability = cases.find((c0) => c0.id === id)?.capability ?? 'game';
      expect(hosts, `hosts of ${id}`).toEqual([ownerOf(a, id, capability)]);
    }
  }, 90_000);

  it('keeps capabilities apart: game-only and chat-only peers never host each other’s actors, also after a capability change', async () => {
    const server = await startServer();
    const room = uniqueRoom('caps');
    const base = { signal: server.url, room };
    const [[gameA, chatX, chatY], proc] = await Promise.all([
      startPeers(3, (i) => ({ ...base, capabilities: i === 0 ? ['game'] : ['chat'] })),
      spawnPeer('proc-game', { ...base, capabilities: ['game'] }),
    ]);
    const all: AnyPeer[] = [gameA, proc, chatX, chatY];
    await waitForViews(all, all, 20_000, {
      [gameA.peerId]: ['game'],
      [proc.peerId]: ['game'],
      [chatX.peerId]: ['chat'],
      [chatY.peerId]: ['chat'],
    });

    // Every peer registers every actor type; only capabilities decide who hosts what.
    const gameIds = Array.from({ length: 120 }, (_, i) => `g-${i}`);
    const chatIds = Array.from({ length: 120 }, (_, i) => `c-${i}`);
    const callAll = async (ids: string[], actor: string, capability: string, payload: unknown): Promise<CallResult[]> => {
      const results: CallResult[] = [];
      for (let i = 0; i < ids.length; i += 12) {
        const batch = ids.slice(i, i + 12);
        results.push(
          ...(await Promise.all(
            batch.map((id, k) => callOn(all[(i + k) % all.length]!, { actor, id, capability, payload, timeoutMs: 10_000 })),
          )),
        );
      }
      return results;
    };
    const gameResults = await callAll(gameIds, 'GameActor', 'game', { action: 'increment_score' });
    const chatResults = await callAll(chatIds, 'ChatRoomActor', 'chat', { action: 'post', text: 'hello' });
    expect(new Set(gameResults.map((r) => r.peer))).toEqual(new Set([gameA.peerId, proc.peerId]));
    expect(new Set(chatResults.map((r) => r.peer))).toEqual(new Set([chatX.peerId, chatY.peerId]));

    const expectHosting = async (peer: AnyPeer, capability: string, actor: string): Promise<ActivationInfo[]> => {
      const list = await activationsOf(peer);
      const strays = list.filter((info) => info.capability !== capability || info.actor !== actor);
      expect(
        strays,
        `${peer.peerId} (only ${capability}) hosts ${strays.map((s) => `${s.actor}/${s.capability}/${s.id}`).join(', ')}`,
      ).toEqual([]);
      return list;
    };
    const gameHosted = [...(await expectHosting(gameA, 'game', 'GameActor')), ...(await expectHosting(proc, 'game', 'GameActor'))];
    const chatHosted = [...(await expectHosting(chatX, 'chat', 'ChatRoomActor')), ...(await expectHosting(chatY, 'chat', 'ChatRoomActor'))];
    expect(gameHosted.map((i) => i.id).sort()).toEqual([...gameIds].sort());
    expect(chatHosted.map((i) => i.id).sort()).toEqual([...chatIds].sort());

    // A capability nobody has fails at once, from any peer.
    await expect(
      chatX.call({ actor: 'PaymentActor', id: 'acct-1', capability: 'pay', payload: { action: 'balance' } }),
    ).rejects.toMatchObject({
      code: 'NO_PEERS_FOR_CAPABILITY',
    });
    await expect(
      proc.call({ actor: 'PaymentActor', id: 'acct-1', capability: 'pay', payload: { action: 'balance' } }),
    ).rejects.toMatchObject({
      code: 'NO_PEERS_FOR_CAPABILITY',
    });

    // The child switches from game to chat: its game actors are stopped (rebalance), and from then on it
    // hosts chat actors only.
    const procGame = (await proc.activations()).map((i) => i.key);
    expect(procGame.length).toBeGreaterThan(0);
    await proc.registerCapabilities(['chat']);
    await waitForViews(all, all, 10_000, {
      [gameA.peerId]: ['game'],
      [proc.peerId]: ['chat'],
      [chatX.peerId]: ['chat'],
      [chatY.peerId]: ['chat'],
    });
    await until(
      () => procGame.every((key) => proc.events.some((e) => e.event === 'deactivated' && e['key'] === key)),
      'the child to deactivate every game actor it hosted',
      { timeoutMs: 10_000 },
    );
    const reasons = new Set(proc.events.filter((e) => e.event === 'deactivated').map((e) => e['reason'] as DeactivateReason));
    expect(reasons).toEqual(new Set(['rebalance']));
    // No game actor is left on it (chat actors handed to it may already be active: state with copies is
    // activated when it arrives, so its backups get it at once).
    await expectHosting(proc, 'chat', 'ChatRoomActor');

    const moreGame = await callAll(
      Array.from({ length: 60 }, (_, i) => `g2-${i}`),
      'GameActor',
      'game',
      { action: 'increment_score' },
    );
    expect(new Set(moreGame.map((r) => r.peer))).toEqual(new Set([gameA.peerId]));
    // The moved game actors restart on the remaining game peer.
    const movedIds = gameResults.filter((r) => r.peer === proc.peerId).slice(0, 10);
    for (const r of movedIds) {
      const id = gameIds[gameResults.indexOf(r)]!;
      const again = await chatY.call({ actor: 'GameActor', id, capability: 'game', payload: { action: 'get_stats' } });
      expect(again.peer).toBe(gameA.peerId);
    }
    const moreChat = await callAll(
      Array.from({ length: 90 }, (_, i) => `c2-${i}`),
      'ChatRoomActor',
      'chat',
      { action: 'post', text: 'again' },
    );
    expect(new Set(moreChat.map((r) => r.peer))).toEqual(new Set([proc.peerId, chatX.peerId, chatY.peerId]));
    await expectHosting(gameA, 'game', 'GameActor');
    await expectHosting(proc, 'chat', 'ChatRoomActor');
    await expectHosting(chatX, 'chat', 'ChatRoomActor');
    await expectHosting(chatY, 'chat', 'ChatRoomActor');
  }, 90_000);

  it('rebalances on join: about 1/4 of 4096 shards move to the 4th peer, their activations stop with reason rebalance, and the next call activates on the new owner', async () => {
    const server = await startServer();
    const room = uniqueRoom('join');
    const base = { signal: server.url, room, capabilities: ['game'] };
    const first = await startPeers(3, base);
    await waitForViews(first, first, 20_000);
    const [a] = first;
    const before = shardOwners(a, 'game');

    // 300 counters spread over the three peers, each called once.
    const ids = Array.from({ length: 300 }, (_, i) => `counter-${i}`);
    const firstRun = new Map<string, CallResult<{ count: number }>>();
    for (let i = 0; i < ids.length; i += 30) {
      const batch = ids.slice(i, i + 30);
      const results = await Promise.all(
        batch.map((id, k) =>
          first[(i + k) % 3]!.call<{ count: number }>({ actor: 'CounterActor', id, capability: 'game', timeoutMs: 10_000 }),
        ),
      );
      for (const [k, id] of batch.entries()) firstRun.set(id, results[k]!);
    }
    const deactivations: { peer: string; key: string; id: string; reason: DeactivateReason; activation: string }[] = [];
    for (const mesh of first)
      mesh.on('deactivated', (e) => deactivations.push({ peer: e.peer, key: e.key, id: e.id, reason: e.reason, activation: e.activation }));

    const joiner = await startPeer(base);
    const all = [...first, joiner];
    await waitForViews(all, all, 20_000);

    const after = shardOwners(a, 'game');
    for (const mesh of [...first.slice(1), joiner]) {
      expect(shardOwners(mesh, 'game'), `${mesh.peerId}'s owner table after the join`).toEqual(after);
    }
    const moved = after.map((owner, shard) => (owner !== before[shard] ? shard : -1)).filter((s) => s >= 0);
    const fraction = moved.length / a.shardCount;
    expect(fraction, `moved ${moved.length} of ${a.shardCount} shards`).toBeGreaterThan(0.18);
    expect(fraction, `moved ${moved.length} of ${a.shardCount} shards`).toBeLessThan(0.32);
    // Rendezvous hashing: a join only takes shards, it never shuffles them among the old peers.
    expect(new Set(moved.map((s) => after[s]))).toEqual(new Set([joiner.peerId]));

    const movedIds = ids.filter((id) => ownerOf(a, id, 'game') === joiner.peerId);
    const stayingIds = ids.filter((id) => ownerOf(a, id, 'game') !== joiner.peerId);
    expect(movedIds.length, 'counters on moved shards').toBeGreaterThan(20);
    await until(
      () => movedIds.every((id) => deactivations.some((d) => d.id === id)),
      () => `old owners to stop the ${movedIds.length} moved counters; stopped ${deactivations.length}`,
      { timeoutMs: 10_000 },
    );
    for (const id of movedIds) {
      const stopped = deactivations.filter((d) => d.id === id);
      expect(stopped, `deactivations of ${id}`).toEqual([
        expect.objectContaining({ peer: firstRun.get(id)!.peer, reason: 'rebalance', activation: firstRun.get(id)!.activation }),
      ]);
    }
    // Nothing that stayed was stopped, and the old owners no longer host what moved.
    expect(deactivations.filter((d) => !movedIds.includes(d.id))).toEqual([]);
    for (const mesh of first) {
      const stray = mesh.activations().filter((info) => movedIds.includes(info.id));
      expect(
        stray.map((s) => s.id),
        `${mesh.peerId} still hosts moved counters`,
      ).toEqual([]);
    }

    // The next call for a moved id activates on the new owner (CounterActor has no snapshot: fresh state);
    // ids that stayed keep their activation and state. Called from every peer, old and new.
    for (const [i, id] of movedIds.entries()) {
      const r = await all[i % all.length]!.call<{ count: number }>({ actor: 'CounterActor', id, capability: 'game', timeoutMs: 10_000 });
      expect(r.peer, `moved ${id}`).toBe(joiner.peerId);
      expect(r.activation).not.toBe(firstRun.get(id)!.activation);
      expect(r.activation.startsWith(`${joiner.peerId}#`)).toBe(true);
      expect(r.result.count, `moved ${id} starts fresh`).toBe(1);
    }
    for (const [i, id] of stayingIds.slice(0, 60).entries()) {
      const r = await all[i % all.length]!.call<{ count: number }>({ actor: 'CounterActor', id, capability: 'game', timeoutMs: 10_000 });
      expect(r.activation, `staying ${id}`).toBe(firstRun.get(id)!.activation);
      expect(r.result.count).toBe(2);
    }
    expect(
      joiner
        .activations()
        .map((i) => i.id)
        .sort(),
    ).toEqual([...movedIds].sort());
  }, 90_000);

  it('forms a full mesh of 6 in-process peers within 20 s (sanity, not a benchmark)', async () => {
    const server = await startServer();
    const room = uniqueRoom('formation');
    const started = performance.now();
    const peers = await startPeers(6, { signal: server.url, room, capabilities: ['game'] });
    await waitForViews(peers, peers, 20_000);
    const formedMs = performance.now() - started;
    console.info(`[formation] 6 peers fully connected in ${formedMs.toFixed(0)} ms`);
    expect(formedMs).toBeLessThan(20_000);

    // Every channel carries traffic: each peer calls an actor owned by each other peer.
    const outcomes = await Promise.all(
      peers.flatMap((caller) =>
        peers.map(async (owner) => {
          const [id] = idsOwnedBy(caller, owner.peerId, 'game', 1, `f-${caller.peerId}-`);
          return settle(
            caller.call({ actor: 'GameActor', id: id!, capability: 'game', payload: { action: 'increment_score' }, timeoutMs: 10_000 }),
          );
        }),
      ),
    );
    const failures = outcomes.filter((o) => !o.ok);
    expect(failures, 'calls across the 6-peer mesh').toEqual([]);
    const byOwner = outcomes.map((o) => (o.ok ? o.value.peer : ''));
    expect(byOwner).toEqual(peers.flatMap(() => peers.map((p) => p.peerId)));
  }, 60_000);
});
