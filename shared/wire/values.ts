import { InvalidArgumentError, describeThrown } from '../errors.js';
import { decodeValue, encodeValue } from './codec.js';

/**
 * What a payload, initArg, result or snapshot may be, checked the same way whether it stays on this peer or
 * crosses the wire, so a request gets the same answer wherever its owner is. A remote owner receives a CBOR
 * copy; a local owner receives `wireCopy(value)`, which equals that copy for every value (plain data is
 * copied here without bytes, anything else takes the codec's round trip).
 */
export const VALUE_LIMITS = {
  /** Arrays, objects, maps and sets nested deeper than this are refused (CBOR decoders recurse). */
  maxDepth: 64,
} as const;

const OBJECT_PROTO = Object.prototype;
const ARRAY_PROTO = Array.prototype;

/** The decoder renames this key, so that a payload can never replace an object's prototype. */
const PROTO_KEY = '__proto__';
const PROTO_RENAMED = '__proto_';

type WellFormed = (s: string) => boolean;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const isWellFormed: WellFormed =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
    ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (s) => !LONE_SURROGATE.test(s);

/** Why `value` cannot cross the wire, as a path and a reason; throws InvalidArgumentError. */
function refuse(what: string, path: string, reason: string): never {
  throw new InvalidArgumentError(`${what}${path} ${reason}`, { field: what, path });
}

/**
 * Throws INVALID_ARGUMENT (naming where) unless `value` encodes to CBOR and decodes on any peer: no
 * functions or symbols, no cycles, nesting at most VALUE_LIMITS.maxDepth. Allocates nothing for plain data.
 */
export function checkWireValue(value: unknown, what: string): void {
  check(value, what, '', 0, []);
}

function check(value: unknown, what: string, path: string, depth: number, stack: object[]): void {
  switch (typeof value) {
    case 'function':
      return refuse(what, path, 'is a function, which cannot be sent');
    case 'symbol':
      return refuse(what, path, 'is a symbol, which cannot be sent');
    case 'object':
      break;
    default:
      return;
  }
  if (value === null) return;
  if (depth >= VALUE_LIMITS.maxDepth) refuse(what, path, `is nested deeper than ${VALUE_LIMITS.maxDepth} levels`);
  if (stack.includes(value)) refuse(what, path, 'is circular (it contains itself)');
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp) return;
  stack.push(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) check(value[i], what, `${path}[${i}]`, depth + 1, stack);
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      check(k, what, `${path}.<key>`, depth + 1, stack);
      check(v, what, `${path}.get(${describeKey(k)})`, depth + 1, stack);
    }
  } else if (value instanceof Set) {
    for (const v of value) check(v, what, `${path}.<item>`, depth + 1, stack);
  } else {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) check(record[key], what, `${path}.${key}`, depth + 1, stack);
  }
  stack.pop();
}

const describeKey = (k: unknown): string => (typeof k === 'string' ? JSON.stringify(k).slice(0, 40) : typeof k);

/** Raised inside the fast copy when something cannot be sent; the checker then says what and where. */
const UNSENDABLE: unique symbol = Symbol('unsendable');

/**
 * The value an owner on another peer would receive: plain objects and arrays are copied with the decoder's
 * rules (`__proto__` renamed `__proto_`, -0 as 0, holes as undefined, symbol keys dropped); other objects
 * (Map, Set, Date, typed arrays, class instances...) and strings with lone surrogates take the codec's own
 * round trip. Throws INVALID_ARGUMENT for what cannot be sent. The caller's later mutations never reach it.
 */
export function wireCopy(value: unknown, what: string): unknown {
  // Primitives are immutable and equal their decoded form: the common case costs one typeof.
  switch (typeof value) {
    case 'object':
      if (value === null) return null;
      break;
    case 'string':
      return isWellFormed(value) ? value : roundTrip(value, what, '');
    case 'number':
      return value === 0 ? 0 : value;
    case 'function':
    case 'symbol':
      return check(value, what, '', 0, []);
    default:
      return value;
  }
  try {
    return copyObject(value, 0, what);
  } catch (error) {
    if (error !== UNSENDABLE) throw error;
    // The copy keeps no paths (that would cost every call): the checker walks again to say where.
    check(value, what, '', 0, []);
    throw new InvalidArgumentError(`${what} cannot be sent`);
  }
}

function copy(value: unknown, depth: number, what: string): unknown {
  switch (typeof value) {
    case 'object':
      return value === null ? null : copyObject(value, depth, what);
    case 'string':
      return isWellFormed(value) ? value : roundTrip(value, what, '');
    case 'number':
      return value === 0 ? 0 : value;
    case 'function':
    case 'symbol':
      throw UNSENDABLE;
    default:
      return value;
  }
}

/** Copies without tracking where it is: a cycle shows up as nesting too deep, which the checker explains. */
function copyObject(value: object, depth: number, what: string): unknown {
  if (depth >= VALUE_LIMITS.maxDepth) throw UNSENDABLE;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === ARRAY_PROTO) {
    const source = value as unknown[];
    const out = new Array<unknown>(source.length);
    for (let i = 0; i < source.length; i++) out[i] = copy(source[i], depth + 1, what);
    return out;
  }
  if (proto === OBJECT_PROTO || proto === null) {
    const source = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(source)) out[key === PROTO_KEY ? PROTO_RENAMED : key] = copy(source[key], depth + 1, what);
    return out;
  }
  try {
    check(value, what, '', depth, []);
  } catch {
    throw UNSENDABLE;
  }
  return roundTrip(value, what, '');
}

/** The codec's own copy, for what plain copying cannot mimic exactly. */
function roundTrip(value: unknown, what: string, path: string): unknown {
  try {
    return decodeValue(encodeValue(value));
  } catch (error) {
    return refuse(what, path, `cannot be encoded: ${describeThrown(error)}`);
  }
}
