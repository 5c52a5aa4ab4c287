import type { Actor, ActorContext, DeactivateReason } from './actor.js';
import type { MeshError } from '../errors.js';

/** Completion callback of one message: errors are MeshErrors, results come with the activation that ran. */
export type Done = (error: MeshError | null, result?: unknown, activation?: string) => void;

export interface ActivationInfo {
  readonly key: string;
  readonly actor: string;
  readonly capability: string;
  readonly id: string;
  readonly shard: number;
  readonly activation: string;
}

/** State handed over by a moved activation. */
export interface Snapshot {
  readonly state: unknown;
  readonly initArg: unknown;
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

export interface Envelope {
  readonly kind: typeof CALL | typeof CAST;
  readonly payload: unknown;
  readonly done: Done | null;
  /** Date.now() after which the message is not worth starting (its caller gave up); 0: none. */
  readonly deadline: number;
  /** Set when the caller gave up (timeout/abort) before the message started: it is skipped, never run. */
  cancelled: boolean;
}

/** A cancellable handle on a queued message. */
export interface Ticket {
  cancel(): void;
}

export const NOOP_TICKET: Ticket = { cancel() {} };

export const activationKey = (capability: string, actor: string, id: string): string =>
  `${capability}\u0000${actor}\u0000${id}`;

/**
 * One live actor instance with its mailbox. Messages run one at a time, also when handlers are async;
 * a handler that completes synchronously completes its caller synchronously (no promise, no timer).
 */
export class Activation implements ActivationInfo, ActorContext {
  readonly key: string;
  readonly actor: string;
  readonly capability: string;
  readonly id: string;
  readonly shard: number;
  readonly activation: string;
  readonly peerId: string;
  instance: Actor;
  queue: Envelope[] | null = null;
  busy = false;
  /** 'stopping' finishes the message in progress, then deactivates with `stopReason`. */
  state: 'active' | 'stopping' | 'stopped' = 'active';
  stopReason: DeactivateReason = 'stop';
  lastActive: number;
  idleTimeoutMs: number;
  onStopped: ((activation: Activation, crashed: boolean) => void) | null = null;

  constructor(peerId: string, now: number, target: MessageTarget, instance: Actor, activation: string, idleTimeoutMs: number) {
    this.key = activationKey(target.capability, target.actor, target.id);
    this.actor = target.actor;
    this.capability = target.capability;
    this.id = target.id;
    this.shard = target.shard;
    this.activation = activation;
    this.peerId = peerId;
    this.instance = instance;
    this.lastActive = now;
    this.idleTimeoutMs = idleTimeoutMs;
  }
}
