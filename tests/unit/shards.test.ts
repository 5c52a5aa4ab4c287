import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../shared/errors.js';
import { DEFAULT_SHARD_COUNT, assertActorId, assertShardCount, shardFor } from '../../shared/placement/shards.js';
import { referenceHashString, referenceShard } from '../fixtures/murmur3-reference.js';
import { expectThrows } from '../fixtures/mesh-helpers.js';

interface ShardVector {
  readonly id: string;
  readonly shard: number;
}
interface ShardVectorFile {
  readonly version: number;
  readonly shardCount: number;
  readonly vectors: readonly ShardVector[];
}

function loadVectors(): ShardVectorFile {
  const raw: unknown = JSON.parse(readFileSync(new URL('../fixtures/shard-vectors.json', import.meta.url), 'utf8'));
  if (raw === null || typeof raw !== 'object') throw new Error('shard-vectors.json is not an object');
  const { version, shardCount, vectors } = raw as Record<string, unknown>;
  if (typeof version !== 'number' || typeof shardCount !== 'number' || !Array.isArray(vectors)) {
    throw new Error('shard-vectors.json has the wrong shape');
  }
  const checked: ShardVector[] = vectors.map((v: unknown, i) => {
    const entry = v as Record<string, unknown> | null;
    if (typeof entry?.id !== 'string' || typeof entry.shard !== 'number') throw new Error(`vector ${i} has the wrong shape`);
    return { id: entry.id, shard: entry.shard };
  });
  return { version, shardCount, vectors: checked };
}

const fixture = loadVectors();

const expectInvalid = (fn: () => unknown): void => void expectThrows(fn, InvalidArgumentError, 'INVALID_ARGUMENT');

describe('shard vector fixture', () => {
  it('is version 1 with 4096 shards and ~300 distinct ids', () => {
    expect(fixture.version).toBe(1);
    expect(fixture.shardCount).toBe(4096);
    expect(fixture.shardCount).toBe(DEFAULT_SHARD_COUNT);
    expect(fixture.vectors.length).toBeGreaterThanOrEqual(250);
    expect(new Set(fixture.vectors.map((v) => v.id)).size).toBe(fixture.vectors.length);
  });

  it('covers the character classes it promises', () => {
    const ids = fixture.vectors.map((v) => v.id);
    const some = (re: RegExp): boolean => ids.some((id) => re.test(id));
    expect(some(/^[\x20-\x7e]+$/)).toBe(true); // printable ASCII
    expect(some(/[\u0080-\u00ff]/)).toBe(true); // Latin-1
    expect(some(/[\u4e00-\u9fff]/)).toBe(true); // CJK
    expect(some(/\p{Extended_Pictographic}/u)).toBe(true); // emoji
    expect(some(/\u200d/)).toBe(true); // ZWJ sequences
    expect(some(/[\ud800-\udbff][\udc00-\udfff]/)).toBe(true); // astral
    expect(some(/\p{M}/u)).toBe(true); // combining marks
    expect(some(/[\u0590-\u06ff]/)).toBe(true); // RTL (Hebrew/Arabic)
    expect(some(/(?:[\ud800-\udbff](?![\udc00-\udfff]))|(?:(?<![\ud800-\udbff])[\udc00-\udfff])/)).toBe(true); // lone surrogates
    expect(ids.some((id) => id.length >= 1000)).toBe(true); // long ids
    expect(ids.some((id) => id.length === 4096)).toBe(true); // the wire maximum
  });

  it('agrees with the independent reference (guards against a hand-edited fixture)', () => {
    for (const { id, shard } of fixture.vectors) expect(referenceShard(id, 4096), JSON.stringify(id)).toBe(shard);
  });
});

describe('shardFor against the fixture', () => {
  it.each(fixture.vectors.map((v, i) => ({ ...v, label: `#${i} ${JSON.stringify(v.id).slice(0, 40)}` })))(
    'shardFor($label) = $shard',
    ({ id, shard }) => {
      expect(shardFor(id)).toBe(shard);
      expect(shardFor(id, 4096)).toBe(shard);
    },
  );

  it('every vector with 1024 shards (same hash, other modulus)', () => {
    for (const { id, shard } of fixture.vectors) {
      const expected = referenceHashString(id) % 1024;
      expect(shardFor(id, 1024), JSON.stringify(id)).toBe(expected);
      // 1024 divides 4096, so the two are consistent with each other too.
      expect(expected).toBe(shard % 1024);
    }
  });

  it('every vector with non-power-of-two and extreme shard counts', () => {
    for (const { id } of fixture.vectors) {
      const h = referenceHashString(id);
      expect(shardFor(id, 1)).toBe(0);
      expect(shardFor(id, 7)).toBe(h % 7);
      expect(shardFor(id, 1000)).toBe(h % 1000);
      expect(shardFor(id, 0x7fffffff)).toBe(h % 0x7fffffff);
    }
  });

  it('precomposed and decomposed forms are different ids (no normalisation)', () => {
    expect(shardFor('\u00e9')).toBe(referenceShard('\u00e9', 4096));
    expect(shardFor('e\u0301')).toBe(referenceShard('e\u0301', 4096));
    expect(referenceHashString('\u00e9')).not.toBe(referenceHashString('e\u0301'));
  });
});

describe('shardFor properties', () => {
  it('stays in [0, shardCount) and matches the reference for random ids and counts', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 0x7fffffff }), (id, count) => {
        const shard = shardFor(id, count);
        expect(Number.isInteger(shard)).toBe(true);
        expect(shard).toBeGreaterThanOrEqual(0);
        expect(shard).toBeLessThan(count);
        expect(shard).toBe(referenceShard(id, count));
      }),
      { numRuns: 2000 },
    );
  });

  it('spreads 100k sequential ids over all 4096 shards roughly evenly', () => {
    const counts = new Array<number>(4096).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const shard = shardFor(`player_${i}`);
      counts[shard] = (counts[shard] ?? 0) + 1;
    }
    // Expected ~24.4 per shard (Poisson sd ~4.9): every shard used, none wildly off.
    expect(Math.min(...counts)).toBeGreaterThan(0);
    expect(Math.max(...counts)).toBeLessThan(60);
    // Chi-square with 4095 degrees of freedom: mean 4095, sd ~90.5; allow 6 sd.
    const expected = 100_000 / 4096;
    const chi2 = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(4095 + 6 * 90.5);
  });
});

describe('shardFor errors', () => {
  it.each<[string, unknown]>([
    ['a number', 123],
    ['null', null],
    ['undefined', undefined],
    ['an object', { id: 'x' }],
    ['a String object', new String('x')],
    ['a symbol', Symbol('x')],
    ['an empty string', ''],
  ])('rejects %s as id with INVALID_ARGUMENT', (_label, id) => {
    expectInvalid(() => shardFor(id as string));
    expectInvalid(() => assertActorId(id));
  });

  it.each<[string, unknown]>([
    ['0', 0],
    ['-1', -1],
    ['1.5', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['2^31', 2 ** 31],
    ['a numeric string', '4096'],
    ['null', null],
  ])('rejects shardCount %s with INVALID_ARGUMENT', (_label, count) => {
    expectInvalid(() => shardFor('player_1', count as number));
    expectInvalid(() => assertShardCount(count));
  });

  it('accepts the boundaries 1 and 2^31-1', () => {
    expect(() => assertShardCount(1)).not.toThrow();
    expect(() => assertShardCount(0x7fffffff)).not.toThrow();
  });

  it('describes the bad id in the message', () => {
    expect(() => shardFor('')).toThrow(/empty string/);
    expect(() => shardFor(null as unknown as string)).toThrow(/null/);
    expect(() => shardFor(5 as unknown as string)).toThrow(/number/);
  });
});
