/**
 * The seed's actor semantics, through the public API of a standalone Mesh (no transport): lazy activation,
 * one activation per (capability, type, id), one message at a time, crashes, idle passivation.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Actor, ActorContext, DeactivateReason } from '../../shared/actors/actor.js';
import { ActorFailedError } from '../../shared/errors.js';
import { Mesh, type MeshOptions } from '../../shared/mesh.js';
import { Gate, events, expectRejects } from '../fixtures/mesh-helpers.js';
import { sleep, until, useFakeClock } from '../fixtures/wait.js';
import {
  BrokenActor,
  NeverIdleActor,
  ProbeActor,
  QuickIdleActor,
  SlowIdleActor,
  gates,
  journal,
  resetActors,
  type ProbeCommand,
} from '../fixtures/test-actors.js';

const meshes: Mesh[] = [];
async function start(options: MeshOptions = {}): Promise<Mesh> {
  const mesh = await Mesh.start({ capabilities: ['game'], actors: { ProbeActor }, ...options });
  meshes.push(mesh);
  return mesh;
}

const probe = (
  mesh: Mesh,
  id: string,
  cmd: ProbeCommand = {},
  extra: { initArg?: unknown; capability?: string; timeoutMs?: number } = {},
) =>
  mesh.call({
    actor: 'ProbeActor',
    id,
    capability: extra.capability ?? 'game',
    payload: cmd,
    ...('initArg' in extra ? { initArg: extra.initArg } : {}),
    ...(extra.timeoutMs !== undefined ? { timeoutMs: extra.timeoutMs } : {}),
  });

beforeEach(() => resetActors());
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(meshes.splice(0).map((m) => m.stop()));
});

describe('lazy activation', () => {
  it('creates nothing until the first call, then exactly one activation on this peer', async () => {
    const mesh = await start();
    const activated = events(mesh, 'activated');
    expect(mesh.activations()).toEqual([]);
    expect(journal).toEqual([]);
    const first = await probe(mesh, 'player_1', { op: 'count' });
    expect(first.result).toBe(1);
    expect(first.peer).toBe(mesh.peerId);
    expect(first.activation.startsWith(`${mesh.peerId}#`)).toBe(true);
    expect(journal.filter((h) => h.kind === 'construct')).toEqual([{ kind: 'construct', id: 'player_1', initArg: undefined }]);
    expect(mesh.activations()).toEqual([
      {
        key: expect.any(String),
        actor: 'ProbeActor',
        capability: 'game',
        id: 'player_1',
        shard: mesh.shardFor('player_1'),
        activation: first.activation,
        // ProbeActor has no snapshot(): no copies, so no backups.
        backups: [],
      },
    ]);
    expect(activated).toHaveLength(1);
    expect(activated[0]).toMatchObject({
      actor: 'ProbeActor',
      id: 'player_1',
      capability: 'game',
      activation: first.activation,
      peer: mesh.peerId,
    });
  });

  it('later calls reach the same activation and its state', async () => {
    const mesh = await start();
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await probe(mesh, 'p', { op: 'count' }));
    expect(results.map((r) => r.result)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(results.map((r) => r.activation)).size).toBe(1);
    expect(journal.filter((h) => h.kind === 'construct')).toHaveLength(1);
    expect(mesh.activations()).toHaveLength(1);
  });

  it('each id is its own actor with its own activation', async () => {
    const mesh = await start();
    const a = await probe(mesh, 'a', { op: 'count' });
    const b = await probe(mesh, 'b', { op: 'count' });
    const a2 = await probe(mesh, 'a', { op: 'count' });
    expect([a.result, b.result, a2.result]).toEqual([1, 1, 2]);
    expect(a.activation).not.toBe(b.activation);
    expect(a2.activation).toBe(a.activation);
    expect(
      mesh
        .activations()
        .map((x) => x.id)
        .sort(),
    ).toEqual(['a', 'b']);
  });

  it('the handler sees its context: id, type, capability, shard, activation, peer', async () => {
    const seen: Omit<ActorContext, 'setTimer' | 'clearTimer'>[] = [];
    class CtxActor implements Actor {
      handleCall(_payload: unknown, ctx: ActorContext): unknown {
        seen.push({
          id: ctx.id,
          actor: ctx.actor,
          capability: ctx.capability,
          shard: ctx.shard,
          activation: ctx.activation,
          peerId: ctx.peerId,
        });
        return null;
      }
    }
    const mesh = await start({ actors: { CtxActor } });
    const r = await mesh.call({ actor: 'CtxActor', id: '🎮 player', capability: 'game' });
    expect(seen).toEqual([
      {
        id: '🎮 player',
        actor: 'CtxActor',
        capability: 'game',
        shard: mesh.shardFor('🎮 player'),
        activation: r.activation,
        peerId: mesh.peerId,
      },
    ]);
  });

  it('initArg is passed to the constructor only by the call that creates the activation', async () => {
    const mesh = await start();
    const first = await probe(mesh, 'acct', { op: 'init' }, { initArg: { balance: 10 } });
    const second = await probe(mesh, 'acct', { op: 'init' }, { initArg: { balance: 999 } });
    const third = await probe(mesh, 'acct', { op: 'init' });
    expect([first.result, second.result, third.result]).toEqual([{ balance: 10 }, { balance: 10 }, { balance: 10 }]);
    const constructs = journal.filter((h) => h.kind === 'construct');
    expect(constructs).toEqual([{ kind: 'construct', id: 'acct', initArg: { balance: 10 } }]);
    // Without an initArg the constructor gets undefined.
    await probe(mesh, 'other', { op: 'init' });
    expect(journal.filter((h) => h.kind === 'construct')[1]).toEqual({ kind: 'construct', id: 'other', initArg: undefined });
  });

  it('the same id under two capabilities is two actors; so is the same id under two types', async () => {
    class OtherActor extends ProbeActor {}
    const mesh = await start({ capabilities: ['game', 'chat'], actors: { ProbeActor, OtherActor } });
    const game = await probe(mesh, 'same', { op: 'count' }, { capability: 'game' });
    const chat = await probe(mesh, 'same', { op: 'count' }, { capability: 'chat' });
    const game2 = await probe(mesh, 'same', { op: 'count' }, { capability: 'game' });
    const other = await mesh.call({ actor: 'OtherActor', id: 'same', capability: 'game', payload: { op: 'count' } });
    expect([game.result, chat.result, game2.result, other.result]).toEqual([1, 1, 2, 1]);
    expect(new Set([game.activation, chat.activation, other.activation]).size).toBe(3);
    expect(game2.activation).toBe(game.activation);
    const acts = mesh.activations();
    expect(acts).toHaveLength(3);
    expect(acts.map((a) => `${a.capability}/${a.actor}`).sort()).toEqual(['chat/ProbeActor', 'game/OtherActor', 'game/ProbeActor']);
    expect(new Set(acts.map((a) => a.key)).size).toBe(3);
  });
});

describe('one message at a time', () => {
  it('async handlers never interleave, and messages run in the order they were sent', async () => {
    let active = 0;
    let maxActive = 0;
    const log: string[] = [];
    class Account implements Actor {
      balance = 100;
      async handleCall(payload: unknown): Promise<unknown> {
        const { n, amount } = payload as { n: number; amount: number };
        active++;
        maxActive = Math.max(maxActive, active);
        log.push(`start ${n}`);
        const read = this.balance;
        // Yield to the event loop in the middle of a read-modify-write: interleaving would lose updates.
        await sleep(n % 3);
        await Promise.resolve();
        this.balance = read - amount;
        log.push(`end ${n}`);
        active--;
        return this.balance;
      }
    }
    const mesh = await start({ actors: { Account } });
    const calls = Array.from({ length: 20 }, (_, n) =>
      mesh.call({ actor: 'Account', id: 'acct', capability: 'game', payload: { n, amount: 1 } }),
    );
    const results = await Promise.all(calls);
    expect(maxActive).toBe(1);
    expect(log).toEqual(Array.from({ length: 20 }, (_, n) => [`start ${n}`, `end ${n}`]).flat());
    expect(results.map((r) => r.result)).toEqual(Array.from({ length: 20 }, (_, n) => 99 - n));
    expect(new Set(results.map((r) => r.activation)).size).toBe(1);
  });

  it('a handler waiting on I/O holds its mailbox but not other actors', async () => {
    const mesh = await start();
    const gate = new Gate<unknown>();
    gates.set('io', gate.promise);
    const blocked = probe(mesh, 'slow', { wait: 'io', value: 'slow done' });
    const queued = probe(mesh, 'slow', { value: 'queued' });
    const other = await probe(mesh, 'fast', { value: 'fast done' });
    expect(other.result).toBe('fast done');
    const starts = () => journal.filter((h) => h.kind === 'start' && h.id === 'slow').length;
    expect(starts()).toBe(1); // the queued message has not started
    gate.open(null);
    expect((await blocked).result).toBe('slow done');
    expect((await queued).result).toBe('queued');
    expect(starts()).toBe(2);
  });

  it('casts and calls from one caller run in the order sent', async () => {
    const mesh = await start();
    const gate = new Gate<unknown>();
    gates.set('hold', gate.promise);
    const first = probe(mesh, 'ord', { wait: 'hold', tag: 'call-1' });
    await mesh.cast({ actor: 'ProbeActor', id: 'ord', capability: 'game', payload: { tag: 'cast-2' } });
    const third = probe(mesh, 'ord', { tag: 'call-3' });
    await mesh.cast({ actor: 'ProbeActor', id: 'ord', capability: 'game', payload: { tag: 'cast-4' } });
    gate.open(null);
    await Promise.all([first, third]);
    await until(() => journal.filter((h) => h.kind === 'cast').length === 2, 'both casts');
    const order = journal.filter((h) => h.kind === 'start' || h.kind === 'cast').map((h) => (h.payload as ProbeCommand).tag);
    expect(order).toEqual(['call-1', 'cast-2', 'call-3', 'cast-4']);
  });

  it('a synchronous handler completes its call without waiting for a timer', async () => {
    vi.useFakeTimers();
    const mesh = await start();
    // With fake timers nothing timer-based can fire; the call must still resolve.
    const r = await probe(mesh, 'sync', { value: 42 });
    expect(r.result).toBe(42);
  });
});

describe('crashes', () => {
  it('a throwing handler rejects with ACTOR_FAILED carrying the message; onDeactivate("crash"); next call is fresh', async () => {
    const mesh = await start();
    const deactivated = events(mesh, 'deactivated');
    const before = await probe(mesh, 'c', { op: 'count' });
    await probe(mesh, 'c', { op: 'count' });
    const error = await expectRejects(probe(mesh, 'c', { op: 'throw', value: 'kaboom' }), 'ACTOR_FAILED');
    expect(error).toBeInstanceOf(ActorFailedError);
    expect(error.message).toBe('kaboom');
    expect(error.details).toMatchObject({ actor: 'ProbeActor', id: 'c', activation: before.activation });
    expect(journal.filter((h) => h.kind === 'deactivate')).toEqual([{ kind: 'deactivate', id: 'c', reason: 'crash' }]);
    expect(deactivated).toHaveLength(1);
    expect(deactivated[0]).toMatchObject({ id: 'c', reason: 'crash', activation: before.activation, peer: mesh.peerId });
    expect(mesh.activations()).toEqual([]);
    const after = await probe(mesh, 'c', { op: 'count' });
    expect(after.result).toBe(1); // fresh state
    expect(after.activation).not.toBe(before.activation);
    expect(journal.filter((h) => h.kind === 'construct')).toHaveLength(2);
  });

  it('an async rejection is a crash too', async () => {
    const mesh = await start();
    const before = await probe(mesh, 'r', { op: 'count' });
    const error = await expectRejects(probe(mesh, 'r', { op: 'reject', value: 'async kaboom' }), 'ACTOR_FAILED');
    expect(error.message).toBe('async kaboom');
    const after = await probe(mesh, 'r', { op: 'count' });
    expect(after.result).toBe(1);
    expect(after.activation).not.toBe(before.activation);
    expect(journal.filter((h) => h.kind === 'deactivate')).toEqual([{ kind: 'deactivate', id: 'r', reason: 'crash' }]);
  });

  it('a thrown non-Error becomes the message', async () => {
    const mesh = await start();
    const error = await expectRejects(probe(mesh, 's', { op: 'throw-string', value: 'just a string' }), 'ACTOR_FAILED');
    expect(error.message).toBe('just a string');
  });

  it('messages queued behind a crashing one run on a fresh activation', async () => {
    const mesh = await start();
    const gate = new Gate<unknown>();
    gates.set('crash', gate.promise);
    const seed = await probe(mesh, 'q', { op: 'count' });
    const crashing = probe(mesh, 'q', { wait: 'crash', op: 'throw', value: 'late boom' });
    const queued = probe(mesh, 'q', { op: 'count' });
    gate.open(null);
    await expectRejects(crashing, 'ACTOR_FAILED');
    const r = await queued;
    expect(r.result).toBe(1);
    expect(r.activation).not.toBe(seed.activation);
  });

  it('a throwing constructor rejects with ACTOR_FAILED and leaves no activation', async () => {
    const mesh = await start({ actors: { BrokenActor } });
    const error = await expectRejects(mesh.call({ actor: 'BrokenActor', id: 'b1', capability: 'game' }), 'ACTOR_FAILED');
    expect(error.message).toContain('cannot build b1');
    expect(mesh.activations()).toEqual([]);
  });
});

describe('idle passivation', () => {
  it('global idleTimeoutMs deactivates a quiet actor ("idle") and the next call re-activates it', async () => {
    const mesh = await start({ idleTimeoutMs: 50 });
    const deactivated = events(mesh, 'deactivated');
    const first = await probe(mesh, 'idle', { op: 'count' });
    await until(() => deactivated.length === 1, 'idle deactivation', { timeoutMs: 3000 });
    expect(deactivated[0]).toMatchObject({ id: 'idle', reason: 'idle', activation: first.activation });
    expect(journal.filter((h) => h.kind === 'deactivate')).toEqual([{ kind: 'deactivate', id: 'idle', reason: 'idle' }]);
    expect(mesh.activations()).toEqual([]);
    const second = await probe(mesh, 'idle', { op: 'count' });
    expect(second.result).toBe(1);
    expect(second.activation).not.toBe(first.activation);
    expect(mesh.stats().deactivations.idle).toBe(1);
  });

  it('a per-type static idleTimeoutMs applies with no global setting', async () => {
    useFakeClock();
    const mesh = await start({ actors: { ProbeActor, QuickIdleActor } });
    const deactivated = events(mesh, 'deactivated');
    await mesh.call({ actor: 'QuickIdleActor', id: 'q', capability: 'game' });
    await probe(mesh, 'p');
    await until(() => deactivated.length === 1, 'idle deactivation of the quick type', { timeoutMs: 3000 });
    expect(deactivated[0]).toMatchObject({ actor: 'QuickIdleActor', reason: 'idle' });
    await vi.advanceTimersByTimeAsync(150);
    expect(mesh.activations().map((a) => a.actor)).toEqual(['ProbeActor']);
  });

  it('a per-type idleTimeoutMs of 0 wins over the global one (never passivated)', async () => {
    useFakeClock();
    const mesh = await start({ idleTimeoutMs: 40, actors: { ProbeActor, NeverIdleActor } });
    const deactivated = events(mesh, 'deactivated');
    await mesh.call({ actor: 'NeverIdleActor', id: 'n', capability: 'game' });
    await probe(mesh, 'p');
    await until(() => deactivated.length === 1, 'the global-timeout actor going idle', { timeoutMs: 3000 });
    expect(deactivated[0]).toMatchObject({ actor: 'ProbeActor' });
    await vi.advanceTimersByTimeAsync(200);
    expect(mesh.activations().map((a) => a.actor)).toEqual(['NeverIdleActor']);
  });

  it('a busy actor is not passivated in the middle of a message', async () => {
    useFakeClock();
    const mesh = await start({ idleTimeoutMs: 30 });
    const deactivated = events(mesh, 'deactivated');
    const gate = new Gate<unknown>();
    gates.set('busy', gate.promise);
    const call = probe(mesh, 'busy', { wait: 'busy', value: 'done' });
    await vi.advanceTimersByTimeAsync(200);
    expect(deactivated).toEqual([]);
    gate.open(null);
    expect((await call).result).toBe('done');
    await until(() => deactivated.length === 1, 'idle after the message', { timeoutMs: 3000 });
  });

  describe('with fake timers (exact clock)', () => {
    it('activity postpones passivation; quiet for idleTimeoutMs stops it', async () => {
      useFakeClock();
      const mesh = await start({ idleTimeoutMs: 100 });
      const deactivated = events(mesh, 'deactivated');
      const first = await probe(mesh, 'a', { op: 'count' });
      for (let i = 0; i < 10; i++) {
        await vi.advanceTimersByTimeAsync(60);
        const r = await probe(mesh, 'a', { op: 'count' });
        expect(r.activation).toBe(first.activation);
      }
      expect(deactivated).toEqual([]);
      await vi.advanceTimersByTimeAsync(90);
      expect(deactivated).toEqual([]);
      await vi.advanceTimersByTimeAsync(60); // 150 ms quiet, sweep every 25 ms
      expect(deactivated).toHaveLength(1);
      expect(deactivated[0]!.reason).toBe('idle');
    });

    it('a short per-type timeout is honoured even when a long one started the sweep first', async () => {
      useFakeClock();
      const mesh = await start({ actors: { SlowIdleActor, QuickIdleActor } });
      const deactivated = events(mesh, 'deactivated');
      await mesh.call({ actor: 'SlowIdleActor', id: 'slow', capability: 'game' }); // idle 60 s
      await mesh.call({ actor: 'QuickIdleActor', id: 'quick', capability: 'game' }); // idle 50 ms
      await vi.advanceTimersByTimeAsync(200); // 4x the quick type's timeout
      expect(deactivated.map((d) => `${d.actor}:${d.reason}`)).toEqual(['QuickIdleActor:idle']);
    });
  });
});

describe('deactivation reasons', () => {
  it('onDeactivate gets "stop" on mesh.stop(), once per activation', async () => {
    const mesh = await start();
    await probe(mesh, 'x');
    await probe(mesh, 'y');
    await mesh.stop();
    const reasons = journal
      .filter((h) => h.kind === 'deactivate')
      .map((h) => `${h.id}:${h.reason ?? ''}`)
      .sort();
    expect(reasons).toEqual(['x:stop', 'y:stop']);
  });

  it('an onDeactivate that throws does not keep the activation alive', async () => {
    class Grumpy implements Actor {
      handleCall(): unknown {
        throw new Error('bad');
      }
      onDeactivate(_reason: DeactivateReason): void {
        throw new Error('worse');
      }
    }
    const mesh = await start({ actors: { Grumpy } });
    await expectRejects(mesh.call({ actor: 'Grumpy', id: 'g', capability: 'game' }), 'ACTOR_FAILED');
    expect(mesh.activations()).toEqual([]);
  });
});
