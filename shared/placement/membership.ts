import { Emitter } from '../emitter.js';

export type PeerKind = 'browser' | 'node' | 'memory';

export interface PeerInfo {
  readonly id: string;
  readonly kind: PeerKind;
  /** Capabilities, sorted and unique. */
  readonly capabilities: readonly string[];
  /** Actor type names this peer can host, sorted and unique. */
  readonly actorTypes: readonly string[];
}

export interface MembershipChange {
  readonly version: number;
  readonly joined: readonly PeerInfo[];
  readonly left: readonly PeerInfo[];
  readonly updated: readonly PeerInfo[];
}

export const normalizeNames = (names: Iterable<string>): string[] => [...new Set(names)].sort();

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((value, i) => value === b[i]);

/**
 * The set of peers this peer can reach, with what each can host. Versioned: every change bumps `version`,
 * and `peersFor` hands out one frozen, sorted array per (capability, version), which placement caches on.
 */
export class Membership {
  private readonly members = new Map<string, PeerInfo>();
  private readonly byCapability = new Map<string, readonly string[]>();
  private versionValue = 0;
  private readonly emitter = new Emitter<{ change: MembershipChange }>();

  get version(): number {
    return this.versionValue;
  }

  get size(): number {
    return this.members.size;
  }

  get(id: string): PeerInfo | undefined {
    return this.members.get(id);
  }

  has(id: string): boolean {
    return this.members.has(id);
  }

  peers(): PeerInfo[] {
    return [...this.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Adds or replaces a peer; returns false (and changes nothing) when the info is identical. */
  upsert(info: PeerInfo): boolean {
    const normalized: PeerInfo = {
      id: info.id,
      kind: info.kind,
      capabilities: Object.freeze(normalizeNames(info.capabilities)),
      actorTypes: Object.freeze(normalizeNames(info.actorTypes)),
    };
    const previous = this.members.get(info.id);
    if (
      previous &&
      previous.kind === normalized.kind &&
      sameList(previous.capabilities, normalized.capabilities) &&
      sameList(previous.actorTypes, normalized.actorTypes)
    ) {
      return false;
    }
    this.members.set(info.id, Object.freeze(normalized));
    this.changed(previous ? [] : [normalized], [], previous ? [normalized] : []);
    return true;
  }

  remove(id: string): boolean {
    const previous = this.members.get(id);
    if (!previous) return false;
    this.members.delete(id);
    this.changed([], [previous], []);
    return true;
  }

  /** Sorted ids of the peers holding `capability`; the same array instance until the next change. */
  peersFor(capability: string): readonly string[] {
    let ids = this.byCapability.get(capability);
    if (ids === undefined) {
      const found: string[] = [];
      for (const info of this.members.values()) if (info.capabilities.includes(capability)) found.push(info.id);
      ids = Object.freeze(found.sort());
      this.byCapability.set(capability, ids);
    }
    return ids;
  }

  allCapabilities(): string[] {
    const all = new Set<string>();
    for (const info of this.members.values()) for (const cap of info.capabilities) all.add(cap);
    return [...all].sort();
  }

  onChange(listener: (change: MembershipChange) => void): () => void {
    return this.emitter.on('change', listener);
  }

  private changed(joined: PeerInfo[], left: PeerInfo[], updated: PeerInfo[]): void {
    this.versionValue++;
    this.byCapability.clear();
    this.emitter.emit('change', { version: this.versionValue, joined, left, updated });
  }
}
