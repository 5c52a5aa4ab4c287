import type { DeactivateReason } from './actor.js';
import {
  CALL,
  CAST,
  NOOP_TICKET,
  TIMER,
  type Activation,
  type Done,
  Envelope,
  type MessageKind,
  type ActivationInfo,
  type Ticket,
} from './activation.js';
import { ActorFailedError, type MeshError, NotOwnerError, StoppedError, TimeoutError, describeThrown } from '../errors.js';
import { Fifo } from './fifo.js';

export interface RuntimeEvents {
  activated(info: ActivationInfo): void;
  deactivated(info: ActivationInfo, reason: DeactivateReason): void;
  /** A cast (or a timer) failed here: its handler threw, or its activation could not be created. */
  castFailed(target: { readonly actor: string; readonly id: string; readonly capability: string }, error: MeshError): void;
}

/** What the mailboxes need from the runtime that owns the activations. */
export interface MailboxHost {
  readonly peerId: string;
  readonly now: () => number;
  readonly events: RuntimeEvents;
  /** A stopped activation leaves the table (unless a newer one of the same actor replaced it). */
  forget(activation: Activation): void;
  /** What a crashed activation left in its mailbox goes to a fresh activation of the same actor. */
  redeliver(activation: Activation, waiting: readonly Envelope[]): void;
}

/**
 * How an activation's messages run: one at a time, also across `await`s, synchronously when the actor is
 * idle and its handler is; a throwing handler discards the activation; a stop finishes the message in
 * progress and answers the rest so their callers re-route. Every completion goes through the activation's
 * log (copies, store) before its caller hears of it.
 */
export class Mailboxes {
  constructor(private readonly host: MailboxHost) {}

  post(activation: Activation, kind: MessageKind, payload: unknown, done: Done | null, deadline: number): Ticket {
    if (activation.busy) {
      const envelope = new Envelope(kind, payload, done, deadline);
      if (activation.queue === null) activation.queue = new Fifo(envelope);
      else activation.queue.push(envelope);
      return envelope;
    }
    // Idle actor: run at once; an envelope is only needed for what waits in a mailbox.
    if (this.step(activation, kind, payload, done)) this.drain(activation);
    return NOOP_TICKET;
  }

  /**
   * Runs one message. True when it completed synchronously (the caller then moves on to the mailbox);
   * false when it went async (its completion drains the mailbox) or failed (fail() takes over). Taking the
   * message's parts rather than an envelope lets an idle actor run a message without allocating one.
   */
  private step(activation: Activation, kind: MessageKind, payload: unknown, done: Done | null): boolean {
    activation.busy = true;
    if (activation.idleTimeoutMs > 0) activation.lastActive = this.host.now();
    let result: unknown;
    try {
      const instance = activation.instance;
      if (kind === TIMER) {
        const fired = payload as { readonly name: string; readonly payload: unknown };
        result = instance.handleTimer?.(fired.name, fired.payload, activation);
      } else
        result = kind === CAST && instance.handleCast ? instance.handleCast(payload, activation) : instance.handleCall(payload, activation);
    } catch (error) {
      this.fail(activation, kind, done, error);
      return false;
    }
    if (isThenable(result)) {
      result.then(
        (value) => {
          this.succeed(activation, kind, done, value, payload);
          this.drain(activation);
        },
        (error: unknown) => this.fail(activation, kind, done, error),
      );
      return false;
    }
    this.succeed(activation, kind, done, result, payload);
    return true;
  }

  /** After a message completed: finish a pending stop, or run what waits in the mailbox. */
  drain(activation: Activation): void {
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

  private succeed(activation: Activation, kind: MessageKind, done: Done | null, value: unknown, payload: unknown): void {
    activation.busy = false;
    // Only idle passivation reads lastActive: skip the clock read when it is off for this actor.
    if (activation.idleTimeoutMs > 0) activation.lastActive = this.host.now();
    const log = activation.log;
    if (log === null) {
      done?.(null, value, activation);
      return;
    }
    if (!log.keeping) {
      // Nowhere to keep it yet (a replicated type with no backup in this view): the change only counts.
      if (kind === TIMER || !activation.readOnly?.(payload)) activation.seq++;
      done?.(null, value, activation);
      return;
    }
    // A type with copies or a store: the answer waits (sync, write-through) until the state it reflects is kept.
    const answer =
      done === null ? noop : (error?: MeshError): void => (error ? done(error, undefined, activation) : done(null, value, activation));
    if (kind !== TIMER && activation.readOnly?.(payload)) return log.read(answer);
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
  private fail(activation: Activation, kind: MessageKind, done: Done | null, thrown: unknown): void {
    activation.busy = false;
    const error = new ActorFailedError(describeThrown(thrown), {
      actor: activation.actor,
      id: activation.id,
      activation: activation.activation,
    });
    const waiting = activation.queue?.takeAll() ?? [];
    activation.queue = null;
    if (kind !== CALL) this.host.events.castFailed(activation, error);
    done?.(error, undefined, activation);
    const wasStopping = activation.state === 'stopping';
    this.discard(activation, 'crash');
    if (wasStopping) {
      for (const queued of waiting) queued.done?.(new NotOwnerError(`actor ${activation.id} moved away`));
      return;
    }
    // A fired timer belonged to the activation that crashed; the fresh one sets its own.
    this.host.redeliver(
      activation,
      waiting.filter((queued) => !queued.cancelled && queued.kind !== TIMER),
    );
  }

  stop(activation: Activation, reason: DeactivateReason): void {
    if (activation.state !== 'active') return;
    activation.stopReason = reason;
    if (activation.busy) {
      activation.state = 'stopping';
      // Messages that have not started are not run here: answer them so their callers re-route.
      const waiting = activation.queue?.takeAll() ?? [];
      activation.queue = null;
      for (const queued of waiting) {
        queued.done?.(
          reason === 'stop' ? new StoppedError() : new NotOwnerError(`actor ${activation.id} moved away from ${this.host.peerId}`),
        );
      }
      return;
    }
    this.finishStop(activation);
  }

  private finishStop(activation: Activation): void {
    this.discard(activation, activation.stopReason);
  }

  discard(activation: Activation, reason: DeactivateReason): void {
    if (activation.state === 'stopped') return;
    activation.state = 'stopped';
    const onStopped = activation.onStopped;
    activation.onStopped = null;
    const flushed = activation.log?.closed(reason);
    // Before onDeactivate, which may clear the state a snapshot needs (and its timers, which it lists).
    if (onStopped) onStopped(activation, reason === 'crash', flushed);
    activation.timers?.clearAll();
    this.host.forget(activation);
    try {
      const maybe = activation.instance.onDeactivate?.(reason);
      if (isThenable(maybe)) maybe.then(undefined, () => undefined);
    } catch {
      // onDeactivate is a courtesy hook; its failure must not keep the activation alive.
    }
    this.host.events.deactivated(activation, reason);
  }
}

const noop = (): void => undefined;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function';
}
