import type { ActivationInfo, RuntimeEvents } from '../actors/runtime.js';
import { Emitter } from '../emitter.js';
import { ActorFailedError, describeThrown, type MeshError } from '../errors.js';
import { MeshCounters } from './stats.js';
import type { MeshEvents } from './types.js';

/** Where the mesh tells what happened: every report is counted for stats() and emitted as an event. */
export class Report {
  readonly counters = new MeshCounters();
  readonly events = new Emitter<MeshEvents>();

  constructor(private readonly peerId: string) {}

  /** The runtime's hooks; `deactivated` also runs `after` (a graceful stop waits on deactivations). */
  runtimeEvents(after: () => void): RuntimeEvents {
    const { counters, events, peerId } = this;
    return {
      activated: (info) => {
        counters.created++;
        if (events.has('activated')) events.emit('activated', { ...activationInfo(info), peer: peerId });
      },
      deactivated: (info, reason) => {
        counters.deactivated(reason);
        if (events.has('deactivated')) events.emit('deactivated', { ...activationInfo(info), peer: peerId, reason });
        after();
      },
      castFailed: (target, error) => this.castFailed(target, error),
    };
  }

  /** A type's snapshot() threw or returned what cannot be sent: its actor keeps running without fresh copies. */
  snapshotFailed(target: { readonly actor: string; readonly id: string; readonly capability: string }, thrown: unknown): void {
    const error = new ActorFailedError(`snapshot of ${target.actor}(${target.id}) failed: ${describeThrown(thrown)}`, {
      actor: target.actor,
      id: target.id,
    });
    this.counters.countError(error.code);
    this.events.emit('snapshot-failed', { actor: target.actor, id: target.id, capability: target.capability, error });
  }

  /** Acknowledged state of a durable actor could not be saved (write-behind, or a final save). */
  storeFailed(target: { readonly actor: string; readonly id: string; readonly capability: string }, error: MeshError): void {
    this.counters.countError(error.code);
    this.events.emit('store-failed', { actor: target.actor, id: target.id, capability: target.capability, error });
  }

  castFailed(target: { readonly actor: string; readonly id: string; readonly capability: string }, error: MeshError): void {
    this.counters.castsFailed++;
    this.counters.countError(error.code);
    this.events.emit('cast-failed', { actor: target.actor, id: target.id, capability: target.capability, error });
  }
}

/** The public fields of an activation (not the runtime's own object). */
export function activationInfo(info: ActivationInfo): ActivationInfo {
  return { key: info.key, actor: info.actor, capability: info.capability, id: info.id, shard: info.shard, activation: info.activation };
}
