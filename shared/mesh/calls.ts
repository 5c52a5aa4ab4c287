import type { Activation } from '../actors/activation.js';
import type { MessageTarget, Ticket } from '../actors/runtime.js';
import {
  AbortedError,
  MeshError,
  NoPeersForCapabilityError,
  PeerGoneError,
  StoppedError,
  TimeoutError,
  UnknownActorError,
  errorFromWire,
} from '../errors.js';
import type { PeerInfo } from '../placement/membership.js';
import type { CallFrame, CastFrame, ErrorFrame, ReplyFrame } from '../wire/frames.js';
import { wireCopy } from '../wire/values.js';
import type { MeshConfig } from './config.js';
import { CorrTable } from './corr-table.js';
import { type DeadlineItem, Deadlines } from './deadlines.js';
import { unsendableResult, type Host } from './host.js';
import type { PeerLinks } from './links.js';
import type { MeshCounters } from './stats.js';
import type { CallResult } from './types.js';

export interface CallsParts {
  readonly config: MeshConfig;
  readonly counters: MeshCounters;
  readonly host: Host;
  readonly links: PeerLinks;
  ownerOf(target: MessageTarget): string | undefined;
  /** A peer of the view (this one included). */
  peer(id: string): PeerInfo | undefined;
  stopping(): boolean;
  /** Resolves on the next view change or after `ms`. */
  nextView(ms: number): Promise<void>;
}

/**
 * This peer's outbound calls and casts: each request's payload is copied as the wire would copy it (so a
 * local owner sees what a remote one would), routed to the owner in our view (this peer, through the Host,
 * or a remote peer over its link), retried after NOT_OWNER while its deadline allows, and settled exactly
 * once with a result or a typed error.
 */
export class Calls {
  /** Remote calls waiting for their answer, by correlation id. */
  private readonly pending = new CorrTable<CallOp>();
  /** Calls that did not complete synchronously, under one timer for their deadlines; stop() answers every one. */
  private readonly inflight: Deadlines<CallOp>;
  private nextCorr = 1;

  constructor(readonly parts: CallsParts) {
    // The latency clock (performance.now where there is one): monotonic, so a wall-clock step neither
    // stretches a call's timeout nor cuts it short.
    this.inflight = new Deadlines<CallOp>((op) => op.timeout(), parts.counters.now);
  }

  call(target: MessageTarget, payload: unknown, timeoutMs: number, signal: AbortSignal | undefined): Promise<CallResult> {
    let copied: MessageTarget;
    let message: unknown;
    try {
      message = wireCopy(payload, 'payload');
      copied = target.initArg === undefined ? target : { ...target, initArg: wireCopy(target.initArg, 'initArg') };
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<CallResult>((resolve, reject) => {
      new CallOp(this, copied, message, timeoutMs, signal, resolve, reject).attempt();
    });
  }

  /** Resolves once the cast is in the owner's mailbox (local) or queued on the owner's link (remote). */
  async cast(target: MessageTarget, payload: unknown, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    const message = wireCopy(payload, 'payload');
    const initArg = wireCopy(target.initArg, 'initArg');
    const owner = this.parts.ownerOf(target);
    if (owner === undefined) throw new NoPeersForCapabilityError(target.capability);
    // A remote owner cannot answer a cast, so its advertised types decide here, as the runtime does locally.
    if (!this.parts.peer(owner)?.actorTypes.includes(target.actor)) throw new UnknownActorError(target.actor, owner);
    const { counters } = this.parts;
    if (owner === this.parts.config.peerId) {
      counters.castsSent++;
      this.parts.host.cast({ ...target, initArg }, message, () => undefined);
      return;
    }
    const state = this.parts.links.get(owner);
    if (state === undefined || state.link.isClosed) throw new PeerGoneError(owner);
    const frame: CastFrame = { t: 'cast', capability: target.capability, actor: target.actor, id: target.id, payload: message, initArg };
    // Waits in line while the link's queue is full; PAYLOAD_TOO_LARGE (nothing sent) reaches the caller.
    await state.link.sendWhenRoom(frame, timeoutMs, signal).catch((error: unknown) => {
      throw state.link.isClosed ? new PeerGoneError(owner) : error;
    });
    counters.castsSent++;
  }

  /** A reply or error frame: settles the call it answers, if `from` is the peer that call was sent to. */
  answer(from: string, frame: ReplyFrame | ErrorFrame): void {
    const op = this.pending.get(frame.corr);
    if (op === undefined) return;
    if (op.peer !== from) return this.parts.links.rejected(from, frame.t, `${frame.t} for a call sent to ${op.peer}`);
    this.pending.delete(frame.corr);
    op.answer(frame);
  }

  /** The peer left: its calls fail with PEER_GONE (they may or may not have run). */
  peerGone(peer: string): void {
    for (const op of this.pending.list()) if (op.peer === peer) op.fail(new PeerGoneError(peer));
  }

  /** Fails every call still waiting (stop). */
  failAll(error: MeshError): void {
    for (const op of this.inflight.values()) op.fail(error);
    this.inflight.close();
  }

  /** Sends `op` to the owner of its target in our view. */
  route(op: CallOp): void {
    const { parts } = this;
    if (parts.stopping()) return op.fail(new StoppedError());
    const owner = parts.ownerOf(op.target);
    if (owner === undefined) return op.fail(new NoPeersForCapabilityError(op.target.capability));
    op.peer = owner;
    if (owner === parts.config.peerId) {
      parts.counters.callsLocal++;
      // A closure only for local calls: a remote one (the common case under load) allocates none.
      op.ticket = parts.host.call(op.target, op.payload, (error, result, activation) => op.localDone(error, result, activation));
      return;
    }
    const state = parts.links.get(owner);
    if (state === undefined) return op.fail(new PeerGoneError(owner));
    parts.counters.callsRemote++;
    const corr = this.nextCorr++;
    op.corr = corr;
    this.pending.set(corr, op);
    const remaining = op.remainingMs();
    const { target } = op;
    const frame: CallFrame = {
      t: 'call',
      corr,
      capability: target.capability,
      actor: target.actor,
      id: target.id,
      payload: op.payload,
      initArg: target.initArg,
      timeoutMs: remaining,
    };
    try {
      state.link.send(frame);
    } catch (error) {
      if (state.link.isClosed) return op.fail(new PeerGoneError(owner));
      if (!(error instanceof MeshError) || error.code !== 'BACKPRESSURE') return op.fail(asMeshError(error));
      // The queue is full: wait in line for room (bounded by the call's deadline), keeping the corr.
      state.link.sendWhenRoom(frame, remaining, op.signal).catch((waitError: unknown) => {
        op.fail(state.link.isClosed ? new PeerGoneError(owner) : asMeshError(waitError));
      });
    }
  }

  track(op: CallOp, on: boolean): void {
    if (on) this.inflight.add(op);
    else this.inflight.delete(op);
  }

  forget(op: CallOp): void {
    if (op.corr !== 0 && this.pending.get(op.corr) === op) this.pending.delete(op.corr);
    op.corr = 0;
  }
}

const asMeshError = (error: unknown): MeshError => (error instanceof MeshError ? error : new TimeoutError(String(error)));

/**
 * One call in flight: routes, retries after NOT_OWNER while its deadline allows, and settles exactly once.
 * The timer is armed only when the call does not complete synchronously, which keeps hot local calls cheap.
 */
class CallOp implements DeadlineItem<CallOp> {
  peer = '';
  corr = 0;
  /** Its links in the deadline list while armed (Deadlines owns them). */
  duePrev: CallOp | null = null;
  dueNext: CallOp | null = null;
  ticket: Ticket | null = null;
  /** When it times out, on the latency clock (counters.now: monotonic where the host has one). */
  readonly deadline: number;
  readonly started: number;
  /** In the deadline sweep (it did not complete synchronously). */
  private armed = false;
  private done = false;
  private attempts = 0;
  private onAbort: (() => void) | null = null;
  private lastNotOwner: MeshError | null = null;

  constructor(
    private readonly calls: Calls,
    readonly target: MessageTarget,
    readonly payload: unknown,
    private readonly timeoutMs: number,
    readonly signal: AbortSignal | undefined,
    private readonly resolve: (result: CallResult) => void,
    private readonly reject: (error: MeshError) => void,
  ) {
    this.started = calls.parts.counters.now();
    this.deadline = this.started + timeoutMs;
  }

  localDone(error: MeshError | null, result?: unknown, activation?: Activation): void {
    this.ticket = null;
    if (error) return error.code === 'NOT_OWNER' ? this.notOwner(error) : this.fail(error);
    let copy: unknown;
    try {
      // What a remote caller would receive; a result that could not travel fails here as it would there.
      copy = wireCopy(result, 'result');
    } catch (copyError) {
      return this.fail(unsendableResult(asMeshError(copyError)));
    }
    this.succeed({ peer: this.peer, activation: activation?.keptName() ?? '', result: copy });
  }

  /** Time left before the deadline, at least 1 ms; the first attempt follows construction at once. */
  remainingMs(): number {
    if (this.attempts <= 1) return Math.max(1, Math.ceil(this.timeoutMs));
    return Math.max(1, Math.ceil(this.deadline - this.calls.parts.counters.now()));
  }

  attempt(): void {
    this.attempts++;
    this.calls.route(this);
    if (!this.done && !this.armed) this.arm();
  }

  answer(frame: ReplyFrame | ErrorFrame): void {
    this.corr = 0;
    // Named by the peer that answered (answer() checked it is the one the call went to), as the owner names it.
    if (frame.t === 'reply') {
      return this.succeed({ peer: this.peer, activation: frame.serial === 0 ? '' : `${this.peer}#${frame.serial}`, result: frame.result });
    }
    const error = errorFromWire(frame.code, frame.message, frame.details);
    if (error.code === 'NOT_OWNER') return this.notOwner(error);
    this.fail(error);
  }

  fail(error: MeshError): void {
    if (this.done) return;
    this.finish();
    this.calls.parts.counters.callSettled(error, this.started);
    this.reject(error);
  }

  private retry(): void {
    if (this.done) return;
    if (this.calls.parts.counters.now() >= this.deadline) return this.timeout();
    this.attempt();
  }

  /**
   * The owner we tried disagrees with our view. If our view has moved the actor since, retry at once;
   * otherwise wait for our view to change (or a short backoff) and retry.
   */
  private notOwner(error: MeshError): void {
    if (this.done) return;
    this.lastNotOwner = error;
    this.calls.forget(this);
    const remaining = this.deadline - this.calls.parts.counters.now();
    if (remaining <= 0) return this.fail(error);
    if (this.calls.parts.ownerOf(this.target) !== this.peer) return this.retry();
    const backoff = Math.min(remaining, Math.min(200, 5 * 2 ** Math.min(this.attempts, 6)));
    void this.calls.parts.nextView(backoff).then(() => this.retry());
  }

  private succeed(result: CallResult): void {
    if (this.done) return;
    this.finish();
    this.calls.parts.counters.callSettled(null, this.started);
    this.resolve(result);
  }

  private arm(): void {
    this.armed = true;
    this.calls.track(this, true);
    if (this.signal) {
      this.onAbort = () => this.fail(new AbortedError());
      this.signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  timeout(): void {
    // Only ever refused: the call certainly did not run, which NOT_OWNER says and TIMEOUT would not.
    if (this.lastNotOwner && this.corr === 0 && this.ticket === null) return this.fail(this.lastNotOwner);
    this.fail(
      new TimeoutError(`call to ${this.target.actor}(${this.target.id}) timed out after ${this.timeoutMs} ms`, {
        peer: this.peer,
        actor: this.target.actor,
        id: this.target.id,
      }),
    );
  }

  private finish(): void {
    this.done = true;
    if (this.armed) this.calls.track(this, false);
    this.armed = false;
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    this.onAbort = null;
    this.ticket?.cancel();
    this.ticket = null;
    this.calls.forget(this);
  }
}
