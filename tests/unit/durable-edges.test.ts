/**
 * Durable actors at the edges a review found: a message that finishes while its activation loses a store
 * conflict, stop() while a write-behind actor is mid-message, a store outage while handed-over state waits
 * to be loaded against, a last save the store refuses before a handoff, reads behind an unsaved change, an
 * activation abandoned while a rebalance counts on it, and a crash while a save is in flight.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Actor } from '../../shared/actors/actor.js';
import { Mesh, type CallRequest, type MeshOptions } from '../../shared/mesh.js';
import { MemoryStore } from '../../shared/stores/memory-store.js';
import { abortable } from '../../shared/stores/abortable.js';
import type { StateStore, StoreKey, StoredRecord } from '../../shared/stores/state-store.js';
import { MemoryNetwork } from '../../shared/wire/memory-transport.js';
import { FlakyStore } from '../fixtures/flaky-store.js';
import { Gate, events, expectRejects, idRanked, stopAll, waitConverged } from '../fixtures/mesh-helpers.js';
import { macrotask, until } from '../fixtures/wait.js';

const CAP = 'game';

/** A stored score: 'get' reads, 'slow' waits for Score.gate then counts, 'boom' throws. */
class Score implements Actor {
  static gate: Promise<void> = Promise.resolve();
  /** 'sleepget' reads that have finished running. */
  static slept = 0;
  score = 0;
  handleCall(payload: unknown): unknown {
    const op = (payload as { op?: string } | null)?.op;
    if (op === 'get') return this.score;
    if (op === 'boom') throw new Error('boom');
    if (op === 'slow') return Score.gate.then(() => ++this.score);
    if (op === 'slowget') return Score.gate.then(() => this.score);
    if (op === 'sleepget') {
      return new Promise((resolve) =>
        setTimeout(() => {
          Score.slept++;
          resolve(this.score);
        }, 3),
      );
    }
    return ++this.score;
  }
  snapshot(): unknown {
    return { score: this.score };
  }
  restore(state: unknown): void {
    this.score = (state as { score: number }).score;
  }
  static readonly durable: boolean = true;
  static readOnly(payload: unknown): boolean {
    const op = (payload as { op?: string } | null)?.op;
    return op === 'get' || op === 'slowget' || op === 'sleepget';
  }
}

class BehindScore extends Score {
  static readonly persistence = 'write-behind' as const;
}

const running: Mesh[] = [];
afterEach(async () => {
  Score.gate = Promise.resolve();
  await stopAll(running.splice(0));
});

async function start(store: StateStore, options: MeshOptions = {}): Promise<Mesh> {
  const mesh = await Mesh.start({ capabilities: [CAP], actors: { Score, BehindScore }, store, replicas: 0, ...options });
  running.push(mesh);
  return mesh;
}

const score = (id: string, op?: string, actor = 'Score'): CallRequest => ({ actor, id, capability: CAP, payload: op ? { op } : null });
const key = (id: string, actor = 'Score') => ({ capability: CAP, actor, id });
const signal = (): AbortSignal => new AbortController().signal;

/** A store whose saves take `delayMs` and land even when the mesh gave up on them (as Redis or a file may). */
class SlowStore implements StateStore {
  readonly name = 'slow';
  readonly inner = new MemoryStore();
  delayMs = 0;
  load(key: StoreKey, signal: AbortSignal): Promise<StoredRecord | null> {
    return this.inner.load(key, signal);
  }
  save(key: StoreKey, data: Uint8Array, expected: number, signal: AbortSignal): Promise<number> {
    const landed = new Promise<void>((resolve) => setTimeout(resolve, this.delayMs)).then(() =>
      this.inner.save(key, data, expected, new AbortController().signal),
    );
    return abortable(landed, signal, this.name);
  }
  delete(key: StoreKey, expected: number, signal: AbortSignal): Promise<void> {
    return this.inner.delete(key, expected, signal);
  }
}

describe('durable actors at the edges', () => {
  it('a message that finishes while its activation loses a conflict hears STORE_CONFLICT, not a timeout', async () => {
    const store = new FlakyStore();
    const left = await start(store, { callTimeoutMs: 20_000 });
    const right = await start(store);
    expect((await left.call(score('x'))).result).toBe(1);
    expect((await right.call(score('x'))).result).toBe(2);
    store.holdSaves();
    const first = left.call(score('x'));
    first.catch(() => undefined);
    await until(() => store.heldSaves === 1, 'left save held');
    const g = new Gate();
    Score.gate = g.promise;
    const slow = left.call(score('x', 'slow'));
    store.releaseSaves();
    await expectRejects(first, 'STORE_CONFLICT');
    g.open();
    await expectRejects(slow, 'STORE_CONFLICT');
  });

  it('write-behind: stop() waits for an actor mid-message and saves what it acknowledged', async () => {
    const store = new MemoryStore();
    const mesh = await start(store, { writeBehindMs: 60_000 });
    await mesh.call(score('w', undefined, 'BehindScore'));
    await mesh.call(score('w', undefined, 'BehindScore'));
    const g = new Gate();
    Score.gate = g.promise;
    mesh.call(score('w', 'slow', 'BehindScore')).catch(() => undefined);
    let stopped = false;
    const stopping = mesh.stop().then(() => {
      stopped = true;
    });
    for (let i = 0; i < 20; i++) await macrotask();
    // Still waiting for the message in progress: what it acknowledged is not saved yet.
    expect(stopped).toBe(false);
    g.open();
    await stopping;
    expect(await store.load(key('w', 'BehindScore'), signal())).not.toBeNull();
  });

  it('write-behind: an actor that does not finish its message by the bound is reported unsaved by stop()', async () => {
    const store = new MemoryStore();
    const mesh = await start(store, { writeBehindMs: 60_000, storeTimeoutMs: 100 });
    const failed = events(mesh, 'store-failed');
    await mesh.call(score('h', undefined, 'BehindScore'));
    Score.gate = new Promise(() => undefined);
    mesh.call(score('h', 'slow', 'BehindScore')).catch(() => undefined);
    await mesh.stop();
    expect(failed.map((f) => f.error.code)).toEqual(['STORE_UNAVAILABLE']);
  });

  it('write-behind: maxUnsavedChanges bounds the acknowledged changes while the store is down', async () => {
    const store = new FlakyStore();
    const mesh = await start(store, { writeBehindMs: 20, maxUnsavedChanges: 3, callTimeoutMs: 20_000 });
    await mesh.call(score('n', undefined, 'BehindScore'));
    await until(() => store.calls.save === 1, 'the first save');
    store.mode = 'down';
    let acked = 0;
    let failed = 0;
    for (let i = 0; i < 10; i++) {
      await mesh.call(score('n', undefined, 'BehindScore')).then(
        () => acked++,
        () => failed++,
      );
    }
    // Three changes may ride on the store coming back; the callers of the rest hear it is down.
    expect(acked).toBe(3);
    expect(failed).toBe(7);
  });

  it('write-behind: a save that timed out but landed later counts as saved, not as a conflict', async () => {
    const store = new SlowStore();
    const mesh = await start(store, { writeBehindMs: 20, storeTimeoutMs: 100 });
    const failed = events(mesh, 'store-failed');
    const deactivated = events(mesh, 'deactivated');
    await mesh.call(score('l', undefined, 'BehindScore'));
    await until(async () => (await store.inner.load(key('l', 'BehindScore'), signal()))?.version === 1, 'version 1 stored');
    store.delayMs = 150; // times out at 100 ms, lands at 150
    await mesh.call(score('l', undefined, 'BehindScore'));
    await until(() => failed.length === 1, 'the save times out');
    expect(failed[0]!.error.code).toBe('STORE_UNAVAILABLE');
    await until(async () => (await store.inner.load(key('l', 'BehindScore'), signal()))?.version === 2, 'it lands anyway');
    store.delayMs = 0;
    await mesh.call(score('l', undefined, 'BehindScore'));
    await mesh.call(score('l', undefined, 'BehindScore'));
    await until(async () => (await store.inner.load(key('l', 'BehindScore'), signal()))?.version === 3, 'the next save');
    // Retries while the store was slow may time out too; none of it is taken for another writer.
    expect(deactivated).toHaveLength(0);
    expect(failed.map((f) => f.error.code).filter((code) => code !== 'STORE_UNAVAILABLE')).toEqual([]);
    expect((await mesh.call(score('l', 'get', 'BehindScore'))).result).toBe(4);
  });

  it('a move whose last save is slower than handoffTimeoutMs still brings the newest state', async () => {
    const net = new MemoryNetwork();
    const store = new SlowStore();
    const options = { handoffTimeoutMs: 200, storeTimeoutMs: 1_000, writeBehindMs: 60_000 };
    const a = await start(store, { ...options, peerId: 'peer-a', transport: net.transport() });
    const id = idRanked(['peer-b'], ['peer-a', 'peer-b'], 'd');
    for (let i = 1; i <= 3; i++) await a.call(score(id, undefined, 'BehindScore'));
    store.delayMs = 400;
    const b = await start(store, { ...options, peerId: 'peer-b', transport: net.transport() });
    await waitConverged([a, b]);
    expect((await b.call(score(id, 'get', 'BehindScore'))).result).toBe(3);
    store.delayMs = 0;
    expect((await b.call(score(id, undefined, 'BehindScore'))).result).toBe(4);
  });

  it('handed-over state survives a store outage at its first load', async () => {
    const net = new MemoryNetwork();
    const store = new FlakyStore();
    const a = await start(store, { peerId: 'peer-a', transport: net.transport(), writeBehindMs: 60_000 });
    const id = idRanked(['peer-b'], ['peer-a', 'peer-b'], 'd');
    for (let i = 1; i <= 3; i++) await a.call(score(id, undefined, 'BehindScore'));
    store.mode = 'down';
    const b = await start(store, { peerId: 'peer-b', transport: net.transport(), writeBehindMs: 60_000 });
    await waitConverged([a, b]);
    await until(() => b.stats().handoffs.received === 1, 'the state reaches peer-b');
    await expectRejects(b.call(score(id, 'get', 'BehindScore')), 'STORE_UNAVAILABLE');
    store.mode = 'ok';
    expect((await b.call(score(id, 'get', 'BehindScore'))).result).toBe(3);
  });

  it('a last save the store refuses is not handed over: the next owner keeps the winner', async () => {
    const store = new MemoryStore();
    const net = new MemoryNetwork();
    const a = await start(store, { peerId: 'peer-a', transport: net.transport(), persistence: 'write-behind', writeBehindMs: 60_000 });
    const failedOnA = events(a, 'store-failed');
    const id = idRanked(['peer-b'], ['peer-a', 'peer-b'], 'd');
    for (let i = 1; i <= 3; i++) await a.call(score(id));
    // The other side of a partition writes first.
    const other = await start(store, { peerId: 'peer-r' });
    expect((await other.call(score(id))).result).toBe(1);
    const b = await start(store, { peerId: 'peer-b', transport: net.transport() });
    await waitConverged([a, b]);
    await until(() => failedOnA.length === 1, 'the last save is refused');
    expect(failedOnA[0]!.error.code).toBe('STORE_CONFLICT');
    expect((await b.call(score(id, 'get'))).result).toBe(1);
  });

  it('write-through: a read after a failed save does not show the unsaved value', async () => {
    const store = new FlakyStore();
    const mesh = await start(store);
    await mesh.call(score('r'));
    store.mode = 'down';
    await expectRejects(mesh.call(score('r')), 'STORE_UNAVAILABLE');
    await expectRejects(mesh.call(score('r', 'get')), 'STORE_UNAVAILABLE');
    store.mode = 'ok';
    expect((await mesh.call(score('r', 'get'))).result).toBe(2);
    expect((await store.load(key('r'), signal()))?.version).toBe(2);
  });

  it('write-through: a change is saved while reads queue behind it, not after them', async () => {
    const store = new FlakyStore();
    const mesh = await start(store);
    await mesh.call(score('q'));
    Score.slept = 0;
    const busy = mesh.call(score('q', 'sleepget'));
    let sleptWhenAnswered = -1;
    const change = mesh.call(score('q')).then((r) => {
      sleptWhenAnswered = Score.slept;
      return r;
    });
    const reads = Array.from({ length: 30 }, () => mesh.call(score('q', 'sleepget')));
    await busy;
    expect((await change).result).toBe(2);
    for (const read of await Promise.all(reads)) expect(read.result).toBe(2);
    // The change was answered once its save landed, with most of the 30 reads behind it still to run.
    expect(sleptWhenAnswered).toBeLessThan(5);
  });

  it('an activation that never loads does not hold back the rebalance that counted on it', async () => {
    const net = new MemoryNetwork();
    const store = new FlakyStore();
    const options = { storeTimeoutMs: 200, handoffTimeoutMs: 5_000, drainTimeoutMs: 5_000 };
    const a = await start(store, { ...options, peerId: 'peer-a', transport: net.transport() });
    const x = idRanked(['peer-b'], ['peer-a', 'peer-b'], 'x');
    const z = idRanked(['peer-b'], ['peer-a', 'peer-b'], 'z');
    store.mode = 'hang';
    a.call({ ...score(x), timeoutMs: 10_000 }).catch(() => undefined);
    const b = await start(store, { ...options, peerId: 'peer-b', transport: net.transport() });
    await waitConverged([a, b]);
    store.mode = 'ok';
    const lost = events(b, 'handoff-lost');
    const t0 = Date.now();
    await b.call(score(z));
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(lost).toHaveLength(0);
  });

  it('after a crash, the next activation waits for the save still in flight (no spurious conflict)', async () => {
    const store = new FlakyStore();
    const mesh = await start(store, { callTimeoutMs: 20_000 });
    await mesh.call(score('c'));
    store.holdSaves();
    const second = mesh.call(score('c'));
    await until(() => store.heldSaves === 1, 'save 2 held');
    await expectRejects(mesh.call(score('c', 'boom')), 'ACTOR_FAILED');
    const third = mesh.call(score('c'));
    third.catch(() => undefined);
    // Time for the fresh activation to load and save, had it not waited for the save in flight.
    for (let i = 0; i < 10; i++) await macrotask();
    store.releaseSaves();
    expect((await second).result).toBe(2);
    expect((await third).result).toBe(3);
    expect(mesh.stats().store.conflicts).toBe(0);
  });
});
