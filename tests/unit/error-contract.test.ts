/**
 * One error contract, local and remote: the same request gets the same answer (code, class, message) and
 * the same payload semantics whether its owner is the calling peer or another one, for calls and casts.
 * The remote owner is reached over MemoryNetwork, through the real links and codec.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Actor } from '../../shared/actors/actor.js';
import { MeshError, type ProtocolError } from '../../shared/errors.js';
import type { Mesh, CallRequest } from '../../shared/mesh.js';
import { rendezvous } from '../../shared/placement/placement.js';
import { shardFor } from '../../shared/placement/shards.js';
import { MemoryNetwork } from '../../shared/wire/memory-transport.js';
import { VALUE_LIMITS } from '../../shared/wire/values.js';
import { RawPeer } from '../fixtures/raw-peer.js';
import { rejection, startMeshes, stopAll } from '../fixtures/mesh-helpers.js';
import { until } from '../fixtures/wait.js';

/** Keeps what it was given and hands back what it is asked for, to see what crossed the boundary. */
class Keeper implements Actor {
  static casts: unknown[] = [];
  kept: unknown = null;
  state = { list: [1, 2, 3] };

  handleCall(payload: unknown): unknown {
    const { op, value } = (payload ?? {}) as { op?: string; value?: unknown };
    switch (op) {
      case 'keep':
        this.kept = value;
        return null;
      case 'kept':
        return this.kept;
      case 'keys':
        return Object.keys(value as object);
      case 'state':
        return this.state;
      case 'function':
        return { ok: true, f: () => 1 };
      case 'circular': {
        const loop: Record<string, unknown> = { ok: true };
        loop['self'] = loop;
        return loop;
      }
      default:
        return value ?? null;
    }
  }

  handleCast(payload: unknown): void {
    Keeper.casts.push(payload);
  }
}

const CAP = 'contract';
let net: MemoryNetwork;
let meshes: Mesh[];
let a: Mesh;

beforeAll(async () => {
  net = new MemoryNetwork();
  meshes = await startMeshes(net, ['peer-a', 'peer-b'], { capabilities: [CAP], actors: { Keeper } });
  a = meshes[0]!;
});
afterAll(() => stopAll(meshes));
beforeEach(() => {
  Keeper.casts = [];
});

/** An id (with `prefix`) whose owner, among peer-a and peer-b, is `owner`. */
function idOn(owner: 'peer-a' | 'peer-b', prefix = 'k'): string {
  for (let i = 0; ; i++) {
    const id = `${prefix}${i}`;
    if (rendezvous.owner(shardFor(id), CAP, ['peer-a', 'peer-b']) === owner) return id;
  }
}

const WHERE = [
  { where: 'local', owner: 'peer-a' },
  { where: 'remote', owner: 'peer-b' },
] as const;

const keeper = (id: string, payload?: unknown, extra: Partial<CallRequest> = {}): CallRequest => ({
  actor: 'Keeper',
  id,
  capability: CAP,
  payload,
  ...extra,
});

interface Outcome {
  readonly code: string;
  readonly name: string;
  readonly message: string;
}

async function outcome(promise: Promise<unknown>): Promise<Outcome> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(MeshError);
  const { code, name, message } = error as MeshError;
  return { code, name, message };
}

let deep: unknown = 'bottom';
for (let i = 0; i < VALUE_LIMITS.maxDepth + 5; i++) deep = [deep];
const circular: Record<string, unknown> = { name: 'loop' };
circular['self'] = circular;

/** Requests every peer must refuse the same way, wherever the owner is. */
const BAD: readonly {
  readonly name: string;
  readonly code: string;
  readonly match: RegExp;
  readonly request: (id: string) => CallRequest;
}[] = [
  {
    name: 'an id over 4096 characters',
    code: 'INVALID_ARGUMENT',
    match: /request\.id is 4\d{3} characters long; the limit is 4096/,
    request: (id) => keeper(id),
  },
  {
    name: 'an actor name over 256 characters',
    code: 'INVALID_ARGUMENT',
    match: /request\.actor is 257 characters long/,
    request: (id) => ({ ...keeper(id), actor: 'K'.repeat(257) }),
  },
  {
    name: 'an empty actor name',
    code: 'INVALID_ARGUMENT',
    match: /request\.actor must be a non-empty string/,
    request: (id) => ({ ...keeper(id), actor: '' }),
  },
  { name: 'a circular payload', code: 'INVALID_ARGUMENT', match: /payload\.self is circular/, request: (id) => keeper(id, circular) },
  {
    name: 'a function in the payload',
    code: 'INVALID_ARGUMENT',
    match: /payload\.value\.fn is a function/,
    request: (id) => keeper(id, { value: { fn: () => 1 } }),
  },
  { name: 'a symbol payload', code: 'INVALID_ARGUMENT', match: /payload is a symbol/, request: (id) => keeper(id, Symbol('s')) },
  { name: 'a deeply nested payload', code: 'INVALID_ARGUMENT', match: /nested deeper than 64 levels/, request: (id) => keeper(id, deep) },
  {
    name: 'a function initArg',
    code: 'INVALID_ARGUMENT',
    match: /initArg is a function/,
    request: (id) => ({ ...keeper(id), initArg: () => 1 }),
  },
  {
    name: 'an unknown actor type',
    code: 'UNKNOWN_ACTOR',
    match: /actor type "Nobody" is not registered/,
    request: (id) => ({ ...keeper(id), actor: 'Nobody' }),
  },
];

describe.each(BAD)('$name', ({ code, match, request }) => {
  const longId = (owner: 'peer-a' | 'peer-b'): string => idOn(owner, 'x'.repeat(4096));

  it.each(['call', 'cast'] as const)('%s: the same typed error local and remote', async (kind) => {
    const seen: Outcome[] = [];
    for (const { owner } of WHERE) {
      const id = request === BAD[0]!.request ? longId(owner) : idOn(owner);
      const req = request(id);
      seen.push(await outcome(kind === 'call' ? a.call(req) : a.cast(req)));
    }
    const [local, remote] = seen;
    expect(local!.code).toBe(code);
    expect(local!.message).toMatch(match);
    // Same class and code on both sides; the message may name the owner, which differs.
    expect(remote).toEqual({ ...local, message: local!.message.replaceAll('peer-a', 'peer-b') });
    expect(Keeper.casts).toEqual([]);
  });
});

describe.each(WHERE)('payload semantics, $where owner', ({ owner }) => {
  it('the owner gets a copy: the caller mutating its payload afterwards changes nothing there', async () => {
    const id = idOn(owner, 'copy');
    const value = { list: [1] };
    const pending = a.call(keeper(id, { op: 'keep', value }));
    value.list.push(2); // before the call even ran
    await pending;
    value.list.push(3);
    expect((await a.call(keeper(id, { op: 'kept' }))).result).toEqual({ list: [1] });
  });

  it('the caller gets a copy of the result: mutating it leaves the actor state alone', async () => {
    const id = idOn(owner, 'result');
    const first = (await a.call<{ list: number[] }>(keeper(id, { op: 'state' }))).result;
    first.list.push(99);
    expect((await a.call(keeper(id, { op: 'state' }))).result).toEqual({ list: [1, 2, 3] });
  });

  it('a __proto__ key arrives renamed __proto_, never as a prototype', async () => {
    const id = idOn(owner, 'proto');
    const value: unknown = JSON.parse('{"__proto__": {"polluted": true}, "plain": 1}');
    const keys = (await a.call(keeper(id, { op: 'keys', value }))).result;
    expect(keys).toEqual(['__proto_', 'plain']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('values CBOR carries keep their kind: Map, Set, Date, Uint8Array, undefined, -0 as 0', async () => {
    const id = idOn(owner, 'kinds');
    const value = {
      map: new Map([['k', 1]]),
      set: new Set([1, 2]),
      date: new Date(5),
      bytes: new Uint8Array([1, 2]),
      none: undefined,
      zero: -0,
    };
    const back = (await a.call<typeof value>(keeper(id, { op: 'echo', value }))).result;
    expect(back.map).toBeInstanceOf(Map);
    expect([...back.map]).toEqual([['k', 1]]);
    expect(back.set).toBeInstanceOf(Set);
    expect(back.date).toBeInstanceOf(Date);
    expect(back.date.getTime()).toBe(5);
    expect([...back.bytes]).toEqual([1, 2]);
    expect('none' in back && back.none === undefined).toBe(true);
    expect(Object.is(back.zero, 0)).toBe(true);
  });

  it.each(['function', 'circular'] as const)('a result with a %s fails with ACTOR_FAILED, the same text local and remote', async (op) => {
    const id = idOn(owner, `bad-${op}`);
    const error = await outcome(a.call(keeper(id, { op })));
    expect(error.code).toBe('ACTOR_FAILED');
    expect(error.message).toMatch(
      op === 'function' ? /^reply could not be encoded: result\.f is a function/ : /^reply could not be encoded: result\.self is circular/,
    );
  });

  it('a cast delivers a copy too', async () => {
    const id = idOn(owner, 'cast');
    const value = { list: [1] };
    const sent = a.cast(keeper(id, value));
    value.list.push(2);
    await sent;
    await until(() => Keeper.casts.length === 1, 'the cast to arrive');
    expect(Keeper.casts).toEqual([{ list: [1] }]);
  });
});

describe('frames the receiver cannot read', () => {
  it('a malformed call is answered with PROTOCOL at its corr and credited, so thousands never wedge the link', async () => {
    const raw = await RawPeer.start(net, 'raw-peer', { link: { window: 64 } });
    try {
      await until(() => a.peers().some((p) => p.id === 'raw-peer'), 'peer-a to see the raw peer');
      const tooLong = 'i'.repeat(5000);
      for (let corr = 1; corr <= 300; corr++) {
        raw.send('peer-a', {
          t: 'call',
          corr,
          capability: CAP,
          actor: 'Keeper',
          id: tooLong,
          payload: null,
          initArg: undefined,
          timeoutMs: 1000,
        });
      }
      const valid = idOn('peer-a', 'after');
      raw.send('peer-a', {
        t: 'call',
        corr: 301,
        capability: CAP,
        actor: 'Keeper',
        id: valid,
        payload: { op: 'echo', value: 7 },
        initArg: undefined,
        timeoutMs: 5000,
      });
      await until(
        () => raw.received('peer-a').some((f) => f.t === 'reply' && f.corr === 301),
        'the valid call after 300 bad ones to be answered',
      );
      const errors = raw.received('peer-a').filter((f) => f.t === 'error');
      expect(errors).toHaveLength(300);
      expect(errors.every((f) => f.t === 'error' && f.code === 'PROTOCOL')).toBe(true);
      expect(new Set(errors.map((f) => (f.t === 'error' ? f.corr : -1)))).toEqual(new Set(Array.from({ length: 300 }, (_, i) => i + 1)));
      await until(() => raw.inFlight('peer-a') < 64, 'the window to be credited back');
      expect(a.stats().droppedFrames).toBeGreaterThanOrEqual(300);
    } finally {
      await raw.stop();
    }
  });

  it('malformed casts are credited back too, so a small window never stalls on them', async () => {
    const raw = await RawPeer.start(net, 'raw-cast', { link: { window: 16 } });
    try {
      await until(() => a.peers().some((p) => p.id === 'raw-cast'), 'peer-a to see the raw peer');
      const dropped: ProtocolError[] = [];
      a.on('frame-dropped', (e) => dropped.push(e.error));
      for (let i = 0; i < 100; i++)
        raw.send('peer-a', { t: 'cast', capability: CAP, actor: 'K'.repeat(300), id: 'x', payload: null, initArg: undefined });
      await until(() => dropped.length === 100, 'all 100 malformed casts to reach peer-a through a window of 16');
      await until(() => raw.inFlight('peer-a') === 0, 'every cast credited back');
      expect(dropped.every((e) => e.details?.['frame'] === 'cast')).toBe(true);
      expect(raw.received('peer-a').filter((f) => f.t === 'error')).toEqual([]);
    } finally {
      await raw.stop();
    }
  });
});
