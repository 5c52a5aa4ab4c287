import type { Activation } from '../actors/activation.js';
import type { MessageTarget } from '../actors/runtime.js';
import { BusyError, MeshError, type ProtocolError } from '../errors.js';
import { shardFor } from '../placement/shards.js';
import type { CallFrame, CastFrame } from '../wire/frames.js';
import { checkWireValue } from '../wire/values.js';
import { unsendableResult, type Host } from './host.js';
import type { PeerLink, PeerLinks } from './links.js';
import type { Report } from './report.js';

export interface InboundParts {
  readonly shardCount: number;
  readonly host: Host;
  readonly links: PeerLinks;
  readonly report: Report;
  /** A call in progress was answered: whoever waits for the inbound work to finish re-checks. */
  changed(): void;
}

/**
 * Serves the calls and casts other peers send us: runs them through the Host (the same checks a local call
 * gets), answers calls with a reply or a typed error frame, and credits the sender's window once each is
 * handled.
 */
export class Inbound {
  /** Calls accepted and not yet answered (a graceful stop waits for them). */
  inProgress = 0;

  constructor(private readonly parts: InboundParts) {}

  onCall(state: PeerLink, frame: CallFrame): void {
    if (this.pastWindow(state, 'call')) {
      state.link.credit(1);
      return this.sendError(
        state,
        frame.corr,
        new BusyError(`peer ${state.peer} has more than ${state.link.windowSize} calls and casts unhandled here`),
      );
    }
    // The caller stops waiting after timeoutMs: work still queued by then is answered unrun.
    const deadline = Date.now() + frame.timeoutMs;
    this.inProgress++;
    const answer = (error: MeshError | null, result?: unknown, activation?: Activation): void => {
      this.inProgress--;
      state.link.credit(1);
      if (this.parts.links.get(state.peer) === state) {
        if (error) this.sendError(state, frame.corr, error);
        else this.reply(state, frame.corr, result, activation?.serial ?? 0);
      }
      this.parts.changed();
    };
    this.parts.host.call(this.targetOf(frame), frame.payload, answer, deadline);
  }

  onCast(state: PeerLink, frame: CastFrame): void {
    if (this.pastWindow(state, 'cast')) return state.link.credit(1);
    this.parts.report.counters.castsReceived++;
    this.parts.host.cast(this.targetOf(frame), frame.payload, (error) => {
      state.link.credit(1);
      // Failures of the handler itself were reported by the runtime; refusals are reported here.
      if (error && error.code !== 'ACTOR_FAILED') this.parts.report.castFailed(frame, error);
    });
  }

  /** A frame from `peer` was dropped unread; a call whose correlation id was readable is answered at once. */
  onDropped(peer: string, error: ProtocolError): void {
    const { report, links } = this.parts;
    report.counters.dropped++;
    report.events.emit('frame-dropped', { peer, error });
    const corr = error.details?.['corr'];
    const state = links.get(peer);
    if (typeof corr === 'number' && state) this.sendError(state, corr, error);
  }

  /**
   * Our window is enforced here, whatever the sender does: an honest peer never has more than our window
   * of calls and casts unhandled with us, so the excess is refused (calls get BUSY) and counted, not queued.
   */
  private pastWindow(state: PeerLink, frame: 'call' | 'cast'): boolean {
    if (state.link.framesUnhandled <= state.link.windowSize) return false;
    this.parts.links.rejected(state.peer, frame, `past our window of ${state.link.windowSize}`);
    return true;
  }

  private targetOf(frame: CallFrame | CastFrame): MessageTarget {
    return {
      capability: frame.capability,
      actor: frame.actor,
      id: frame.id,
      shard: shardFor(frame.id, this.parts.shardCount),
      initArg: frame.initArg,
    };
  }

  private reply(state: PeerLink, corr: number, result: unknown, serial: number): void {
    try {
      checkWireValue(result, 'result');
      state.link.send({ t: 'reply', corr, serial, result });
    } catch (error) {
      const reason = error instanceof MeshError ? error : new MeshError('ACTOR_FAILED', String(error));
      this.sendError(state, corr, reason.code === 'BACKPRESSURE' ? reason : unsendableResult(reason));
    }
  }

  private sendError(state: PeerLink, corr: number, error: MeshError): void {
    this.parts.report.counters.countError(error.code);
    try {
      state.link.send({ t: 'error', corr, code: error.code, message: error.message, details: error.details ?? null });
    } catch {
      // Details that cannot be encoded must not cost the caller its answer.
      try {
        state.link.send({ t: 'error', corr, code: error.code, message: error.message, details: null });
      } catch {
        // The link is gone; the caller's own timeout or PEER_GONE answers it.
      }
    }
  }
}
