import type { Actor, ActorClass, DeactivateReason } from './actor.js';
import {
  Activation,
  type ActivationKind,
  flat,
  CALL,
  CAST,
  TIMER,
  NOOP_TICKET,
  activationKey,
  newer,
  type ActivationInfo,
  type ActivationLog,
  type Done,
  type MessageKind,
  type MessageTarget,
  type Snapshot,
  type Ticket,
} from './activation.js';
import { encodedLength } from '../wire/codec.js';
import { ActivationTable } from './activation-table.js';
import { HandedOver, type HandedOverLimits } from './handed-over.js';
import { IdleSweep } from './idle-sweep.js';
import { Mailboxes, type RuntimeEvents } from './mailbox.js';
import { instantiate, snapshotOf } from './instantiate.js';

export type { RuntimeEvents } from './mailbox.js';
export { activationKey, type ActivationInfo, type Done, type MessageTarget, type Snapshot, type Ticket } from './activation.js';
import {
  InvalidArgumentError,
  MeshError,
  NotOwnerError,
  StoppedError,
  StoreUnavailableError,
  UnknownActorError,
  describeThrown,
} from '../errors.js';

/** Keeps activations' state elsewhere: copies on other peers, a store (the runtime knows nothing of where). */
export interface StateLog {
  /** A new activation (restored from `restored` state, if any): its log, or null when its type keeps no copies. */
  opened(activation: Activation, cls: ActorClass, restored: Snapshot | undefined, initArg: unknown): ActivationLog | null;
  /** State kept here for `target` by an earlier owner (a copy), used when no handoff brought any. */
  fallback(target: MessageTarget): Snapshot | undefined;
  /**
   * For a type whose state lives in a store: the stored state (null: none yet), which the activation waits
   * for before its first message. Null for other types: nothing to wait for.
   */
  load?(target: MessageTarget, cls: ActorClass): Promise<Snapshot | null> | null;
  /** The activation of `key` never opened (its load failed, or the runtime stopped meanwhile). */
  abandoned?(key: string): void;
}

export interface RuntimeOptions {
  readonly peerId: string;
  readonly actors: ReadonlyMap<string, ActorClass>;
  /** Global idle passivation; 0 or undefined = off. Per-type `idleTimeoutMs` wins. */
  readonly idleTimeoutMs?: number | undefined;
  readonly events: RuntimeEvents;
  readonly now?: () => number;
  /** Copies of state for the types that keep them (mesh/replication.ts); absent: no copies. */
  readonly stateLog?: StateLog;
  /** Bounds on handed-over state waiting for its actor's first message (default 64 MiB, 10 min). */
  readonly handedOver?: HandedOverLimits;
}

/**
 * The activations of one peer: lazy creation, mailboxes, crash and idle handling, and stopping the ones a
 * rebalance moves away. It knows nothing of placement or the network.
 */
export class ActorRuntime {
  readonly peerId: string;
  readonly now: () => number;
  private readonly actors: ReadonlyMap<string, ActorClass>;
  private readonly activations = new ActivationTable();
  private readonly events: RuntimeEvents;
  private readonly idleTimeoutMs: number;
  private nextActivation = 0;
  private readonly idleSweep = new IdleSweep(() => this.sweepIdle());
  private readonly mail: Mailboxes;
  private stopped = false;
  /** Restored state waiting for its first message (handoff). */
  private readonly restored: HandedOver;
  private readonly stateLog: StateLog | undefined;

  constructor(options: RuntimeOptions) {
    this.peerId = options.peerId;
    this.actors = options.actors;
    this.events = options.events;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0;
    this.now = options.now ?? Date.now;
    this.stateLog = options.stateLog;
    this.mail = new Mailboxes({
      peerId: this.peerId,
      now: this.now,
      events: this.events,
      forget: (activation) => {
        if (this.activations.delete(activation)) this.forgetInitArg(activation);
      },
      redeliver: (activation, waiting) => {
        const target: MessageTarget = { ...activation, initArg: this.initArgs.get(activation.key) };
        for (const queued of waiting) this.deliver(target, queued.kind, queued.payload, queued.done, queued.deadline);
      },
    });
    this.restored = new HandedOver(options.handedOver ?? { maxBytes: 64 * 1024 * 1024, ttlMs: 10 * 60_000 }, this.now);
    if (this.idleTimeoutMs < 0 || !Number.isFinite(this.idleTimeoutMs)) {
      throw new InvalidArgumentError(`idleTimeoutMs must be a non-negative number, got ${this.idleTimeoutMs}`);
    }
  }

  get size(): number {
    return this.activations.size;
  }

  hasType(actor: string): boolean {
    return this.actors.has(actor);
  }

  get(key: string): ActivationInfo | undefined {
    return this.activations.getKey(key);
  }

  /** The peers the copies of `key`'s activation go to. */
  backupsOf(key: string): readonly string[] {
    return this.activations.getKey(key)?.log?.backups ?? [];
  }

  /** The view changed: every activation's log re-reads where its copies go. */
  viewChanged(): void {
    for (const activation of this.activations.values()) activation.log?.viewChanged?.();
  }

  list(): ActivationInfo[] {
    return [...this.activations.values()];
  }

  /**
   * Delivers a call; `done` runs exactly once. Returns a ticket that cancels the message if not yet started.
   * A call still waiting in the mailbox at `deadline` (Date.now() ms; 0: none) is answered TIMEOUT unrun.
   */
  call(target: MessageTarget, payload: unknown, done: Done, deadline = 0): Ticket {
    return this.deliver(target, CALL, payload, done, deadline);
  }

  /** Delivers a cast; failures are reported through `castFailed`, and `done` (if any) runs once when handled. */
  cast(target: MessageTarget, payload: unknown, done: Done | null = null): void {
    this.deliver(target, CAST, payload, done);
  }

  /**
   * Stops every activation for which `keep` says no, each after its message in progress; queued messages are
   * answered NOT_OWNER so callers retry on the new owner. `released` hears of each one once it has stopped,
   * with its snapshot when the type takes snapshots (null after a crash or a failing snapshot).
   */
  release(keep: (info: ActivationInfo) => boolean, released?: (info: ActivationInfo, snapshot: Snapshot | null) => void): number {
    let count = 0;
    for (const activation of this.activations.values()) {
      if (activation.state !== 'active' || keep(activation)) continue;
      count++;
      if (released) {
        activation.onStopped = (a, crashed, flushed) => {
          let snapshot: Snapshot | null = null;
          if (!crashed && typeof a.instance.snapshot === 'function') {
            try {
              snapshot = snapshotOf(a, this.initArgs.get(a.key), this.actors.get(a.actor)?.keepTimers === true);
            } catch {
              snapshot = null; // a failing snapshot falls back to the seed's behaviour: the actor restarts empty
            }
          }
          // A durable actor's last save goes first: the next owner then loads what it is handed. A last
          // save the store refused (a newer writer won: STORE_CONFLICT) hands nothing: the next owner loads
          // the winner's state instead of overwriting it.
          if (flushed === undefined) released(a, snapshot);
          else void flushed.then(() => released(a, a.stopReason === 'conflict' ? null : snapshot));
        };
      }
      this.mail.stop(activation, 'rebalance');
    }
    return count;
  }

  /** Keeps state received from a previous owner (`bytes` encoded) until the first message for that actor. */
  acceptHandoff(key: string, snapshot: Snapshot, bytes: number): void {
    this.restored.put(key, snapshot, bytes);
  }

  /**
   * Activates `target` now, from `snapshot` (a promoted copy), unless it is already active here; true when
   * it did (false too for an unknown type or a failing constructor: the next call says why).
   */
  revive(target: MessageTarget, snapshot: Snapshot, bytes: number): boolean {
    if (this.stopped || this.activations.get(target.capability, target.actor, target.id) !== undefined) return false;
    this.restored.put(this.keyOf(target), snapshot, bytes);
    return !(this.activate(target) instanceof MeshError);
  }

  /**
   * After a partition heals, the same actor may have lived on both sides: if `snapshot` is newer than the
   * live activation of `key`, that activation stops (after its message in progress; 'rebalance') and the next
   * message activates the actor from `snapshot`. True when it did.
   */
  supersede(key: string, snapshot: Snapshot, bytes: number): boolean {
    const activation = this.activations.getKey(key);
    const version = snapshot.version;
    if (activation === undefined || version === undefined || !newer(version, { epoch: activation.epoch, seq: activation.seq }))
      return false;
    this.restored.put(key, snapshot, bytes);
    this.mail.stop(activation, 'rebalance');
    return true;
  }

  /** Handed-over state waiting here: entries and bytes (bounded, see HandedOverLimits). */
  handedOver(): { readonly entries: number; readonly bytes: number } {
    return { entries: this.restored.size, bytes: this.restored.heldBytes };
  }

  hasHandoff(key: string): boolean {
    return this.restored.has(key);
  }

  /** True when some registered type can take a snapshot, i.e. handoff matters on this peer. */
  handsOff(): boolean {
    for (const cls of this.actors.values()) if (typeof cls.prototype?.snapshot === 'function') return true;
    return false;
  }

  /**
   * Stops the activation of `key` after its message in progress (a durable actor whose save met a newer
   * version: the next message loads the stored state). Queued messages are answered NOT_OWNER and retried.
   */
  evict(key: string, reason: DeactivateReason): void {
    const activation = this.activations.getKey(key);
    if (activation !== undefined) this.mail.stop(activation, reason);
  }

  /** Deactivates everything (reason 'stop') and refuses new messages. Idempotent. */
  stopAll(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.idleSweep.stop();
    for (const activation of [...this.activations.values()]) this.mail.stop(activation, 'stop');
    this.restored.clear();
  }

  private readonly initArgs = new Map<string, unknown>();

  private deliver(target: MessageTarget, kind: MessageKind, payload: unknown, done: Done | null, deadline = 0): Ticket {
    if (this.stopped) {
      done?.(new StoppedError());
      return NOOP_TICKET;
    }
    let activation = this.activations.get(target.capability, target.actor, target.id);
    if (activation === undefined || activation.state !== 'active') {
      if (activation !== undefined) {
        // Being stopped by a rebalance: the actor now lives elsewhere.
        done?.(new NotOwnerError(`actor ${target.id} is moving away from peer ${this.peerId}`, { peer: this.peerId }));
        return NOOP_TICKET;
      }
      const created = this.activate(target);
      if (created instanceof MeshError) {
        if (kind === CAST && created.code === 'ACTOR_FAILED') this.events.castFailed(target, created);
        done?.(created);
        return NOOP_TICKET;
      }
      activation = created;
    }
    return this.mail.post(activation, kind, payload, done, deadline);
  }

  /** A timer of `activation` fired: a message of its mailbox, for that activation only. */
  private readonly timerFired = (activation: Activation, name: string, payload: unknown): void => {
    if (
      this.stopped ||
      activation.state !== 'active' ||
      this.activations.get(activation.capability, activation.actor, activation.id) !== activation
    )
      return;
    this.mail.post(activation, TIMER, { name, payload }, null, 0);
  };

  private activate(target: MessageTarget): Activation | MeshError {
    const cls = this.actors.get(target.actor);
    if (cls === undefined) return new UnknownActorError(target.actor, this.peerId);
    // The key is built only when a table holds anything for it: most activations start from nothing,
    // and building, flattening and hashing it was a tenth of an activation's CPU.
    const handed = (this.restored.size > 0 ? this.restored.take(this.keyOf(target)) : undefined) ?? this.stateLog?.fallback(target);
    const loading = this.stateLog?.load?.(target, cls) ?? null;
    if (loading === null) {
      const instance = instantiate(cls, target, handed);
      if (instance instanceof MeshError) return instance;
      const activation = this.create(target, cls, instance, handed);
      this.open(activation, cls, target, handed);
      return activation;
    }
    // A durable type: messages wait in the mailbox until the stored state is in; the newer of it and any
    // handed-over state (a handoff, a promoted copy) is where the actor goes on from.
    const activation = this.create(target, cls, LOADING, handed);
    activation.opened = false;
    activation.busy = true;
    loading.then(
      (stored) => this.loaded(activation, cls, target, newest(handed, stored ?? undefined)),
      (error: unknown) => {
        // State handed over or promoted here may be newer than the store: keep it for the next activation
        // rather than let a store outage drop it (the next call loads again and picks the newer).
        if (handed !== undefined && !this.stopped) this.restored.put(this.keyOf(target), handed, encodedSize(handed));
        this.abandon(
          activation,
          error instanceof MeshError ? error : new StoreUnavailableError(`loading ${target.actor}(${target.id}): ${describeThrown(error)}`),
        );
      },
    );
    return activation;
  }

  private create(target: MessageTarget, cls: ActorClass, instance: Actor, handed: Snapshot | undefined): Activation {
    const kind = this.kindOf(cls);
    // Only idle passivation reads lastActive: no clock read for a type that never idles out.
    const activation = new Activation(kind, kind.idleTimeoutMs > 0 ? this.now() : 0, target, instance, ++this.nextActivation);
    this.activations.set(activation);
    const initArg = handed ? handed.initArg : target.initArg;
    if (initArg !== undefined) this.initArgs.set(this.keyOf(target), initArg);
    if (kind.idleTimeoutMs > 0) this.idleSweep.ensure(kind.idleTimeoutMs);
    return activation;
  }

  private open(activation: Activation, cls: ActorClass, target: MessageTarget, handed: Snapshot | undefined): void {
    // A new epoch: state carried over (handoff, copy, store) is one activation older than anything this one writes.
    activation.epoch = (handed?.version?.epoch ?? 0) + 1;
    if (this.stateLog) {
      activation.log = this.stateLog.opened(activation, cls, handed, handed ? handed.initArg : target.initArg);
    }
    if (cls.keepTimers && handed?.timers && handed.timers.length > 0) activation.restoreTimers(handed.timers);
    this.events.activated(activation);
  }

  /** Flat: it is hashed by the tables it goes into (see `flat`). */
  private keyOf(target: MessageTarget): string {
    return flat(activationKey(target.capability, target.actor, target.id));
  }

  private forgetInitArg(activation: Activation): void {
    if (this.initArgs.size > 0) this.initArgs.delete(activation.key);
  }

  /** What the activations of `cls` share here (created once per type). */
  private kindOf(cls: ActorClass): ActivationKind {
    let kind = this.kinds.get(cls);
    if (kind === undefined) {
      kind = {
        peerId: this.peerId,
        idleTimeoutMs: cls.idleTimeoutMs ?? this.idleTimeoutMs,
        readOnly: typeof cls.readOnly === 'function' ? cls.readOnly.bind(cls) : null,
        onTimer: this.timerFired,
      };
      this.kinds.set(cls, kind);
    }
    return kind;
  }

  private readonly kinds = new Map<ActorClass, ActivationKind>();

  private loaded(activation: Activation, cls: ActorClass, target: MessageTarget, state: Snapshot | undefined): void {
    if (activation.state === 'stopped') return;
    if (this.stopped) return this.abandon(activation, new StoppedError());
    const instance = instantiate(cls, target, state);
    if (instance instanceof MeshError) return this.abandon(activation, instance);
    activation.instance = instance;
    activation.opened = true;
    this.open(activation, cls, target, state);
    activation.busy = false;
    // Stopped while loading (a rebalance, a stop): it stops now, handing over what it loaded.
    this.mail.drain(activation);
  }

  /** An activation that never opened (its state could not be loaded): its messages get `error`. */
  private abandon(activation: Activation, error: MeshError): void {
    if (activation.state === 'stopped') return;
    activation.state = 'stopped';
    if (this.activations.delete(activation)) this.forgetInitArg(activation);
    this.stateLog?.abandoned?.(activation.key);
    // A rebalance counting on it (release) hears it stopped, with nothing to hand over.
    const onStopped = activation.onStopped;
    activation.onStopped = null;
    onStopped?.(activation, true, undefined);
    const waiting = activation.queue?.takeAll() ?? [];
    activation.queue = null;
    for (const queued of waiting) {
      if (queued.kind === CAST) this.events.castFailed(activation, error);
      queued.done?.(error);
    }
  }

  /** Stops the quiet activations; false when no activation has an idle timeout any more. */
  private sweepIdle(): boolean {
    const now = this.now();
    let any = false;
    for (const activation of this.activations.values()) {
      if (activation.idleTimeoutMs <= 0) continue;
      any = true;
      if (!activation.busy && activation.state === 'active' && now - activation.lastActive >= activation.idleTimeoutMs) {
        this.mail.stop(activation, 'idle');
      }
    }
    return any;
  }
}

/** The newer of handed-over and stored state (a store lags behind a handoff in write-behind mode, and leads a copy a crash cut short). */
function newest(a: Snapshot | undefined, b: Snapshot | undefined): Snapshot | undefined {
  if (a === undefined) return b;
  if (b === undefined || a.version === undefined || b.version === undefined) return a;
  return newer(b.version, a.version) ? b : a;
}

/** Stands in for the instance of an activation whose state is still loading; never runs (the activation is busy). */
const LOADING: Actor = {
  handleCall(): never {
    throw new Error('activation not loaded');
  },
};

/** About what a snapshot takes in memory, for the bound on handed-over state. */
function encodedSize(snapshot: Snapshot): number {
  const bytes = encodedLength(snapshot.state);
  return Number.isFinite(bytes) ? bytes : 0;
}
