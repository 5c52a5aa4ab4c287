import type { ActorClass, DeactivateReason } from '../actors/actor.js';
import type { Activation, ActivationLog, Answer, MessageTarget, Snapshot } from '../actors/activation.js';
import type { StateLog } from '../actors/runtime.js';
import type { MeshError } from '../errors.js';
import type { Persistence } from './persistence.js';
import type { Replication } from './replication.js';

/**
 * Where the runtime's activations keep their state beyond memory: copies on backups (replication) and, for
 * durable types, the store (persistence). A change is answered once both have it.
 */
export class StateLogs implements StateLog {
  constructor(
    private readonly replication: Replication,
    private readonly persistence: Persistence | null,
  ) {}

  opened(activation: Activation, cls: ActorClass, restored: Snapshot | undefined, initArg: unknown): ActivationLog | null {
    const copies = this.replication.opened(activation, cls, restored, initArg);
    const stored = this.persistence?.opened(activation, cls, restored, initArg) ?? null;
    if (copies === null) return stored;
    if (stored === null) return copies;
    return new BothLogs(copies, stored);
  }

  fallback(target: MessageTarget): Snapshot | undefined {
    return this.replication.fallback(target);
  }

  load(target: MessageTarget, cls: ActorClass): Promise<Snapshot | null> | null {
    return this.persistence?.load(target, cls) ?? null;
  }

  abandoned(key: string): void {
    this.persistence?.abandoned(key);
  }
}

class BothLogs implements ActivationLog {
  readonly keeping = true;

  constructor(
    private readonly first: ActivationLog,
    private readonly second: ActivationLog,
  ) {}

  changed(answer: Answer): void {
    const [one, two] = joined(answer);
    this.first.changed(one);
    this.second.changed(two);
  }

  read(answer: Answer): void {
    const [one, two] = joined(answer);
    this.first.read(one);
    this.second.read(two);
  }

  idle(): void {
    this.first.idle();
    this.second.idle();
  }

  viewChanged(): void {
    this.first.viewChanged?.();
    this.second.viewChanged?.();
  }

  get backups(): readonly string[] {
    return this.first.backups ?? this.second.backups ?? [];
  }

  closed(reason: DeactivateReason): Promise<void> | undefined {
    const a = this.first.closed(reason);
    const b = this.second.closed(reason);
    if (a === undefined) return b;
    if (b === undefined) return a;
    return Promise.all([a, b]).then(() => undefined);
  }
}

/** Two answers that answer `answer` once both came, with the first error if any. */
function joined(answer: Answer): [Answer, Answer] {
  let left = 2;
  let failure: MeshError | undefined;
  const one: Answer = (error) => {
    failure ??= error;
    if (--left === 0) answer(failure);
  };
  return [one, one];
}
