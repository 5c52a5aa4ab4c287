import { InvalidArgumentError } from '../errors.js';
import { checkWireValue } from '../wire/values.js';

/** A timer as it travels with an actor's state (`static keepTimers`): when it is due, and what it carries. */
export interface TimerSpec {
  readonly name: string;
  /** Date.now() when it fires (peers' clocks may differ: a moved timer fires by the new host's clock). */
  readonly dueAt: number;
  /** 0: once; else it fires again every this many ms. */
  readonly everyMs: number;
  readonly payload: unknown;
}

/** setTimeout's own limit (about 24.8 days): longer delays would fire at once. */
export const MAX_TIMER_MS = 0x7fffffff;
/** Timers one activation may hold: a loop setting new names must not exhaust the peer. */
export const MAX_TIMERS = 1024;

/**
 * The timers of one activation. Firing never runs the actor directly: `fire` posts a message to the
 * activation's mailbox, so a timer runs one at a time with calls and casts.
 */
export class ActivationTimers {
  private readonly timers = new Map<string, { spec: TimerSpec; handle: ReturnType<typeof setTimeout> }>();

  constructor(
    private readonly fire: (name: string, payload: unknown) => void,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.timers.size;
  }

  set(name: string, delayMs: number, payload: unknown, repeat: boolean): void {
    if (typeof name !== 'string' || name.length === 0 || name.length > 256) {
      throw new InvalidArgumentError('a timer name is a string of 1-256 characters');
    }
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0 || delayMs > MAX_TIMER_MS || (repeat && delayMs < 1)) {
      throw new InvalidArgumentError(`timer ${name}: delayMs must be 0-${MAX_TIMER_MS} (at least 1 to repeat), got ${String(delayMs)}`);
    }
    if (!this.timers.has(name) && this.timers.size >= MAX_TIMERS) {
      throw new InvalidArgumentError(`an activation holds at most ${MAX_TIMERS} timers`);
    }
    // The payload may travel with the state (keepTimers) and is delivered as a message: the same rules as a call's.
    checkWireValue(payload, `timer ${name} payload`);
    this.arm({ name, dueAt: this.now() + delayMs, everyMs: repeat ? Math.floor(delayMs) : 0, payload });
  }

  clear(name: string): boolean {
    const timer = this.timers.get(name);
    if (timer === undefined) return false;
    clearTimeout(timer.handle);
    this.timers.delete(name);
    return true;
  }

  clearAll(): void {
    for (const { handle } of this.timers.values()) clearTimeout(handle);
    this.timers.clear();
  }

  list(): TimerSpec[] {
    return [...this.timers.values()].map((t) => t.spec);
  }

  /** Re-arms timers carried over with the state; one already due fires at once. */
  restore(specs: readonly TimerSpec[]): void {
    for (const spec of specs.slice(0, MAX_TIMERS)) this.arm(spec);
  }

  private arm(spec: TimerSpec): void {
    this.clear(spec.name);
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, spec.dueAt - this.now()));
    const handle = setTimeout(() => {
      if (spec.everyMs > 0) this.arm({ ...spec, dueAt: Math.max(spec.dueAt + spec.everyMs, this.now()) });
      else this.timers.delete(spec.name);
      this.fire(spec.name, spec.payload);
    }, delay);
    (handle as { unref?: () => void }).unref?.();
    this.timers.set(spec.name, { spec, handle });
  }
}
