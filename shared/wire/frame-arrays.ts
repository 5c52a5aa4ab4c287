/**
 * Frames on the wire: positional arrays [tag, ...fields], and the validation of every received array
 * (the receiver trusts no field of it). The frame types are declared in frames.ts.
 */
import { ProtocolError } from '../errors.js';
import type { TimerSpec } from '../actors/timers.js';
import type { PeerKind } from '../placement/membership.js';
import type { Frame, FrameType, HelloAuth } from './frames.js';

// Frames travel as positional arrays [tag, ...fields]: smaller and faster to code than maps.
const TAG = {
  hello: 0,
  caps: 1,
  call: 2,
  cast: 3,
  reply: 4,
  error: 5,
  ack: 6,
  chunk: 7,
  ping: 8,
  pong: 9,
  bye: 10,
  handoff: 11,
  released: 12,
  farewell: 13,
  token: 14,
  replica: 15,
  'replica-ack': 16,
  'replica-drop': 17,
  admitted: 18,
} as const satisfies Record<FrameType, number>;

export function toWire(frame: Frame): unknown[] {
  switch (frame.t) {
    case 'hello':
      return [
        TAG.hello,
        frame.protocol,
        frame.peerId,
        frame.kind,
        frame.capabilities,
        frame.actorTypes,
        frame.shards,
        frame.strategy,
        frame.window,
        frame.auth === null ? null : [frame.auth.token, frame.auth.proof],
      ];
    case 'caps':
      return [TAG.caps, frame.capabilities, frame.actorTypes];
    case 'call':
      return [TAG.call, frame.corr, frame.capability, frame.actor, frame.id, frame.payload, frame.initArg, frame.timeoutMs];
    case 'cast':
      return [TAG.cast, frame.capability, frame.actor, frame.id, frame.payload, frame.initArg];
    case 'reply':
      return [TAG.reply, frame.corr, frame.serial, frame.result];
    case 'error':
      return [TAG.error, frame.corr, frame.code, frame.message, frame.details];
    case 'ack':
      return [TAG.ack, frame.count];
    case 'chunk':
      return [TAG.chunk, frame.msg, frame.index, frame.count, frame.total, frame.bytes];
    case 'ping':
      return [TAG.ping, frame.n];
    case 'pong':
      return [TAG.pong, frame.n];
    case 'bye':
      return [TAG.bye, frame.reason];
    case 'handoff':
      return [
        TAG.handoff,
        frame.capability,
        frame.actor,
        frame.id,
        frame.state,
        frame.initArg,
        frame.epoch,
        frame.seq,
        timersToWire(frame.timers),
      ];
    case 'replica':
      return [
        TAG.replica,
        frame.capability,
        frame.actor,
        frame.id,
        frame.epoch,
        frame.seq,
        frame.state,
        frame.initArg,
        frame.copies,
        frame.n,
        timersToWire(frame.timers),
      ];
    case 'replica-ack':
      // The refusals ride only when there are any, so the usual frame keeps its two fields.
      return frame.refused.length > 0 ? [TAG['replica-ack'], frame.n, frame.refused] : [TAG['replica-ack'], frame.n];
    case 'replica-drop':
      return [TAG['replica-drop'], frame.capability, frame.actor, frame.id, frame.epoch, frame.seq];
    case 'released':
      return [TAG.released, frame.capability, frame.shards, frame.keys];
    case 'farewell':
      return [TAG.farewell];
    case 'admitted':
      return [TAG.admitted];
    case 'token':
      return [TAG.token, frame.token];
  }
}

/** Longest capability, actor type or peer name on the wire (what `call` accepts, see mesh/request.ts). */
export const MAX_NAME = 256;
/** Longest actor id on the wire. */
export const MAX_ID = 4096;
const MAX_NAMES = 256;

const bad = (what: string): never => {
  throw new ProtocolError(`malformed frame: ${what}`);
};
const str = (v: unknown, what: string, max: number, allowEmpty = false): string =>
  typeof v === 'string' && v.length <= max && (allowEmpty || v.length > 0) ? v : bad(what);
const uint = (v: unknown, what: string): number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER ? v : bad(what);
const names = (v: unknown, what: string): string[] => {
  if (!Array.isArray(v) || v.length > MAX_NAMES) return bad(what);
  for (const item of v) str(item, what, MAX_NAME);
  return v as string[];
};
const MAX_LIST = 1 << 20;
const shardList = (v: unknown): number[] => {
  if (!Array.isArray(v) || v.length > MAX_LIST) return bad('released.shards');
  for (const item of v) if (typeof item !== 'number' || !Number.isInteger(item) || item < 0 || item > 0x7fffffff) bad('released.shards');
  return v as number[];
};
const uintList = (v: unknown, what: string): number[] => {
  if (!Array.isArray(v) || v.length > MAX_LIST) return bad(what);
  for (const item of v) uint(item, what);
  return v as number[];
};
/** Timers travel as [name, dueAt, everyMs, payload] tuples; at most MAX_TIMERS (actors/timers.ts) per actor. */
const timersToWire = (timers: readonly TimerSpec[] | null): unknown[] | null =>
  timers === null ? null : timers.map((t) => [t.name, t.dueAt, t.everyMs, t.payload]);
const timersFromWire = (v: unknown, what: string): TimerSpec[] | null => {
  if (v === null) return null;
  if (!Array.isArray(v) || v.length > 1024) return bad(what);
  return v.map((t: unknown) => {
    if (!Array.isArray(t) || t.length !== 4) return bad(what);
    return { name: str(t[0], what, MAX_NAME), dueAt: uint(t[1], what), everyMs: uint(t[2], what), payload: t[3] as unknown };
  });
};
const keyList = (v: unknown): [string, string][] => {
  if (!Array.isArray(v) || v.length > MAX_LIST) return bad('released.keys');
  for (const pair of v) {
    if (!Array.isArray(pair) || pair.length !== 2) bad('released.keys');
    str((pair as unknown[])[0], 'released.keys', MAX_NAME);
    str((pair as unknown[])[1], 'released.keys', MAX_ID);
  }
  return v as [string, string][];
};
const MAX_TOKEN = 8192;
const helloAuth = (v: unknown): HelloAuth | null => {
  if (v === null) return null;
  if (!Array.isArray(v) || v.length !== 2) return bad('hello.auth');
  const proof: unknown = v[1];
  if (!(proof instanceof Uint8Array) || proof.length > 256) return bad('hello.auth.proof');
  return { token: str(v[0], 'hello.auth.token', MAX_TOKEN), proof };
};
const actorRef = (a: unknown[], what: string): { capability: string; actor: string; id: string } => ({
  capability: str(a[1], `${what}.capability`, MAX_NAME),
  actor: str(a[2], `${what}.actor`, MAX_NAME),
  id: str(a[3], `${what}.id`, MAX_ID),
});
const kind = (v: unknown): PeerKind => (v === 'browser' || v === 'node' || v === 'memory' ? v : bad('peer kind'));
const bytes = (v: unknown): Uint8Array => (v instanceof Uint8Array ? v : bad('chunk bytes'));
const arity = (a: unknown[], n: number, what: string): void => {
  if (a.length !== n) bad(`${what} needs ${n - 1} fields, got ${a.length - 1}`);
};

/**
 * A malformed call or cast still counted against our window on the sender's side: its error says which it
 * was (details.frame) and, when readable, the call's correlation id (details.corr), so the receiver can
 * credit the window and answer the caller instead of leaving it to time out.
 */
function controlled(frame: 'call' | 'cast', a: unknown[], build: () => Frame): Frame {
  try {
    return build();
  } catch (error) {
    const raw = a[1];
    const corr = frame === 'call' && typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 ? raw : undefined;
    const message = error instanceof Error ? error.message : String(error);
    throw new ProtocolError(message, corr === undefined ? { frame } : { frame, corr });
  }
}

/** Validates one decoded wire array and builds the frame; throws ProtocolError on any deviation. */
export function fromWire(raw: unknown): Frame {
  if (!Array.isArray(raw) || raw.length === 0) return bad('not a frame array');
  const a = raw as unknown[];
  switch (a[0]) {
    case TAG.hello:
      arity(a, 10, 'hello');
      return {
        t: 'hello',
        protocol: uint(a[1], 'hello.protocol'),
        peerId: str(a[2], 'hello.peerId', MAX_NAME),
        kind: kind(a[3]),
        capabilities: names(a[4], 'hello.capabilities'),
        actorTypes: names(a[5], 'hello.actorTypes'),
        shards: uint(a[6], 'hello.shards'),
        strategy: str(a[7], 'hello.strategy', MAX_NAME),
        window: uint(a[8], 'hello.window'),
        auth: helloAuth(a[9]),
      };
    case TAG.caps:
      arity(a, 3, 'caps');
      return { t: 'caps', capabilities: names(a[1], 'caps.capabilities'), actorTypes: names(a[2], 'caps.actorTypes') };
    case TAG.call:
      return controlled('call', a, () => {
        arity(a, 8, 'call');
        return {
          t: 'call',
          corr: uint(a[1], 'call.corr'),
          capability: str(a[2], 'call.capability', MAX_NAME),
          actor: str(a[3], 'call.actor', MAX_NAME),
          id: str(a[4], 'call.id', MAX_ID),
          payload: a[5],
          initArg: a[6],
          timeoutMs: uint(a[7], 'call.timeoutMs'),
        };
      });
    case TAG.cast:
      return controlled('cast', a, () => {
        arity(a, 6, 'cast');
        return {
          t: 'cast',
          capability: str(a[1], 'cast.capability', MAX_NAME),
          actor: str(a[2], 'cast.actor', MAX_NAME),
          id: str(a[3], 'cast.id', MAX_ID),
          payload: a[4],
          initArg: a[5],
        };
      });
    case TAG.reply:
      arity(a, 4, 'reply');
      return { t: 'reply', corr: uint(a[1], 'reply.corr'), serial: uint(a[2], 'reply.serial'), result: a[3] };
    case TAG.error:
      arity(a, 5, 'error');
      return {
        t: 'error',
        corr: uint(a[1], 'error.corr'),
        code: str(a[2], 'error.code', MAX_NAME),
        message: str(a[3], 'error.message', 65536, true),
        details: a[4],
      };
    case TAG.ack:
      arity(a, 2, 'ack');
      return { t: 'ack', count: uint(a[1], 'ack.count') };
    case TAG.chunk:
      arity(a, 6, 'chunk');
      return {
        t: 'chunk',
        msg: uint(a[1], 'chunk.msg'),
        index: uint(a[2], 'chunk.index'),
        count: uint(a[3], 'chunk.count'),
        total: uint(a[4], 'chunk.total'),
        bytes: bytes(a[5]),
      };
    case TAG.ping:
      arity(a, 2, 'ping');
      return { t: 'ping', n: uint(a[1], 'ping.n') };
    case TAG.pong:
      arity(a, 2, 'pong');
      return { t: 'pong', n: uint(a[1], 'pong.n') };
    case TAG.bye:
      arity(a, 2, 'bye');
      return { t: 'bye', reason: str(a[1], 'bye.reason', MAX_NAME, true) };
    case TAG.handoff:
      arity(a, 9, 'handoff');
      return {
        t: 'handoff',
        capability: str(a[1], 'handoff.capability', MAX_NAME),
        actor: str(a[2], 'handoff.actor', MAX_NAME),
        id: str(a[3], 'handoff.id', MAX_ID),
        state: a[4],
        initArg: a[5],
        epoch: uint(a[6], 'handoff.epoch'),
        seq: uint(a[7], 'handoff.seq'),
        timers: timersFromWire(a[8], 'handoff.timers'),
      };
    case TAG.replica:
      arity(a, 11, 'replica');
      return {
        t: 'replica',
        ...actorRef(a, 'replica'),
        epoch: uint(a[4], 'replica.epoch'),
        seq: uint(a[5], 'replica.seq'),
        state: bytes(a[6]),
        initArg: a[7],
        copies: uint(a[8], 'replica.copies'),
        n: uint(a[9], 'replica.n'),
        timers: timersFromWire(a[10], 'replica.timers'),
      };
    case TAG['replica-ack']:
      if (a.length !== 3) arity(a, 2, 'replica-ack');
      return { t: 'replica-ack', n: uintList(a[1], 'replica-ack.n'), refused: a.length === 3 ? uintList(a[2], 'replica-ack.refused') : [] };
    case TAG['replica-drop']:
      arity(a, 6, 'replica-drop');
      return {
        t: 'replica-drop',
        ...actorRef(a, 'replica-drop'),
        epoch: uint(a[4], 'replica-drop.epoch'),
        seq: uint(a[5], 'replica-drop.seq'),
      };
    case TAG.released:
      arity(a, 4, 'released');
      return {
        t: 'released',
        capability: str(a[1], 'released.capability', MAX_NAME),
        shards: shardList(a[2]),
        keys: keyList(a[3]),
      };
    case TAG.farewell:
      arity(a, 1, 'farewell');
      return { t: 'farewell' };
    case TAG.admitted:
      arity(a, 1, 'admitted');
      return { t: 'admitted' };
    case TAG.token:
      arity(a, 2, 'token');
      return { t: 'token', token: str(a[1], 'token.token', MAX_TOKEN) };
    default:
      return bad(`unknown frame tag ${typeof a[0] === 'number' ? a[0] : typeof a[0]}`);
  }
}
