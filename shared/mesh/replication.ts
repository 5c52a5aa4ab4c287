import type { ActorClass, DeactivateReason } from '../actors/actor.js';
import { type Activation, type ActivationLog, activationKey, type MessageTarget, type Snapshot } from '../actors/activation.js';
import type { StateLog } from '../actors/runtime.js';
import { encodeValue } from '../wire/codec.js';
import type { ReplicaAckFrame, ReplicaDropFrame, ReplicaFrame } from '../wire/frames.js';
import { CorrTable } from './corr-table.js';
import type { HeldReplica, ReplicaStore } from './replica-store.js';

export type ReplicationMode = 'sync' | 'async';

export interface ReplicationParts {
  readonly self: string;
  /** Copies per actor unless its type says otherwise. */
  readonly replicas: number;
  readonly mode: ReplicationMode;
  /** The peers that would own `shard` next, best first, at most `count` (ShardMap.backups). */
  backups(shard: number, capability: string, count: number): string[];
  /** Sends a frame; false if the peer's link is gone. */
  send(peer: string, frame: ReplicaFrame | ReplicaDropFrame): boolean;
  /** Copies held here, from earlier owners (used when a new activation has no handed-over state). */
  readonly store: ReplicaStore;
  /** An activation here starts from a copy held here (its owner vanished or its handoff never came). */
  promoted(copy: HeldReplica): void;
  /** A snapshot failed to encode: the activation keeps running, without copies. */
  failed(activation: Activation, error: unknown): void;
  readonly counters: { replicasSent: number; replicasAcked: number };
}

/** Snapshot at once when the mailbox is empty; under a steady stream, at least every this many changes. */
const MAX_CHANGES_PER_SNAPSHOT = 32;

interface Waiter {
  readonly seq: number;
  readonly answer: () => void;
}

interface Unacked {
  readonly log: ReplicaLog;
  readonly epoch: number;
  readonly seq: number;
}

/**
 * The owner's side of live replicas: every activation of a type with copies keeps `replicas` of them on the
 * peers that would own it next. After a message that changed the state, the state is snapshotted (when the
 * mailbox is empty, or every few changes under load, never in the middle of a message) and sent to each
 * backup; in sync mode the caller's answer waits until every backup acknowledged a snapshot covering its
 * change. One snapshot per backup is in flight at a time: later changes ride in the next one.
 */
export class Replication implements StateLog {
  /** Copies sent and not yet acknowledged, per backup, by their number (`n`). */
  private readonly unacked = new Map<string, CorrTable<Unacked>>();
  private lastN = 0;
  private readonly policies = new Map<ActorClass, Policy | null>();

  constructor(readonly parts: ReplicationParts) {}

  opened(activation: Activation, cls: ActorClass, restored: Snapshot | undefined, initArg: unknown): ActivationLog | null {
    const policy = this.policyOf(cls);
    if (policy === null) return null;
    const log = new ReplicaLog(activation, policy, initArg);
    // The live activation owns the state now: a copy kept here from an earlier owner is stale from here on.
    if (this.parts.store.size > 0) this.parts.store.discard(activation.key);
    // State carried over (a handoff, a promoted copy) has no copy on our backups yet: send one now.
    if (restored !== undefined) log.snapshotSoon(true);
    return log;
  }

  /** Whether activations of `cls` keep copies on backups. */
  keepsCopies(cls: ActorClass): boolean {
    return this.policyOf(cls) !== null;
  }

  private policyOf(cls: ActorClass): Policy | null {
    let policy = this.policies.get(cls);
    if (policy === undefined) {
      const copies = cls.replicas ?? this.parts.replicas;
      const mode = cls.replication ?? this.parts.mode;
      policy =
        copies > 0 && typeof cls.prototype?.snapshot === 'function'
          ? { replication: this, copies: Math.floor(copies), sync: mode === 'sync', keepTimers: cls.keepTimers === true }
          : null;
      this.policies.set(cls, policy);
    }
    return policy;
  }

  fallback(target: MessageTarget): Snapshot | undefined {
    // Most peers hold no copies most of the time: then there is no key to build.
    if (this.parts.store.size === 0) return undefined;
    const taken = this.parts.store.take(activationKey(target.capability, target.actor, target.id));
    if (taken === undefined) return undefined;
    this.parts.promoted(taken.copy);
    return taken.snapshot;
  }

  /** Sends a copy to `peer` (its number `n` from nextN); false if the link is gone. */
  sendCopy(peer: string, frame: ReplicaFrame, log: ReplicaLog): boolean {
    if (!this.parts.send(peer, frame)) return false;
    let byN = this.unacked.get(peer);
    if (byN === undefined) {
      byN = new CorrTable();
      this.unacked.set(peer, byN);
    }
    byN.set(frame.n, { log, epoch: frame.epoch, seq: frame.seq });
    this.parts.counters.replicasSent++;
    return true;
  }

  nextN(): number {
    return ++this.lastN;
  }

  /** The copy numbered `n` will not be acknowledged by `peer` (its actor stopped, or `peer` is no backup). */
  forgetCopy(peer: string, n: number): void {
    this.unacked.get(peer)?.delete(n);
  }

  /** A backup holds (at least) the versions these copies carried. False if it acknowledged one it was not sent. */
  onAck(from: string, frame: ReplicaAckFrame): boolean {
    let honest = true;
    for (const n of frame.n) {
      const copy = this.takeCopy(from, n);
      if (copy === undefined) honest = false;
      else {
        this.parts.counters.replicasAcked++;
        copy.log.acked(from, copy.epoch, copy.seq, n);
      }
    }
    for (const n of frame.refused) {
      const copy = this.takeCopy(from, n);
      if (copy === undefined) honest = false;
      else copy.log.refused(from, n);
    }
    return honest;
  }

  /** The copy numbered `n` sent to `peer` and not yet answered, now answered; undefined if none. */
  private takeCopy(peer: string, n: number): Unacked | undefined {
    const byN = this.unacked.get(peer);
    const copy = byN?.get(n);
    if (copy !== undefined) byN!.delete(n);
    return copy;
  }

  /**
   * The view changed: copies to departed peers will never be acknowledged. (Each activation's log then
   * re-reads its backups: ActivationLog.viewChanged, called by the runtime for every activation.)
   */
  viewChanged(isMember: (peer: string) => boolean): void {
    for (const peer of this.unacked.keys()) if (!isMember(peer)) this.unacked.delete(peer);
  }
}

/** What one backup of an activation has: the seq it acknowledged, the seq it was last sent, the copy in flight. */
interface Backup {
  readonly peer: string;
  /** The highest seq it acknowledged; -1: none yet. */
  acked: number;
  /** The seq of the snapshot it was last sent (at most one unacknowledged at a time); -1: none yet. */
  sent: number;
  /** The number `n` of the copy it has not acknowledged yet; 0: none. */
  inFlight: number;
  /** It refused a copy (too large for its replica store): not waited for, sent nothing more. */
  refusing: boolean;
}

/** How a type is copied, shared by all its activations. */
interface Policy {
  readonly replication: Replication;
  readonly copies: number;
  readonly sync: boolean;
  readonly keepTimers: boolean;
}

const NO_BACKUPS: readonly Backup[] = Object.freeze([]);

/**
 * One activation's copies. An activation without backups (a peer alone with its capability: the common
 * single-peer case) keeps nothing but this object; per-backup state appears with the first backup.
 */
class ReplicaLog implements ActivationLog {
  private held: readonly Backup[] = NO_BACKUPS;
  private waiters: Waiter[] | null = null;
  /** Changes since the last snapshot was taken. */
  private pending = 0;
  private lastSnapshotSeq = -1;
  private lastState: Uint8Array | null = null;
  /** A snapshot is owed to some backup but the actor was mid-message: take it at the next completion. */
  private owed = false;

  constructor(
    readonly activation: Activation,
    private readonly policy: Policy,
    private readonly initArg: unknown,
  ) {
    this.held = this.currentBackups(NO_BACKUPS);
  }

  /** Closed: the activation stopped (closed() runs once it is marked stopped). */
  private ended(): boolean {
    return this.activation.state === 'stopped';
  }

  get keeping(): boolean {
    return this.held.length > 0;
  }

  get backups(): string[] {
    return this.held.map((b) => b.peer);
  }

  changed(answer: () => void): void {
    this.pending++;
    if (this.policy.sync && this.held.some((backup) => !backup.refusing)) {
      this.waiters ??= [];
      this.waiters.push({ seq: this.activation.seq, answer });
    } else answer();
    // Under a steady stream the mailbox is never empty: copy at least every few changes anyway.
    if (this.owed || this.pending >= MAX_CHANGES_PER_SNAPSHOT) this.snapshotSoon(false);
  }

  idle(): void {
    if (this.owed || this.pending > 0) this.snapshotSoon(false);
  }

  read(answer: () => void): void {
    // Nothing new to copy, but an answer must not show state a crash could still undo.
    if (this.waiters === null || this.waiters.length === 0) answer();
    else this.waiters.push({ seq: this.activation.seq, answer });
    if (this.owed) this.snapshotSoon(false);
  }

  closed(reason: DeactivateReason): undefined {
    const waiting = this.waiters;
    this.waiters = null;
    if (waiting !== null) for (const waiter of waiting) waiter.answer();
    // Idle passivation, crashes and a lost store conflict end this state: its copies go too. Moves and stops
    // hand it over.
    const drop = reason === 'idle' || reason === 'crash' || reason === 'conflict';
    const { capability, actor, id, epoch, seq } = this.activation;
    for (const backup of this.held) {
      if (drop) this.policy.replication.parts.send(backup.peer, { t: 'replica-drop', capability, actor, id, epoch, seq });
      if (backup.inFlight !== 0) this.policy.replication.forgetCopy(backup.peer, backup.inFlight);
      backup.inFlight = 0;
    }
    return undefined;
  }

  acked(from: string, epoch: number, seq: number, n: number): void {
    const backup = this.held.find((b) => b.peer === from);
    if (backup !== undefined && backup.inFlight === n) backup.inFlight = 0;
    if (this.ended() || epoch !== this.activation.epoch || backup === undefined) return;
    if (seq > backup.acked) backup.acked = seq;
    this.release();
    // Its last snapshot is in: if changes came since, the next one can go.
    if (this.activation.seq > seq && backup.sent <= seq) this.snapshotSoon(false);
  }

  /**
   * `from` will not hold this actor's copies (too large for its store): the changes waiting for it go on
   * without it, as after a failed snapshot, and it is sent no more copies while it stays a backup.
   */
  refused(from: string, n: number): void {
    const backup = this.held.find((b) => b.peer === from);
    if (backup === undefined) return;
    if (backup.inFlight === n) backup.inFlight = 0;
    backup.refusing = true;
    this.release();
  }

  /** The backups may have changed with the view: new ones get the state, departed ones stop counting. */
  viewChanged(): void {
    if (this.ended()) return;
    const next = this.currentBackups(this.held);
    if (next.length === this.held.length && next.every((b, i) => b === this.held[i])) return;
    for (const old of this.held) {
      if (next.includes(old) || old.inFlight === 0) continue;
      this.policy.replication.forgetCopy(old.peer, old.inFlight);
      old.inFlight = 0;
    }
    this.held = next;
    this.release();
    if (next.some((b) => b.sent === -1)) this.snapshotSoon(true);
  }

  /** The backups of this view, keeping what is known of those that stay. */
  private currentBackups(previous: readonly Backup[]): readonly Backup[] {
    const { shard, capability } = this.activation;
    const { parts } = this.policy.replication;
    const peers = parts.backups(shard, capability, this.policy.copies);
    if (peers.length === 0 || (peers.length === 1 && peers[0] === parts.self)) return NO_BACKUPS;
    const next: Backup[] = [];
    for (const peer of peers) {
      if (peer === parts.self) continue;
      next.push(previous.find((b) => b.peer === peer) ?? { peer, acked: -1, sent: -1, inFlight: 0, refusing: false });
    }
    return next;
  }

  /**
   * Takes a snapshot now if the actor is between messages, else owes one to the next completion. `resend`:
   * the state has not changed but a backup lacks it (a new backup, a handed-over or promoted state).
   */
  snapshotSoon(resend: boolean): void {
    if (this.ended() || this.held.length === 0) return;
    if (this.activation.busy) {
      this.owed = true;
      return;
    }
    this.owed = false;
    const seq = this.activation.seq;
    if (seq !== this.lastSnapshotSeq || resend || this.lastState === null) {
      try {
        this.lastState = encodeValue(this.activation.instance.snapshot?.());
      } catch (error) {
        this.policy.replication.parts.failed(this.activation, error);
        this.lastState = null;
        this.release(true);
        return;
      }
      this.lastSnapshotSeq = seq;
      this.pending = 0;
    }
    const state = this.lastState;
    const { capability, actor, id, epoch } = this.activation;
    const { copies, keepTimers } = this.policy;
    for (const backup of this.held) {
      if (backup.refusing) continue;
      // One unacknowledged snapshot per backup: the next goes when it acknowledges this one.
      if (backup.sent !== -1 && backup.sent > backup.acked) {
        if (backup.sent < seq) this.owed = true;
        continue;
      }
      if (backup.sent === seq && !resend) continue;
      const n = this.policy.replication.nextN();
      const frame: ReplicaFrame = {
        t: 'replica',
        capability,
        actor,
        id,
        epoch,
        seq,
        state,
        initArg: this.initArg,
        copies,
        n,
        timers: keepTimers ? (this.activation.timers?.list() ?? null) : null,
      };
      if (this.policy.replication.sendCopy(backup.peer, frame, this)) {
        if (backup.inFlight !== 0) this.policy.replication.forgetCopy(backup.peer, backup.inFlight);
        backup.inFlight = n;
        backup.sent = seq;
      }
    }
  }

  /** Answers every waiter whose change every current backup holds (all of them when copies are impossible). */
  private release(all = false): void {
    const waiters = this.waiters;
    if (waiters === null || waiters.length === 0) return;
    let covered = Number.POSITIVE_INFINITY;
    if (!all) for (const backup of this.held) if (!backup.refusing) covered = Math.min(covered, backup.acked);
    let released = 0;
    while (released < waiters.length && waiters[released]!.seq <= covered) released++;
    if (released === 0) return;
    // Most acks release every waiter: hand over the whole array rather than copying it.
    if (released === waiters.length) this.waiters = null;
    else this.waiters = waiters.splice(released);
    for (let i = 0; i < released; i++) waiters[i]!.answer();
  }
}
