/**
 * The page's state, one for every panel: what this tab sees of the mesh (the owner of every shard per
 * capability, and its backup), the players it added with the last reply of each, the activations it hosts
 * with their state and where their copies go, the copies it holds for others, this tab's own calls, and the
 * peers' colours. Panels render from it; it marks which parts changed, and they are redrawn once per frame
 * however many changes came in between.
 */
import { type ActivationInfo, type IndexedDBStore, type Mesh, rendezvous, type TopologyEvent } from '../../client/index.js';
import { CallStats } from './call-stats.js';
import { PeerPalette, type PeerColor } from './colors.js';
import { CAPABILITIES } from './settings.js';

export type Part = 'peers' | 'map' | 'players' | 'hosted';

export interface Player {
  readonly id: string;
  readonly shard: number;
  /** Calls answered or failed so far. */
  calls: number;
  pending: number;
  score: number | null;
  /** The peer and activation that answered the last call. */
  peer: string | null;
  activation: string | null;
  error: string | null;
}

export interface Hosted {
  readonly info: ActivationInfo;
  /** The actor's state as its last poll returned it (undefined before the first). */
  state: unknown;
  /** The peers its copies go to, as the mesh last said (empty: no copy anywhere). */
  backups: readonly string[];
}

export type Owners = readonly (string | undefined)[];

export interface OwnersChange {
  readonly topology: TopologyEvent;
  readonly before: ReadonlyMap<string, Owners>;
  readonly after: ReadonlyMap<string, Owners>;
}

/** How many entries each peer has in `owners` (nobody's are not counted). */
export function countPerPeer(owners: Iterable<string | null | undefined>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const owner of owners) if (owner !== undefined && owner !== null) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  return counts;
}

/** How a hosted actor is asked for its state, per demo actor type. */
const STATE_QUERIES: Readonly<Record<string, unknown>> = {
  GameActor: { action: 'get_stats' },
  ChatRoomActor: { action: 'history' },
  PaymentActor: { action: 'balance' },
};

export class DemoModel {
  readonly self: string;
  /** Only the calls a person makes: the state polls below are not among them. */
  readonly calls = new CallStats();
  private readonly palette = new PeerPalette();
  readonly players = new Map<string, Player>();
  readonly hosted = new Map<string, Hosted>();
  mapCapability = 'game';
  private owners = new Map<string, Owners>();
  /** Backups per capability, filled shard by shard as asked for, dropped with the owners on a view change. */
  private backups = new Map<string, (string | null | undefined)[]>();
  /** How many copies of other owners' actors this tab holds (mesh.replicas()), as last counted. */
  heldCopies = 0;
  private nextPlayer = 1;
  private readonly renderers = new Map<Part, (() => void)[]>();
  private queued = new Set<Part>();
  private readonly playerListeners: ((player: Player, failure?: string) => void)[] = [];
  private readonly ownerListeners: ((change: OwnersChange) => void)[] = [];
  private polling = false;
  private pollAgain = false;

  constructor(
    readonly mesh: Mesh,
    readonly room: string,
    /** Where durable actors keep their state (`?store=indexeddb`); undefined: in the peers' memory only. */
    readonly store?: IndexedDBStore,
  ) {
    this.self = mesh.peerId;
    this.palette.colorOf(this.self); // first: a tab's own colour is the one its id prefers
    this.palette.see(mesh.peers().map((p) => p.id));
    this.computeOwners();
    mesh.on('topology', (t) => this.onTopology(t));
    mesh.on('activated', () => this.syncHosted());
    mesh.on('deactivated', () => this.syncHosted());
  }

  /** A peer's colour in this tab: the same in the list, the map, the players and the log. */
  colorOf(peerId: string): PeerColor {
    return this.palette.colorOf(peerId);
  }

  // ---------------------------------------------------------------- rendering

  /** Registers how a part is drawn; it runs on the next frame after the part is marked changed. */
  render(part: Part, draw: () => void): void {
    this.renderers.set(part, [...(this.renderers.get(part) ?? []), draw]);
  }

  changed(...parts: Part[]): void {
    const first = this.queued.size === 0;
    for (const part of parts) this.queued.add(part);
    if (!first) return;
    // rAF batches renders with painting; the timer covers hidden tabs, where rAF does not run.
    const frame = requestAnimationFrame(() => this.flush(timer));
    const timer = setTimeout(() => {
      cancelAnimationFrame(frame);
      this.flush(timer);
    }, 250);
  }

  private flush(timer: ReturnType<typeof setTimeout>): void {
    clearTimeout(timer);
    const parts = this.queued;
    this.queued = new Set();
    for (const part of parts) for (const draw of this.renderers.get(part) ?? []) draw();
  }

  /** Called when a player is added, a call to it starts, and a call ends (with why, if it failed). */
  onPlayer(listener: (player: Player, failure?: string) => void): void {
    this.playerListeners.push(listener);
  }

  onOwners(listener: (change: OwnersChange) => void): void {
    this.ownerListeners.push(listener);
  }

  // ---------------------------------------------------------------- placement

  /** The demo's capabilities first, then any other a peer offers. */
  capabilities(): string[] {
    return [...new Set([...CAPABILITIES, ...this.mesh.allCapabilities()])];
  }

  /** The owner of every shard for `capability` in this tab's current view. */
  ownersOf(capability: string): Owners {
    let owners = this.owners.get(capability);
    if (!owners) {
      owners = Array.from({ length: this.mesh.shardCount }, (_, shard) => this.mesh.ownerPeer(shard, capability));
      this.owners.set(capability, owners);
    }
    return owners;
  }

  /**
   * The backup of `shard` for `capability` in this tab's view: the peer that would own it if its owner left,
   * which is where the owner keeps the actor's copy (the mesh's default of one copy, rendezvous placement).
   * Worked out here rather than asked of the owner, so it shows for every player, wherever it runs.
   */
  backupOf(shard: number, capability: string): string | undefined {
    let table = this.backups.get(capability);
    if (!table) {
      table = new Array<string | null | undefined>(this.mesh.shardCount);
      this.backups.set(capability, table);
    }
    const known = table[shard];
    if (known !== undefined) return known ?? undefined;
    const owner = this.ownersOf(capability)[shard];
    const rest = this.mesh.peersFor(capability).filter((p) => p !== owner);
    const backup = owner === undefined ? undefined : rendezvous.owner(shard, capability, rest);
    table[shard] = backup ?? null;
    return backup;
  }

  private computeOwners(): Map<string, Owners> {
    this.owners = new Map();
    this.backups = new Map();
    for (const cap of this.capabilities()) this.ownersOf(cap);
    return this.owners;
  }

  private onTopology(topology: TopologyEvent): void {
    this.palette.see(topology.peers.map((p) => p.id));
    const before = this.owners;
    const after = this.computeOwners();
    for (const listener of this.ownerListeners) listener({ topology, before, after });
    this.refreshCopies();
    this.changed('peers', 'map', 'players', 'hosted');
  }

  setMapCapability(capability: string): void {
    this.mapCapability = capability;
    this.changed('map', 'peers');
  }

  // ---------------------------------------------------------------- players

  addPlayers(count: number): Player[] {
    const added: Player[] = [];
    for (let i = 0; i < count; i++) {
      const id = `player_${this.nextPlayer++}`;
      const player: Player = {
        id,
        shard: this.mesh.shardFor(id),
        calls: 0,
        pending: 0,
        score: null,
        peer: null,
        activation: null,
        error: null,
      };
      this.players.set(id, player);
      added.push(player);
      this.tell(player);
    }
    this.changed('players', 'map', 'peers');
    return added;
  }

  /** The owner of a player's shard now: where its next call goes. */
  ownerOfPlayer(player: Player): string | undefined {
    return this.ownersOf('game')[player.shard];
  }

  /** The peer holding a player's copy now: it carries on with the score if the owner vanishes. */
  backupOfPlayer(player: Player): string | undefined {
    return this.backupOf(player.shard, 'game');
  }

  /** A person's call: increment_score on the player's owner, counted and timed in `calls`. */
  async callPlayer(id: string): Promise<void> {
    const player = this.players.get(id);
    if (!player) throw new Error(`no player ${id}`);
    player.pending++;
    this.tell(player);
    const started = performance.now();
    let failure: string | undefined;
    try {
      const reply = await this.mesh.call<number>({ actor: 'GameActor', id, capability: 'game', payload: { action: 'increment_score' } });
      this.calls.record(reply.peer === this.self ? 'local' : 'remote', performance.now() - started);
      player.score = reply.result;
      player.peer = reply.peer;
      player.activation = reply.activation;
      player.error = null;
      if (reply.peer === this.self) this.pollHosted();
    } catch (error) {
      this.calls.record('failed', performance.now() - started);
      player.error = failure = error instanceof Error ? error.message : String(error);
    } finally {
      player.pending--;
      player.calls++;
      this.tell(player, failure);
    }
  }

  private tell(player: Player, failure?: string): void {
    for (const listener of this.playerListeners) listener(player, failure);
  }

  // ---------------------------------------------------------------- hosted here

  /** Adds and removes entries to match the runtime's activations; their state comes from polls. */
  private syncHosted(): void {
    const live = new Map(this.mesh.activations().map((a) => [a.key, a]));
    for (const [key, hosted] of this.hosted) if (live.get(key)?.activation !== hosted.info.activation) this.hosted.delete(key);
    for (const [key, a] of live) {
      if (this.hosted.has(key)) continue;
      const { backups, ...info } = a;
      this.hosted.set(key, { info, state: undefined, backups });
    }
    this.refreshCopies();
    this.changed('hosted');
    this.pollHosted();
  }

  /**
   * Where the hosted actors' copies go and how many copies this tab holds for others. Both change without
   * an event (with the view, and as other owners' copies arrive), so every poll looks again.
   */
  private refreshCopies(): void {
    if (this.mesh.stopped) return;
    let changed = false;
    for (const a of this.mesh.activations()) {
      const hosted = this.hosted.get(a.key);
      if (hosted === undefined || hosted.info.activation !== a.activation || sameList(hosted.backups, a.backups)) continue;
      hosted.backups = a.backups;
      changed = true;
    }
    const held = this.mesh.replicas().length;
    if (held !== this.heldCopies) {
      this.heldCopies = held;
      changed = true;
    }
    if (changed) this.changed('hosted');
  }

  /** Polls now, or once more after the poll in progress. */
  pollHosted(): void {
    this.refreshCopies();
    if (this.polling) this.pollAgain = true;
    else void this.poll();
  }

  private async poll(): Promise<void> {
    if (this.polling || this.mesh.stopped) return;
    this.polling = true;
    try {
      do {
        this.pollAgain = false;
        const changed = await Promise.all([...this.hosted.values()].map((h) => this.pollOne(h)));
        if (changed.some(Boolean)) this.changed('hosted');
      } while (this.pollAgain && !this.mesh.stopped);
    } finally {
      this.polling = false;
    }
  }

  /**
   * Asks a local activation for its state through the mesh, only while this tab still owns its shard: such
   * a call never leaves the tab, so polling cannot activate anything anywhere. True if the state changed.
   */
  private async pollOne(hosted: Hosted): Promise<boolean> {
    const { info } = hosted;
    const payload = STATE_QUERIES[info.actor];
    if (payload === undefined || this.mesh.stopped || this.mesh.ownerPeer(info.shard, info.capability) !== this.self) return false;
    try {
      const reply = await this.mesh.call({ actor: info.actor, id: info.id, capability: info.capability, payload, timeoutMs: 2000 });
      if (reply.peer !== this.self || reply.activation !== info.activation || this.hosted.get(info.key) !== hosted) return false;
      const before = JSON.stringify(hosted.state);
      hosted.state = reply.result;
      return JSON.stringify(reply.result) !== before;
    } catch {
      return false; // moved or stopped meanwhile: syncHosted drops the entry
    }
  }
}

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);
