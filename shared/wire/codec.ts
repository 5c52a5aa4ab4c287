// '#cbor' is cbor-x, and in browsers its build without eval: cbor-x probes for eval when it loads, which a
// strict Content-Security-Policy forbids (we use no records, the only part eval would speed up).
import { Encoder } from '#cbor';
import { InvalidArgumentError, ProtocolError, describeThrown } from '../errors.js';
import { fromWire, toWire, type Frame } from './frames.js';

// Plain CBOR (no cbor-x record extension): any CBOR decoder, in any language, can read our frames.
// copyBuffers: a decoded byte string gets its own memory. As a view it would keep the whole message it
// came in alive (a data-channel message, up to 256 KiB), so a peer could make a few counted bytes (a chunk
// piece, a replica's state or initArg) hold far more than any limit of ours counts.
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, variableMapSize: true, copyBuffers: true });

/**
 * Encodes one frame to bytes the caller owns. The one place encoding can fail: whatever cbor-x throws (a
 * function, a cycle, a stack overflow) becomes INVALID_ARGUMENT here, rather than being guessed at by each
 * sender.
 */
export function encodeFrame(frame: Frame): Uint8Array {
  // A copy: in Node cbor-x returns a Buffer, whose slice() is a view, not a copy.
  return new Uint8Array(encodeFrameShared(frame));
}

/**
 * Encodes one frame into a view of cbor-x's buffer, without a copy: a link's frames mostly leave within
 * the turn they were queued in, and a copy per frame was a fifth of the allocations of a remote call. The
 * bytes are never written again (without its reuse/reset modes, never used here, cbor-x writes each
 * encoding after the one before and replaces a full buffer rather than rewinding it), but they share memory
 * with other encodings: whoever keeps them beyond the turn copies them first, or they keep a whole buffer
 * of the encoder's (8 KiB, larger after a large value) alive. Throws like encodeFrame.
 */
export function encodeFrameShared(frame: Frame): Uint8Array {
  try {
    return cbor.encode(toWire(frame));
  } catch (error) {
    throw new InvalidArgumentError(`${frame.t} frame cannot be encoded: ${describeThrown(error)}`, { frame: frame.t });
  }
}

/** Encodes one arbitrary value; throws INVALID_ARGUMENT like encodeFrame. */
export function encodeValue(value: unknown): Uint8Array {
  try {
    return new Uint8Array(cbor.encode(value));
  } catch (error) {
    throw new InvalidArgumentError(`value cannot be encoded: ${describeThrown(error)}`);
  }
}

/**
 * The size of `value` encoded (measured, not copied), to count what a value costs to keep; +Infinity
 * (never throws) for one that cannot be encoded.
 */
export function encodedLength(value: unknown): number {
  // One byte each in CBOR; the common initArg and timers of a replica copy, so skip the encoder.
  if (value === null || value === undefined) return 1;
  try {
    return cbor.encode(value).length;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** Decodes one value encoded by encodeValue; throws ProtocolError. */
export function decodeValue(bytes: Uint8Array): unknown {
  try {
    return cbor.decode(bytes);
  } catch (error) {
    throw new ProtocolError(`undecodable value: ${describeThrown(error)}`);
  }
}

/**
 * Joins already-encoded frames into one CBOR array, the unit we send on a data channel. Building the array
 * header by hand lets each frame be encoded once, when queued, and sized before it is batched.
 */
export function joinBatch(frames: readonly Uint8Array[], totalBytes: number): Uint8Array {
  const n = frames.length;
  const header = n < 24 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
  const out = new Uint8Array(header + totalBytes);
  if (n < 24) out[0] = 0x80 | n;
  else if (n < 256) {
    out[0] = 0x98;
    out[1] = n;
  } else if (n < 65536) {
    out[0] = 0x99;
    out[1] = n >> 8;
    out[2] = n & 0xff;
  } else {
    out[0] = 0x9a;
    out[1] = (n >>> 24) & 0xff;
    out[2] = (n >> 16) & 0xff;
    out[3] = (n >> 8) & 0xff;
    out[4] = n & 0xff;
  }
  let offset = header;
  for (const frame of frames) {
    out.set(frame, offset);
    offset += frame.length;
  }
  return out;
}

export interface DecodedBatch {
  readonly frames: Frame[];
  /** One entry per frame that was dropped, with why. */
  readonly errors: ProtocolError[];
}

/** Decodes one data-channel message. Never throws: garbage becomes errors, good frames in a batch survive. */
export function decodeBatch(bytes: Uint8Array): DecodedBatch {
  let raw: unknown;
  try {
    raw = cbor.decode(bytes);
  } catch (error) {
    return { frames: [], errors: [new ProtocolError(`undecodable message: ${describeThrown(error)}`)] };
  }
  if (!Array.isArray(raw)) return { frames: [], errors: [new ProtocolError('message is not a batch of frames')] };
  const frames: Frame[] = [];
  const errors: ProtocolError[] = [];
  for (const item of raw) {
    try {
      frames.push(fromWire(item));
    } catch (error) {
      errors.push(error instanceof ProtocolError ? error : new ProtocolError(describeThrown(error)));
    }
  }
  return { frames, errors };
}

/** Decodes a single frame (a reassembled chunked message). Throws ProtocolError. */
export function decodeFrame(bytes: Uint8Array): Frame {
  let raw: unknown;
  try {
    raw = cbor.decode(bytes);
  } catch (error) {
    throw new ProtocolError(`undecodable frame: ${describeThrown(error)}`);
  }
  return fromWire(raw);
}
