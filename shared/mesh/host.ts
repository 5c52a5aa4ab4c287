import type { ActorRuntime, Done, MessageTarget, Ticket } from '../actors/runtime.js';
import { ActorFailedError, NotOwnerError, StoppedError, TimeoutError, UnknownActorError, type MeshError } from '../errors.js';
import type { Handoff } from './handoff.js';

export interface HostParts {
  readonly self: string;
  readonly runtime: ActorRuntime;
  readonly handoff: Handoff;
  /** The owner of a target in this peer's view. */
  ownerOf(target: MessageTarget): string | undefined;
  /** The view's version, for NOT_OWNER details. */
  version(): number;
  /** True once the mesh stopped serving (after its drain). */
  closed(): boolean;
}

const NOOP_TICKET: Ticket = { cancel() {} };

/**
 * Runs messages for the actors this peer owns, whoever sent them (this peer's own calls or a remote
 * peer's): checks ownership in this peer's view, holds a message while handed-over state may still
 * arrive, then hands it to the runtime. Local and remote requests go through the same checks, so they
 * get the same answers.
 */
export class Host {
  constructor(private readonly parts: HostParts) {}

  /** Why this peer will not run a message for `target`, or null. */
  refuse(target: MessageTarget): MeshError | null {
    const { self } = this.parts;
    const owner = this.parts.ownerOf(target);
    if (owner !== self) {
      // Also while draining: we advertise no capability then, so callers retry on the new owner.
      return new NotOwnerError(`peer ${self} does not own ${target.capability}/${target.id} in its view`, {
        peer: self,
        version: this.parts.version(),
        owner: owner ?? null,
      });
    }
    if (this.parts.closed()) return new StoppedError(`peer ${self} is stopping`);
    if (!this.parts.runtime.hasType(target.actor)) return new UnknownActorError(target.actor, self);
    return null;
  }

  /**
   * Runs a call here; `done` runs exactly once. The ticket cancels it while it has not started; a call not
   * started by `deadline` (Date.now() ms, 0: none) is answered TIMEOUT unrun, since its caller gave up.
   */
  call(target: MessageTarget, payload: unknown, done: Done, deadline = 0): Ticket {
    return this.run(target, payload, done, false, deadline);
  }

  /** Runs a cast here; `done` (failures included) runs once it was handled or refused. */
  cast(target: MessageTarget, payload: unknown, done: Done): void {
    this.run(target, payload, done, true, 0);
  }

  private run(target: MessageTarget, payload: unknown, done: Done, isCast: boolean, deadline: number): Ticket {
    const refusal = this.refuse(target);
    if (refusal) {
      done(refusal);
      return NOOP_TICKET;
    }
    const { runtime, handoff } = this.parts;
    // Nothing held back (the usual case): straight to the runtime, no closure on the hot path.
    if (!handoff.holding()) {
      if (!isCast) return runtime.call(target, payload, done, deadline);
      runtime.cast(target, payload, done);
      return NOOP_TICKET;
    }
    let inner: Ticket | null = null;
    let cancelled = false;
    this.parts.handoff.gate(target, () => {
      if (cancelled) return;
      // Re-check after a wait: the view may have moved the shard again meanwhile.
      const late = this.refuse(target) ?? (deadline !== 0 && Date.now() > deadline ? expired(target) : null);
      if (late) return done(late);
      if (isCast) this.parts.runtime.cast(target, payload, done);
      else inner = this.parts.runtime.call(target, payload, done, deadline);
    });
    if (inner !== null) return inner;
    return {
      cancel: () => {
        cancelled = true;
        (inner as Ticket | null)?.cancel();
      },
    };
  }
}

const expired = (target: MessageTarget): MeshError =>
  new TimeoutError(`call to ${target.actor}(${target.id}) dropped: its deadline passed before it started`);

/** What a caller gets when the result of its call cannot be sent back: the same locally and remotely. */
export function unsendableResult(error: MeshError): MeshError {
  if (error.code === 'PAYLOAD_TOO_LARGE') return error;
  return new ActorFailedError(`reply could not be encoded: ${error.message}`, error.details);
}
