/**
 * `window.rtcMesh`: the page's state for the browser tests, and for poking at the mesh from the console.
 * The tests read the UI first; this says what the UI cannot (every shard's owner, the canvas's pixels).
 */
import type { ActivationInfo, Mesh } from '../../client/index.js';
import { UNOWNED_HEX } from './colors.js';
import type { MapPanel } from './map-panel.js';
import type { DemoModel } from './model.js';
import { CAPABILITIES } from './settings.js';

export interface PlayerView {
  readonly id: string;
  readonly shard: number;
  /** The owner of its shard now. */
  readonly owner: string | null;
  /** The peer holding its copy in this tab's view (would own it if the owner left), null: none. */
  readonly backup: string | null;
  readonly calls: number;
  readonly score: number | null;
  /** The peer and activation that answered its last call. */
  readonly peer: string | null;
  readonly activation: string | null;
  readonly error: string | null;
}

export interface HostedView extends ActivationInfo {
  readonly state: unknown;
  /** The peers its copies go to, as the mesh said at the last poll. */
  readonly backups: readonly string[];
}

/** What the Live panel shows about this tab's calls. */
export interface LiveStatsView {
  readonly ok: number;
  readonly failed: number;
  readonly local: number;
  readonly remote: number;
  /** Calls behind the latency quantiles: ok + failed when both describe the same calls. */
  readonly latencyCount: number;
}

export interface RtcMeshDebug {
  readonly mesh: Mesh;
  readonly room: string;
  readonly peerId: string;
  readonly capabilities: readonly string[];
  /** The IndexedDB database durable actors are saved in (`?store=indexeddb`); null: no store. */
  readonly storeDatabase: string | null;
  shardFor(id: string): number;
  ownerPeer(shard: number, capability: string): string | undefined;
  /** The peer that would own `shard` if its owner left: where the owner keeps its actors' copies. */
  backupPeer(shard: number, capability: string): string | undefined;
  /** id -> [shard, owner or null] for each id, in one round trip. */
  placements(ids: readonly string[], capability: string): [number, string | null][];
  /** A peer's colour in this tab, '#rrggbb' (null: the colour of unowned shards). */
  colorOf(peerId: string | null): string;
  /** The capability the shard map shows. */
  mapCapability(): string;
  setMapCapability(capability: string): void;
  /** The owner of each shard as last painted on the map (null: nobody). */
  mapOwners(): (string | null)[];
  /** The colour of each shard read back from the canvas pixels, '#rrggbb'. */
  sampleMap(): string[];
  players(): PlayerView[];
  hosted(): HostedView[];
  liveStats(): LiveStatsView;
  addPlayers(count: number): string[];
  callPlayer(id: string): Promise<void>;
}

declare global {
  interface Window {
    rtcMesh?: RtcMeshDebug;
    /** Set when joining the mesh failed. */
    rtcMeshError?: string;
  }
}

export function installDebugApi(model: DemoModel, map: MapPanel): void {
  const { mesh } = model;
  window.rtcMesh = {
    mesh,
    room: model.room,
    peerId: model.self,
    capabilities: CAPABILITIES,
    storeDatabase: model.store?.database ?? null,
    shardFor: (id) => mesh.shardFor(id),
    ownerPeer: (shard, capability) => mesh.ownerPeer(shard, capability),
    backupPeer: (shard, capability) => model.backupOf(shard, capability),
    placements: (ids, capability) =>
      ids.map((id) => {
        const shard = mesh.shardFor(id);
        return [shard, mesh.ownerPeer(shard, capability) ?? null];
      }),
    colorOf: (peerId) => (peerId === null ? UNOWNED_HEX : model.colorOf(peerId).hex),
    mapCapability: () => model.mapCapability,
    setMapCapability: (capability) => model.setMapCapability(capability),
    mapOwners: () => map.owners(),
    sampleMap: () => map.sample(),
    players: () =>
      [...model.players.values()].map((p) => ({
        id: p.id,
        shard: p.shard,
        owner: model.ownerOfPlayer(p) ?? null,
        backup: model.backupOfPlayer(p) ?? null,
        calls: p.calls,
        score: p.score,
        peer: p.peer,
        activation: p.activation,
        error: p.error,
      })),
    hosted: () => [...model.hosted.values()].map((h) => ({ ...h.info, state: h.state, backups: h.backups })),
    liveStats: () => {
      const { ok, failed, local, remote, latencyCount } = model.calls;
      return { ok, failed, local, remote, latencyCount };
    },
    addPlayers: (count) => model.addPlayers(count).map((p) => p.id),
    callPlayer: (id) => model.callPlayer(id),
  };
}
