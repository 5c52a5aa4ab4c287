/**
 * Several meshes in one process over MemoryNetwork: agreement on owners, routing, capability isolation,
 * joins and leaves with rebalancing and handoff, faults (disconnect, freeze), NOT_OWNER retries with a
 * lagging view, refused peers, and capability changes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GameActor } from '../../demo/actors.js';
import type { ActorRegistry } from '../../shared/actors/actor.js';
import { ActorFailedError, MeshError } from '../../shared/errors.js';
import { MemoryNetwork } from '../../shared/wire/memory-transport.js';
import { Mesh, type CallRequest, type MeshEvents, type MeshOptions } from '../../shared/mesh.js';
import { rendezvous } from '../../shared/placement/placement.js';
import { shardFor } from '../../shared/placement/shards.js';
import { HeldTransport } from '../fixtures/held-transport.js';
import { Gate, expectMeshError, expectRejects, rejection, startMeshes, waitConverged } from '../fixtures/mesh-helpers.js';
import { macrotask, settled, until, useFakeClock } from '../fixtures/wait.js';
import {
  DurableCounter,
  GatedDurableCounter,
  ProbeActor,
  gates,
  journal,
  resetActors,
  type ProbeCommand,
} from '../fixtures/test-actors.js';

const actors: ActorRegistry = { ProbeActor, DurableCounter, GatedDurableCounter, GameActor };
const running: Mesh[] = [];
let net: MemoryNetwork;

beforeEach(() => {
  resetActors();
  net = new MemoryNetwork();
});
afterEach(async () => {
  // On the clock they ran on: under a fake clock, stop()'s drain and flush wait on fake timers.
  await settled(Promise.all(running.splice(0).map((m) => m.stop())), 'every mesh to stop', { timeoutMs: 10_000, intervalMs: 50 });
  vi.useRealTimers();
});

async function cluster(ids: readonly string[], options: MeshOptions | ((id: string) => MeshOptions) = {}): Promise<Mesh[]> {
  const meshes = await startMeshes(net, ids, (id) => ({
    capabilities: ['game'],
    actors,
    ...(typeof options === 'function' ? options(id) : options),
  }));
  running.push(...meshes);
  return meshes;
}

async function join(id: string, options: MeshOptions = {}): Promise<Mesh> {
  const mesh = await Mesh.start({ capabilities: ['game'], actors, peerId: id, transport: net.transport(), ...options });
  running.push(mesh);
  return mesh;
}

function events<K extends keyof MeshEvents>(meshes: readonly Mesh[], name: K): MeshEvents[K][] {
  const seen: MeshEvents[K][] = [];
  for (const mesh of meshes) mesh.on(name, (e) => seen.push(e));
  return seen;
}

const ownerIn = (id: string, peers: readonly string[], capability = 'game'): string | undefined =>
  rendezvous.owner(shardFor(id), capability, [...peers].sort());

/** The first id `${prefix}${i}` for which `pred` holds. */
function findId(prefix: string, pred: (id: string) => boolean): string {
  for (let i = 0; i < 1_000_000; i++) if (pred(`${prefix}${i}`)) return `${prefix}${i}`;
  throw new Error('no id found');
}

const probe = (id: string, cmd: ProbeCommand = {}, extra: Partial<CallRequest> = {}): CallRequest => ({
  actor: 'ProbeActor',
  id,
  capability: 'game',
  payload: cmd,
  ...extra,
});
const counter = (id: string): CallRequest => ({ actor: 'DurableCounter', id, capability: 'game' });

function byId(meshes: readonly Mesh[]): Map<string, Mesh> {
  return new Map(meshes.map((m) => [m.peerId, m]));
}

describe('agreement and routing', () => {
  it('all peers agree on the owner of 10,000 ids, and it is the rendezvous owner of the shared view', async () => {
    const meshes = await cluster(['peer-a', 'peer-b', 'peer-c', 'peer-d']);
    const ids = meshes.map((m) => m.peerId);
    const owned = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const id = `player_${i}`;
      const owners = meshes.map((m) => m.ownerPeer(m.shardFor(id), 'game'));
      expect(new Set(owners).size).toBe(1);
      expect(owners[0]).toBe(ownerIn(id, ids));
      owned.set(owners[0]!, (owned.get(owners[0]!) ?? 0) + 1);
    }
    for (const peer of ids) {
      expect(owned.get(peer)).toBeGreaterThan(1800);
      expect(owned.get(peer)).toBeLessThan(3200);
    }
    for (const m of meshes) {
      expect(m.peersFor('game')).toEqual(ids);
      expect(m.peers().map((p) => p.kind)).toEqual(['memory', 'memory', 'memory', 'memory']);
    }
  });

  it('calls from every peer land on the owner and reuse one activation', async () => {
    const meshes = await cluster(['peer-a', 'peer-b', 'peer-c', 'peer-d']);
    const peers = byId(meshes);
    const activated = events(meshes, 'activated');
    for (let i = 0; i < 40; i++) {
      const id = `route_${i}`;
      const owner = ownerIn(id, [...peers.keys()]);
      const results = [];
      for (const caller of meshes) results.push(await caller.call(probe(id, { op: 'count' })));
      expect(results.map((r) => r.result)).toEqual([1, 2, 3, 4]);
      expect(new Set(results.map((r) => r.peer))).toEqual(new Set([owner]));
      expect(new Set(results.map((r) => r.activation)).size).toBe(1);
      expect(results[0]!.activation.startsWith(`${owner}#`)).toBe(true);
      for (const m of meshes) {
        expect(m.activations().some((a) => a.id === id)).toBe(m.peerId === owner);
      }
    }
    expect(activated).toHaveLength(40);
    const total = meshes.map((m) => m.stats().calls);
    expect(total.reduce((n, c) => n + c.ok, 0)).toBe(160);
    expect(total.reduce((n, c) => n + c.remote, 0)).toBe(120);
    expect(total.reduce((n, c) => n + c.local, 0)).toBe(40);
  });

  it('stats().peers counts frames and data-channel messages: calls made in one turn share messages', async () => {
    const meshes = await cluster(['peer-a', 'peer-b']);
    const [a, b] = [meshes[0]!, meshes[1]!];
    expect(a.peerId).toBe('peer-a');
    const remoteIds = Array.from({ length: 400 }, (_, i) => `batch_${i}`).filter((id) => ownerIn(id, ['peer-a', 'peer-b']) === 'peer-b');
    const before = a.stats().peers['peer-b']!;
    await Promise.all(remoteIds.map((id) => a.call(probe(id, { op: 'count' }))));
    const after = a.stats().peers['peer-b']!;
    const calls = after.framesOut - before.framesOut;
    const messages = after.messagesOut - before.messagesOut;
    expect(calls).toBeGreaterThanOrEqual(remoteIds.length);
    expect(messages).toBeGreaterThan(0);
    expect(messages).toBeLessThan(calls / 10);
    expect(after.messagesIn - before.messagesIn).toBeGreaterThan(0);
    expect(b.stats().peers['peer-a']!.messagesIn).toBeGreaterThanOrEqual(messages);
  });

  it('remote errors keep their code, class and message; remote results keep their value', async () => {
    const [a] = await cluster(['peer-a', 'peer-b']);
    const remoteId = findId('err_', (id) => ownerIn(id, ['peer-a', 'peer-b']) === 'peer-b');
    const ok = await a!.call(probe(remoteId, { value: { nested: [1, 'two', null], bytes: new Uint8Array([1, 2, 3]) } }));
    expect(ok.peer).toBe('peer-b');
    expect(ok.result).toEqual({ nested: [1, 'two', null], bytes: new Uint8Array([1, 2, 3]) });
    const error = await expectRejects(a!.call(probe(remoteId, { op: 'throw', value: 'remote kaboom' })), 'ACTOR_FAILED');
    expect(error).toBeInstanceOf(ActorFailedError);
    expect(error.message).toBe('remote kaboom');
    await expectRejects(a!.call({ actor: 'Unregistered', id: remoteId, capability: 'game' }), 'UNKNOWN_ACTOR');
    await expectRejects(a!.call(probe(remoteId, { op: 'never' }, { timeoutMs: 60 })), 'TIMEOUT');
  });

  it('a remote call can be aborted', async () => {
    const [a] = await cluster(['peer-a', 'peer-b']);
    const remoteId = findId('abort_', (id) => ownerIn(id, ['peer-a', 'peer-b']) === 'peer-b');
    const controller = new AbortController();
    const call = a!.call(probe(remoteId, { op: 'never' }, { signal: controller.signal, timeoutMs: 10_000 }));
    await until(() => journal.some((h) => h.kind === 'start' && h.id === remoteId), 'the call to start on peer-b');
    controller.abort();
    await expectRejects(call, 'ABORTED');
  });

  it('remote casts run on the owner; their failures are reported there, not to the caller', async () => {
    const [a, b] = await cluster(['peer-a', 'peer-b']);
    const remoteId = findId('cast_', (id) => ownerIn(id, ['peer-a', 'peer-b']) === 'peer-b');
    const failedA = events([a!], 'cast-failed');
    const failedB = events([b!], 'cast-failed');
    await a!.cast(probe(remoteId, { op: 'count' }));
    await a!.cast(probe(remoteId, { op: 'throw', value: 'cast boom' }));
    await until(() => failedB.length === 1, 'cast-failed on the owner');
    expect(failedA).toEqual([]);
    expect(failedB[0]!.error.message).toBe('cast boom');
    expect(journal.filter((h) => h.kind === 'cast').map((h) => h.peer)).toEqual(['peer-b', 'peer-b']);
    expect(a!.stats().casts.sent).toBe(2);
    expect(b!.stats().casts.received).toBe(2);
    expect(b!.stats().casts.failed).toBe(1);
  });

  it('large payloads cross the link intact; oversized ones fail with PAYLOAD_TOO_LARGE before sending', async () => {
    const [a] = await cluster(['peer-a', 'peer-b'], { maxMessageBytes: 4 * 1024 * 1024 });
    const remoteId = findId('big_', (id) => ownerIn(id, ['peer-a', 'peer-b']) === 'peer-b');
    const big = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    const r = await a!.call(probe(remoteId, { value: big }));
    expect(r.result).toBeInstanceOf(Uint8Array);
    expect(Buffer.compare(Buffer.from(r.result as Uint8Array), Buffer.from(big))).toBe(0);
    const starts = journal.filter((h) => h.kind === 'start').length;
    await expectRejects(a!.call(probe(remoteId, { value: new Uint8Array(5 * 1024 * 1024) })), 'PAYLOAD_TOO_LARGE');
    expect(journal.filter((h) => h.kind === 'start').length).toBe(starts);
  });
});

describe('capabilities', () => {
  it('game-only and chat-only peers never host each other’s actors', async () => {
    const meshes = await cluster(['g1', 'g2', 'c1', 'c2'], (id) => ({ capabilities: id.startsWith('g') ? ['game'] : ['chat'] }));
    for (const m of meshes) {
      expect(m.peersFor('game')).toEqual(['g1', 'g2']);
      expect(m.peersFor('chat')).toEqual(['c1', 'c2']);
    }
    for (let i = 0; i < 100; i++) {
      const caller = meshes[i % 4]!;
      const g = await caller.call(probe(`iso_${i}`, {}, { capability: 'game' }));
      const c = await caller.call(probe(`iso_${i}`, {}, { capability: 'chat' }));
      expect(['g1', 'g2']).toContain(g.peer);
      expect(['c1', 'c2']).toContain(c.peer);
      expect(g.activation).not.toBe(c.activation);
    }
    for (const m of meshes) {
      const caps = new Set(m.activations().map((a) => a.capability));
      expect([...caps]).toEqual([m.peerId.startsWith('g') ? 'game' : 'chat']);
      expect(m.activations().length).toBeGreaterThan(20);
    }
    await expectRejects(meshes[0]!.call(probe('x', {}, { capability: 'payments' })), 'NO_PEERS_FOR_CAPABILITY');
  });

  it('a caps change (registerCapabilities) propagates and moves shards', async () => {
    const meshes = await cluster(['peer-a', 'peer-b', 'peer-c']);
    const [a, b, c] = meshes as [Mesh, Mesh, Mesh];
    await expectRejects(a.call(probe('room_0', {}, { capability: 'chat' })), 'NO_PEERS_FOR_CAPABILITY');
    c.registerCapabilities(['game', 'chat']);
    await until(() => meshes.every((m) => m.peersFor('chat').join() === 'peer-c'), 'chat on peer-c everywhere');
    const rooms = Array.from({ length: 200 }, (_, i) => `room_${i}`);
    for (const room of rooms) expect((await a.call(probe(room, {}, { capability: 'chat' }))).peer).toBe('peer-c');

    const deactivated = events(meshes, 'deactivated');
    b.registerCapabilities(['game', 'chat']);
    await until(() => meshes.every((m) => m.peersFor('chat').join() === 'peer-b,peer-c'), 'chat on b and c everywhere');
    const moved = rooms.filter((room) => ownerIn(room, ['peer-b', 'peer-c'], 'chat') === 'peer-b');
    await until(
      () => deactivated.filter((d) => d.reason === 'rebalance').length >= moved.length,
      'peer-c to stop the rooms that moved to peer-b',
    );
    expect(moved.length / rooms.length).toBeGreaterThan(0.3);
    expect(moved.length / rooms.length).toBeLessThan(0.7);
    expect(
      deactivated
        .filter((d) => d.reason === 'rebalance')
        .map((d) => d.id)
        .sort(),
    ).toEqual([...moved].sort());
    for (const room of rooms) {
      const r = await a.call(probe(room, {}, { capability: 'chat' }));
      expect(r.peer).toBe(ownerIn(room, ['peer-b', 'peer-c'], 'chat'));
    }

    // Dropping 'game' on c moves its game actors away.
    const games = Array.from({ length: 150 }, (_, i) => `gm_${i}`);
    for (const g of games) await a.call(probe(g));
    const onC = c
      .activations()
      .filter((x) => x.capability === 'game')
      .map((x) => x.id);
    expect(onC.length).toBeGreaterThan(0);
    deactivated.length = 0;
    c.registerCapabilities(['chat']);
    await until(() => meshes.every((m) => m.peersFor('game').join() === 'peer-a,peer-b'), 'game off peer-c everywhere');
    expect(c.activations().filter((x) => x.capability === 'game')).toEqual([]);
    expect(deactivated.filter((d) => d.peer === 'peer-c' && d.capability === 'game').map((d) => d.reason)).toEqual(
      onC.map(() => 'rebalance'),
    );
    for (const g of games.slice(0, 30)) expect(['peer-a', 'peer-b']).toContain((await b.call(probe(g))).peer);
  });
});

describe('joins: rebalancing and handoff', () => {
  it('a 4th peer takes ~1/4 of the activations: moved ones stop with "rebalance" and re-activate on the joiner', async () => {
    const meshes = await cluster(['peer-a', 'peer-b', 'peer-c']);
    const ids = Array.from({ length: 600 }, (_, i) => `mv_${i}`);
    const before = new Map<string, { peer: string; activation: string }>();
    for (const [i, id] of ids.entries()) {
      const r = await meshes[i % 3]!.call(probe(id, { op: 'count' }));
      before.set(id, { peer: r.peer, activation: r.activation });
    }
    const deactivated = events(meshes, 'deactivated');
    const topology = events(meshes, 'topology');
    const d = await join('peer-d');
    const all = [...meshes, d];
    await waitConverged(all);

    const moved = ids.filter((id) => ownerIn(id, ['peer-a', 'peer-b', 'peer-c', 'peer-d']) !== before.get(id)!.peer);
    for (const id of moved) expect(ownerIn(id, ['peer-a', 'peer-b', 'peer-c', 'peer-d'])).toBe('peer-d');
    expect(moved.length / ids.length).toBeGreaterThan(0.15);
    expect(moved.length / ids.length).toBeLessThan(0.35);
    const rebalanced = deactivated.filter((e) => e.reason === 'rebalance');
    expect(rebalanced.map((e) => e.id).sort()).toEqual([...moved].sort());
    for (const e of rebalanced) expect(e.peer).toBe(before.get(e.id)!.peer);
    expect(deactivated.filter((e) => e.reason !== 'rebalance')).toEqual([]);
    expect(topology.reduce((n, t) => n + t.moved, 0)).toBe(moved.length);
    const movedSet = new Set(moved);
    for (const [i, id] of ids.entries()) {
      const r = await all[i % 4]!.call(probe(id, { op: 'count' }));
      if (movedSet.has(id)) {
        expect(r.peer).toBe('peer-d');
        expect(r.activation).not.toBe(before.get(id)!.activation);
        expect(r.result).toBe(1); // ProbeActor takes no snapshot: it restarts empty, as in the seed
      } else {
        expect(r.peer).toBe(before.get(id)!.peer);
        expect(r.activation).toBe(before.get(id)!.activation);
        expect(r.result).toBe(2);
      }
    }
    expect(
      d
        .activations()
        .map((x) => x.id)
        .sort(),
    ).toEqual([...moved].sort());
  });

  it('handoff: a moved player keeps its score (5 then 6) after the views settle', async () => {
    const meshes = await cluster(['peer-a', 'peer-b', 'peer-c']);
    const players = Array.from({ length: 300 }, (_, i) => `hand_${i}`);
    for (const [i, id] of players.entries()) {
      for (let k = 0; k < 5; k++) await meshes[(i + k) % 3]!.call(counter(id));
    }
    const handoffs = events(meshes, 'handoff');
    const d = await join('peer-d');
    const lost = events([d], 'handoff-lost');
    const all = [...meshes, d];
    await waitConverged(all);
    const moved = players.filter((id) => ownerIn(id, ['peer-a', 'peer-b', 'peer-c', 'peer-d']) === 'peer-d');
    expect(moved.length).toBeGreaterThan(40);
    for (const [i, id] of players.entries()) {
      const r = await all[i % 4]!.call(counter(id));
      expect({ id, result: r.result }).toEqual({ id, result: 6 });
    }
    expect(
      handoffs
        .filter((h) => h.direction === 'sent')
        .map((h) => h.id)
        .sort(),
    ).toEqual([...moved].sort());
    for (const h of handoffs) expect(h.peer).toBe('peer-d');
    expect(lost).toEqual([]);
    expect(d.stats().handoffs.received).toBe(moved.length);
    expect(meshes.reduce((n, m) => n + m.stats().handoffs.sent, 0)).toBe(moved.length);
  });

  it('handoff: calls issued the moment a peer sees the joiner still find the handed-over score', async () => {
    const meshes = await cluster(['peer-a', 'peer-b', 'peer-c']);
    const [a] = meshes as [Mesh, Mesh, Mesh];
    const players = Array.from({ length: 200 }, (_, i) => `fast_${i}`);
    for (const id of players) for (let k = 0; k < 5; k++) await a.call(counter(id));
    const results: Promise<{ id: string; result: unknown }>[] = [];
    a.on('peer-joined', (peer) => {
      if (peer.id !== 'peer-d') return;
      for (const id of players) results.push(a.call(counter(id)).then((r) => ({ id, result: r.result })));
    });
    const d = await join('peer-d');
    await waitConverged([...meshes, d]);
    await until(() => results.length === players.length, 'the calls issued on peer-joined');
    const settled = await Promise.all(results);
    const wrong = settled.filter((r) => r.result !== 6);
    expect(wrong).toEqual([]);
  });

  it('the demo GameActor keeps score and level across a move', async () => {
    const meshes = await cluster(['peer-a', 'peer-b', 'peer-c']);
    const [a] = meshes as [Mesh, Mesh, Mesh];
    const player = findId('gp_', (id) => ownerIn(id, ['peer-a', 'peer-b', 'peer-c', 'peer-d']) === 'peer-d');
    const game = (action: string) => a.call({ actor: 'GameActor', id: player, capability: 'game', payload: { action } });
    for (let k = 0; k < 5; k++) await game('increment_score');
    await game('level_up');
    const d = await join('peer-d');
    await waitConverged([...meshes, d]);
    const r = await game('increment_score');
    expect(r.peer).toBe('peer-d');
    expect(r.result).toBe(6);
    expect((await game('get_stats')).result).toEqual({ score: 6, level: 2 });
  });

  it('the new owner holds calls until the old owner finishes its message in progress and hands the state over', async () => {
    const meshes = await cluster(['peer-a', 'peer-b', 'peer-c']);
    const [a] = meshes as [Mesh, Mesh, Mesh];
    const player = findId('busy_', (id) => ownerIn(id, ['peer-a', 'peer-b', 'peer-c', 'peer-d']) === 'peer-d');
    const request = (payload: unknown): CallRequest => ({ actor: 'GatedDurableCounter', id: player, capability: 'game', payload });
    for (let k = 0; k < 3; k++) await a.call(request({}));
    const oldOwner = ownerIn(player, ['peer-a', 'peer-b', 'peer-c'])!;
    const gate = new Gate<unknown>();
    gates.set('slow', gate.promise);
    const slow = a.call(request({ wait: 'slow' }));
    await until(
      () =>
        journal.some(
          (h) =>
            h.kind === 'start' &&
            h.peer === oldOwner &&
            h.id === player &&
            h.payload !== null &&
            typeof h.payload === 'object' &&
            'wait' in h.payload,
        ),
      'the slow message to start',
    );
    const d = await join('peer-d');
    await waitConverged([...meshes, d]);
    const next = a.call(request({}));
    await macrotask(); // `next` reaches peer-d, which holds it: the state has not come yet
    gate.open(null);
    expect((await slow).result).toBe(4);
    const r = await next;
    expect(r.peer).toBe('peer-d');
    expect(r.result).toBe(5);
  });
});

describe('leaves and faults', () => {
  it('a peer that stops: its shards move to the others; in-flight calls to it reject with PEER_GONE', async () => {
    // A short drain: peer-d's stays busy until it gives up, and how long that takes is not the point here.
    const meshes = await cluster(['peer-a', 'peer-b', 'peer-c', 'peer-d'], { drainTimeoutMs: 200 });
    const [a, , , d] = meshes as [Mesh, Mesh, Mesh, Mesh];
    const four = ['peer-a', 'peer-b', 'peer-c', 'peer-d'];
    const ids = Array.from({ length: 200 }, (_, i) => `lv_${i}`);
    const before = new Map<string, string>();
    for (const id of ids) before.set(id, (await a.call(probe(id, { op: 'count' }))).activation);
    const onD = ids.filter((id) => ownerIn(id, four) === 'peer-d');
    expect(onD.length).toBeGreaterThan(20);

    const gate = new Gate<unknown>();
    gates.set('hold-d', gate.promise);
    const inFlight = a.call(probe(onD[0]!, { wait: 'hold-d' }, { timeoutMs: 10_000 }));
    await until(
      () => journal.some((h) => h.kind === 'start' && h.peer === 'peer-d' && (h.payload as ProbeCommand).wait === 'hold-d'),
      'the call to start on peer-d',
    );
    const left = events([a], 'peer-left');
    // The handler never finishes while peer-d leaves (its drain gives up), so the caller cannot get an answer.
    await d.stop();
    const error = await expectRejects(inFlight, 'PEER_GONE');
    expect(error.details).toEqual({ peer: 'peer-d' });
    gate.open(null);
    await waitConverged(meshes.slice(0, 3));
    expect(left.map((p) => p.id)).toEqual(['peer-d']);
    for (const id of ids) {
      const r = await a.call(probe(id, { op: 'count' }));
      const three = ['peer-a', 'peer-b', 'peer-c'];
      expect(r.peer).toBe(ownerIn(id, three));
      if (onD.includes(id)) {
        expect(r.result).toBe(1);
      } else {
        // A leave moves only the leaver's shards: everyone else keeps its activation.
        expect(r.activation).toBe(before.get(id));
        expect(r.result).toBe(2);
      }
    }
  });

  it('a message queued on a stopping owner never runs there: it is re-routed or answered', async () => {
    // A short drain: peer-b's stays busy until it gives up, and how long that takes is not the point here.
    const meshes = await cluster(['peer-a', 'peer-b'], { drainTimeoutMs: 200 });
    const [a, b] = meshes as [Mesh, Mesh];
    const id = findId('q_', (x) => ownerIn(x, ['peer-a', 'peer-b']) === 'peer-b');
    const gate = new Gate<unknown>();
    gates.set('hold-b', gate.promise);
    const running = a.call(probe(id, { wait: 'hold-b' }, { timeoutMs: 10_000 }));
    const queued = a.call(probe(id, { tag: 'queued', value: 'q' }, { timeoutMs: 10_000 }));
    await until(() => journal.some((h) => h.kind === 'start' && (h.payload as ProbeCommand).wait === 'hold-b'), 'the first call to start');
    await b.stop();
    const outcome = await queued.then(
      (r) => `ran on ${r.peer}`,
      (e: unknown) => (e instanceof MeshError ? e.code : 'not a MeshError'),
    );
    expect(['ran on peer-a', 'STOPPED', 'PEER_GONE']).toContain(outcome);
    await expectRejects(running, 'PEER_GONE');
    gate.open(null);
    const queuedRuns = journal.filter((h) => h.kind === 'start' && (h.payload as ProbeCommand).tag === 'queued');
    expect(queuedRuns.map((h) => h.peer)).toEqual(outcome === 'ran on peer-a' ? ['peer-a'] : []);
  });

  it('a call in progress on a leaving peer that finishes while it leaves still gets its answer', async () => {
    const meshes = await cluster(['peer-a', 'peer-b']);
    const [a, b] = meshes as [Mesh, Mesh];
    const id = findId('fin_', (x) => ownerIn(x, ['peer-a', 'peer-b']) === 'peer-b');
    const gate = new Gate<unknown>();
    gates.set('finish-b', gate.promise);
    const running = a.call(probe(id, { wait: 'finish-b', value: 'finished' }, { timeoutMs: 10_000 }));
    await until(() => journal.some((h) => h.kind === 'start' && (h.payload as ProbeCommand).wait === 'finish-b'), 'the call to start');
    const stopping = b.stop();
    await until(() => !a.peersFor('game').includes('peer-b'), 'peer-a to see peer-b leave');
    gate.open(null);
    const r = await running;
    expect(r).toMatchObject({ peer: 'peer-b', result: 'finished' });
    await stopping;
  });

  it('a cut channel (net.disconnect) fails pending calls over it with PEER_GONE and drops the peer from both views', async () => {
    const meshes = await cluster(['peer-a', 'peer-b', 'peer-c']);
    const [a, b, c] = meshes as [Mesh, Mesh, Mesh];
    const id = findId('cut_', (x) => ownerIn(x, ['peer-a', 'peer-b', 'peer-c']) === 'peer-c');
    const call = a.call(probe(id, { op: 'never' }, { timeoutMs: 10_000 }));
    await until(() => journal.some((h) => h.kind === 'start' && h.id === id), 'the call to start on peer-c');
    net.disconnect('peer-a', 'peer-c');
    await expectRejects(call, 'PEER_GONE');
    await until(() => a.peers().every((p) => p.id !== 'peer-c') && c.peers().every((p) => p.id !== 'peer-a'), 'a and c to drop each other');
    expect(b.peers().map((p) => p.id)).toEqual(['peer-a', 'peer-b', 'peer-c']);
  });

  it('a frozen peer: calls to it time out, and the heartbeat drops it from the view', async () => {
    useFakeClock();
    const meshes = await cluster(['peer-a', 'peer-b', 'peer-c'], { heartbeatMs: 30, peerTimeoutMs: 700 });
    const [a] = meshes as [Mesh, Mesh, Mesh];
    const id = findId('frz_', (x) => ownerIn(x, ['peer-a', 'peer-b', 'peer-c']) === 'peer-c');
    await a.call(probe(id, { op: 'count' }));
    // Live peers that exchange nothing but heartbeats stay in the view, well past peerTimeoutMs.
    await vi.advanceTimersByTimeAsync(1200);
    expect(a.peers().map((p) => p.id)).toEqual(['peer-a', 'peer-b', 'peer-c']);
    const left = events([a], 'peer-left');
    net.freeze('peer-c');
    const error = await expectRejects(settled(a.call(probe(id, { op: 'count' }, { timeoutMs: 80 })), 'the call to time out'), 'TIMEOUT');
    expect(error.details).toMatchObject({ peer: 'peer-c' });
    await until(() => a.peers().every((p) => p.id !== 'peer-c'), 'peer-c to be dropped', { timeoutMs: 5000 });
    expect(left.map((p) => p.id)).toEqual(['peer-c']);
    const r = await a.call(probe(id, { op: 'count' }));
    expect(['peer-a', 'peer-b']).toContain(r.peer);
    expect(r.result).toBe(1);
  });
});

describe('views that disagree', () => {
  it('NOT_OWNER retry: a caller with a lagging view still lands exactly once, on one activation', async () => {
    // peer-a's transport can hold back what one peer sends it, so its view can be made to lag.
    const heldA = new HeldTransport(net.transport());
    const a = await Mesh.start({ peerId: 'peer-a', capabilities: ['game'], actors: { ProbeActor }, transport: heldA });
    const b = await Mesh.start({ peerId: 'peer-b', capabilities: ['game'], actors: { ProbeActor }, transport: net.transport() });
    const c = await Mesh.start({ peerId: 'peer-c', capabilities: ['game'], actors: { ProbeActor }, transport: net.transport() });
    running.push(a, b, c);
    await waitConverged([a, b, c]);

    // An actor that moves from peer-b to the joiner peer-d.
    const id = findId(
      'lag_',
      (x) => ownerIn(x, ['peer-a', 'peer-b', 'peer-c']) === 'peer-b' && ownerIn(x, ['peer-a', 'peer-b', 'peer-c', 'peer-d']) === 'peer-d',
    );
    heldA.hold('peer-d');
    const d = await Mesh.start({ peerId: 'peer-d', capabilities: ['game'], actors: { ProbeActor }, transport: net.transport() });
    running.push(d);
    await until(() => [b, c, d].every((m) => m.peers().length === 4), 'b, c and d to see four peers');
    expect(a.peers().map((p) => p.id)).toEqual(['peer-a', 'peer-b', 'peer-c']); // a lags
    const activated = events([a, b, c, d], 'activated');

    const call = a.call(probe(id, { op: 'count' }, { timeoutMs: 5000 }));
    await until(() => (b.stats().errors['NOT_OWNER'] ?? 0) >= 2, 'peer-b to refuse twice');
    expect(journal.filter((h) => h.kind === 'start')).toEqual([]);
    heldA.release('peer-d');
    const r = await call;
    expect(r.peer).toBe('peer-d');
    expect(r.result).toBe(1);
    expect(activated.map((e) => `${e.peer}:${e.id}`)).toEqual([`peer-d:${id}`]);
    expect(journal.filter((h) => h.kind === 'start').map((h) => h.peer)).toEqual(['peer-d']);
    // And the next call from anyone reaches the same activation.
    const again = await b.call(probe(id, { op: 'count' }));
    expect(again).toEqual({ peer: 'peer-d', activation: r.activation, result: 2 });
  });

  it('a call that keeps getting NOT_OWNER until its deadline fails with NOT_OWNER (it did not run)', async () => {
    const heldA = new HeldTransport(net.transport());
    const a = await Mesh.start({ peerId: 'peer-a', capabilities: ['game'], actors: { ProbeActor }, transport: heldA });
    const b = await Mesh.start({ peerId: 'peer-b', capabilities: ['game'], actors: { ProbeActor }, transport: net.transport() });
    running.push(a, b);
    await waitConverged([a, b]);
    const id = findId(
      'stale_',
      (x) => ownerIn(x, ['peer-a', 'peer-b']) === 'peer-b' && ownerIn(x, ['peer-a', 'peer-b', 'peer-d']) === 'peer-d',
    );
    heldA.hold('peer-d');
    const d = await Mesh.start({ peerId: 'peer-d', capabilities: ['game'], actors: { ProbeActor }, transport: net.transport() });
    running.push(d);
    await until(() => b.peers().length === 3, 'b to see d');
    const error = await rejection(a.call(probe(id, {}, { timeoutMs: 150 })));
    expectMeshError(error, 'NOT_OWNER');
    expect(journal.filter((h) => h.kind === 'start')).toEqual([]);
    heldA.release('peer-d');
  });
});

describe('refused peers', () => {
  it('a peer with another shard count is refused with INCOMPATIBLE_PEER, and views never merge', async () => {
    useFakeClock();
    const [a] = await cluster(['peer-a']);
    const refusedA = events([a!], 'peer-refused');
    const joinedA = events([a!], 'peer-joined');
    // Hold a's hello at b, so a judges b's hello first (otherwise b refuses first and closes the channel).
    const heldB = new HeldTransport(net.transport());
    heldB.hold('peer-a');
    const b = await Mesh.start({ peerId: 'peer-b', capabilities: ['game'], actors, transport: heldB, shards: 1024 });
    running.push(b);
    await until(() => refusedA.length === 1, 'peer-refused on a');
    heldB.release('peer-a');
    expect(joinedA).toEqual([]);
    expect(refusedA[0]!.peer).toBe('peer-b');
    expectMeshError(refusedA[0]!.error, 'INCOMPATIBLE_PEER');
    expect(refusedA[0]!.error.message).toMatch(/1024/);
    await vi.advanceTimersByTimeAsync(1000);
    expect(a!.peers().map((p) => p.id)).toEqual(['peer-a']);
    expect(b.peers().map((p) => p.id)).toEqual(['peer-b']);
    // Both still work on their own.
    expect((await a!.call(probe('x', { value: 1 }))).peer).toBe('peer-a');
    expect((await b.call(probe('x', { value: 1 }))).peer).toBe('peer-b');
  });

  it('a peer with another placement strategy is refused too', async () => {
    useFakeClock();
    const [a] = await cluster(['peer-a']);
    const refused = events([a!], 'peer-refused');
    const heldB = new HeldTransport(net.transport());
    heldB.hold('peer-a');
    const b = await Mesh.start({ peerId: 'peer-b', capabilities: ['game'], actors, transport: heldB, strategy: 'modulo' });
    running.push(b);
    await until(() => refused.length === 1, 'peer-refused');
    heldB.release('peer-a');
    expectMeshError(refused[0]!.error, 'INCOMPATIBLE_PEER');
    expect(refused[0]!.error.message).toMatch(/strategy/);
    await vi.advanceTimersByTimeAsync(1000);
    expect(a!.peers()).toHaveLength(1);
    expect(b.peers()).toHaveLength(1);
  });

  it('whichever side judges first, an incompatible joiner never enters any view', async () => {
    useFakeClock();
    const meshes = await cluster(['peer-a', 'peer-b']);
    const joined = events(meshes, 'peer-joined');
    const c = await join('peer-c', { shards: 2048 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(joined).toEqual([]);
    for (const m of meshes) expect(m.peers().map((p) => p.id)).toEqual(['peer-a', 'peer-b']);
    expect(c.peers().map((p) => p.id)).toEqual(['peer-c']);
  });

  it('compatible peers with the same non-default settings do join', async () => {
    const meshes = await cluster(['peer-a', 'peer-b'], { shards: 1024, strategy: 'modulo' });
    const id = 'player_9';
    const owner = ['peer-a', 'peer-b'][shardFor(id, 1024) % 2];
    for (const m of meshes) expect((await m.call(probe(id))).peer).toBe(owner);
  });
});

describe('stop with peers', () => {
  it('stop() of every peer leaves no view entries and later calls fail with STOPPED', async () => {
    const meshes = await cluster(['peer-a', 'peer-b', 'peer-c']);
    await Promise.all(meshes.map((m) => m.stop()));
    expect(net.peers()).toEqual([]);
    for (const m of meshes) await expectRejects(m.call(probe('x')), 'STOPPED');
  });

  it('traffic counters per peer are kept after a peer leaves', async () => {
    const meshes = await cluster(['peer-a', 'peer-b']);
    const [a, b] = meshes as [Mesh, Mesh];
    const id = findId('tr_', (x) => ownerIn(x, ['peer-a', 'peer-b']) === 'peer-b');
    await a.call(probe(id));
    const live = a.stats().peers['peer-b'];
    expect(live?.framesOut).toBeGreaterThan(0);
    expect(live?.bytesIn).toBeGreaterThan(0);
    await b.stop();
    await until(() => a.peers().length === 1, 'b to leave');
    expect(a.stats().peers['peer-b']?.framesOut).toBeGreaterThanOrEqual(live!.framesOut);
  });
});
