import type { Actor, ActorClass, DeactivateReason } from './actor.js';
import {
  Activation,
  CALL,
  CAST,
  NOOP_TICKET,
  activationKey,
  newer,
  type ActivationInfo,
  type ActivationLog,
  type Done,
  type Envelope,
  type MessageTarget,
  type Snapshot,
  type Ticket,
} from './activation.js';
import { HandedOver, type HandedOverLimits } from './handed-over.js';

export { activationKey, type ActivationInfo, type Done, type MessageTarget, type Snapshot, type Ticket } from './activation.js';
import {
  ActorFailedError,
  InvalidArgumentError,
  MeshError,
  NotOwnerError,
  StoppedError,
  TimeoutError,
  UnknownActorError,
  describeThrown,
} from '../errors.js';

export interface RuntimeEvents {
  activated(info: ActivationInfo): void;
  deactivated(info: ActivationInfo, reason: DeactivateReason): void;
  /** A cast failed here: its handler threw, or its activation could not be created. */
  castFailed(target: { readonly actor: string; readonly id: string; readonly capability: string }, error: MeshError): void;
}

/** Keeps copies of activations' state elsewhere (the runtime knows nothing of where). */
export interface StateLog {
  /** A new activation (restored from `restored` state, if any): its log, or null when its type keeps no copies. */
  opened(activation: Activation, cls: ActorClass, restored: Snapshot | undefined, initArg: unknown): ActivationLog | null;
  /** State kept here for `key` by an earlier owner (a copy), used when no handoff brought any. */
  fallback(key: string): Snapshot | undefined;
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
  private readonly activations = new Map<string, Activation>();
  private readonly events: RuntimeEvents;
  private readonly idleTimeoutMs: number;
  private nextActivation = 0;
  private idleTimer: ReturnType<typeof setInterval> | null = null;
  private idlePeriod = Infinity;
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
    return this.activations.get(key);
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
        activation.onStopped = (a, crashed) => {
          let snapshot: Snapshot | null = null;
          if (!crashed && typeof a.instance.snapshot === 'function') {
            try {
              snapshot = { state: a.instance.snapshot(), initArg: this.initArgs.get(a.key), version: { epoch: a.epoch, seq: a.seq } };
            } catch {
              snapshot = null; // a failing snapshot falls back to the seed's behaviour: the actor restarts empty
            }
          }
          released(a, snapshot);
        };
      }
      this.stop(activation, 'rebalance');
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
    const key = activationKey(target.capability, target.actor, target.id);
    if (this.stopped || this.activations.has(key)) return false;
    this.restored.put(key, snapshot, bytes);
    return !(this.activate(target) instanceof MeshError);
  }

  /**
   * After a partition heals, the same actor may have lived on both sides: if `snapshot` is newer than the
   * live activation of `key`, that activation stops (after its message in progress; 'rebalance') and the next
   * message activates the actor from `snapshot`. True when it did.
   */
  supersede(key: string, snapshot: Snapshot, bytes: number): boolean {
    const activation = this.activations.get(key);
    const version = snapshot.version;
    if (activation === undefined || version === undefined || !newer(version, { epoch: activation.epoch, seq: activation.seq }))
      return false;
    this.restored.put(key, snapshot, bytes);
    this.stop(activation, 'rebalance');
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

  /** Deactivates everything (reason 'stop') and refuses new messages. Idempotent. */
  stopAll(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.idleTimer !== null) clearInterval(this.idleTimer);
    this.idleTimer = null;
    for (const activation of [...this.activations.values()]) this.stop(activation, 'stop');
    this.restored.clear();
  }

  private readonly initArgs = new Map<string, unknown>();

  private deliver(target: MessageTarget, kind: typeof CALL | typeof CAST, payload: unknown, done: Done | null, deadline = 0): Ticket {
    if (this.stopped) {
      done?.(new StoppedError());
      return NOOP_TICKET;
    }
    const key = activationKey(target.capability, target.actor, target.id);
    let activation = this.activations.get(key);
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
    if (activation.busy) {
      const envelope: Envelope = { kind, payload, done, deadline, cancelled: false };
      if (activation.queue === null) activation.queue = [envelope];
      else activation.queue.push(envelope);
      return { cancel: () => (envelope.cancelled = true) };
    }
    // Idle actor: run at once; an envelope is only needed for what waits in a mailbox.
    if (this.step(activation, kind, payload, done)) this.drain(activation);
    return NOOP_TICKET;
  }

  private activate(target: MessageTarget): Activation | MeshError {
    const cls = this.actors.get(target.actor);
    if (cls === undefined) return new UnknownActorError(target.actor, this.peerId);
    const key = activationKey(target.capability, target.actor, target.id);
    const handed = this.restored.take(key) ?? this.stateLog?.fallback(key);
    let instance: Actor;
    try {
      if (handed && typeof cls.restore === 'function') instance = cls.restore(target.id, handed.state, handed.initArg);
      else {
        instance = new cls(target.id, handed ? handed.initArg : target.initArg);
        if (handed && typeof instance.restore === 'function') instance.restore(handed.state);
      }
    } catch (error) {
      return new ActorFailedError(`actor ${target.actor}(${target.id}) failed to start: ${describeThrown(error)}`, {
        actor: target.actor,
        id: target.id,
      });
    }
    if (instance === null || typeof instance !== 'object' || typeof instance.handleCall !== 'function') {
      return new ActorFailedError(`actor ${target.actor} does not implement handleCall`, { actor: target.actor });
    }
    const idle = cls.idleTimeoutMs ?? this.idleTimeoutMs;
    const activation = new Activation(this.peerId, this.now(), target, instance, `${this.peerId}#${++this.nextActivation}`, idle);
    // A new epoch: state carried over (handoff, copy) is one activation older than anything this one writes.
    activation.epoch = (handed?.version?.epoch ?? 0) + 1;
    if (this.stateLog) {
      activation.log = this.stateLog.opened(activation, cls, handed, handed ? handed.initArg : target.initArg);
      if (activation.log !== null && typeof cls.readOnly === 'function') activation.readOnly = cls.readOnly.bind(cls);
    }
    this.activations.set(key, activation);
    const initArg = handed ? handed.initArg : target.initArg;
    if (initArg !== undefined) this.initArgs.set(key, initArg);
    if (idle > 0) this.ensureIdleSweep(idle);
    this.events.activated(activation);
    return activation;
  }

  /**
   * Runs one message. True when it completed synchronously (the caller then moves on to the mailbox);
   * false when it went async (its completion drains the mailbox) or failed (fail() takes over). Taking the
   * message's parts rather than an envelope lets an idle actor run a message without allocating one.
   */
  private step(activation: Activation, kind: typeof CALL | typeof CAST, payload: unknown, done: Done | null): boolean {
    activation.busy = true;
    if (activation.idleTimeoutMs > 0) activation.lastActive = this.now();
    let result: unknown;
    try {
      const instance = activation.instance;
      result = kind === CAST && instance.handleCast ? instance.handleCast(payload, activation) : instance.handleCall(payload, activation);
    } catch (error) {
      this.fail(activation, kind, done, error);
      return false;
    }
    if (isThenable(result)) {
      result.then(
        (value) => {
          this.succeed(activation, done, value, payload);
          this.drain(activation);
        },
        (error: unknown) => this.fail(activation, kind, done, error),
      );
      return false;
    }
    this.succeed(activation, done, result, payload);
    return true;
  }

  /** After a message completed: finish a pending stop, or run what waits in the mailbox. */
  private drain(activation: Activation): void {
    const following = this.next(activation);
    if (following) this.run(activation, following);
  }

  /** Runs `first` and then the mailbox until it is empty or a handler goes async. */
  private run(activation: Activation, first: Envelope): void {
    let envelope: Envelope | undefined = first;
    while (envelope !== undefined) {
      if (envelope.deadline !== 0 && !envelope.cancelled && Date.now() > envelope.deadline) {
        envelope.cancelled = true;
        envelope.done?.(new TimeoutError(`call to ${activation.actor}(${activation.id}) dropped: its deadline passed before it started`));
      }
      if (!envelope.cancelled && !this.step(activation, envelope.kind, envelope.payload, envelope.done)) return;
      envelope = this.next(activation);
    }
  }

  private succeed(activation: Activation, done: Done | null, value: unknown, payload: unknown): void {
    activation.busy = false;
    // Only idle passivation reads lastActive: skip the clock read when it is off for this actor.
    if (activation.idleTimeoutMs > 0) activation.lastActive = this.now();
    const log = activation.log;
    if (log === null) {
      done?.(null, value, activation.activation);
      return;
    }
    // A type with copies: the answer waits (in sync mode) until the state it reflects is copied.
    const answer = done === null ? noop : (): void => done(null, value, activation.activation);
    if (activation.readOnly?.(payload)) return log.read(answer);
    activation.seq++;
    log.changed(answer);
  }

  /** The next message to run, or undefined after finishing a stop or when the mailbox is empty. */
  private next(activation: Activation): Envelope | undefined {
    if (activation.state === 'stopping') {
      this.finishStop(activation);
      return undefined;
    }
    const queue = activation.queue;
    if (queue === null || queue.length === 0) {
      // Between messages with nothing waiting: the moment a copy of its state is consistent and cheap.
      activation.log?.idle();
      return undefined;
    }
    const envelope = queue.shift();
    if (queue.length === 0) activation.queue = null;
    return envelope;
  }

  /** A throwing handler discards the activation; the messages behind it go to a fresh activation. */
  private fail(activation: Activation, kind: typeof CALL | typeof CAST, done: Done | null, thrown: unknown): void {
    activation.busy = false;
    const error = new ActorFailedError(describeThrown(thrown), {
      actor: activation.actor,
      id: activation.id,
      activation: activation.activation,
    });
    const waiting = activation.queue ?? [];
    activation.queue = null;
    if (kind === CAST) this.events.castFailed(activation, error);
    done?.(error, undefined, activation.activation);
    const wasStopping = activation.state === 'stopping';
    this.discard(activation, 'crash');
    if (wasStopping) {
      for (const queued of waiting) queued.done?.(new NotOwnerError(`actor ${activation.id} moved away`));
      return;
    }
    const target: MessageTarget = { ...activation, initArg: this.initArgs.get(activation.key) };
    for (const queued of waiting) {
      if (!queued.cancelled) this.deliver(target, queued.kind, queued.payload, queued.done, queued.deadline);
    }
  }

  private stop(activation: Activation, reason: DeactivateReason): void {
    if (activation.state !== 'active') return;
    activation.stopReason = reason;
    if (activation.busy) {
      activation.state = 'stopping';
      // Messages that have not started are not run here: answer them so their callers re-route.
      const waiting = activation.queue ?? [];
      activation.queue = null;
      for (const queued of waiting) {
        queued.done?.(reason === 'stop' ? new StoppedError() : new NotOwnerError(`actor ${activation.id} moved away from ${this.peerId}`));
      }
      return;
    }
    this.finishStop(activation);
  }

  private finishStop(activation: Activation): void {
    this.discard(activation, activation.stopReason);
  }

  private discard(activation: Activation, reason: DeactivateReason): void {
    if (activation.state === 'stopped') return;
    activation.state = 'stopped';
    const onStopped = activation.onStopped;
    activation.onStopped = null;
    activation.log?.closed(reason);
    // Before onDeactivate, which may clear the state a snapshot needs.
    if (onStopped) onStopped(activation, reason === 'crash');
    if (this.activations.get(activation.key) === activation) {
      this.activations.delete(activation.key);
      this.initArgs.delete(activation.key);
    }
    try {
      const maybe = activation.instance.onDeactivate?.(reason);
      if (isThenable(maybe)) maybe.then(undefined, () => undefined);
    } catch {
      // onDeactivate is a courtesy hook; its failure must not keep the activation alive.
    }
    this.events.deactivated(activation, reason);
  }

  private ensureIdleSweep(idleMs: number): void {
    // One sweep for all activations instead of a timer each: 100k idle actors cost one interval. Its period
    // follows the shortest idle timeout in use, so a short per-type timeout is honoured after a long one.
    const period = Math.max(5, Math.min(1000, Math.floor(idleMs / 4)));
    if (this.idleTimer !== null && period >= this.idlePeriod) return;
    if (this.idleTimer !== null) clearInterval(this.idleTimer);
    this.idlePeriod = period;
    this.idleTimer = setInterval(() => this.sweepIdle(), period);
    (this.idleTimer as { unref?: () => void }).unref?.();
  }

  private sweepIdle(): void {
    const now = this.now();
    let any = false;
    for (const activation of this.activations.values()) {
      if (activation.idleTimeoutMs <= 0) continue;
      any = true;
      if (!activation.busy && activation.state === 'active' && now - activation.lastActive >= activation.idleTimeoutMs) {
        this.stop(activation, 'idle');
      }
    }
    if (!any && this.idleTimer !== null) {
      clearInterval(this.idleTimer);
      this.idleTimer = null;
      this.idlePeriod = Infinity;
    }
  }
}

const noop = (): void => undefined;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}
