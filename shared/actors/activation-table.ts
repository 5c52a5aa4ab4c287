import { type Activation, keyParts } from './activation.js';

/**
 * The live activations, by capability, then type, then id. A message finds its activation with three lookups
 * on strings the caller already holds (usually the same string objects every time, their hashes cached)
 * instead of building and hashing a `capability\0actor\0id` key per message, which was a fifth of the CPU
 * of a hot local call. Few capabilities and types, so the outer maps stay small; the id maps hold one entry
 * per activation, as a single keyed map did.
 */
export class ActivationTable {
  private readonly byCapability = new Map<string, Map<string, Map<string, Activation>>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(capability: string, actor: string, id: string): Activation | undefined {
    return this.byCapability.get(capability)?.get(actor)?.get(id);
  }

  /** By activationKey(capability, actor, id). */
  getKey(key: string): Activation | undefined {
    const parts = keyParts(key);
    return parts === null ? undefined : this.get(...parts);
  }

  /** Adds `activation`, replacing any other of the same actor. */
  set(activation: Activation): void {
    let byType = this.byCapability.get(activation.capability);
    if (byType === undefined) {
      byType = new Map();
      this.byCapability.set(activation.capability, byType);
    }
    let byId = byType.get(activation.actor);
    if (byId === undefined) {
      byId = new Map();
      byType.set(activation.actor, byId);
    }
    const before = byId.size;
    byId.set(activation.id, activation);
    this.count += byId.size - before;
  }

  /** Removes `activation` if it is the one held for its actor; true when it was. */
  delete(activation: Activation): boolean {
    const byId = this.byCapability.get(activation.capability)?.get(activation.actor);
    if (byId === undefined || byId.get(activation.id) !== activation) return false;
    byId.delete(activation.id);
    this.count--;
    return true;
  }

  *values(): IterableIterator<Activation> {
    for (const byType of this.byCapability.values()) for (const byId of byType.values()) yield* byId.values();
  }
}
