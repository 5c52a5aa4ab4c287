/**
 * What an actor type is. Code does not travel between peers, so a type is registered by name on every peer
 * that can host it (the name replaces the seed's `module`).
 */
/**
 * Why an activation stopped. 'conflict': a durable actor's save found a newer version in its store (another
 * activation of it wrote meanwhile); the next message loads the stored state.
 */
export type DeactivateReason = 'crash' | 'idle' | 'rebalance' | 'stop' | 'conflict';

export interface TimerOptions {
  /** Run again every `delayMs` after the first time, until cleared or the activation stops. */
  readonly repeat?: boolean;
}

export interface ActorContext {
  /** The actor id. */
  readonly id: string;
  /** The registered type name. */
  readonly actor: string;
  readonly capability: string;
  readonly shard: number;
  /** Unique id of this activation (the seed's pid): a fresh one after a crash, idle stop or move. */
  readonly activation: string;
  /** The peer hosting the activation. */
  readonly peerId: string;
  /**
   * Runs `handleTimer(name, payload)` in `delayMs` as a message of this activation's mailbox (one at a time
   * with its calls and casts). Replaces a timer of the same name. Timers stop with the activation unless the
   * type sets `static keepTimers`, which carries them along with its state (handoff, replicas, store).
   */
  setTimer(name: string, delayMs: number, payload?: unknown, options?: TimerOptions): void;
  /** Cancels the timer `name`; true if there was one. */
  clearTimer(name: string): boolean;
}

export interface Actor {
  handleCall(payload: unknown, ctx: ActorContext): unknown;
  handleCast?(payload: unknown, ctx: ActorContext): unknown;
  /** A timer set with ctx.setTimer fired (as a message of the mailbox, like a cast). */
  handleTimer?(name: string, payload: unknown, ctx: ActorContext): unknown;
  onDeactivate?(reason: DeactivateReason): unknown;
  /** Opt in to handoff: the state to move with the actor when a rebalance moves it to another peer. */
  snapshot?(): unknown;
  /** The constructor path of handoff: called right after construction with the previous owner's snapshot. */
  restore?(state: unknown): unknown;
}

export interface ActorClass {
  new (id: string, initArg?: unknown): Actor;
  readonly prototype: Actor;
  /** Per-type idle passivation, overriding the mesh's `idleTimeoutMs`. */
  readonly idleTimeoutMs?: number;
  /** Rebuilds an activation from a snapshot taken on the previous owner (handoff) or held by a backup. */
  restore?(id: string, state: unknown, initArg?: unknown): Actor;
  /**
   * How many peers keep a copy of this type's state (the peers that would own it next), for types with
   * snapshot(). Default: the mesh's `replicas` option (1). 0: no copies.
   */
  readonly replicas?: number;
  /**
   * 'sync' (default): a call resolves only once the state it produced is on every backup, so no single
   * crash can undo it. 'async': it resolves at once and the copies follow (a crash may lose the last changes).
   */
  readonly replication?: 'sync' | 'async';
  /** True for messages that change no state: they answer without sending copies (after earlier changes are copied). */
  readOnly?(payload: unknown): boolean;
  /**
   * Opt in to the mesh's `store` (for types with snapshot()): an activation loads its state from the store
   * before its first message and saves it after every message that changed it. See README, Durable actors.
   */
  readonly durable?: boolean;
  /** 'write-through' (default): a call resolves once its state is saved. 'write-behind': saved within `writeBehindMs`. */
  readonly persistence?: 'write-through' | 'write-behind';
  /** Timers travel with the state (handoff, replicas, store) instead of stopping with the activation. */
  readonly keepTimers?: boolean;
}

export type ActorRegistry = Readonly<Record<string, ActorClass>>;
