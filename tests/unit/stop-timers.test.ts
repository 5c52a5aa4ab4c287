/**
 * stop() leaves no timer behind: a Node process whose meshes all stopped can exit at once. (A timer of the
 * last drain step outlived stop() by the rest of drainTimeoutMs: 2.25 s after every stop, before the fix.)
 * Counted with fake timers, so only timers set after useFakeTimers(): in the second test, those of the calls
 * and of the stop itself.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Actor } from '../../shared/actors/actor.js';
import { Mesh } from '../../shared/mesh.js';
import { MemoryNetwork } from '../../shared/wire/memory-transport.js';

class Counter implements Actor {
  n = 0;
  async handleCall(): Promise<number> {
    return ++this.n;
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe('stop() clears every timer', () => {
  it('a standalone mesh', async () => {
    vi.useFakeTimers();
    const mesh = await Mesh.start({ capabilities: ['game'], actors: { Counter } });
    await mesh.call({ capability: 'game', actor: 'Counter', id: 'a', payload: null });
    await mesh.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('two meshes that called each other over a transport', async () => {
    const net = new MemoryNetwork();
    const a = await Mesh.start({ peerId: 'peer-a', capabilities: ['game'], actors: { Counter }, transport: net.transport() });
    const b = await Mesh.start({ peerId: 'peer-b', capabilities: ['game'], actors: { Counter }, transport: net.transport() });
    await vi.waitFor(() => expect(a.peers().length + b.peers().length).toBe(4));
    vi.useFakeTimers();
    const calls = Array.from({ length: 20 }, (_, i) => `id${i}`).flatMap((id) => [
      a.call({ capability: 'game', actor: 'Counter', id, payload: null }),
      b.call({ capability: 'game', actor: 'Counter', id, payload: null }),
    ]);
    await vi.advanceTimersByTimeAsync(0);
    await Promise.all(calls);
    const stopped = Promise.all([a.stop(), b.stop()]);
    // The farewell exchange runs on the transport's own schedule: let fake time pass until both are done.
    let done = false;
    void stopped.then(() => {
      done = true;
    });
    for (let i = 0; i < 500 && !done; i++) await vi.advanceTimersByTimeAsync(10);
    await stopped;
    expect(vi.getTimerCount()).toBe(0);
  });
});
