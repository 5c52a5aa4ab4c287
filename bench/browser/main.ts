/**
 * The bench page: a tab that the bench drives through Playwright (window.rtcMeshBench). It bundles the
 * browser entry point (client/index.ts) and runs the same load loops as the Node bench peers.
 */
import SimplePeer from 'simple-peer/simplepeer.min.js';
import { Mesh, type Mesh as MeshInstance } from '../../client/index.js';
import { GameActor } from '../../demo/actors.js';
import { RawEndpoint, type RawPeerLike } from '../lib/raw-proto.js';
import {
  GAME,
  idsWhere,
  loadIds,
  sequential,
  waitForPeers,
  type CallSpec,
  type DriveLimit,
  type DriveResult,
  type LatencySummary,
} from '../lib/workload.js';

interface RawPeer extends RawPeerLike {
  signal(data: unknown): void;
  on(event: string, listener: (...args: never[]) => void): unknown;
  destroy(): void;
}

declare global {
  interface Window {
    rtcMeshBench: typeof api;
    /** Exposed by the bench (page.exposeFunction): hands a raw peer's signal to the Node side. */
    rtcMeshBenchSignal?: (data: unknown) => Promise<void>;
  }
}

let mesh: MeshInstance | null = null;
const idSets = new Map<string, string[]>();
let raw: { peer: RawPeer; endpoint: RawEndpoint; connected: Promise<void> } | null = null;

function need(): MeshInstance {
  if (!mesh) throw new Error('no mesh started');
  return mesh;
}

const spec = (capability: string): CallSpec => ({ ...GAME, capability, timeoutMs: 30_000 });

const api = {
  /**
   * `boundSchedule` is a bench shim, not the product: FrameLink's default `schedule` is the bare
   * `queueMicrotask`, which browsers refuse to run as a method of another object ("Illegal invocation"), so
   * a tab's links never flush. The shim passes `(task) => queueMicrotask(task)` through MeshOptions.link
   * (typed without `schedule`, spread into the link options at run time): the one-line fix proposed in
   * docs/benchmarks.md. The bench uses it only when the page as shipped cannot form a mesh.
   */
  async start(args: {
    signal: string;
    room: string;
    capabilities: string[];
    debug?: boolean;
    boundSchedule?: boolean;
  }): Promise<{ peerId: string; ms: number }> {
    const t0 = performance.now();
    mesh = await Mesh.start({
      signal: args.signal,
      room: args.room,
      capabilities: args.capabilities,
      actors: { GameActor },
      ...(args.boundSchedule ? { link: { schedule: (task: () => void) => queueMicrotask(task) } as never } : {}),
      ...(args.debug
        ? { onSignalingState: (state: string, detail?: Error) => console.log('signaling', state, detail?.message ?? '') }
        : {}),
    });
    if (args.debug) {
      mesh.on('peer-joined', (p) => console.log('peer-joined', p.id));
      mesh.on('peer-left', (p) => console.log('peer-left', p.id));
      mesh.on('peer-refused', (p) => console.log('peer-refused', p.peer, p.error.message));
      mesh.on('frame-dropped', (p) => console.log('frame-dropped', p.peer, p.error.message));
    }
    return { peerId: mesh.peerId, ms: performance.now() - t0 };
  },
  wait(args: { peers: number; timeoutMs: number }): Promise<number> {
    return waitForPeers(need(), args.peers, args.timeoutMs);
  },
  ids(args: { name: string; capability: string; prefix: string; count: number; owners: string[] | 'remote' }): {
    count: number;
    first: string | null;
  } {
    const m = need();
    const accept = args.owners === 'remote' ? (o: string) => o !== m.peerId : (o: string) => (args.owners as string[]).includes(o);
    const ids = idsWhere(m, args.capability, args.prefix, args.count, accept);
    idSets.set(args.name, ids);
    return { count: ids.length, first: ids[0] ?? null };
  },
  load(args: { capability: string; ids: string; inflight: number; total?: number; durationMs?: number }): Promise<DriveResult> {
    const ids = idSets.get(args.ids);
    if (!ids) throw new Error(`no id set ${args.ids}`);
    const limit: DriveLimit = {
      ...(args.total !== undefined ? { total: args.total } : {}),
      ...(args.durationMs !== undefined ? { durationMs: args.durationMs } : {}),
    };
    return loadIds(need(), spec(args.capability), ids, args.inflight, limit);
  },
  seq(args: { capability: string; id: string; count: number }): Promise<LatencySummary> {
    return sequential(need(), spec(args.capability), args.id, args.count);
  },
  /** Frames per data-channel message on each link: how much batching the load achieved. */
  batching(): Record<string, { framesPerMessageOut: number; framesPerMessageIn: number }> {
    const out: Record<string, { framesPerMessageOut: number; framesPerMessageIn: number }> = {};
    for (const [peer, t] of Object.entries(need().stats().peers)) {
      out[peer] = {
        framesPerMessageOut: t.framesOut / Math.max(1, t.messagesOut),
        framesPerMessageIn: t.framesIn / Math.max(1, t.messagesIn),
      };
    }
    return out;
  },
  async stop(): Promise<void> {
    const m = mesh;
    mesh = null;
    idSets.clear();
    await m?.stop();
  },

  // ------------------------------------------------------------------------------ raw baseline
  rawOpen(args: { initiator: boolean }): void {
    api.rawClose();
    const peer = new SimplePeer({
      initiator: args.initiator,
      trickle: true,
      config: { iceServers: [] },
      channelConfig: { ordered: true },
    }) as unknown as RawPeer;
    const connected = new Promise<void>((resolve, reject) => {
      peer.on('connect', () => resolve());
      peer.on('error', (error: Error) => reject(error));
    });
    connected.catch(() => undefined);
    peer.on('signal', (data: unknown) => void window.rtcMeshBenchSignal?.(data));
    raw = { peer, endpoint: new RawEndpoint(peer), connected };
  },
  rawSignal(data: unknown): void {
    raw?.peer.signal(data);
  },
  async rawConnected(): Promise<void> {
    if (!raw) throw new Error('no raw peer');
    await raw.connected;
  },
  rawReqResp(args: { inflight: number; durationMs: number }): Promise<DriveResult> {
    if (!raw) throw new Error('no raw peer');
    return raw.endpoint.reqResp(args.inflight, args.durationMs);
  },
  rawSeq(args: { count: number }): Promise<LatencySummary> {
    if (!raw) throw new Error('no raw peer');
    return raw.endpoint.sequential(args.count);
  },
  rawClose(): void {
    try {
      raw?.peer.destroy();
    } catch {
      // half-open: gone either way
    }
    raw = null;
  },
};

window.rtcMeshBench = api;
document.getElementById('status')!.textContent = 'ready';
