/**
 * Actor timers: a timer runs as a message of its activation's mailbox (one at a time with calls), repeats
 * until cleared, stops with the activation, is checked like any input, and with `static keepTimers` moves
 * with the actor's state (handoff and a promoted copy).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Actor, ActorContext } from '../../shared/actors/actor.js';
import { Mesh, type CallRequest, type MeshEvents } from '../../shared/mesh.js';
import { MemoryNetwork } from '../../shared/wire/memory-transport.js';
import { Gate, expectRejects, idRanked, stopAll, waitConverged } from '../fixtures/mesh-helpers.js';
import { until, useFakeClock } from '../fixtures/wait.js';

type Command =
  | { readonly op: 'set'; readonly name: string; readonly ms: number; readonly repeat?: boolean; readonly payload?: unknown }
  | { readonly op: 'clear'; readonly name: string }
  | { readonly op: 'get' }
  | { readonly op: 'slow' }
  | { readonly op: 'setfn' };

const slowGate = new Gate();

/** Counts timer firings per name; `slow` holds its message until the test opens the gate. */
class Ticker implements Actor {
  fired: Record<string, number> = {};
  log: string[] = [];
  async handleCall(command: Command, ctx: ActorContext): Promise<unknown> {
    switch (command.op) {
      case 'set':
        ctx.setTimer(command.name, command.ms, command.payload, { repeat: command.repeat === true });
        return null;
      case 'clear':
        return ctx.clearTimer(command.name);
      case 'setfn':
        ctx.setTimer('fn', 10, { f: () => 1 });
        return null;
      case 'slow':
        this.log.push('slow:start');
        await slowGate.promise;
        this.log.push('slow:end');
        return null;
      default:
        return { fired: this.fired, log: this.log };
    }
  }
  handleTimer(name: string, payload: unknown): void {
    this.fired[name] = (this.fired[name] ?? 0) + 1;
    this.log.push(`timer:${name}:${JSON.stringify(payload ?? null)}`);
    if (name === 'boom') throw new Error('timer handler failed');
  }
  snapshot(): unknown {
    return { fired: this.fired, log: this.log };
  }
  restore(state: unknown): void {
    Object.assign(this, state as object);
  }
  static readOnly(command: Command): boolean {
    return command.op === 'get';
  }
}

class KeptTicker extends Ticker {
  static readonly keepTimers = true;
}

class NoTimerHandler implements Actor {
  handleCall(_: unknown, ctx: ActorContext): unknown {
    ctx.setTimer('t', 10);
    return null;
  }
}

const CAP = 'game';
let running: Mesh[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await stopAll(running);
  running = [];
});

async function start(net: MemoryNetwork | null, peerId: string): Promise<Mesh> {
  const m = await Mesh.start({
    peerId,
    capabilities: [CAP],
    actors: { Ticker, KeptTicker, NoTimerHandler },
    heartbeatMs: 50,
    peerTimeoutMs: 300,
    ...(net ? { transport: net.transport() } : {}),
  });
  running.push(m);
  return m;
}

const req = (id: string, payload: Command, actor = 'Ticker'): CallRequest => ({ actor, id, capability: CAP, payload });
const state = async (m: Mesh, id: string, actor = 'Ticker') =>
  (await m.call(req(id, { op: 'get' }, actor))).result as { fired: Record<string, number>; log: string[] };

describe('timers', () => {
  it('fire as mailbox messages: a timer due during a slow call runs after it, never beside it', async () => {
    useFakeClock();
    const m = await start(null, 'solo');
    await m.call(req('t1', { op: 'set', name: 'tick', ms: 10, payload: { n: 1 } }));
    const slow = m.call(req('t1', { op: 'slow' }));
    await vi.advanceTimersByTimeAsync(50); // the timer is due: it waits in the mailbox behind `slow`
    slowGate.open();
    await slow;
    const { log, fired } = await state(m, 't1');
    expect(fired).toEqual({ tick: 1 });
    expect(log).toEqual(['slow:start', 'slow:end', 'timer:tick:{"n":1}']);
  });

  it('repeat until cleared; clearing says whether there was one', async () => {
    useFakeClock();
    const m = await start(null, 'solo');
    await m.call(req('t2', { op: 'set', name: 'beat', ms: 100, repeat: true }));
    await vi.advanceTimersByTimeAsync(1050);
    expect((await state(m, 't2')).fired['beat']).toBe(10);
    expect((await m.call(req('t2', { op: 'clear', name: 'beat' }))).result).toBe(true);
    expect((await m.call(req('t2', { op: 'clear', name: 'beat' }))).result).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    expect((await state(m, 't2')).fired['beat']).toBe(10);
  });

  it('stop with the activation (a crash, idle passivation) and never fire into the next one', async () => {
    useFakeClock();
    const m = await start(null, 'solo');
    await m.call(req('t3', { op: 'set', name: 'boom', ms: 10 }));
    await m.call(req('t3', { op: 'set', name: 'later', ms: 500 }));
    const failed: MeshEvents['cast-failed'][] = [];
    m.on('cast-failed', (e) => failed.push(e));
    await vi.advanceTimersByTimeAsync(20);
    // The failing timer crashed the activation like a failing cast: reported, and its other timer is gone.
    expect(failed.map((e) => e.error.code)).toEqual(['ACTOR_FAILED']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await state(m, 't3')).toEqual({ fired: {}, log: [] });
  });

  it('bad timers are refused with INVALID_ARGUMENT inside the handler (the call fails, the peer serves on)', async () => {
    const m = await start(null, 'solo');
    // A handler whose setTimer throws fails like any throwing handler; the message says why.
    expect((await expectRejects(m.call(req('t4', { op: 'set', name: '', ms: 10 })), 'ACTOR_FAILED')).message).toContain('timer name');
    expect((await expectRejects(m.call(req('t5', { op: 'set', name: 'x', ms: -1 })), 'ACTOR_FAILED')).message).toContain('delayMs');
    expect((await expectRejects(m.call(req('t6', { op: 'setfn' })), 'ACTOR_FAILED')).message).toContain('function');
    const error = await expectRejects(m.call({ actor: 'NoTimerHandler', id: 'n', capability: CAP }), 'ACTOR_FAILED');
    expect(error.message).toContain('handleTimer');
    expect((await m.call(req('t7', { op: 'get' }))).result).toEqual({ fired: {}, log: [] });
  });
});

describe('keepTimers', () => {
  it('a handoff carries the timers: they fire on the new owner, at their time', async () => {
    const net = new MemoryNetwork();
    const a = await start(net, 'peer-a');
    const id = idRanked(['peer-b', 'peer-a'], ['peer-a', 'peer-b'], 'k');
    await a.call(req(id, { op: 'set', name: 'soon', ms: 400, payload: 'moved' }, 'KeptTicker'));
    const b = await start(net, 'peer-b');
    await waitConverged([a, b]);
    await until(() => b.activations().some((x) => x.id === id), 'the actor to move to peer-b');
    await until(async () => (await state(b, id, 'KeptTicker')).fired['soon'] === 1, 'the moved timer to fire', { timeoutMs: 3000 });
    expect((await state(b, id, 'KeptTicker')).log).toEqual(['timer:soon:"moved"']);
  });

  it('a promoted copy carries them too; without keepTimers they stop with the owner', async () => {
    const net = new MemoryNetwork();
    const a = await start(net, 'peer-a');
    const b = await start(net, 'peer-b');
    await waitConverged([a, b]);
    const id = idRanked(['peer-a', 'peer-b'], ['peer-a', 'peer-b'], 'k');
    await b.call(req(id, { op: 'set', name: 'kept', ms: 600 }, 'KeptTicker'));
    await b.call(req(id, { op: 'set', name: 'lost', ms: 600 }, 'Ticker'));
    net.disconnect('peer-a', 'peer-b'); // peer-a dies without a word
    await until(() => b.activations().length === 2, 'peer-b to promote both copies');
    await until(async () => (await state(b, id, 'KeptTicker')).fired['kept'] === 1, 'the kept timer to fire on peer-b', {
      timeoutMs: 3000,
    });
    expect((await state(b, id, 'Ticker')).fired).toEqual({});
    void a;
  });
});
