import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBatch, decodeFrame, decodeValue, encodeFrame, encodeFrameShared, encodeValue, joinBatch } from '../../shared/wire/codec.js';
import { MeshError, ProtocolError } from '../../shared/errors.js';
import { PROTOCOL_VERSION, fromWire, toWire, type Frame } from '../../shared/wire/frames.js';
import { callFrame as call } from '../fixtures/frames.js';
import { expectThrows } from '../fixtures/mesh-helpers.js';

const samples: Frame[] = [
  {
    t: 'hello',
    protocol: PROTOCOL_VERSION,
    peerId: 'peer-a',
    kind: 'browser',
    capabilities: ['chat', 'game'],
    actorTypes: ['ChatRoomActor', 'GameActor'],
    shards: 4096,
    strategy: 'rendezvous',
    window: 2048,
    auth: null,
  },
  {
    t: 'hello',
    protocol: 7,
    peerId: 'n',
    kind: 'node',
    capabilities: [],
    actorTypes: [],
    shards: 1,
    strategy: 'modulo',
    window: 1,
    auth: null,
  },
  {
    t: 'hello',
    protocol: 1,
    peerId: 'm',
    kind: 'memory',
    capabilities: ['x'],
    actorTypes: ['Y'],
    shards: 0x7fffffff,
    strategy: 's',
    window: 0,
    auth: { token: 'e30.AAAA', proof: new Uint8Array(64).fill(7) },
  },
  { t: 'caps', capabilities: ['game'], actorTypes: ['GameActor'] },
  { t: 'caps', capabilities: [], actorTypes: [] },
  {
    t: 'call',
    corr: 1,
    capability: 'game',
    actor: 'GameActor',
    id: 'player_123',
    payload: { action: 'increment_score', nested: { list: [1, -2, 3.5, 'four', null, true, false], empty: {} } },
    initArg: { balance: 100 },
    timeoutMs: 5000,
  },
  {
    t: 'call',
    corr: Number.MAX_SAFE_INTEGER,
    capability: 'c',
    actor: 'A',
    id: '👨‍👩‍👧‍👦 日本語 \u0000',
    payload: 'just a string',
    initArg: null,
    timeoutMs: 0,
  },
  { t: 'call', corr: 0, capability: 'c', actor: 'A', id: 'x'.repeat(4096), payload: 42, initArg: [1, 2], timeoutMs: 1 },
  { t: 'cast', capability: 'game', actor: 'GameActor', id: 'p1', payload: { action: 'reset' }, initArg: null },
  { t: 'cast', capability: 'chat', actor: 'ChatRoomActor', id: 'room', payload: [], initArg: 'init' },
  { t: 'reply', corr: 9, serial: 12, result: { score: 5, level: 2 } },
  { t: 'reply', corr: 10, serial: 0, result: null },
  { t: 'error', corr: 3, code: 'ACTOR_FAILED', message: 'boom', details: { actor: 'GameActor', id: 'p1' } },
  { t: 'error', corr: 4, code: 'TIMEOUT', message: '', details: null },
  { t: 'ack', count: 256 },
  { t: 'ack', count: 0 },
  { t: 'chunk', msg: 0, index: 0, count: 3, total: 40_000, bytes: new Uint8Array([0, 1, 2, 255]) },
  { t: 'chunk', msg: 77, index: 2, count: 3, total: 5, bytes: new Uint8Array(0) },
  { t: 'ping', n: 1 },
  { t: 'pong', n: 123456 },
  { t: 'bye', reason: 'stop' },
  { t: 'bye', reason: '' },
  { t: 'farewell' },
  { t: 'admitted' },
  { t: 'token', token: 'e30.AAAA' },
  {
    t: 'handoff',
    capability: 'game',
    actor: 'GameActor',
    id: 'player_1',
    state: { score: 5, level: 2, history: [{ at: 1, v: 'x' }] },
    initArg: null,
    epoch: 3,
    seq: 17,
    timers: null,
  },
  {
    t: 'handoff',
    capability: 'game',
    actor: 'GameActor',
    id: 'player_2',
    state: null,
    initArg: null,
    epoch: 1,
    seq: 0,
    timers: [{ name: 'tick', dueAt: 1_700_000_000_000, everyMs: 1000, payload: { n: 1 } }],
  },
  {
    t: 'replica',
    capability: 'game',
    actor: 'GameActor',
    id: 'player_1',
    epoch: 1,
    seq: 0,
    state: new Uint8Array([0xa0]),
    initArg: null,
    copies: 1,
    n: 42,
    timers: null,
  },
  { t: 'replica-ack', n: [42, 43, 0], refused: [] },
  { t: 'replica-ack', n: [], refused: [] },
  { t: 'replica-ack', n: [7], refused: [8, 9] },
  { t: 'replica-drop', capability: 'game', actor: 'GameActor', id: 'player_1', epoch: 2, seq: 9 },
  { t: 'released', capability: 'game', shards: [0, 17, 4095], keys: [['GameActor', 'player_1']] },
  { t: 'released', capability: 'chat', shards: [], keys: [] },
];

// A record keyed by every frame type, so a new frame type fails to compile here until it is listed.
const FRAME_TYPES = {
  hello: true,
  caps: true,
  call: true,
  cast: true,
  reply: true,
  error: true,
  ack: true,
  chunk: true,
  ping: true,
  pong: true,
  bye: true,
  farewell: true,
  admitted: true,
  token: true,
  handoff: true,
  released: true,
  replica: true,
  'replica-ack': true,
  'replica-drop': true,
} satisfies Record<Frame['t'], true>;
const ALL_TYPES: string[] = Object.keys(FRAME_TYPES);

const batchOf = (frames: readonly Frame[]): Uint8Array => {
  const encoded = frames.map((f) => encodeFrame(f));
  return joinBatch(
    encoded,
    encoded.reduce((n, e) => n + e.length, 0),
  );
};

/** Byte arrays survive CBOR as Uint8Array; compare them as plain number lists. */
function normalise(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: [...value] };
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v)]));
  }
  return value;
}

function expectAllProtocol(errors: readonly unknown[]): void {
  for (const error of errors) {
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toBeInstanceOf(MeshError);
    expect((error as MeshError).code).toBe('PROTOCOL');
    expect(typeof (error as MeshError).message).toBe('string');
  }
}

const expectProtocolThrow = (fn: () => unknown): ProtocolError => expectThrows(fn, ProtocolError, 'PROTOCOL');

describe('round trips', () => {
  it('the samples cover every frame type', () => {
    expect(new Set(samples.map((f) => f.t))).toEqual(new Set(ALL_TYPES));
  });

  it.each(samples.map((frame, i) => ({ frame, label: `${i}:${frame.t}` })))(
    '$label survives encodeFrame -> joinBatch -> decodeBatch',
    ({ frame }) => {
      const { frames, errors } = decodeBatch(batchOf([frame]));
      expect(errors).toEqual([]);
      expect(frames).toHaveLength(1);
      expect(normalise(frames[0])).toEqual(normalise(frame));
    },
  );

  it.each(samples.map((frame, i) => ({ frame, label: `${i}:${frame.t}` })))('$label survives decodeFrame', ({ frame }) => {
    expect(normalise(decodeFrame(encodeFrame(frame)))).toEqual(normalise(frame));
  });

  it('a batch of every sample keeps order and content', () => {
    const { frames, errors } = decodeBatch(batchOf(samples));
    expect(errors).toEqual([]);
    expect(frames.map(normalise)).toEqual(samples.map(normalise));
  });

  it('chunk bytes come back as a Uint8Array with the exact content', () => {
    const bytes = new Uint8Array(1000).map((_, i) => (i * 31) & 0xff);
    const [frame] = decodeBatch(batchOf([{ t: 'chunk', msg: 1, index: 0, count: 2, total: 2000, bytes }])).frames;
    expect(frame?.t).toBe('chunk');
    if (frame?.t !== 'chunk') return;
    expect(frame.bytes).toBeInstanceOf(Uint8Array);
    expect([...frame.bytes]).toEqual([...bytes]);
  });

  it('undefined payload and initArg survive (the common case of a call without them)', () => {
    const frame: Frame = {
      t: 'call',
      corr: 5,
      capability: 'g',
      actor: 'A',
      id: 'x',
      payload: undefined,
      initArg: undefined,
      timeoutMs: 10,
    };
    const [decoded] = decodeBatch(batchOf([frame])).frames;
    expect(decoded).toEqual(frame);
  });

  it('bytes from encodeFrameShared are never overwritten by later encodings, however many and however large', () => {
    const kept: { bytes: Uint8Array; copy: number[] }[] = [];
    for (let n = 0; n < 20_000; n++) {
      // Small frames, and now and then a large one that makes the encoder grow or replace its buffer.
      const frame: Frame =
        n % 997 === 0 ? call(n, { blob: 'x'.repeat(20_000 + n) }) : n % 2 === 0 ? { t: 'ping', n } : call(n, { action: 'a', n });
      const bytes = encodeFrameShared(frame);
      if (n % 7 === 0) kept.push({ bytes, copy: [...bytes] });
      const value = encodeValue({ n, pad: 'y'.repeat(n % 50) });
      expect(decodeValue(value)).toEqual({ n, pad: 'y'.repeat(n % 50) });
    }
    for (const { bytes, copy } of kept) expect([...bytes]).toEqual(copy);
  });

  it('encodeFrame (exported) returns bytes the caller owns: transferring them harms nothing else', () => {
    const kept = encodeFrameShared({ t: 'ping', n: 1 });
    const copy = [...kept];
    const mine = encodeFrame({ t: 'ping', n: 2 });
    expect(mine.byteOffset).toBe(0);
    expect(mine.buffer.byteLength).toBe(mine.length);
    structuredClone(mine.buffer, { transfer: [mine.buffer as ArrayBuffer] });
    expect([...kept]).toEqual(copy);
  });

  it('encodeValue returns bytes that own their buffer (values may be kept long)', () => {
    const a = encodeValue({ n: 1 });
    const b = encodeValue({ n: 2 });
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(a.length);
    expect(a.buffer).not.toBe(b.buffer);
  });

  it('is plain CBOR: a frame is a CBOR array starting with its numeric tag', () => {
    expect([...encodeFrame({ t: 'ping', n: 1 })]).toEqual([0x82, 0x08, 0x01]);
    expect([...encodeFrame({ t: 'ack', count: 0 })]).toEqual([0x82, 0x06, 0x00]);
    expect([...encodeFrame({ t: 'bye', reason: '' })]).toEqual([0x82, 0x0a, 0x60]);
  });

  it('random JSON payloads round-trip through call frames', () => {
    // `__proto__` keys are the one exception, checked on their own below.
    const noProtoKey = (value: unknown): boolean => !JSON.stringify(value ?? null).includes('"__proto__"');
    fc.assert(
      fc.property(fc.jsonValue().filter(noProtoKey), fc.jsonValue().filter(noProtoKey), fc.nat(), (payload, initArg, corr) => {
        const frame: Frame = { t: 'call', corr, capability: 'c', actor: 'A', id: 'id', payload, initArg, timeoutMs: 100 };
        const { frames, errors } = decodeBatch(batchOf([frame]));
        expect(errors).toEqual([]);
        // -0 becomes 0 in CBOR integers; compare through JSON, which has the same collapse.
        expect(JSON.parse(JSON.stringify(frames[0]))).toEqual(JSON.parse(JSON.stringify(frame)));
      }),
      { numRuns: 300 },
    );
  });
});

describe('prototype pollution', () => {
  it('a "__proto__" key in a payload never becomes a prototype: the decoder renames it', () => {
    const payload: unknown = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    const { frames, errors } = decodeBatch(batchOf([{ t: 'reply', corr: 1, serial: 1, result: payload }]));
    expect(errors).toEqual([]);
    const result = (frames[0] as { result: Record<string, unknown> }).result;
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(result['polluted']).toBeUndefined();
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(result).toEqual({ __proto_: { polluted: true }, a: 1 });
  });
});

describe('joinBatch', () => {
  it.each([0, 1, 23, 24, 255, 256, 65535, 65536])('writes a correct CBOR array header for %i frames', (n) => {
    const ping = encodeFrame({ t: 'ping', n: 7 });
    const frames = Array.from({ length: n }, () => ping);
    const batch = joinBatch(frames, n * ping.length);
    const header = n < 24 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
    expect(batch.length).toBe(header + n * ping.length);
    const decoded = decodeBatch(batch);
    expect(decoded.errors).toEqual([]);
    expect(decoded.frames).toHaveLength(n);
    if (n > 0) expect(decoded.frames[n - 1]).toEqual({ t: 'ping', n: 7 });
  });

  it('concatenates frames of different sizes in order', () => {
    const frames: Frame[] = [{ t: 'ping', n: 1 }, samples[0]!, { t: 'pong', n: 2 }, samples[5]!];
    const { frames: decoded } = decodeBatch(batchOf(frames));
    expect(decoded.map((f) => f.t)).toEqual(['ping', 'hello', 'pong', 'call']);
  });
});

describe('malformed input becomes ProtocolError, never an exception', () => {
  it('empty, truncated and non-array messages', () => {
    for (const bytes of [
      new Uint8Array(0),
      new Uint8Array([0x81]), // array of 1, no element
      new Uint8Array([0xff]),
      new Uint8Array([0x1c]), // reserved additional info
      encodeValue({ t: 'ping', n: 1 }), // a map, not a batch
      encodeValue('hello'),
      encodeValue(42),
      encodeValue(null),
    ]) {
      const { frames, errors } = decodeBatch(bytes);
      expect(frames).toEqual([]);
      expect(errors).toHaveLength(1);
      expectAllProtocol(errors);
    }
  });

  it('an empty batch is valid and empty', () => {
    expect(decodeBatch(new Uint8Array([0x80]))).toEqual({ frames: [], errors: [] });
  });

  it('trailing bytes after the batch are rejected', () => {
    const batch = batchOf([{ t: 'ping', n: 1 }]);
    const extended = new Uint8Array([...batch, 0x01]);
    const { frames, errors } = decodeBatch(extended);
    expect(frames).toEqual([]);
    expect(errors).toHaveLength(1);
    expectAllProtocol(errors);
  });

  const longName = 'n'.repeat(257);
  const wrongShapes: [string, unknown][] = [
    ['not an array', { t: 'ping' }],
    ['empty array', []],
    ['unknown tag 12', [12, 1]],
    ['unknown tag -1', [-1]],
    ['string tag', ['ping', 1]],
    ['null tag', [null]],
    ['float tag', [8.5, 1]],
    ['hello missing a field', [0, 1, 'p', 'node', [], [], 4096]],
    ['hello extra field', [0, 1, 'p', 'node', [], [], 4096, 'rendezvous', 'x']],
    ['hello bad kind', [0, 1, 'p', 'toaster', [], [], 4096, 'rendezvous']],
    ['hello empty peerId', [0, 1, '', 'node', [], [], 4096, 'rendezvous']],
    ['hello long peerId', [0, 1, longName, 'node', [], [], 4096, 'rendezvous']],
    ['hello capabilities not a list', [0, 1, 'p', 'node', 'game', [], 4096, 'rendezvous']],
    ['hello capability not a string', [0, 1, 'p', 'node', [1], [], 4096, 'rendezvous']],
    ['hello empty capability', [0, 1, 'p', 'node', [''], [], 4096, 'rendezvous']],
    ['hello too many capabilities', [0, 1, 'p', 'node', Array.from({ length: 257 }, (_, i) => `c${i}`), [], 4096, 'rendezvous']],
    ['hello negative shards', [0, 1, 'p', 'node', [], [], -1, 'rendezvous']],
    ['hello fractional protocol', [0, 1.5, 'p', 'node', [], [], 4096, 'rendezvous']],
    ['hello string protocol', [0, '1', 'p', 'node', [], [], 4096, 'rendezvous']],
    ['caps wrong arity', [1, []]],
    ['caps actorTypes not a list', [1, [], null]],
    ['call wrong arity', [2, 1, 'g', 'A', 'x', null, null]],
    ['call negative corr', [2, -1, 'g', 'A', 'x', null, null, 10]],
    ['call unsafe corr', [2, 2 ** 53, 'g', 'A', 'x', null, null, 10]],
    ['call NaN corr', [2, Number.NaN, 'g', 'A', 'x', null, null, 10]],
    ['call string corr', [2, '1', 'g', 'A', 'x', null, null, 10]],
    ['call empty capability', [2, 1, '', 'A', 'x', null, null, 10]],
    ['call numeric id', [2, 1, 'g', 'A', 5, null, null, 10]],
    ['call empty id', [2, 1, 'g', 'A', '', null, null, 10]],
    ['call id over 4096', [2, 1, 'g', 'A', 'x'.repeat(4097), null, null, 10]],
    ['call actor over 256', [2, 1, 'g', longName, 'x', null, null, 10]],
    ['call negative timeout', [2, 1, 'g', 'A', 'x', null, null, -5]],
    ['call infinite timeout', [2, 1, 'g', 'A', 'x', null, null, Number.POSITIVE_INFINITY]],
    ['cast wrong arity', [3, 'g', 'A', 'x', null]],
    ['cast null actor', [3, 'g', null, 'x', null, null]],
    ['reply wrong arity', [4, 1, 1]],
    ['reply activation named by the sender', [4, 1, 'peer-c#5', null]],
    ['reply negative serial', [4, 1, -1, null]],
    ['reply fractional serial', [4, 1, 1.5, null]],
    ['error wrong arity', [5, 1, 'TIMEOUT', 'msg']],
    ['error empty code', [5, 1, '', 'msg', null]],
    ['error message too long', [5, 1, 'TIMEOUT', 'm'.repeat(65537), null]],
    ['error numeric message', [5, 1, 'TIMEOUT', 5, null]],
    ['ack wrong arity', [6]],
    ['ack negative', [6, -1]],
    ['ack string', [6, '1']],
    ['chunk bytes as string', [7, 0, 0, 2, 10, 'abc']],
    ['chunk bytes as list', [7, 0, 0, 2, 10, [1, 2, 3]]],
    ['chunk wrong arity', [7, 0, 0, 2, 10]],
    ['chunk negative index', [7, 0, -1, 2, 10, new Uint8Array(1)]],
    ['ping wrong arity', [8]],
    ['ping float', [8, 0.5]],
    ['pong string', [9, 'x']],
    ['bye wrong arity', [10]],
    ['bye numeric reason', [10, 5]],
    ['bye reason over 256', [10, longName]],
    ['handoff wrong arity', [11, 'g', 'A', 'x', {}]],
    ['handoff empty id', [11, 'g', 'A', '', {}, null]],
  ];

  it.each(wrongShapes)('%s -> ProtocolError from fromWire, decodeFrame and decodeBatch', (_label, raw) => {
    expectProtocolThrow(() => fromWire(raw));
    expectProtocolThrow(() => decodeFrame(encodeValue(raw)));
    const { frames, errors } = decodeBatch(encodeValue([raw]));
    expect(frames).toEqual([]);
    expect(errors).toHaveLength(1);
    expectAllProtocol(errors);
  });

  it('a tag that cannot be turned into a string still gives a ProtocolError (fromWire / decodeFrame)', () => {
    // A CBOR map decodes to a plain object; with non-callable toString/valueOf it has no primitive value.
    const hostileTag = { toString: 1, valueOf: 1 };
    expectProtocolThrow(() => fromWire([hostileTag]));
    expectProtocolThrow(() => decodeFrame(encodeValue([hostileTag])));
    const { errors } = decodeBatch(encodeValue([[hostileTag]]));
    expect(errors).toHaveLength(1);
    expectAllProtocol(errors);
  });

  it('a batch with bad frames keeps the good ones, in order', () => {
    const good1 = toWire({ t: 'ping', n: 1 });
    const good2 = toWire(samples[5]!);
    const good3 = toWire({ t: 'bye', reason: 'stop' });
    const { frames, errors } = decodeBatch(encodeValue([good1, [99], good2, 'garbage', [2, -1], good3]));
    expect(frames.map((f) => f.t)).toEqual(['ping', 'call', 'bye']);
    expect(normalise(frames[1])).toEqual(normalise(samples[5]));
    expect(errors).toHaveLength(3);
    expectAllProtocol(errors);
  });

  it('names the problem in the error message', () => {
    expect(expectProtocolThrow(() => fromWire([99])).message).toMatch(/unknown frame tag 99/);
    expect(expectProtocolThrow(() => fromWire([8])).message).toMatch(/ping/);
    expect(expectProtocolThrow(() => fromWire([2, 1, 'g', 'A', 5, null, null, 10])).message).toMatch(/call\.id/);
  });
});

describe('fuzzing', () => {
  const validBatch = fc
    .array(fc.constantFrom(...samples), { minLength: 1, maxLength: 5 })
    .map((frames) => ({ frames, bytes: batchOf(frames) }));

  type Mutation =
    | { kind: 'flip'; at: number; mask: number }
    | { kind: 'truncate'; at: number }
    | { kind: 'extend'; extra: Uint8Array }
    | { kind: 'insert'; at: number; extra: Uint8Array }
    | { kind: 'delete'; at: number }
    | { kind: 'set'; at: number; value: number };
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant('set' as const),
      at: fc.nat(),
      value: fc.constantFrom(0x00, 0x1b, 0x5f, 0x7f, 0x9f, 0xbf, 0xd8, 0xf7, 0xff),
    }),
  );

  function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
    const out = [...bytes];
    const at = 'at' in m ? m.at % Math.max(1, out.length) : 0;
    switch (m.kind) {
      case 'flip':
        out[at] = (out[at] ?? 0) ^ m.mask;
        break;
      case 'truncate':
        out.length = at;
        break;
      case 'extend':
        out.push(...m.extra);
        break;
      case 'insert':
        out.splice(at, 0, ...m.extra);
        break;
      case 'delete':
        out.splice(at, 1);
        break;
      case 'set':
        out[at] = m.value;
        break;
    }
    return new Uint8Array(out);
  }

  /** Every decoded frame must itself be well-formed: it re-encodes and re-validates. */
  function expectWellFormed(frames: readonly Frame[]): void {
    for (const frame of frames) {
      expect(ALL_TYPES).toContain(frame.t);
      expect(() => fromWire(toWire(frame))).not.toThrow();
    }
  }

  it('random bytes never throw out of decodeBatch', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const result = decodeBatch(bytes);
        expectAllProtocol(result.errors);
        expectWellFormed(result.frames);
      }),
      { numRuns: 5000 },
    );
  });

  it('random bytes behind a batch header never throw and keep decoding well-formed frames', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30 }), fc.uint8Array({ maxLength: 200 }), (n, body) => {
        const header = n < 24 ? [0x80 | n] : [0x98, n];
        const result = decodeBatch(new Uint8Array([...header, ...body]));
        expectAllProtocol(result.errors);
        expectWellFormed(result.frames);
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated valid batches (flip / truncate / extend / insert / delete) never throw', () => {
    fc.assert(
      fc.property(validBatch, fc.array(mutation, { minLength: 1, maxLength: 4 }), ({ bytes }, mutations) => {
        let mutated = bytes;
        for (const m of mutations) mutated = mutate(mutated, m);
        const result = decodeBatch(mutated);
        expectAllProtocol(result.errors);
        expectWellFormed(result.frames);
      }),
      { numRuns: 3000 },
    );
  });

  it('garbage never poisons the decoder for the next message', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), validBatch, (garbage, { frames, bytes }) => {
        decodeBatch(garbage);
        const result = decodeBatch(bytes);
        expect(result.errors).toEqual([]);
        expect(result.frames.map(normalise)).toEqual(frames.map(normalise));
      }),
      { numRuns: 1000 },
    );
  });

  it('arbitrary structured values as frames give frames or ProtocolErrors, nothing else', () => {
    const rawFrame = fc.oneof(
      fc.anything(),
      fc
        .tuple(fc.integer({ min: -1, max: 12 }))
        .chain(([tag]) =>
          fc.array(fc.oneof(fc.anything(), fc.string(), fc.nat(), fc.array(fc.string())), { maxLength: 9 }).map((rest) => [tag, ...rest]),
        ),
    );
    fc.assert(
      fc.property(fc.array(rawFrame, { maxLength: 6 }), (raws) => {
        let bytes: Uint8Array;
        try {
          bytes = encodeValue(raws);
        } catch {
          return; // not encodable (e.g. a value CBOR cannot carry): nothing to decode
        }
        const result = decodeBatch(bytes);
        expect(result.frames.length + result.errors.length).toBe(raws.length);
        expectAllProtocol(result.errors);
        expectWellFormed(result.frames);
      }),
      { numRuns: 2000 },
    );
  });

  it('deeply nested input is an error, not a crash', () => {
    const depth = 100_000;
    const bytes = new Uint8Array(depth + 1).fill(0x81);
    bytes[depth] = 0x00;
    const result = decodeBatch(bytes);
    expect(result.frames).toEqual([]);
    expect(result.errors.length).toBeGreaterThanOrEqual(1);
    expectAllProtocol(result.errors);
  });

  it('a huge declared length with no data is an error without allocating it', () => {
    // Array of 2^32-1 elements / byte string of 2^32-1 bytes, followed by nothing.
    for (const bytes of [new Uint8Array([0x9a, 0xff, 0xff, 0xff, 0xff]), new Uint8Array([0x81, 0x5a, 0xff, 0xff, 0xff, 0xff])]) {
      const result = decodeBatch(bytes);
      expect(result.frames).toEqual([]);
      expect(result.errors).toHaveLength(1);
      expectAllProtocol(result.errors);
    }
  });
});

describe('decoded bytes own their memory', () => {
  it('a byte string decoded from a batch does not keep the whole message alive', () => {
    const chunk: Frame = { t: 'chunk', msg: 1, index: 0, count: 1, total: 3, bytes: new Uint8Array([7, 8, 9]) };
    const padding: Frame = { t: 'cast', capability: 'c', actor: 'A', id: 'x', payload: 'p'.repeat(20_000), initArg: null };
    const frames = [encodeFrame(chunk), encodeFrame(padding)];
    const message = joinBatch(
      frames,
      frames.reduce((n, f) => n + f.length, 0),
    );
    const decoded = decodeBatch(message).frames[0] as Extract<Frame, { t: 'chunk' }>;
    expect([...decoded.bytes]).toEqual([7, 8, 9]);
    expect(decoded.bytes.buffer.byteLength).toBe(3);
    expect(decoded.bytes.buffer).not.toBe(message.buffer);
  });
});
