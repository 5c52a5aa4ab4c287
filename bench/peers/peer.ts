/**
 * A bench peer process, driven by the bench over IPC. Hosts one raw simple-peer (baseline) and/or one
 * Mesh at a time, and runs the load the parent asks for. Started as `node --import tsx bench/peers/peer.ts`.
 */
import { Mesh, nodePlatform, type Mesh as MeshInstance } from '../../client/node.js';
import { GameActor } from '../../demo/actors.js';
import { rendezvous } from '../../shared/placement/placement.js';
import { emit, serve } from '../lib/proc.js';
import { RawEndpoint, type RawPeerLike } from '../lib/raw-proto.js';
import { GAME, idsWhere, loadFresh, loadIds, sequential, waitForPeers, type CallSpec, type DriveLimit } from '../lib/workload.js';

interface SimplePeerInstance extends RawPeerLike {
  signal(data: unknown): void;
  on(event: string, listener: (...args: never[]) => void): unknown;
  emit(event: 'data', data: Uint8Array): boolean;
  destroy(): void;
  /** simple-peer's handler of each channel message (client/peer-connection.ts replaces it the same way). */
  _onChannelMessage(event: { readonly data: unknown }): void;
}

interface RawConn {
  readonly peer: SimplePeerInstance;
  readonly endpoint: RawEndpoint;
  readonly connected: Promise<void>;
}
/** Raw simple-peers by name ('main' unless a scenario needs more, as the replicas relay does). */
const raws = new Map<string, RawConn>();
let mesh: MeshInstance | null = null;
const idSets = new Map<string, string[]>();

/** Frames and data-channel messages per link (stats().peers): frames per send shows whether batching works. */
function linkCounters(m: MeshInstance): Record<string, { framesOut: number; messagesOut: number; framesIn: number; messagesIn: number }> {
  const out: Record<string, { framesOut: number; messagesOut: number; framesIn: number; messagesIn: number }> = {};
  for (const [peer, t] of Object.entries(m.stats().peers)) {
    out[peer] = { framesOut: t.framesOut, messagesOut: t.messagesOut, framesIn: t.framesIn, messagesIn: t.messagesIn };
  }
  return out;
}

function need(): MeshInstance {
  if (!mesh) throw new Error('no mesh started');
  return mesh;
}

/**
 * The GameActor with its copies set by the type, whatever the mesh's default: calls to both in turns, on the
 * same meshes and actors' owners, compare replicated with unreplicated calls under the same load.
 */
class UncopiedGameActor extends GameActor {
  static readonly replicas = 0;
}
class SyncCopiedGameActor extends GameActor {
  static readonly replicas = 1;
  static readonly replication = 'sync';
}
const ACTORS = { GameActor, UncopiedGameActor, SyncCopiedGameActor };
type ActorName = keyof typeof ACTORS;

function spec(args: { capability?: string; actor?: ActorName }): CallSpec {
  return { ...GAME, capability: args.capability ?? GAME.capability, actor: args.actor ?? GAME.actor, timeoutMs: 30_000 };
}

function limit(args: { total?: number; durationMs?: number }): DriveLimit {
  return {
    ...(args.total !== undefined ? { total: args.total } : {}),
    ...(args.durationMs !== undefined ? { durationMs: args.durationMs } : {}),
  };
}

function destroyRaw(name: string): void {
  const raw = raws.get(name);
  if (!raw) return;
  raws.delete(name);
  const internals = raw.peer as unknown as { _iceCompleteTimer?: ReturnType<typeof setTimeout> | null };
  try {
    raw.peer.destroy();
  } catch {
    // half-open: gone either way
  }
  if (internals._iceCompleteTimer) clearTimeout(internals._iceCompleteTimer);
}

function rawNamed(name = 'main'): RawConn {
  const raw = raws.get(name);
  if (!raw) throw new Error(`no raw peer ${name}`);
  return raw;
}

serve({
  // ------------------------------------------------------------------ raw simple-peer baseline
  'raw-open': (args: { initiator: boolean; name?: string }) => {
    const name = args.name ?? 'main';
    destroyRaw(name);
    const { SimplePeer, binding, peerConfig } = nodePlatform({ bindAddress: '127.0.0.1' });
    const peer = new SimplePeer({
      initiator: args.initiator,
      trickle: true,
      config: { iceServers: [], ...peerConfig },
      channelConfig: { ordered: true },
      wrtc: binding as never,
    }) as unknown as SimplePeerInstance;
    const connected = new Promise<void>((resolve, reject) => {
      peer.on('connect', () => resolve());
      peer.on('error', (error: Error) => reject(error));
    });
    connected.catch(() => undefined);
    peer.on('signal', (data: unknown) => emit('raw-signal', { name, data }));
    raws.set(name, { peer, endpoint: new RawEndpoint(peer), connected });
    return null;
  },
  'raw-signal': (args: { name?: string; data: unknown }) => {
    raws.get(args.name ?? 'main')?.peer.signal(args.data);
    return null;
  },
  /**
   * This side reads its channel as the mesh does, each message straight to the endpoint with no
   * readable-stream (`on: false` goes back to simple-peer's own handler, through its stream).
   */
  'raw-direct': (args: { name?: string; on?: boolean }) => {
    const { peer } = rawNamed(args.name);
    if (args.on === false) {
      delete (peer as Partial<SimplePeerInstance>)._onChannelMessage;
      return null;
    }
    peer._onChannelMessage = (event) => {
      const data = event.data;
      peer.emit('data', data instanceof ArrayBuffer ? new Uint8Array(data) : (data as Uint8Array));
    };
    return null;
  },
  'raw-connected': async (args: { name?: string }) => {
    await rawNamed(args.name).connected;
    return null;
  },
  /** Requests arriving on `from` are answered only once `to` acknowledged a copy (a raw synchronous backup). */
  'raw-relay': (args: { from: string; to: string | null }) => {
    rawNamed(args.from).endpoint.relayTo = args.to === null ? null : rawNamed(args.to).endpoint;
    return null;
  },
  'raw-reqresp': (args: { name?: string; inflight: number; durationMs: number }) =>
    rawNamed(args.name).endpoint.reqResp(args.inflight, args.durationMs),
  'raw-seq': (args: { name?: string; count: number }) => rawNamed(args.name).endpoint.sequential(args.count),
  'raw-oneway': (args: { name?: string; total: number }) => rawNamed(args.name).endpoint.oneway(args.total),
  'raw-close': (args: { name?: string } = {}) => {
    destroyRaw(args.name ?? 'main');
    return null;
  },

  // ------------------------------------------------------------------ mesh
  'mesh-start': async (args: {
    signal: string;
    room: string;
    capabilities: string[];
    debug?: boolean;
    replicas?: number;
    replication?: 'sync' | 'async';
  }) => {
    if (mesh) await mesh.stop();
    idSets.clear();
    const t0 = performance.now();
    mesh = await Mesh.start({
      signal: args.signal,
      room: args.room,
      bindAddress: '127.0.0.1',
      capabilities: args.capabilities,
      actors: ACTORS,
      ...(args.replicas !== undefined ? { replicas: args.replicas } : {}),
      ...(args.replication !== undefined ? { replication: args.replication } : {}),
      // Tuning experiments: BENCH_MAX_BATCH_FRAMES sets the links' maxBatchFrames (default 128).
      ...(process.env['BENCH_MAX_BATCH_FRAMES'] ? { link: { maxBatchFrames: Number(process.env['BENCH_MAX_BATCH_FRAMES']) } } : {}),
    });
    if (args.debug) {
      const log = (...parts: unknown[]): void => console.error(`[bench peer ${mesh?.peerId ?? '?'}]`, ...parts);
      mesh.on('peer-joined', (p) => log('peer-joined', p.id));
      mesh.on('peer-left', (p) => log('peer-left', p.id));
      mesh.on('peer-refused', (p) => log('peer-refused', p.peer, p.error.message));
      mesh.on('frame-dropped', (p) => log('frame-dropped', p.peer, p.error.message));
    }
    return { peerId: mesh.peerId, ms: performance.now() - t0 };
  },
  'mesh-wait': async (args: { peers: number; timeoutMs: number }) => waitForPeers(need(), args.peers, args.timeoutMs),
  /**
   * Picks ids for `capability` owned by `owners` (or by anyone but this peer with owners 'remote'), and whose
   * first backup (the next peer in the shard's ranking) is `backup` when given.
   */
  'mesh-ids': (args: {
    name: string;
    capability: string;
    prefix: string;
    count: number;
    owners: string[] | 'remote' | 'any';
    backup?: string;
  }) => {
    const m = need();
    const owned =
      args.owners === 'any'
        ? () => true
        : args.owners === 'remote'
          ? (owner: string) => owner !== m.peerId
          : (owner: string) => (args.owners as string[]).includes(owner);
    const { backup } = args;
    const accept =
      backup === undefined
        ? (owner: string) => owned(owner)
        : (owner: string, id: string) =>
            owned(owner) &&
            rendezvous.owner(
              m.shardFor(id),
              args.capability,
              m.peersFor(args.capability).filter((p) => p !== owner),
            ) === backup;
    const ids = idsWhere(m, args.capability, args.prefix, args.count, accept);
    idSets.set(args.name, ids);
    const byOwner: Record<string, number> = {};
    for (const id of ids) {
      const owner = m.ownerPeer(m.shardFor(id), args.capability) ?? '?';
      byOwner[owner] = (byOwner[owner] ?? 0) + 1;
    }
    return { count: ids.length, first: ids[0] ?? null, byOwner };
  },
  'mesh-load': (args: { capability?: string; actor?: ActorName; ids: string; inflight: number; total?: number; durationMs?: number }) => {
    const ids = idSets.get(args.ids);
    if (!ids) throw new Error(`no id set ${args.ids}`);
    return loadIds(need(), spec(args), ids, args.inflight, limit(args));
  },
  'mesh-fresh': (args: { capability?: string; prefix: string; inflight: number; total?: number; durationMs?: number }) =>
    loadFresh(need(), spec(args), args.prefix, args.inflight, limit(args)),
  'mesh-seq': (args: { capability?: string; actor?: ActorName; id: string; count: number }) =>
    sequential(need(), spec(args), args.id, args.count),
  'mesh-stats': () => {
    const m = need();
    const s = m.stats();
    return { calls: s.calls, activations: s.activations, errors: s.errors, replicas: s.replicas, peers: s.peers, links: linkCounters(m) };
  },
  'mesh-stop': async () => {
    const m = mesh;
    mesh = null;
    idSets.clear();
    await m?.stop();
    return null;
  },
});
