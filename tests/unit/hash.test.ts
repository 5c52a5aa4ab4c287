import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SHARD_HASH_VERSION, fmix32, hashString, murmur3 } from '../../shared/placement/hash.js';
import { referenceFmix32, referenceHashString, referenceMurmur3 } from '../fixtures/murmur3-reference.js';

const utf8 = (str: string): Uint8Array => new Uint8Array(Buffer.from(str, 'utf8'));
const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

/** Strings of arbitrary UTF-16 code units: lone surrogates, reversed pairs and valid pairs all occur. */
const codeUnitString = fc
  .array(fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0xd800, max: 0xdfff })), { maxLength: 64 })
  .map((units) => String.fromCharCode(...units));
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.string({ unit: 'grapheme', maxLength: 32 }),
  fc.string({ unit: 'grapheme-composite', maxLength: 32 }),
  fc.string({ unit: 'binary-ascii', maxLength: 64 }),
  codeUnitString,
);

describe('reference implementation (sanity of the oracle itself)', () => {
  // Published MurmurHash3_x86_32 vectors (SMHasher / widely cited test table).
  const published: [Uint8Array, number, number][] = [
    [bytes(), 0, 0],
    [bytes(), 1, 0x514e28b7],
    [bytes(), 0xffffffff, 0x81f16f39],
    [bytes(0xff, 0xff, 0xff, 0xff), 0, 0x76293b50],
    [bytes(0x21, 0x43, 0x65, 0x87), 0, 0xf55b516b],
    [bytes(0x21, 0x43, 0x65, 0x87), 0x5082edee, 0x2362f9de],
    [bytes(0x21, 0x43, 0x65), 0, 0x7e4a8634],
    [bytes(0x21, 0x43), 0, 0xa0f7b07a],
    [bytes(0x21), 0, 0x72661cf4],
    [bytes(0, 0, 0, 0), 0, 0x2362f9de],
    [bytes(0, 0, 0), 0, 0x85f0b427],
    [bytes(0, 0), 0, 0x30f4c306],
    [bytes(0), 0, 0x514e28b7],
    [utf8('Hello, world!'), 1234, 0xfaf6cdb3],
    [utf8('The quick brown fox jumps over the lazy dog'), 0x9747b28c, 0x2fa826cd],
    [utf8('aaaa'), 0x9747b28c, 0x5a97808a],
    [utf8('abc'), 0x9747b28c, 0xc84a62dd],
  ];

  it.each(published.map(([input, seed, expected], i) => ({ i, input, seed, expected })))(
    'published vector #$i matches the reference',
    ({ input, seed, expected }) => {
      expect(referenceMurmur3(input, seed)).toBe(expected);
    },
  );

  it('shared murmur3 agrees with every published vector', () => {
    for (const [input, seed, expected] of published) expect(murmur3(input, input.length, seed)).toBe(expected);
  });
});

describe('hashString known vectors (seed 0)', () => {
  it.each([
    ['', 0],
    ['hello', 0x248bfa47],
    ['The quick brown fox jumps over the lazy dog', 0x2e4ff723],
  ])('hashString(%j) = %i', (input, expected) => {
    expect(hashString(input)).toBe(expected);
    expect(referenceHashString(input)).toBe(expected);
  });

  it('is version 1 of the shard hash', () => {
    expect(SHARD_HASH_VERSION).toBe(1);
  });

  it('returns an unsigned 32-bit integer', () => {
    for (const s of ['', 'a', 'hello', '🎮', 'x'.repeat(1000)]) {
      const h = hashString(s);
      expect(Number.isInteger(h)).toBe(true);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThanOrEqual(0xffffffff);
    }
  });

  it('honours the seed, with seeds above 2^31 treated as their 32-bit pattern', () => {
    expect(hashString('Hello, world!', 1234)).toBe(0xfaf6cdb3);
    expect(hashString('The quick brown fox jumps over the lazy dog', 0x9747b28c)).toBe(0x2fa826cd);
    expect(hashString('', 0xffffffff)).toBe(0x81f16f39);
    expect(hashString('', -1)).toBe(0x81f16f39);
    expect(hashString('hello', 1)).not.toBe(hashString('hello', 0));
  });
});

describe('hashString agrees with the reference over Buffer.from(str, "utf8")', () => {
  it('on every tail length and on UTF-8 length boundaries', () => {
    const cases = [
      'a',
      'ab',
      'abc',
      'abcd',
      'abcde',
      'abcdef',
      'abcdefg',
      'abcdefgh',
      '\u007f',
      '\u0080',
      '\u07ff',
      '\u0800',
      '\ud7ff',
      '\ue000',
      '\uffff',
      '\u{10000}',
      '\u{10ffff}',
      'é',
      'e\u0301',
      '日本語',
      '🎮',
      '👨‍👩‍👧‍👦',
      '🏳️‍🌈',
      'שלום',
      'مرحبا',
      '\u0000',
      '\u0000\u0000\u0000\u0000',
    ];
    for (const s of cases) expect(hashString(s), JSON.stringify(s)).toBe(referenceMurmur3(utf8(s)));
  });

  it('ASCII but for one char, at every position of every block and tail (the ASCII path hands over)', () => {
    for (let len = 1; len <= 13; len++) {
      for (let at = 0; at < len; at++) {
        for (const odd of ['\u0080', '\u00e9', '\u07ff', '\u0800', '\ud83d', '\uffff']) {
          const s = 'player_12345'.padEnd(len, 'x').slice(0, len).split('');
          s[at] = odd;
          const str = s.join('');
          expect(hashString(str, 7), JSON.stringify(str)).toBe(referenceMurmur3(utf8(str), 7));
        }
      }
    }
  });

  it('on thousands of random strings (ASCII, BMP, astral, emoji, graphemes, lone surrogates)', () => {
    fc.assert(
      fc.property(anyString, fc.integer({ min: 0, max: 0xffffffff }), (s, seed) => {
        const expected = referenceMurmur3(utf8(s), seed);
        expect(hashString(s, seed)).toBe(expected);
        if (seed === 0) expect(hashString(s)).toBe(expected);
      }),
      { numRuns: 5000 },
    );
  });

  it('Buffer and TextEncoder agree on the bytes, so the oracle is TextEncoder-exact', () => {
    const encoder = new TextEncoder();
    fc.assert(
      fc.property(codeUnitString, (s) => {
        expect([...utf8(s)]).toEqual([...encoder.encode(s)]);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('lone surrogates hash like TextEncoder’s U+FFFD replacement', () => {
  it.each([
    ['\ud800', '\ufffd'],
    ['\udfff', '\ufffd'],
    ['a\ud800b', 'a\ufffdb'],
    ['\udc00\ud800', '\ufffd\ufffd'],
    ['x\ud83d', 'x\ufffd'],
    ['\ude00y', '\ufffdy'],
    ['\ud83d\ud83d\ude00', '\ufffd😀'],
  ])('%j hashes as %j', (lone, replaced) => {
    expect(hashString(lone)).toBe(hashString(replaced));
    expect(hashString(lone)).toBe(referenceMurmur3(new TextEncoder().encode(lone)));
  });

  it('a valid surrogate pair is one 4-byte code point, not two replacements', () => {
    expect(hashString('\ud83d\ude00')).toBe(referenceMurmur3(bytes(0xf0, 0x9f, 0x98, 0x80)));
    expect(hashString('\ud83d\ude00')).not.toBe(hashString('\ufffd\ufffd'));
  });
});

describe('scratch buffer reuse', () => {
  it('gives the same result regardless of what was hashed before (growth and shrinking)', () => {
    const short = 'player_1';
    const expectedShort = referenceHashString(short);
    const long = '🎮日本'.repeat(5000);
    const expectedLong = referenceHashString(long);
    expect(hashString(short)).toBe(expectedShort);
    expect(hashString(long)).toBe(expectedLong); // forces the scratch buffer to grow
    expect(hashString(short)).toBe(expectedShort); // stale bytes beyond the length must not leak in
    expect(hashString('\uffff'.repeat(3000))).toBe(referenceHashString('\uffff'.repeat(3000))); // worst case: 3 bytes per unit
    expect(hashString(long)).toBe(expectedLong);
  });

  it('interleaved random strings hash independently', () => {
    fc.assert(
      fc.property(fc.array(anyString, { minLength: 2, maxLength: 20 }), (strings) => {
        const expected = strings.map((s) => referenceHashString(s));
        expect(strings.map((s) => hashString(s))).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe('murmur3 over bytes', () => {
  it('hashes only the first len bytes', () => {
    const data = utf8('hello world');
    expect(murmur3(data, 5)).toBe(0x248bfa47);
    expect(murmur3(data, 0)).toBe(0);
    expect(murmur3(data)).toBe(referenceMurmur3(data));
  });

  it('agrees with the reference on random byte arrays and seeds', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 0xffffffff }), (data, seed) => {
        expect(murmur3(data, data.length, seed)).toBe(referenceMurmur3(data, seed));
      }),
      { numRuns: 3000 },
    );
  });

  it('works on a view with a non-zero byteOffset', () => {
    const backing = utf8('xxxhello');
    const view = backing.subarray(3);
    expect(murmur3(view)).toBe(0x248bfa47);
  });
});

describe('fmix32', () => {
  it('matches the reference finaliser and is a bijection-like avalanche on samples', () => {
    expect(fmix32(0)).toBe(0);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (x) => {
        expect(fmix32(x)).toBe(referenceFmix32(x));
      }),
      { numRuns: 2000 },
    );
    const seen = new Set<number>();
    for (let i = 0; i < 10_000; i++) seen.add(fmix32(i));
    expect(seen.size).toBe(10_000);
  });
});
