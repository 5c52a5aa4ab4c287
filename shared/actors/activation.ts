import type { Actor, ActorContext, DeactivateReason, TimerOptions } from './actor.js';
import { InvalidArgumentError, type MeshError } from '../errors.js';
import type { Fifo } from './fifo.js';
import { ActivationTimers, type TimerSpec } from './timers.js';

/**
 * Completion callback of one message: errors are MeshErrors, results come with the activation that ran (the
 * object: a local caller reads its name, a remote reply carries only its serial).
 */
export type Done = (error: MeshError | null, result?: unknown, activation?: Activation) => void;

export interface ActivationInfo {
  readonly key: string;
  readonly actor: string;
  readonly capability: string;
  readonly id: string;
  readonly shard: number;
  readonly activation: string;
}

/**
 * Which state of an actor is newer: `epoch` grows with every activation (a new owner continues from the
 * state it got, one epoch up), `seq` with every change within one. Compared as (epoch, seq).
 */
export interface Version {
  readonly epoch: number;
  readonly seq: number;
}

export const newer = (a: Version, b: Version): boolean => a.epoch > b.epoch || (a.epoch === b.epoch && a.seq > b.seq);

/** State handed over by a moved activation, or kept by a backup. */
export interface Snapshot {
  readonly state: unknown;
  readonly initArg: unknown;
  /** Absent for state from a peer that does not version it. */
  readonly version?: Version;
  /** Timers that travel with the state (types with `static keepTimers`). */
  readonly timers?: readonly TimerSpec[] | undefined;
}

export interface MessageTarget {
  readonly capability: string;
  readonly actor: string;
  readonly id: string;
  readonly shard: number;
  readonly initArg: unknown;
}

export const CALL = 0;
export const CAST = 1;
/** A timer fired: the payload is { name, payload }. */
export const TIMER = 2;
export type MessageKind = typeof CALL | typeof CAST | typeof TIMER;

/** A message waiting in a mailbox; it is also the caller's ticket for cancelling it (one object, not two). */
export class Envelope implements Ticket {
  /** Set when the caller gave up (timeout/abort) before the message started: it is skipped, never run. */
  cancelled = false;

  constructor(
    readonly kind: MessageKind,
    readonly payload: unknown,
    readonly done: Done | null,
    /** Date.now() after which the message is not worth starting (its caller gave up); 0: none. */
    readonly deadline: number,
  ) {}

  cancel(): void {
    this.cancelled = true;
  }
}

/** Replies to a caller once its change is kept; with an error when it could not be (e.g. the store failed). */
export type Answer = (error?: MeshError) => void;

/**
 * Where one activation's state is kept beyond its memory (mesh/replication.ts: copies on backups;
 * mesh/persistence.ts: a store); the runtime reports every message to it.
 */
export interface ActivationLog {
  /**
   * False while it has nowhere to keep a change (copies with no backup in the view): the mailbox then answers
   * at once and skips changed()/read(). A backup that appears later gets the whole state (viewChanged).
   */
  readonly keeping: boolean;
  /** A message that may have changed the state completed; `answer` replies to its caller, now or once kept. */
  changed(answer: Answer): void;
  /** A read-only message completed: `answer` once the changes before it are kept. */
  read(answer: Answer): void;
  /** The mailbox is empty and no message runs: the state is consistent. */
  idle(): void;
  /**
   * The activation stopped. Waiting answers go out as soon as what they wait for is settled; a promise means
   * the final state is still being written (a handoff waits for it, so the next owner reads it).
   */
  closed(reason: DeactivateReason): Promise<void> | undefined;
  /** The view changed: the peers its copies go to may have. */
  viewChanged?(): void;
  /** The peers its copies go to (none when it keeps no copies). */
  readonly backups?: readonly string[];
}

/** A cancellable handle on a queued message. */
export interface Ticket {
  cancel(): void;
}

export const NOOP_TICKET: Ticket = { cancel() {} };

/**
 * The same string without its concatenation tree. V8 keeps `a + b` as a tree of cons cells (32 B each) and
 * hashes it as one without flattening, so a key of four parts cost ~130 B per actor on top of its characters.
 * Flattening (which a character read forces) leaves one cell pointing at a flat copy.
 */
export const flat = (s: string): string => {
  s.charCodeAt(0);
  return s;
};

export const activationKey = (capability: string, actor: string, id: string): string => `${capability}\u0000${actor}\u0000${id}`;

/** The capability, type and id an activationKey was made of (the id may itself hold the separator); null if none. */
export function keyParts(key: string): readonly [capability: string, actor: string, id: string] | null {
  const first = key.indexOf('\u0000');
  const second = first < 0 ? -1 : key.indexOf('\u0000', first + 1);
  if (second < 0) return null;
  return [key.slice(0, first), key.slice(first + 1, second), key.slice(second + 1)];
}

/**
 * What every activation of one type on one peer shares: kept once per type rather than as fields of each
 * actor, since memory per idle actor is what bounds how many a peer can host.
 */
export interface ActivationKind {
  readonly peerId: string;
  /** Idle passivation after this long without a message; 0: never. */
  readonly idleTimeoutMs: number;
  readonly readOnly: ((payload: unknown) => boolean) | null;
  /** Posts a fired timer to the activation's mailbox. */
  readonly onTimer: (activation: Activation, name: string, payload: unknown) => void;
}

/**
 * One live actor instance with its mailbox. Messages run one at a time, also when handlers are async;
 * a handler that completes synchronously completes its caller synchronously (no promise, no timer).
 */
export class Activation implements ActivationInfo, ActorContext {
  // Fields in the order every message reads them: V8 lays an object out in declaration order, and with a
  // million live actors each call misses the cache on the lines it touches (header and these: two lines,
  // not three).
  /** What it shares with every activation of its type here. */
  readonly kind: ActivationKind;
  instance: Actor;
  busy = false;
  /** 'stopping' finishes the message in progress, then deactivates with `stopReason`. */
  state: 'active' | 'stopping' | 'stopped' = 'active';
  queue: Fifo<Envelope> | null = null;
  /** Where its changes are copied to backups; null for types without copies. */
  log: ActivationLog | null = null;
  /** Version of its state: the epoch it was activated in, and the changes since (see Version). */
  seq = 0;
  /** The name, once a local caller asked for it (see keptName). */
  private name: string | null = null;
  epoch = 1;
  readonly actor: string;
  readonly capability: string;
  readonly id: string;
  readonly shard: number;
  /** Its number among this peer's activations: its name is `${peerId}#${serial}`. */
  readonly serial: number;
  stopReason: DeactivateReason = 'stop';
  lastActive: number;
  /** Hears the activation stopped; `flushed`, when present, settles once its final state is written. */
  onStopped: ((activation: Activation, crashed: boolean, flushed: Promise<void> | undefined) => void) | null = null;
  /** Its timers, created on the first setTimer. */
  timers: ActivationTimers | null = null;
  /** False while a durable actor's state is loading: messages wait in the mailbox. */
  opened = true;

  constructor(kind: ActivationKind, now: number, target: MessageTarget, instance: Actor, serial: number) {
    this.kind = kind;
    this.actor = target.actor;
    this.capability = target.capability;
    this.id = target.id;
    this.shard = target.shard;
    this.serial = serial;
    this.instance = instance;
    this.lastActive = now;
  }

  /**
   * activationKey(capability, actor, id), built when asked: the runtime finds activations without it
   * (ActivationTable), and not keeping it saves ~56 B per idle actor. Only rarer paths (state logs,
   * handoff) read it.
   */
  get key(): string {
    return activationKey(this.capability, this.actor, this.id);
  }

  /**
   * `${peerId}#${serial}`. Remote callers name it from the reply's serial and the peer it came from, so an
   * actor only ever called remotely holds no name (~70 B per idle actor); listings, events and errors build
   * it without keeping it.
   */
  get activation(): string {
    return this.name ?? `${this.kind.peerId}#${this.serial}`;
  }

  /** The name, kept once built: a local caller gets it with every result. */
  keptName(): string {
    if (this.name === null) this.name = flat(this.activation);
    return this.name;
  }

  get peerId(): string {
    return this.kind.peerId;
  }

  get idleTimeoutMs(): number {
    return this.kind.idleTimeoutMs;
  }

  /** The type's read-only predicate (consulted only for types with copies or a store). */
  get readOnly(): ((payload: unknown) => boolean) | null {
    return this.kind.readOnly;
  }

  setTimer(name: string, delayMs: number, payload?: unknown, options?: TimerOptions): void {
    if (typeof this.instance.handleTimer !== 'function') {
      throw new InvalidArgumentError(`actor ${this.actor} sets a timer but has no handleTimer(name, payload, ctx)`);
    }
    if (this.state !== 'active') return; // a stopping activation starts nothing new
    this.timers ??= new ActivationTimers((n, p) => this.kind.onTimer(this, n, p), Date.now);
    this.timers.set(name, delayMs, payload, options?.repeat === true);
  }

  /** Re-arms timers that travelled with the state (`static keepTimers`). */
  restoreTimers(specs: readonly TimerSpec[]): void {
    this.timers ??= new ActivationTimers((n, p) => this.kind.onTimer(this, n, p), Date.now);
    this.timers.restore(specs);
  }

  clearTimer(name: string): boolean {
    return this.timers?.clear(name) ?? false;
  }
}
