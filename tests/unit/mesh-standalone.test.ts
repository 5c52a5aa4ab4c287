/**
 * A standalone Mesh (no transport): the public API, its errors, cast, stop, registerCapabilities, stats and
 * the README quickstart flow with the demo's GameActor.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GameActor } from '../../demo/actors.js';
import type { ActorClass } from '../../shared/actors/actor.js';
import { AbortedError, MeshError, NoPeersForCapabilityError, StoppedError, TimeoutError, UnknownActorError } from '../../shared/errors.js';
import { Mesh, type CallRequest, type MeshEvents, type MeshOptions } from '../../shared/mesh.js';
import { DEFAULT_SHARD_COUNT, shardFor } from '../../shared/placement/shards.js';
import { Gate, events, expectMeshError, expectRejects, rejection, settlesWithinTicks } from '../fixtures/mesh-helpers.js';
import { sleep, until, useFakeClock } from '../fixtures/wait.js';
import { ProbeActor, gates, journal, resetActors, type ProbeCommand } from '../fixtures/test-actors.js';

const meshes: Mesh[] = [];
async function start(options: MeshOptions = {}): Promise<Mesh> {
  const mesh = await Mesh.start({ capabilities: ['game'], actors: { ProbeActor, GameActor }, ...options });
  meshes.push(mesh);
  return mesh;
}

const probeRequest = (id: string, cmd: ProbeCommand = {}, extra: Partial<CallRequest> = {}): CallRequest => ({
  actor: 'ProbeActor',
  id,
  capability: 'game',
  payload: cmd,
  ...extra,
});

beforeEach(() => resetActors());
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(meshes.splice(0).map((m) => m.stop()));
});

describe('README quickstart flow (demo GameActor)', () => {
  it('increment_score, increment_score, level_up, get_stats, five players, shard and owner', async () => {
    const mesh = await Mesh.start({ capabilities: ['game'], actors: { GameActor } });
    meshes.push(mesh);
    const first = await mesh.call({ actor: 'GameActor', id: 'player_123', payload: { action: 'increment_score' }, capability: 'game' });
    expect(first.result).toBe(1);
    expect(first.peer).toBe(mesh.peerId);
    expect(first.activation).toBe(`${mesh.peerId}#1`);
    const second = await mesh.call({ actor: 'GameActor', id: 'player_123', payload: { action: 'increment_score' }, capability: 'game' });
    expect(second.result).toBe(2);
    expect(second.activation).toBe(first.activation);
    const level = await mesh.call({ actor: 'GameActor', id: 'player_123', payload: { action: 'level_up' }, capability: 'game' });
    expect(level.result).toBe(2);
    const stats = await mesh.call({ actor: 'GameActor', id: 'player_123', payload: { action: 'get_stats' }, capability: 'game' });
    expect(stats.result).toEqual({ score: 2, level: 2 });
    for (let n = 1; n <= 5; n++) {
      const { result } = await mesh.call({
        actor: 'GameActor',
        id: `player_${n}`,
        payload: { action: 'increment_score' },
        capability: 'game',
      });
      expect(result).toBe(1);
    }
    const shard = mesh.shardFor('player_123');
    expect(shard).toBe(shardFor('player_123'));
    expect(shard).toBe(3543); // pinned in tests/fixtures/shard-vectors.json
    expect(mesh.ownerPeer(shard, 'game')).toBe(mesh.peerId);
    expect(mesh.peerId).toMatch(/^[0-9a-z]{16}$/);
    expect(mesh.activations()).toHaveLength(6);
    // An unknown action is a crash of that player only.
    await expectRejects(mesh.call({ actor: 'GameActor', id: 'player_1', payload: { action: 'fly' }, capability: 'game' }), 'ACTOR_FAILED');
    expect(mesh.activations()).toHaveLength(5);
  });

  it('GameActor handleCast reset is fire-and-forget', async () => {
    const mesh = await start();
    const call = (action: string) => mesh.call({ actor: 'GameActor', id: 'p', payload: { action }, capability: 'game' });
    await call('increment_score');
    await call('increment_score');
    await mesh.cast({ actor: 'GameActor', id: 'p', payload: { action: 'reset' }, capability: 'game' });
    expect((await call('get_stats')).result).toEqual({ score: 0, level: 1 });
  });
});

describe('identity and view of a standalone peer', () => {
  it('reports its own id, kind, shard count, strategy and a view of itself', async () => {
    const mesh = await start({ peerId: 'solo-1', capabilities: ['game', 'chat', 'game'] });
    expect(mesh.peerId).toBe('solo-1');
    expect(mesh.kind).toBe('memory');
    expect(mesh.shardCount).toBe(DEFAULT_SHARD_COUNT);
    expect(mesh.strategy.name).toBe('rendezvous');
    expect(mesh.stopped).toBe(false);
    expect(mesh.peers()).toEqual([
      { id: 'solo-1', kind: 'memory', capabilities: ['chat', 'game'], actorTypes: ['GameActor', 'ProbeActor'] },
    ]);
    expect(mesh.peersFor('game')).toEqual(['solo-1']);
    expect(mesh.peersFor('payments')).toEqual([]);
    expect(mesh.allCapabilities()).toEqual(['chat', 'game']);
    expect(mesh.ownerPeer(0, 'game')).toBe('solo-1');
    expect(mesh.ownerPeer(4095, 'chat')).toBe('solo-1');
    expect(mesh.ownerPeer(0, 'payments')).toBeUndefined();
  });

  it('ownerPeer rejects shards out of range', async () => {
    const mesh = await start({ shards: 64 });
    expect(mesh.shardFor('x')).toBe(shardFor('x', 64));
    for (const bad of [-1, 64, 1.5, Number.NaN]) {
      let thrown: unknown;
      try {
        mesh.ownerPeer(bad, 'game');
      } catch (error) {
        thrown = error;
      }
      expectMeshError(thrown, 'INVALID_ARGUMENT');
    }
  });

  it('honours the modulo strategy and a custom shard count', async () => {
    const mesh = await start({ strategy: 'modulo', shards: 16 });
    expect(mesh.strategy.name).toBe('modulo');
    expect(mesh.shardCount).toBe(16);
    const r = await mesh.call(probeRequest('anything', { value: 1 }));
    expect(r.result).toBe(1);
    expect(mesh.activations()[0]!.shard).toBe(shardFor('anything', 16));
  });
});

describe('option validation', () => {
  const cases: [string, MeshOptions][] = [
    ['a peer id with spaces', { peerId: 'not valid' }],
    ['an empty peer id', { peerId: '' }],
    ['a 129-character peer id', { peerId: 'x'.repeat(129) }],
    ['zero shards', { shards: 0 }],
    ['fractional shards', { shards: 10.5 }],
    ['an unknown strategy', { strategy: 'nope' as 'modulo' }],
    ['an empty capability', { capabilities: [''] }],
    ['a non-string capability', { capabilities: [5 as unknown as string] }],
    ['capabilities not an array', { capabilities: 'game' as unknown as string[] }],
    ['zero callTimeoutMs', { callTimeoutMs: 0 }],
    ['negative heartbeatMs', { heartbeatMs: -1 }],
    ['NaN peerTimeoutMs', { peerTimeoutMs: Number.NaN }],
    ['negative idleTimeoutMs', { idleTimeoutMs: -5 }],
    ['zero maxMessageBytes', { maxMessageBytes: 0 }],
    ['an actor that is not a class', { actors: { X: 5 as unknown as ActorClass } }],
    ['an empty actor name', { actors: { '': ProbeActor } }],
  ];
  it.each(cases)('Mesh.start rejects %s with INVALID_ARGUMENT', async (_label, options) => {
    await expectRejects(Mesh.start(options), 'INVALID_ARGUMENT');
  });
});

describe('call errors', () => {
  it('UNKNOWN_ACTOR for a type this peer does not host', async () => {
    const mesh = await start();
    const error = await expectRejects(mesh.call({ actor: 'Nope', id: 'x', capability: 'game' }), 'UNKNOWN_ACTOR');
    expect(error).toBeInstanceOf(UnknownActorError);
    expect(error.details).toMatchObject({ actor: 'Nope', peer: mesh.peerId });
    await expectRejects(mesh.cast({ actor: 'Nope', id: 'x', capability: 'game' }), 'UNKNOWN_ACTOR');
    expect(mesh.activations()).toEqual([]);
  });

  it('NO_PEERS_FOR_CAPABILITY rejects at once, not by timeout', async () => {
    const mesh = await start();
    const call = mesh.call({ actor: 'ProbeActor', id: 'x', capability: 'chat', timeoutMs: 60_000 });
    expect(await settlesWithinTicks(call)).toBe(true);
    const error = await expectRejects(call, 'NO_PEERS_FOR_CAPABILITY');
    expect(error).toBeInstanceOf(NoPeersForCapabilityError);
    expect(error.details).toEqual({ capability: 'chat' });
    const cast = mesh.cast({ actor: 'ProbeActor', id: 'x', capability: 'chat', timeoutMs: 60_000 });
    expect(await settlesWithinTicks(cast)).toBe(true);
    await expectRejects(cast, 'NO_PEERS_FOR_CAPABILITY');
  });

  it('a peer with no capabilities at all has no peers for any capability', async () => {
    const mesh = await start({ capabilities: [] });
    await expectRejects(mesh.call(probeRequest('x')), 'NO_PEERS_FOR_CAPABILITY');
  });

  const invalid: [string, unknown][] = [
    ['a numeric id', { actor: 'ProbeActor', id: 42, capability: 'game' }],
    ['a null id', { actor: 'ProbeActor', id: null, capability: 'game' }],
    ['a missing id', { actor: 'ProbeActor', capability: 'game' }],
    ['an empty id', { actor: 'ProbeActor', id: '', capability: 'game' }],
    ['an empty capability', { actor: 'ProbeActor', id: 'x', capability: '' }],
    ['a missing capability', { actor: 'ProbeActor', id: 'x' }],
    ['an empty actor', { actor: '', id: 'x', capability: 'game' }],
    ['a numeric actor', { actor: 7, id: 'x', capability: 'game' }],
    ['a null request', null],
    ['a zero timeout', { actor: 'ProbeActor', id: 'x', capability: 'game', timeoutMs: 0 }],
    ['a negative timeout', { actor: 'ProbeActor', id: 'x', capability: 'game', timeoutMs: -1 }],
    ['an infinite timeout', { actor: 'ProbeActor', id: 'x', capability: 'game', timeoutMs: Number.POSITIVE_INFINITY }],
    ['a string timeout', { actor: 'ProbeActor', id: 'x', capability: 'game', timeoutMs: '100' }],
  ];
  it.each(invalid)('INVALID_ARGUMENT at once for %s (call and cast)', async (_label, request) => {
    const mesh = await start();
    const call = mesh.call(request as CallRequest);
    expect(await settlesWithinTicks(call)).toBe(true);
    await expectRejects(call, 'INVALID_ARGUMENT');
    await expectRejects(mesh.cast(request as CallRequest), 'INVALID_ARGUMENT');
    expect(journal).toEqual([]);
  });

  it('TIMEOUT for a handler that never answers', async () => {
    const mesh = await start();
    const startedAt = Date.now();
    const error = await expectRejects(mesh.call(probeRequest('stuck', { op: 'never' }, { timeoutMs: 50 })), 'TIMEOUT');
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(45);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.details).toMatchObject({ actor: 'ProbeActor', id: 'stuck' });
  });

  it('the default timeout is callTimeoutMs', async () => {
    const mesh = await start({ callTimeoutMs: 40 });
    await expectRejects(mesh.call(probeRequest('stuck', { op: 'never' })), 'TIMEOUT');
  });

  it('a call times out after its timeout whatever the wall clock does meanwhile (a step back or forward)', async () => {
    const mesh = await start();
    const realNow = Date.now.bind(Date);
    const clock = vi.spyOn(Date, 'now');
    try {
      // Stepped back a minute after the call started: it must not wait that minute longer.
      const back = mesh.call(probeRequest('back', { op: 'never' }, { timeoutMs: 50 }));
      clock.mockImplementation(() => realNow() - 60_000);
      await expectRejects(back, 'TIMEOUT');
      // Stepped forward a minute: a call with time left must not time out early.
      clock.mockImplementation(realNow);
      const short = mesh.call(probeRequest('short', { op: 'never' }, { timeoutMs: 50 }));
      let longOutcome = 'pending';
      const long = mesh.call(probeRequest('long', { op: 'never' }, { timeoutMs: 10_000 })).then(
        () => (longOutcome = 'resolved'),
        (error: MeshError) => (longOutcome = error.code),
      );
      clock.mockImplementation(() => realNow() + 60_000);
      await expectRejects(short, 'TIMEOUT');
      expect(longOutcome).toBe('pending');
      clock.mockImplementation(realNow);
      await mesh.stop();
      await long;
      expect(longOutcome).toBe('STOPPED');
    } finally {
      clock.mockRestore();
    }
  });

  it('a message that timed out while queued is never run', async () => {
    const mesh = await start();
    const gate = new Gate<unknown>();
    gates.set('hold', gate.promise);
    const first = mesh.call(probeRequest('t', { wait: 'hold', value: 'first' }));
    await expectRejects(mesh.call(probeRequest('t', { tag: 'late' }, { timeoutMs: 30 })), 'TIMEOUT');
    gate.open(null);
    expect((await first).result).toBe('first');
    const after = await mesh.call(probeRequest('t', { value: 'after' }));
    expect(after.result).toBe('after');
    expect(
      journal.filter((h) => h.kind === 'start').map((h) => (h.payload as ProbeCommand).tag ?? (h.payload as ProbeCommand).value),
    ).toEqual(['first', 'after']);
  });

  it('ABORTED when the signal fires while waiting, and the aborted message never runs', async () => {
    const mesh = await start();
    const gate = new Gate<unknown>();
    gates.set('hold', gate.promise);
    const first = mesh.call(probeRequest('ab', { wait: 'hold', value: 'first' }));
    const controller = new AbortController();
    const aborted = mesh.call(probeRequest('ab', { tag: 'aborted' }, { signal: controller.signal, timeoutMs: 10_000 }));
    controller.abort();
    const error = await expectRejects(aborted, 'ABORTED');
    expect(error).toBeInstanceOf(AbortedError);
    gate.open(null);
    await first;
    await mesh.call(probeRequest('ab', { value: 'after' }));
    expect(journal.filter((h) => h.kind === 'start').some((h) => (h.payload as ProbeCommand).tag === 'aborted')).toBe(false);
  });

  it('ABORTED at once for an already-aborted signal (call and cast)', async () => {
    const mesh = await start();
    const call = mesh.call(probeRequest('x', {}, { signal: AbortSignal.abort() }));
    expect(await settlesWithinTicks(call)).toBe(true);
    await expectRejects(call, 'ABORTED');
    await expectRejects(mesh.cast(probeRequest('x', {}, { signal: AbortSignal.abort() })), 'ABORTED');
    expect(journal).toEqual([]);
  });

  it('ABORTED for an in-progress handler that is aborted (the call settles, the handler finishes alone)', async () => {
    const mesh = await start();
    const controller = new AbortController();
    const call = mesh.call(probeRequest('busy', { op: 'never' }, { signal: controller.signal, timeoutMs: 10_000 }));
    await until(() => journal.some((h) => h.kind === 'start' && h.id === 'busy'), 'the handler to start');
    controller.abort();
    expect(await settlesWithinTicks(call)).toBe(true);
    await expectRejects(call, 'ABORTED');
  });
});

describe('cast', () => {
  it('is fire-and-forget: resolves before an async handler finishes, and the handler then runs', async () => {
    const mesh = await start();
    const gate = new Gate<unknown>();
    gates.set('cast', gate.promise);
    const blocker = mesh.call(probeRequest('c2', { wait: 'cast', value: 'x' }));
    await mesh.cast(probeRequest('c2', { op: 'count' }));
    expect(journal.filter((h) => h.kind === 'cast')).toEqual([]); // queued behind the blocker, not run yet
    gate.open(null);
    await blocker;
    await until(() => journal.some((h) => h.kind === 'cast' && h.id === 'c2'), 'the cast to run');
    expect(mesh.stats().casts.sent).toBe(1);
  });

  it('uses handleCast when the type has one, handleCall otherwise', async () => {
    const seen: string[] = [];
    class CallOnly {
      handleCall(payload: unknown): unknown {
        seen.push(`call:${String(payload)}`);
        return null;
      }
    }
    const mesh = await start({ actors: { CallOnly, ProbeActor } });
    await mesh.cast({ actor: 'CallOnly', id: 'x', capability: 'game', payload: 'hi' });
    await mesh.cast(probeRequest('y', { tag: 'c' }));
    await until(() => seen.length === 1 && journal.some((h) => h.kind === 'cast'), 'both casts');
    expect(seen).toEqual(['call:hi']);
    expect(journal.filter((h) => h.kind === 'start')).toEqual([]);
  });

  it('handler errors are reported as cast-failed events, never thrown to the caller', async () => {
    const mesh = await start();
    const failed = events(mesh, 'cast-failed');
    const deactivated = events(mesh, 'deactivated');
    await expect(mesh.cast(probeRequest('cf', { op: 'throw', value: 'cast kaboom' }))).resolves.toBeUndefined();
    await until(() => failed.length === 1, 'cast-failed');
    expect(failed[0]).toMatchObject({ actor: 'ProbeActor', id: 'cf', capability: 'game' });
    expectMeshError(failed[0]!.error, 'ACTOR_FAILED');
    expect(failed[0]!.error.message).toBe('cast kaboom');
    expect(deactivated.map((d) => d.reason)).toEqual(['crash']);
    const stats = mesh.stats();
    expect(stats.casts.failed).toBe(1);
    expect(stats.errors['ACTOR_FAILED']).toBe(1);
    // The actor works again on the next message.
    expect((await mesh.call(probeRequest('cf', { value: 'ok' }))).result).toBe('ok');
  });
});

describe('stop()', () => {
  it('is idempotent, emits "stopped" once and deactivates every activation with "stop"', async () => {
    const mesh = await start();
    const stopped = events(mesh, 'stopped');
    const deactivated = events(mesh, 'deactivated');
    await mesh.call(probeRequest('a'));
    await mesh.call(probeRequest('b'));
    const first = mesh.stop();
    const second = mesh.stop();
    expect(second).toBe(first);
    await Promise.all([first, second]);
    await mesh.stop();
    expect(mesh.stopped).toBe(true);
    expect(stopped).toHaveLength(1);
    expect(deactivated.map((d) => `${d.id}:${d.reason}`).sort()).toEqual(['a:stop', 'b:stop']);
    expect(mesh.activations()).toEqual([]);
    expect(mesh.stats().deactivations.stop).toBe(2);
  });

  it('after stop, call / cast reject and registerCapabilities throws, all with STOPPED', async () => {
    const mesh = await start();
    await mesh.stop();
    const call = mesh.call(probeRequest('x'));
    expect(await settlesWithinTicks(call)).toBe(true);
    const error = await expectRejects(call, 'STOPPED');
    expect(error).toBeInstanceOf(StoppedError);
    await expectRejects(mesh.cast(probeRequest('x')), 'STOPPED');
    let thrown: unknown;
    try {
      mesh.registerCapabilities(['chat']);
    } catch (e) {
      thrown = e;
    }
    expectMeshError(thrown, 'STOPPED');
    expect(journal).toEqual([]);
  });

  it('messages queued behind a running one are failed with STOPPED', async () => {
    const mesh = await start();
    const gate = new Gate<unknown>();
    gates.set('hold', gate.promise);
    const running = mesh.call(probeRequest('q', { wait: 'hold', value: 'done' }));
    const queued = mesh.call(probeRequest('q', { tag: 'queued' }, { timeoutMs: 10_000 }));
    const stopping = mesh.stop();
    expect(await settlesWithinTicks(queued)).toBe(true);
    await expectRejects(queued, 'STOPPED');
    gate.open(null);
    await stopping;
    await running.catch(() => undefined);
    expect(journal.some((h) => h.kind === 'start' && (h.payload as ProbeCommand).tag === 'queued')).toBe(false);
  });

  it('a call whose handler is still running when the mesh stops is failed with STOPPED, not left to time out', async () => {
    useFakeClock();
    const mesh = await start();
    const call = mesh.call(probeRequest('hang', { op: 'never' }, { timeoutMs: 10_000 }));
    await until(() => journal.some((h) => h.kind === 'start' && h.id === 'hang'), 'the handler to start');
    await mesh.stop();
    const outcome = Promise.race([
      rejection(call).then((e) => (e instanceof MeshError ? e.code : 'not a MeshError')),
      sleep(500).then(() => 'still pending 500 ms after stop()'),
    ]);
    await vi.advanceTimersByTimeAsync(500);
    expect(await outcome).toBe('STOPPED');
  });
});

describe('registerCapabilities', () => {
  it('adds capabilities, bumps the version and emits topology', async () => {
    const mesh = await start();
    const topology = events(mesh, 'topology');
    const v0 = mesh.version;
    await expectRejects(mesh.call(probeRequest('room', {}, { capability: 'chat' })), 'NO_PEERS_FOR_CAPABILITY');
    mesh.registerCapabilities(['game', 'chat']);
    expect(mesh.version).toBe(v0 + 1);
    expect(mesh.peersFor('chat')).toEqual([mesh.peerId]);
    expect(mesh.allCapabilities()).toEqual(['chat', 'game']);
    expect(topology).toHaveLength(1);
    expect(topology[0]!.updated.map((p) => p.id)).toEqual([mesh.peerId]);
    const r = await mesh.call(probeRequest('room', { value: 'hi' }, { capability: 'chat' }));
    expect(r.result).toBe('hi');
  });

  it('dropping a capability stops its activations ("rebalance") and calls for it fail at once', async () => {
    const mesh = await start({ capabilities: ['game', 'chat'] });
    const deactivated = events(mesh, 'deactivated');
    await mesh.call(probeRequest('g1', {}, { capability: 'game' }));
    await mesh.call(probeRequest('c1', {}, { capability: 'chat' }));
    mesh.registerCapabilities(['chat']);
    expect(deactivated.map((d) => `${d.capability}/${d.id}:${d.reason}`)).toEqual(['game/g1:rebalance']);
    expect(mesh.activations().map((a) => a.id)).toEqual(['c1']);
    await expectRejects(mesh.call(probeRequest('g1', {}, { capability: 'game' })), 'NO_PEERS_FOR_CAPABILITY');
  });

  it('re-registering the same set is not a change', async () => {
    const mesh = await start({ capabilities: ['game', 'chat'] });
    const v = mesh.version;
    mesh.registerCapabilities(['chat', 'game', 'chat']);
    expect(mesh.version).toBe(v);
  });

  it('rejects bad names with INVALID_ARGUMENT and keeps the old set', async () => {
    const mesh = await start();
    for (const bad of [[''], ['x'.repeat(257)], [3 as unknown as string]]) {
      let thrown: unknown;
      try {
        mesh.registerCapabilities(bad);
      } catch (e) {
        thrown = e;
      }
      expectMeshError(thrown, 'INVALID_ARGUMENT');
    }
    expect(mesh.allCapabilities()).toEqual(['game']);
  });

  it('registerActor adds a type after start', async () => {
    const mesh = await start({ actors: {} });
    await expectRejects(mesh.call(probeRequest('x')), 'UNKNOWN_ACTOR');
    mesh.registerActor('ProbeActor', ProbeActor);
    expect(mesh.peers()[0]!.actorTypes).toEqual(['ProbeActor']);
    expect((await mesh.call(probeRequest('x', { value: 5 }))).result).toBe(5);
  });
});

describe('stats()', () => {
  it('counts calls, errors, activations, deactivations and latency', async () => {
    const mesh = await start({ peerId: 'stats-peer' });
    await mesh.call(probeRequest('a', { op: 'count' }));
    await mesh.call(probeRequest('a', { op: 'count' }));
    await mesh.call(probeRequest('b', { op: 'count' }));
    await expectRejects(mesh.call(probeRequest('c', { op: 'throw' })), 'ACTOR_FAILED');
    await expectRejects(mesh.call({ actor: 'Nope', id: 'x', capability: 'game' }), 'UNKNOWN_ACTOR');
    await expectRejects(mesh.call(probeRequest('x', {}, { capability: 'chat' })), 'NO_PEERS_FOR_CAPABILITY');
    await expectRejects(mesh.call(probeRequest('', {})), 'INVALID_ARGUMENT'); // refused before it is a call
    await mesh.cast(probeRequest('a', { op: 'count' }));
    const stats = mesh.stats();
    expect(stats.peerId).toBe('stats-peer');
    expect(stats.calls).toEqual({ ok: 3, failed: 3, local: 5, remote: 0 });
    expect(stats.casts).toEqual({ sent: 1, received: 0, failed: 0 });
    expect(stats.errors).toEqual({ ACTOR_FAILED: 1, UNKNOWN_ACTOR: 1, NO_PEERS_FOR_CAPABILITY: 1 });
    expect(stats.activations).toEqual({ active: 2, created: 3 });
    expect(stats.deactivations).toEqual({ crash: 1, idle: 0, rebalance: 0, stop: 0, conflict: 0 });
    expect(stats.handoffs).toEqual({ sent: 0, received: 0, bytes: 0, fresh: 0, held: { entries: 0, bytes: 0 } });
    expect(stats.droppedFrames).toBe(0);
    expect(stats.latencyMs.count).toBe(6);
    expect(stats.latencyBuckets.counts.reduce((a, b) => a + b, 0)).toBe(6);
    expect(stats.latencyBuckets.counts).toHaveLength(stats.latencyBuckets.boundsUs.length + 1);
    expect(stats.latencyMs.p50).toBeLessThanOrEqual(stats.latencyMs.p90);
    expect(stats.latencyMs.p90).toBeLessThanOrEqual(stats.latencyMs.p99);
    expect(stats.peers).toEqual({});
  });

  it('returns a snapshot, not live objects', async () => {
    const mesh = await start();
    const before = mesh.stats();
    await mesh.call(probeRequest('a'));
    expect(before.calls.ok).toBe(0);
    expect(mesh.stats().calls.ok).toBe(1);
  });
});

describe('events', () => {
  it('on() returns an unsubscribe; off() removes a listener; a throwing listener does not break the mesh', async () => {
    const mesh = await start();
    const seen: string[] = [];
    const off = mesh.on('activated', (e) => seen.push(`a:${e.id}`));
    const listener = (e: MeshEvents['activated']): void => {
      seen.push(`b:${e.id}`);
    };
    mesh.on('activated', listener);
    mesh.on('activated', () => {
      throw new Error('listener bug');
    });
    const swallowed: unknown[] = [];
    const onUncaught = (error: unknown): void => {
      swallowed.push(error);
    };
    process.on('uncaughtException', onUncaught);
    try {
      await mesh.call(probeRequest('one'));
      off();
      mesh.off('activated', listener);
      await mesh.call(probeRequest('two'));
      await until(() => swallowed.length >= 2, 'the listener errors to surface');
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(seen).toEqual(['a:one', 'b:one']);
    expect(mesh.activations()).toHaveLength(2);
    // The (still subscribed) listener's error is surfaced asynchronously once per event, not thrown into the call.
    expect(swallowed.map((e) => (e as Error).message)).toEqual(['listener bug', 'listener bug']);
  });
});
