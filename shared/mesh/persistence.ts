import type { ActorClass, DeactivateReason } from '../actors/actor.js';
import {
  activationKey,
  type Activation,
  type ActivationLog,
  type Answer,
  type MessageTarget,
  type Snapshot,
} from '../actors/activation.js';
import { snapshotOf } from '../actors/instantiate.js';
import type { TimerSpec } from '../actors/timers.js';
import { ActorFailedError, MeshError, StoreConflictError, StoreUnavailableError, describeThrown } from '../errors.js';
import type { StateStore, StoreKey } from '../stores/state-store.js';
import { decodeValue, encodeValue } from '../wire/codec.js';

export type PersistenceMode = 'write-through' | 'write-behind';

export interface PersistenceParts {
  readonly store: StateStore;
  readonly mode: PersistenceMode;
  /** Write-behind: a change is saved at most this long after it was made (if the store answers). */
  readonly writeBehindMs: number;
  /** Write-behind: past this many unsaved changes of one actor, its callers wait for the save (write-through). */
  readonly maxUnsaved: number;
  /** Every store operation is abandoned (STORE_UNAVAILABLE) after this long. */
  readonly timeoutMs: number;
  /** A save met a newer stored version: stop that activation ('conflict'); the next message reloads. */
  evict(key: string): void;
  /** State that was acknowledged could not be saved (write-behind, or a final save): said, never silent. */
  failed(activation: Activation, error: MeshError): void;
  readonly counters: { storeLoads: number; storeSaves: number; storeConflicts: number; storeFailures: number };
}

interface Waiter {
  readonly seq: number;
  readonly answer: Answer;
}

/** Under a steady stream the mailbox is never empty: save at least every this many changes anyway. */
const MAX_CHANGES_PER_SAVE = 32;

/** Failed saves remembered in case one landed late (see StoreLog.uncertain). */
const MAX_UNCERTAIN = 4;

/**
 * Durable actors: an opted-in type (`static durable`) loads its state from the mesh's store before its first
 * message and saves it after the messages that changed it. Saves name the store version the activation read
 * (or last wrote), so a second activation of the same actor (a partition, a stale owner) can never silently
 * overwrite the first: its save fails with STORE_CONFLICT and it stops. One save per actor is in flight at a
 * time; the changes made meanwhile ride in the next one. Write-through answers a change once it is saved;
 * write-behind at once, saving within writeBehindMs and on deactivation, and reports what it cannot save.
 */
export class Persistence {
  private readonly logs = new Map<string, StoreLog>();
  /** What each loading activation read (store version, and the state's own version), for its log when it opens. */
  private readonly read = new Map<string, { readonly store: number; readonly state: Snapshot['version'] }>();
  /** Final saves of stopped activations: a new activation of the same actor loads after them. */
  private readonly flushing = new Map<string, Promise<void>>();

  constructor(readonly parts: PersistenceParts) {}

  static durable(cls: ActorClass): boolean {
    return cls.durable === true && typeof cls.prototype?.snapshot === 'function';
  }

  load(target: MessageTarget, cls: ActorClass): Promise<Snapshot | null> | null {
    if (!Persistence.durable(cls)) return null;
    const key = activationKey(target.capability, target.actor, target.id);
    const storeKey: StoreKey = { capability: target.capability, actor: target.actor, id: target.id };
    const after = this.flushing.get(key) ?? Promise.resolve();
    return after.then(async () => {
      const record = await this.run(`loading ${target.actor}(${target.id})`, (signal) => this.parts.store.load(storeKey, signal));
      this.parts.counters.storeLoads++;
      const stored = record === null ? null : decodeRecord(record.data, `${target.actor}(${target.id})`);
      this.read.set(key, { store: record?.version ?? 0, state: stored?.version });
      return stored;
    });
  }

  opened(activation: Activation, cls: ActorClass, restored: Snapshot | undefined, initArg: unknown): ActivationLog | null {
    if (!Persistence.durable(cls)) return null;
    const read = this.read.get(activation.key);
    this.read.delete(activation.key);
    const mode = cls.persistence ?? this.parts.mode;
    const log = new StoreLog(this, activation, read?.store ?? 0, mode === 'write-through', initArg, cls.keepTimers === true);
    this.logs.set(activation.key, log);
    // It goes on from handed-over state newer than the store (write-behind, a promoted copy ahead of a failed
    // save): the store gets it at the first chance.
    const v = restored?.version;
    if (v !== undefined && (read?.state === undefined || v.epoch !== read.state.epoch || v.seq !== read.state.seq)) log.dirtyFromRestore();
    return log;
  }

  /**
   * Resolves once every save in flight or owed has settled (bounded by the store timeout each): stop() waits.
   * An activation still running a message (stopAll let it finish) saves when it stops; we wait for that too,
   * at most twice the store timeout, and report the changes of any that did not stop by then as unsaved.
   */
  async flushAll(): Promise<void> {
    const open = [...this.logs.values()];
    if (open.length > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2 * this.parts.timeoutMs);
      });
      await Promise.race([Promise.all(open.map((log) => log.whenClosed())), bound]);
      clearTimeout(timer);
      for (const log of open) log.stoppedUnsaved();
    }
    await Promise.all([...this.flushing.values(), ...[...this.logs.values()].map((log) => log.settled())]);
  }

  /** Runs one store operation with its timeout: an adapter that ignores its signal cannot hang the mesh. */
  run<T>(what: string, operation: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new StoreUnavailableError(`${what}: the ${this.parts.store.name} store did not answer within ${this.parts.timeoutMs} ms`));
      }, this.parts.timeoutMs);
    });
    const attempt = Promise.resolve()
      .then(() => operation(controller.signal))
      .catch((error: unknown) => {
        throw error instanceof MeshError ? error : new StoreUnavailableError(`${what}: ${describeThrown(error)}`);
      });
    return Promise.race([attempt, timeout]).finally(() => clearTimeout(timer));
  }

  flushed(key: string, done: Promise<void>): void {
    const tracked = done.finally(() => {
      if (this.flushing.get(key) === tracked) this.flushing.delete(key);
    });
    this.flushing.set(key, tracked);
  }

  /** A loading activation never opened: what it read goes (it would otherwise stay, one entry per actor). */
  abandoned(key: string): void {
    this.read.delete(key);
  }

  forget(log: StoreLog): void {
    if (this.logs.get(log.activation.key) === log) this.logs.delete(log.activation.key);
  }
}

class StoreLog implements ActivationLog {
  readonly keeping = true;
  private waiters: Waiter[] = [];
  private saving: Promise<void> | null = null;
  /** Changes not yet in a save that was started. */
  private unsaved = 0;
  /**
   * The seq of the last state the store confirmed. Changes bump seq one by one, so seq - storedSeq is how
   * many acknowledged changes a crash would lose: write-behind holds callers back past maxUnsaved of them,
   * also while saves are slow or failing (counting only unstarted saves let them pile up without bound).
   */
  private storedSeq = 0;
  /** A save is owed but the actor was mid-message: take it at the next completion. */
  private owed = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private ended = false;
  /** A save met a newer stored version: this activation is being stopped, and nothing it does is kept. */
  private conflict: MeshError | null = null;
  /**
   * The data of the saves that failed since the last one confirmed (the latest few): any of them may have
   * landed after we gave up on it. All name the same expected version, so at most one can have.
   */
  private uncertain: Uint8Array[] | null = null;
  /** Who waits for it to close (created only when stop() asks). */
  private closeWaiters: (() => void)[] | null = null;
  private readonly storeKey: StoreKey;

  constructor(
    private readonly persistence: Persistence,
    readonly activation: Activation,
    /** The store version this activation read or last wrote: every save names it. */
    private version: number,
    private readonly writeThrough: boolean,
    private readonly initArg: unknown,
    private readonly keepTimers: boolean,
  ) {
    this.storeKey = { capability: activation.capability, actor: activation.actor, id: activation.id };
  }

  dirtyFromRestore(): void {
    this.unsaved++;
    this.owed = true;
  }

  changed(answer: Answer): void {
    // A message that finished after its activation lost a conflict: its change will never be stored.
    if (this.conflict !== null) return answer(this.conflict);
    this.unsaved++;
    const { parts } = this.persistence;
    const overLimit = !this.writeThrough && this.activation.seq - this.storedSeq > parts.maxUnsaved;
    if (this.writeThrough || overLimit) this.waiters.push({ seq: this.activation.seq, answer });
    else answer();
    if (this.writeThrough) {
      if (this.owed || this.unsaved >= MAX_CHANGES_PER_SAVE) this.saveSoon();
    } else if (overLimit && this.saving === null) this.saveSoon();
    else this.scheduleBehind();
  }

  read(answer: Answer): void {
    if (this.conflict !== null) return answer(this.conflict);
    // An answer must not show state the store does not hold yet: in write-through, a change not saved (its
    // save failed, or is running, or handed-over state is owed to the store) holds the read back until it is.
    const unsaved = this.writeThrough && (this.unsaved > 0 || this.owed || this.saving !== null);
    if (this.waiters.length === 0 && !unsaved) return answer();
    this.waiters.push({ seq: this.activation.seq, answer });
    // Reads queued behind a change must not keep it from being saved until the mailbox empties.
    if (this.saving === null && (this.unsaved > 0 || this.owed)) this.saveSoon();
  }

  idle(): void {
    if (this.owed || (this.writeThrough && this.unsaved > 0) || (this.waiters.length > 0 && this.saving === null)) this.saveSoon();
  }

  closed(reason: DeactivateReason): Promise<void> | undefined {
    const done = this.close(reason);
    const waiting = this.closeWaiters;
    this.closeWaiters = null;
    if (waiting !== null) {
      const wake = (): void => {
        for (const resolve of waiting) resolve();
      };
      if (done === undefined) wake();
      else void done.then(wake, wake);
    }
    return done;
  }

  /** Resolves once it closed and its last save settled (stop() waits for an activation mid-message). */
  whenClosed(): Promise<void> {
    if (this.ended) return this.settled();
    return new Promise((resolve) => {
      this.closeWaiters ??= [];
      this.closeWaiters.push(resolve);
    });
  }

  /** stop() gave up waiting for it: changes already answered (write-behind) are reported, not silently lost. */
  stoppedUnsaved(): void {
    if (this.ended || (this.unsaved === 0 && !this.owed)) return;
    this.persistence.parts.failed(
      this.activation,
      new StoreUnavailableError(
        `${this.activation.actor}(${this.activation.id}) was still running when the mesh stopped: its last changes were not saved`,
      ),
    );
  }

  private close(reason: DeactivateReason): Promise<void> | undefined {
    this.ended = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.persistence.forget(this);
    if (reason === 'conflict') {
      // The store holds someone else's newer state: nothing to add. A message that finished after the
      // conflict (its caller waits) hears of it too.
      this.answerAll(
        this.conflict ?? new StoreConflictError(`${this.activation.actor}(${this.activation.id}) lost to a newer stored version`),
      );
      return undefined;
    }
    if (reason === 'crash') {
      // The state of a handler that threw may be half-changed: never save it. Changes not yet saved are lost
      // with it; their callers hear so instead of a success.
      const saving = this.saving;
      const fail = (): void =>
        this.answerAll(new ActorFailedError(`${this.activation.actor}(${this.activation.id}) crashed before its state was saved`));
      if (saving === null) fail();
      else {
        void saving.then(fail);
        // The next activation loads after this save settles, so it reads the version the save may write.
        this.persistence.flushed(this.activation.key, saving);
      }
      return undefined;
    }
    if (this.unsaved === 0 && !this.owed) {
      if (this.saving === null) return undefined;
      const last = this.saving;
      this.persistence.flushed(this.activation.key, last);
      return last;
    }
    // The runtime closes the log before onDeactivate: the instance is as its last message left it. Encode it
    // now; the save itself waits for the one in flight.
    const data = this.encode();
    if (data === null) return undefined;
    const final = this.settled().then(() => this.save(data, this.activation.seq, true));
    this.persistence.flushed(this.activation.key, final);
    return final;
  }

  /** Resolves when nothing of this activation is being saved. */
  async settled(): Promise<void> {
    while (this.saving !== null) await this.saving;
  }

  /** Starts a save of the current state unless one is running (then the next one follows it). */
  private saveSoon(): void {
    if (this.ended) return;
    if (this.saving !== null || this.activation.busy) {
      this.owed = true;
      return;
    }
    this.owed = false;
    const data = this.encode();
    if (data !== null) void this.save(data, this.activation.seq, false);
  }

  /** The state as a store record, or null (callers told, failure reported) when its snapshot fails. */
  private encode(): Uint8Array | null {
    try {
      return encodeRecord(snapshotOf(this.activation, this.initArg, this.keepTimers));
    } catch (error) {
      const failure = new ActorFailedError(
        `${this.activation.actor}(${this.activation.id}): its snapshot cannot be stored: ${describeThrown(error)}`,
      );
      this.persistence.parts.failed(this.activation, failure);
      this.answerAll(failure);
      return null;
    }
  }

  private save(data: Uint8Array, seq: number, final: boolean): Promise<void> {
    this.unsaved = 0;
    const { parts } = this.persistence;
    const what = `saving ${this.activation.actor}(${this.activation.id})`;
    const saving = this.attemptSave(what, data).then(
      (version) => {
        this.saving = null;
        this.uncertain = null;
        this.version = version;
        if (seq > this.storedSeq) this.storedSeq = seq;
        parts.counters.storeSaves++;
        this.answerUpTo(seq);
        if (this.owed || this.unsaved > 0) this.saveSoon();
      },
      (error: unknown) => {
        this.saving = null;
        const failure = error instanceof MeshError ? error : new StoreUnavailableError(`${what}: ${describeThrown(error)}`);
        // Timed out or failed: it may still land (a slow store), so it is what the next save checks for.
        if (failure instanceof StoreUnavailableError) {
          this.uncertain ??= [];
          if (this.uncertain.length >= MAX_UNCERTAIN) this.uncertain.shift();
          this.uncertain.push(data);
        }
        if (failure instanceof StoreConflictError) {
          parts.counters.storeConflicts++;
          this.conflict = failure;
          // A refused last save: the handoff waiting for it hands nothing (see ActorRuntime.release).
          if (final) this.activation.stopReason = 'conflict';
          // Changes answered already (write-behind, a final save) lost to a newer writer: said, not silent.
          if (!this.writeThrough || final) parts.failed(this.activation, failure);
          this.answerAll(failure);
          if (!this.ended) parts.evict(this.activation.key);
          return;
        }
        parts.counters.storeFailures++;
        // Callers still waiting hear of it; changes answered already (write-behind, a final save) are reported.
        const unheard = !this.writeThrough || final;
        this.answerUpTo(seq, failure);
        if (unheard) parts.failed(this.activation, failure);
        if (this.ended) return;
        // Not saved: try again after a while (write-behind) or with the next change (write-through), at
        // once if that change came while this save was in flight (its caller waits for a save).
        this.unsaved++;
        if (!this.writeThrough) this.scheduleBehind();
        else if (this.owed) this.saveSoon();
      },
    );
    this.saving = saving;
    return saving;
  }

  /**
   * One save against the version we hold. If the store has a newer version and our last failed save might
   * have landed after all, and it did (the record is that save's data, one version up), the store is ours:
   * go on from its version rather than stop as if another activation had written.
   */
  private async attemptSave(what: string, data: Uint8Array): Promise<number> {
    const { parts } = this.persistence;
    try {
      return await this.persistence.run(what, (signal) => parts.store.save(this.storeKey, data, this.version, signal));
    } catch (error) {
      const tried = this.uncertain;
      if (!(error instanceof StoreConflictError) || tried === null) throw error;
      const record = await this.persistence.run(`${what}: checking the stored version`, (signal) =>
        parts.store.load(this.storeKey, signal),
      );
      if (record === null || record.version !== this.version + 1 || !tried.some((d) => sameBytes(record.data, d))) throw error;
      this.uncertain = null;
      this.version = record.version;
      return await this.persistence.run(what, (signal) => parts.store.save(this.storeKey, data, this.version, signal));
    }
  }

  private scheduleBehind(): void {
    if (this.timer !== null || this.ended) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.saveSoon();
    }, this.persistence.parts.writeBehindMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  private answerUpTo(seq: number, error?: MeshError): void {
    let n = 0;
    while (n < this.waiters.length && this.waiters[n]!.seq <= seq) n++;
    if (n === 0) return;
    const done = this.waiters.slice(0, n);
    this.waiters = this.waiters.slice(n);
    for (const waiter of done) waiter.answer(error);
  }

  private answerAll(error: MeshError): void {
    const done = this.waiters;
    this.waiters = [];
    for (const waiter of done) waiter.answer(error);
  }
}

/** What a store holds per actor: its snapshot, init argument, version and kept timers, CBOR-encoded. */
function encodeRecord(snapshot: Snapshot): Uint8Array {
  const { epoch, seq } = snapshot.version ?? { epoch: 0, seq: 0 };
  const timers = snapshot.timers?.map((t) => [t.name, t.dueAt, t.everyMs, t.payload]) ?? null;
  return encodeValue([1, snapshot.state, snapshot.initArg, epoch, seq, timers]);
}

function decodeRecord(data: Uint8Array, what: string): Snapshot {
  let value: unknown;
  try {
    value = decodeValue(data);
  } catch (error) {
    throw new StoreUnavailableError(`${what}: the stored state cannot be read: ${describeThrown(error)}`);
  }
  if (!Array.isArray(value) || value[0] !== 1 || value.length !== 6) {
    throw new StoreUnavailableError(`${what}: the stored state is not in a format this peer reads`);
  }
  const [, state, initArg, epoch, seq, rawTimers] = value as [number, unknown, unknown, number, number, unknown];
  const timers: TimerSpec[] | undefined = Array.isArray(rawTimers)
    ? rawTimers.map((t) => {
        const [name, dueAt, everyMs, payload] = t as [string, number, number, unknown];
        return { name, dueAt, everyMs, payload };
      })
    : undefined;
  return { state, initArg, version: { epoch: Number(epoch) || 0, seq: Number(seq) || 0 }, ...(timers ? { timers } : {}) };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
