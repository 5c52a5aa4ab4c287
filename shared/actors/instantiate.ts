import type { Actor, ActorClass } from './actor.js';
import type { MessageTarget, Snapshot } from './activation.js';
import { ActorFailedError, describeThrown } from '../errors.js';

/**
 * Builds an actor instance, from `handed` state when there is some (handoff, a promoted copy, a store):
 * `static restore(id, state, initArg)` if the type has it, else the constructor and then `restore(state)`.
 * A throwing constructor or restore, or an instance without handleCall, is an ACTOR_FAILED for the caller.
 */
export function instantiate(cls: ActorClass, target: MessageTarget, handed: Snapshot | undefined): Actor | ActorFailedError {
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
  return instance;
}

/** A snapshot of `instance` with its version and, for `keepTimers` types, its timers (throws what snapshot() throws). */
export function snapshotOf(
  activation: {
    readonly instance: Actor;
    readonly epoch: number;
    readonly seq: number;
    readonly timers: { list(): Snapshot['timers'] } | null;
  },
  initArg: unknown,
  keepTimers: boolean,
): Snapshot {
  const state = activation.instance.snapshot?.();
  const timers = keepTimers ? activation.timers?.list() : undefined;
  return { state, initArg, version: { epoch: activation.epoch, seq: activation.seq }, ...(timers && timers.length > 0 ? { timers } : {}) };
}
