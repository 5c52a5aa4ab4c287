/**
 * A hostile peer, speaking the protocol by hand (RawPeer) against real meshes over MemoryNetwork: every
 * attack of the hostile-peer issue that lives in the mesh core, each with its safe outcome. Forged frames
 * are dropped and counted per sending peer, the victim's honest calls are still answered on time, and what
 * the attacker can make the victim hold stays bounded.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Actor } from '../../shared/actors/actor.js';
import type { Mesh, CallRequest, MeshEvents } from '../../shared/mesh.js';
import { rendezvous } from '../../shared/placement/placement.js';
import { shardFor } from '../../shared/placement/shards.js';
import { encodeValue } from '../../shared/wire/codec.js';
import type { Frame } from '../../shared/wire/frames.js';
import { MemoryNetwork } from '../../shared/wire/memory-transport.js';
import { Gate, startMeshes, stopAll } from '../fixtures/mesh-helpers.js';
import { until } from '../fixtures/wait.js';
import { RawPeer } from '../fixtures/raw-peer.js';

/** Counts, or waits on the gate named in its payload. Snapshots, so handoff applies to it. */
class Counter implements Actor {
  static gate: Gate | null = null;
  static runs = 0;
  score = 0;
  handleCall(payload: unknown): unknown {
    Counter.runs++;
    const op = (payload as { op?: string } | null)?.op;
    if (op === 'wait' && Counter.gate) return Counter.gate.promise.then(() => ++this.score);
    if (op === 'get') return this.score;
    return ++this.score;
  }
  snapshot(): unknown {
    return { score: this.score };
  }
  restore(state: unknown): void {
    this.score = (state as { score: number }).score;
  }
}

const CAP = 'game';
let net: MemoryNetwork;
let meshes: Mesh[];
let a: Mesh;
let b: Mesh;
let evil: RawPeer;

beforeEach(async () => {
  Counter.gate = null;
  Counter.runs = 0;
  net = new MemoryNetwork();
  meshes = await startMeshes(net, ['peer-a', 'peer-b'], { capabilities: [CAP], actors: { Counter } });
  [a, b] = meshes as [Mesh, Mesh];
  evil = await RawPeer.start(net, 'peer-evil', { link: { window: 1_000_000 } });
  await until(() => a.peers().length === 3 && b.peers().length === 3, 'both meshes to see the hostile peer');
});
afterEach(async () => {
  await evil.stop();
  await stopAll(meshes);
});

const owned = (owner: string, prefix: string): string => {
  for (let i = 0; ; i++) if (rendezvous.owner(shardFor(`${prefix}${i}`), CAP, ['peer-a', 'peer-b']) === owner) return `${prefix}${i}`;
};
const counter = (id: string, payload?: unknown, extra: Partial<CallRequest> = {}): CallRequest => ({
  actor: 'Counter',
  id,
  capability: CAP,
  payload,
  ...extra,
});
const rejectedBy = (mesh: Mesh, peer: string): number => mesh.stats().peers[peer]?.rejected ?? 0;
const call = (corr: number, id: string, extra: Partial<Extract<Frame, { t: 'call' }>> = {}): Frame => ({
  t: 'call',
  corr,
  capability: CAP,
  actor: 'Counter',
  id,
  payload: null,
  initArg: undefined,
  timeoutMs: 5000,
  ...extra,
});

describe('1. forged answers', () => {
  it('replies and errors for calls in flight, sent by a peer they were not sent to, are dropped and counted', async () => {
    Counter.gate = new Gate();
    const ids = Array.from({ length: 20 }, (_, i) => owned('peer-b', `forge${i}-`));
    const pending = ids.map((id) => a.call(counter(id, { op: 'wait' })));
    await until(() => Counter.runs === 20, 'all twenty calls to be running on peer-b');
    const rejected: MeshEvents['frame-rejected'][] = [];
    a.on('frame-rejected', (e) => rejected.push(e));
    for (let corr = 1; corr <= 40; corr++) {
      evil.send('peer-a', { t: 'reply', corr, serial: 99, result: 'forged' });
      evil.send('peer-a', { t: 'error', corr, code: 'ACTOR_FAILED', message: 'forged', details: null });
    }
    await until(() => rejectedBy(a, 'peer-evil') >= 40, 'the forged frames that matched a call to be counted');
    Counter.gate.open();
    const results = await Promise.all(pending);
    expect(results.every((r) => r.peer === 'peer-b' && r.result === 1 && r.activation.startsWith('peer-b#'))).toBe(true);
    expect(rejected.every((e) => e.peer === 'peer-evil' && (e.frame === 'reply' || e.frame === 'error'))).toBe(true);
  });

  it("an owner's reply names only its own activation: a name given on the wire is refused, the caller names it", async () => {
    const liar = await RawPeer.start(net, 'peer-liar', { hello: { capabilities: [CAP], actorTypes: ['Counter'] } });
    try {
      await until(() => a.peers().length === 4, 'peer-a to see the lying owner');
      const ranked = ['peer-a', 'peer-b', 'peer-liar'];
      let id = '';
      for (let i = 0; !id; i++) if (rendezvous.owner(shardFor(`liar${i}`), CAP, ranked) === 'peer-liar') id = `liar${i}`;
      const pending = a.call(counter(id));
      await until(() => liar.received('peer-a').some((f) => f.t === 'call'), 'the call to reach its owner');
      const callFrame = liar.received('peer-a').find((f) => f.t === 'call');
      if (callFrame?.t !== 'call') throw new Error('no call frame');
      // Protocol 3's reply carried a name: the owner could answer as an activation of peer-b. It no longer parses.
      liar.sendBytes('peer-a', encodeValue([[4, callFrame.corr, 'peer-b#3', 41]]));
      await until(() => (a.stats().peers['peer-liar']?.dropped ?? 0) >= 1, 'the reply with a name to be dropped as malformed');
      liar.send('peer-a', { t: 'reply', corr: callFrame.corr, serial: 3, result: 41 });
      const result = await pending;
      expect(result).toEqual({ peer: 'peer-liar', activation: 'peer-liar#3', result: 41 });
    } finally {
      await liar.stop();
    }
  });
});

describe('3. and 6. receiver-side limits', () => {
  it('calls past our window are answered BUSY, not queued; honest calls from another peer are still served', async () => {
    Counter.gate = new Gate();
    const id = owned('peer-a', 'flood');
    for (let corr = 1; corr <= 5000; corr++) evil.send('peer-a', call(corr, id, { payload: { op: 'wait' } }));
    await until(
      () => evil.received('peer-a').filter((f) => f.t === 'error').length >= 5000 - 2049,
      'the calls past the window to be refused',
    );
    const errors = evil.received('peer-a').filter((f): f is Extract<Frame, { t: 'error' }> => f.t === 'error');
    expect(new Set(errors.map((f) => f.code))).toEqual(new Set(['BUSY']));
    expect(a.stats().peers['peer-evil']?.unhandled).toBeLessThanOrEqual(2049);
    expect(rejectedBy(a, 'peer-evil')).toBeGreaterThanOrEqual(5000 - 2049);
    // peer-b's link has its own window: its calls still run.
    const honest = await b.call(counter(owned('peer-a', 'honest'), undefined, { timeoutMs: 2000 }));
    expect(honest.result).toBe(1);
    Counter.gate.open();
  });

  it('calls whose deadline passed before they started are answered TIMEOUT without running', async () => {
    Counter.gate = new Gate();
    const id = owned('peer-a', 'stale');
    evil.send('peer-a', call(1, id, { payload: { op: 'wait' } }));
    await until(() => Counter.runs === 1, 'the first call to hold the actor');
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      for (let corr = 2; corr <= 1001; corr++) evil.send('peer-a', call(corr, id, { timeoutMs: 1 }));
      await vi.waitFor(() => expect(a.stats().peers['peer-evil']?.framesIn).toBeGreaterThanOrEqual(1002));
      vi.setSystemTime(Date.now() + 10); // every 1 ms deadline has passed by the time the actor is free
      Counter.gate.open();
    } finally {
      vi.useRealTimers();
    }
    await until(
      () => evil.received('peer-a').filter((f) => f.t === 'error' || f.t === 'reply').length === 1001,
      'every call to be answered',
    );
    const errors = evil.received('peer-a').filter((f): f is Extract<Frame, { t: 'error' }> => f.t === 'error');
    expect(errors).toHaveLength(1000);
    expect(new Set(errors.map((f) => f.code))).toEqual(new Set(['TIMEOUT']));
    expect(Counter.runs).toBe(1);
  });

  it('a ping flood gets a pong now and then, not one each', async () => {
    const started = Date.now();
    for (let n = 0; n < 100_000; n++) evil.send('peer-a', { t: 'ping', n });
    await until(() => evil.received('peer-a').some((f) => f.t === 'pong'), 'a pong');
    const elapsed = Date.now() - started;
    const pongs = evil.received('peer-a').filter((f) => f.t === 'pong').length;
    expect(pongs).toBeLessThanOrEqual(Math.ceil(elapsed / 100) + 1);
  });

  it('chunk headers reserve nothing: memory follows the bytes received, at most two messages at once', async () => {
    const big = 16 * 1024 * 1024;
    for (let msg = 1; msg <= 10; msg++)
      evil.send('peer-a', { t: 'chunk', msg, index: 0, count: 2000, total: big, bytes: new Uint8Array(100) });
    const dropped: MeshEvents['frame-dropped'][] = [];
    a.on('frame-dropped', (e) => dropped.push(e));
    await until(() => dropped.length >= 8, 'the third and later messages in progress to be refused');
    expect(dropped.every((e) => /in progress/.test(e.error.message))).toBe(true);
    expect(a.stats().peers['peer-evil']?.dropped).toBeGreaterThanOrEqual(8);
  });
});

describe('4. capability flapping', () => {
  it('2,000 caps frames cost at most one view change per 100 ms, and honest calls are answered on time', async () => {
    const topology: MeshEvents['topology'][] = [];
    a.on('topology', (e) => topology.push(e));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      for (let i = 0; i < 2000; i++) evil.send('peer-a', { t: 'caps', capabilities: i % 2 === 0 ? [CAP] : [], actorTypes: ['Counter'] });
      await vi.waitFor(() => expect(a.stats().peers['peer-evil']?.framesIn).toBeGreaterThanOrEqual(2001));
      // The whole burst arrived within one instant: the first change applies, the rest wait for one more turn.
      expect(topology).toHaveLength(1);
      const honest = await a.call(counter(owned('peer-b', 'during-flap'), undefined, { timeoutMs: 1000 }));
      expect(honest.result).toBe(1);
      await vi.advanceTimersByTimeAsync(100);
      expect(topology).toHaveLength(2);
      // The latest state won: the last frame said "no capability".
      expect(a.peersFor(CAP)).toEqual(['peer-a', 'peer-b']);
      await vi.advanceTimersByTimeAsync(1000);
      expect(topology).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a second hello on a channel is refused', async () => {
    evil.send('peer-a', {
      t: 'hello',
      protocol: 2,
      peerId: 'peer-evil',
      kind: 'memory',
      capabilities: [CAP],
      actorTypes: ['Counter'],
      shards: 4096,
      strategy: 'rendezvous',
      window: 10,
      auth: null,
    });
    await until(() => rejectedBy(a, 'peer-evil') === 1, 'the second hello to be refused');
    expect(a.peersFor(CAP)).toEqual(['peer-a', 'peer-b']);
  });
});

describe('5. state injection', () => {
  it('handoff frames from a peer that never owned the shard are dropped: the actor keeps its real state', async () => {
    const id = owned('peer-a', 'player_');
    await a.call(counter(id));
    for (let i = 0; i < 100; i++) {
      evil.send('peer-a', {
        t: 'handoff',
        capability: CAP,
        actor: 'Counter',
        id,
        state: { score: 1_000_000 },
        initArg: null,
        epoch: 99,
        seq: 99,
        timers: null,
      });
      evil.send('peer-a', {
        t: 'handoff',
        capability: CAP,
        actor: 'Counter',
        id: `${id}-unused-${i}`,
        state: { score: 99 },
        initArg: null,
        epoch: 1,
        seq: 1,
        timers: null,
      });
    }
    evil.send('peer-a', { t: 'released', capability: CAP, shards: [0, 1, 2, 3], keys: [['Counter', id]] });
    await until(() => rejectedBy(a, 'peer-evil') >= 201, 'every forged handoff and the forged release to be counted');
    expect((await a.call(counter(id, { op: 'get' }))).result).toBe(1);
    expect(a.stats().handoffs.held).toEqual({ entries: 0, bytes: 0 });
    expect(a.stats().handoffs.received).toBe(0);
  });
});
