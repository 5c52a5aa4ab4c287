/**
 * What an actor type is. Code does not travel between peers, so a type is registered by name on every peer
 * that can host it (the name replaces the seed's `module`).
 */
export type DeactivateReason = 'crash' | 'idle' | 'rebalance' | 'stop';

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
}

export interface Actor {
  handleCall(payload: unknown, ctx: ActorContext): unknown;
  handleCast?(payload: unknown, ctx: ActorContext): unknown;
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
}

export type ActorRegistry = Readonly<Record<string, ActorClass>>;
