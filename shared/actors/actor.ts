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
  /** Rebuilds an activation from a snapshot taken on the previous owner (handoff). */
  restore?(id: string, state: unknown, initArg?: unknown): Actor;
}

export type ActorRegistry = Readonly<Record<string, ActorClass>>;
