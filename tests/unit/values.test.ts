/**
 * wireCopy must equal what the wire delivers: for arbitrary values, the copy a local owner gets is
 * deep-equal to the CBOR round trip a remote owner gets, never aliases the original, and refuses exactly
 * what cannot be sent, with the path in the message.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../shared/errors.js';
import { decodeValue, encodeValue } from '../../shared/wire/codec.js';
import { VALUE_LIMITS, checkWireValue, wireCopy } from '../../shared/wire/values.js';

const viaWire = (value: unknown): unknown => decodeValue(encodeValue(value));

/** Deep equality that also tells -0 from 0, undefined from a missing key, and prototypes apart. */
function same(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) return false;
  return ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

describe('wireCopy', () => {
  it('equals the CBOR round trip for arbitrary JSON-like values (with undefined, -0, lone surrogates, __proto__ keys)', () => {
    const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', '__proto_', 'constructor'));
    const leaf = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.string({ unit: 'binary', maxLength: 4 }),
      fc.double(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.constant(-0),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
      array: fc.array(tie('node'), { maxLength: 5 }),
      object: fc.dictionary(key, tie('node'), { maxKeys: 5 }),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        expect(same(wireCopy(v, 'payload'), viaWire(v))).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('never aliases the original', () => {
    const original = { list: [1, { deep: true }], nested: { a: 1 } };
    const copied = wireCopy(original, 'payload') as typeof original;
    expect(copied).toStrictEqual(original);
    expect(copied).not.toBe(original);
    expect(copied.list).not.toBe(original.list);
    expect(copied.list[1]).not.toBe(original.list[1]);
    expect(copied.nested).not.toBe(original.nested);
  });

  it('takes the codec round trip for Map, Set, Date, typed arrays and class instances', () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    const value = { m: new Map([[1, 'a']]), s: new Set(['x']), d: new Date(7), u: new Uint8Array([1]), p: new Point(1, 2) };
    expect(wireCopy(value, 'payload')).toStrictEqual(viaWire(value));
  });

  it.each([
    ['a function', { a: { b: () => 1 } }, /^payload\.a\.b is a function/],
    ['a symbol', [1, Symbol('s')], /^payload\[1\] is a symbol/],
    [
      'a cycle',
      (() => {
        const o: Record<string, unknown> = {};
        o['me'] = { back: o };
        return o;
      })(),
      /^payload\.me\.back is circular/,
    ],
    [
      'nesting past the limit',
      (() => {
        let v: unknown = 0;
        for (let i = 0; i <= VALUE_LIMITS.maxDepth; i++) v = [v];
        return v;
      })(),
      /nested deeper than 64 levels/,
    ],
    ['a function inside a Map', { m: new Map([['k', () => 1]]) }, /^payload\.m\.get\("k"\) is a function/],
  ])('refuses %s with INVALID_ARGUMENT naming the path, as the remote check does', (_what, value, message) => {
    let copyError: unknown;
    let checkError: unknown;
    try {
      wireCopy(value, 'payload');
    } catch (error) {
      copyError = error;
    }
    try {
      checkWireValue(value, 'payload');
    } catch (error) {
      checkError = error;
    }
    expect(copyError).toBeInstanceOf(InvalidArgumentError);
    expect((copyError as Error).message).toMatch(message);
    expect((checkError as Error).message).toBe((copyError as Error).message);
  });

  it('accepts nesting right at the limit', () => {
    let value: unknown = 0;
    for (let i = 0; i < VALUE_LIMITS.maxDepth; i++) value = [value];
    expect(wireCopy(value, 'payload')).toStrictEqual(viaWire(value));
  });
});
