/**
 * Durable actors over a store: load before the first message, save after changes (write-through answers
 * after the save, write-behind at once and within writeBehindMs, on deactivation and on stop), read-only
 * calls write nothing, two activations of one actor never overwrite each other (STORE_CONFLICT, then a
 * reload), a store that is down or silent gives STORE_UNAVAILABLE within the timeout and loses nothing
 * silently, the same local and remote, and state follows a handoff through the store.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Actor } from '../../shared/actors/actor.js';
import { Mesh, type CallRequest, type MeshEvents, type MeshOptions } from '../../shared/mesh.js';
import { MemoryStore } from '../../shared/stores/memory-store.js';
import type { StateStore } from '../../shared/stores/state-store.js';
import { MemoryNetwork } from '../../shared/wire/memory-transport.js';
import { FlakyStore } from '../fixtures/flaky-store.js';
import { expectRejects, idRanked, settlesWithinTicks, stopAll, waitConverged } from '../fixtures/mesh-helpers.js';
import { macrotask, until, useFakeClock } from '../fixtures/wait.js';

/** A score that lives in the store; `get` is read-only. */
class Score implements Actor {
  score = 0;
  handleCall(payload: unknown): unknown {
    return (payload as { op?: string } | null)?.op === 'get' ? this.score : ++this.score;
  }
  snapshot(): unknown {
    return { score: this.score };
  }
  restore(state: unknown): void {
    this.score = (state as { score: number }).score;
  }
  static readonly durable: boolean = true;
  static readOnly(payload: unknown): boolean {
    return (payload as { op?: string } | null)?.op === 'get';
  }
}

class BehindScore extends Score {
  static readonly persistence = 'write-behind' as const;
}

/** Not opted in: the store never hears of it. */
class Volatile extends Score {
  static override readonly durable = false;
}

const CAP = 'game';
let running: Mesh[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await stopAll(running);
  running = [];
});

async function start(store: StateStore, options: MeshOptions = {}): Promise<Mesh> {
  const m = await Mesh.start({ capabilities: [CAP], actors: { Score, BehindScore, Volatile }, store, replicas: 0, ...options });
  running.push(m);
  return m;
}

const score = (id: string, op?: string, actor = 'Score'): CallRequest => ({ actor, id, capability: CAP, payload: op ? { op } : null });

describe('load and save', () => {
  it('state outlives every mesh: a new mesh on the same store goes on from it', async () => {
    const store = new MemoryStore();
    const a = await start(store);
    for (let i = 0; i < 3; i++) await a.call(score('p1'));
    await a.call(score('v1', undefined, 'Volatile'));
    await a.stop();
    const b = await start(store);
    expect((await b.call(score('p1'))).result).toBe(4);
    expect((await b.call(score('v1', undefined, 'Volatile'))).result).toBe(1);
    expect(store.size).toBe(1);
    expect(b.stats().store).toMatchObject({ loads: 1, saves: 1, conflicts: 0, failures: 0 });
  });

  it('write-through: a call resolves only once its state is saved; read-only calls save nothing', async () => {
    const store = new FlakyStore();
    const m = await start(store);
    await m.call(score('p2'));
    store.holdSaves();
    const second = m.call(score('p2'));
    await until(() => store.heldSaves === 1, 'the save to start');
    expect(await settlesWithinTicks(second)).toBe(false);
    store.releaseSaves();
    expect((await second).result).toBe(2);
    const saves = store.calls.save;
    expect((await m.call(score('p2', 'get'))).result).toBe(2);
    expect(store.calls.save).toBe(saves);
  });

  it('write-behind: answers at once, saves within writeBehindMs, and flushes on stop', async () => {
    useFakeClock();
    const store = new FlakyStore();
    const m = await start(store, { writeBehindMs: 500 });
    store.holdSaves();
    for (let i = 0; i < 5; i++) expect((await m.call(score('p3', undefined, 'BehindScore'))).result).toBe(i + 1);
    expect(store.calls.save).toBe(0);
    await vi.advanceTimersByTimeAsync(500);
    expect(store.calls.save).toBe(1); // one save for the five changes
    store.releaseSaves();
    await m.call(score('p3', undefined, 'BehindScore'));
    await m.stop(); // the sixth change is flushed by stop()
    const again = await start(store);
    expect((await again.call(score('p3', 'get', 'BehindScore'))).result).toBe(6);
  });

  it('idle passivation saves the last state; the next activation loads it after that save', async () => {
    const store = new FlakyStore();
    const m = await start(store, { idleTimeoutMs: 30, persistence: 'write-behind', writeBehindMs: 60_000 });
    await m.call(score('p4'));
    await m.call(score('p4'));
    await until(() => m.activations().length === 0, 'the idle actor to stop');
    expect((await m.call(score('p4'))).result).toBe(3);
  });
});

describe('optimistic concurrency', () => {
  it('two activations of one actor (two meshes that cannot see each other) never overwrite each other', async () => {
    const store = new MemoryStore();
    const left = await start(store);
    const right = await start(store);
    expect((await left.call(score('p5'))).result).toBe(1);
    expect((await right.call(score('p5'))).result).toBe(2); // loaded left's 1
    // Both live now; each read version 1 or 2. left's next save names 1: refused, nothing overwritten.
    const conflict = await expectRejects(left.call(score('p5')), 'STORE_CONFLICT');
    expect(conflict.details).toMatchObject({ expected: 1, found: 2 });
    expect(left.stats().deactivations.conflict).toBe(1);
    // The stale activation stopped; the next call reloads what right saved.
    expect((await left.call(score('p5'))).result).toBe(3);
    expect(await store.load({ capability: CAP, actor: 'Score', id: 'p5' }, new AbortController().signal)).toMatchObject({ version: 3 });
  });
});

describe('a store that fails', () => {
  it('down: loads and saves fail with STORE_UNAVAILABLE; the mesh serves on and recovers', async () => {
    const store = new FlakyStore();
    const m = await start(store);
    await m.call(score('p6'));
    store.mode = 'down';
    await expectRejects(m.call(score('p6')), 'STORE_UNAVAILABLE');
    await expectRejects(m.call(score('p7')), 'STORE_UNAVAILABLE'); // cannot load
    expect((await m.call(score('v2', undefined, 'Volatile'))).result).toBe(1);
    store.mode = 'ok';
    // The unsaved change is still in memory and goes with the next save: the caller was told, nothing is lost silently.
    expect((await m.call(score('p6'))).result).toBe(3);
    expect((await m.call(score('p7'))).result).toBe(1);
  });

  it('silent: a store that never answers (and ignores its signal) fails the call at storeTimeoutMs, never hangs it', async () => {
    useFakeClock();
    const store = new FlakyStore();
    const m = await start(store, { storeTimeoutMs: 300, callTimeoutMs: 60_000 });
    await m.call(score('p8'));
    store.mode = 'hang';
    const call = m.call(score('p8'));
    const failed = expectRejects(call, 'STORE_UNAVAILABLE');
    await vi.advanceTimersByTimeAsync(301);
    expect((await failed).message).toContain('did not answer within 300 ms');
    store.mode = 'ok';
  });

  it('write-through: a change made while a save was in flight hears that save fail too, without waiting for another message', async () => {
    const store = new FlakyStore();
    const m = await start(store, { callTimeoutMs: 60_000 });
    await m.call(score('p10'));
    store.holdSaves();
    const first = m.call(score('p10'));
    await until(() => store.heldSaves === 1, 'the first save to start');
    const second = m.call(score('p10'));
    second.catch(() => undefined);
    await macrotask(); // the second call has run; its change waits for the save after the one in flight
    store.mode = 'down';
    store.releaseSaves();
    await expectRejects(first, 'STORE_UNAVAILABLE');
    // No other message comes for p10: its caller must hear now (the retry fails too), not at the call timeout.
    await macrotask();
    expect(await settlesWithinTicks(second)).toBe(true);
    await expectRejects(second, 'STORE_UNAVAILABLE');
    store.mode = 'ok';
    expect((await m.call(score('p10'))).result).toBe(4); // both unsaved changes are still there
  });

  it('write-behind: acknowledged state that cannot be saved is reported (store-failed), then saved when the store is back', async () => {
    useFakeClock();
    const store = new FlakyStore();
    const m = await start(store, { writeBehindMs: 100 });
    const failed: MeshEvents['store-failed'][] = [];
    m.on('store-failed', (e) => failed.push(e));
    store.mode = 'down';
    // The load fails while down: first make the actor live.
    store.mode = 'ok';
    await m.call(score('p9', undefined, 'BehindScore'));
    await vi.advanceTimersByTimeAsync(100);
    store.mode = 'down';
    await m.call(score('p9', undefined, 'BehindScore'));
    await vi.advanceTimersByTimeAsync(100);
    expect(failed.map((e) => [e.id, e.error.code])).toEqual([['p9', 'STORE_UNAVAILABLE']]);
    store.mode = 'ok';
    await vi.advanceTimersByTimeAsync(100); // the retry
    const stored = await store.inner.load({ capability: CAP, actor: 'BehindScore', id: 'p9' }, new AbortController().signal);
    expect(stored?.version).toBe(2);
  });
});

describe('local and remote agree', () => {
  it('STORE_CONFLICT and STORE_UNAVAILABLE reach a remote caller with the same code', async () => {
    const net = new MemoryNetwork();
    const store = new FlakyStore();
    const a = await start(store, { peerId: 'peer-a', transport: net.transport() });
    const b = await start(store, { peerId: 'peer-b', transport: net.transport() });
    await waitConverged([a, b]);
    const id = idRanked(['peer-a'], ['peer-a', 'peer-b'], 'd');
    await b.call(score(id));
    store.mode = 'down';
    await expectRejects(b.call(score(id)), 'STORE_UNAVAILABLE');
    await expectRejects(a.call(score(id)), 'STORE_UNAVAILABLE');
    store.mode = 'ok';
    // Another writer bumps the stored version behind peer-a's back.
    const key = { capability: CAP, actor: 'Score', id };
    const signal = new AbortController().signal;
    const current = await store.inner.load(key, signal);
    await store.inner.save(key, current!.data, current!.version, signal);
    await expectRejects(b.call(score(id)), 'STORE_CONFLICT');
  });

  it('a handoff through the store: the joiner loads the version the old owner saved last, and goes on', async () => {
    const net = new MemoryNetwork();
    const store = new MemoryStore();
    const a = await start(store, { peerId: 'peer-a', transport: net.transport() });
    const id = idRanked(['peer-b'], ['peer-a', 'peer-b'], 'd');
    for (let i = 0; i < 4; i++) await a.call(score(id, undefined, 'BehindScore'));
    const b = await start(store, { peerId: 'peer-b', transport: net.transport(), persistence: 'write-behind' });
    await waitConverged([a, b]);
    expect(await a.call(score(id, undefined, 'BehindScore'))).toMatchObject({ peer: 'peer-b', result: 5 });
    expect(b.stats().store.conflicts).toBe(0);
  });
});
