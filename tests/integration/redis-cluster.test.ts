/**
 * Several signaling server instances sharing a real redis-server (spawned on a free port for this file),
 * with real Node peers (node-datachannel on 127.0.0.1) and raw socket.io clients spread over them.
 *
 * Ordering arguments used below instead of sleeps: Redis delivers pub/sub messages to a subscriber in the
 * order it processed the PUBLISHes, and an instance's close() resolves only after its Redis clients QUIT,
 * i.e. after everything it published was processed. So a broadcast made by another instance after that
 * close() resolved reaches every subscriber after anything the closed instance published.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { io, type Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Mesh, type TopologyEvent } from '../../client/node.js';
import type { SignalingState } from '../../client/signaling-client.js';
import { GameActor } from '../../demo/actors.js';
import {
  createRedisAdapter,
  redactUrl,
  startSignaling,
  type StartedSignalingServer,
  type StartSignalingOptions,
} from '../../server/redis.js';
import { parseServerCli, UsageError } from '../../server/server-cli.js';
import { createSignalingServer } from '../../server/signaling-server.js';
import { turnIceServers } from '../../server/turn.js';
import {
  SIGNALING_PROTOCOL,
  type ClientToServerEvents,
  type IceServerConfig,
  type JoinResponse,
  type ServerToClientEvents,
} from '../../shared/wire/signaling.js';
import { until, withTimeout } from '../fixtures/wait.js';
import { freePort, startRedis, type TestRedis } from './redis-helpers.js';

const WAIT_MS = 5000;
/** WebRTC set-up on a loaded machine: generous, though a mesh normally forms in about a second. */
const MESH_MS = 15_000;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let redis: TestRedis;
const servers: StartedSignalingServer[] = [];
const meshes: Mesh[] = [];
const clients: Client[] = [];
const children: ChildProcess[] = [];
let roomCounter = 0;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const client of clients.splice(0)) client.socket.disconnect();
  await Promise.all(meshes.splice(0).map((mesh) => mesh.stop()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** Every test gets its own rooms: all instances of all tests share the one Redis. */
const freshRoom = (name: string): string => `${name}-${++roomCounter}`;

async function startInstance(options: StartSignalingOptions = {}): Promise<StartedSignalingServer> {
  const server = await startSignaling({ port: 0, host: '127.0.0.1', redisUrl: redis.url, ...options });
  servers.push(server);
  return server;
}

// ------------------------------------------------------------------------------------------- raw clients

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
type ServerEvent = { readonly event: string; readonly payload: unknown };

/** A socket.io client recording every server event in arrival order, from the start. */
class Client {
  readonly log: ServerEvent[] = [];
  private cursor = 0;
  private wake: (() => void) | null = null;

  constructor(
    readonly socket: ClientSocket,
    readonly name: string,
  ) {
    socket.onAny((event: string, payload: unknown) => {
      this.log.push({ event, payload });
      this.wake?.();
    });
  }

  static async connect(url: string, name: string): Promise<Client> {
    const socket: ClientSocket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: WAIT_MS });
    const client = new Client(socket, name);
    clients.push(client);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', (error) => reject(new Error(`${name} could not connect to ${url}: ${error.message}`)));
      }),
      `${name} to connect`,
    );
    return client;
  }

  /** Rejects if the server drops the connection instead of answering. */
  join(room: string, peerId = this.name, secret?: string): Promise<JoinResponse> {
    const acked = new Promise<JoinResponse>((resolve, reject) => {
      const dropped = (reason: string): void => reject(new Error(`${this.name} was disconnected while joining: ${reason}`));
      this.socket.once('disconnect', dropped);
      const request = { room, peerId, kind: 'node' as const, protocol: SIGNALING_PROTOCOL, ...(secret === undefined ? {} : { secret }) };
      this.socket.emit('join', request, (response) => {
        this.socket.off('disconnect', dropped);
        resolve(response);
      });
    });
    return withTimeout(acked, `${this.name}'s join ack`);
  }

  signal(to: string, data: Record<string, unknown>): void {
    this.socket.emit('signal', { to, data });
  }

  /** The next event this client has not consumed yet, of any kind: ordering assertions use this. */
  async next(): Promise<ServerEvent> {
    const deadline = Date.now() + WAIT_MS;
    while (this.cursor >= this.log.length) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no event within ${WAIT_MS} ms (got ${JSON.stringify(this.log)})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    return this.log[this.cursor++]!;
  }
}

async function joinedClient(url: string, room: string, name: string): Promise<Client> {
  const client = await Client.connect(url, name);
  expect(await client.join(room), `${name} joining ${room}`).toMatchObject({ ok: true });
  return client;
}

const peerIds = (response: JoinResponse): string[] => (response.ok ? response.peers.map((p) => p.peerId) : []);

// ------------------------------------------------------------------------------------------- mesh peers

interface TestPeer {
  readonly mesh: Mesh;
  readonly id: string;
  /** Index of the instance it was started on (its first URL). */
  readonly home: number;
  readonly states: SignalingState[];
}

async function startPeer(id: string, room: string, urls: readonly string[], home: number): Promise<TestPeer> {
  const states: SignalingState[] = [];
  const mesh = await Mesh.start({
    signal: urls,
    room,
    peerId: id,
    capabilities: ['game'],
    actors: { GameActor },
    bindAddress: '127.0.0.1',
    connectTimeoutMs: MESH_MS,
    onSignalingState: (state) => states.push(state),
  });
  meshes.push(mesh);
  return { mesh, id, home, states };
}

/** An actor id that `caller` routes to `owner` in its current view. */
function idOwnedBy(caller: Mesh, owner: string, prefix: string): string {
  for (let i = 0; i < 100_000; i++) {
    const id = `${prefix}-${i}`;
    if (caller.ownerPeer(caller.shardFor(id), 'game') === owner) return id;
  }
  throw new Error(`no actor id owned by ${owner} in ${caller.peerId}'s view`);
}

async function increment(caller: Mesh, id: string) {
  return caller.call<number>({ actor: 'GameActor', id, capability: 'game', payload: { action: 'increment_score' } });
}

const sees = (peer: TestPeer, ids: readonly string[]): boolean => {
  const view = new Set(peer.mesh.peers().map((p) => p.id));
  return ids.every((id) => view.has(id));
};

// ================================================================================================= tests

describe('signaling cluster over Redis: one mesh across instances', () => {
  it('forms one mesh, routes calls across instances, and survives losing an instance whose peers re-join elsewhere', async () => {
    const room = freshRoom('mesh');
    const instances = await Promise.all([0, 1, 2].map(() => startInstance()));
    const urls = instances.map((s) => s.url);
    // Each peer gets its own instance's URL first and the others after, as a deployment would.
    const urlsFor = (home: number): string[] => [urls[home]!, ...urls.filter((_, i) => i !== home)];
    const layout = [
      { id: 'a0', home: 0 },
      { id: 'd0', home: 0 },
      { id: 'b1', home: 1 },
      { id: 'e1', home: 1 },
      { id: 'c2', home: 2 },
      { id: 'f2', home: 2 },
    ];
    const peers = await Promise.all(layout.map(({ id, home }) => startPeer(id, room, urlsFor(home), home)));
    const ids = peers.map((p) => p.id);
    expect(
      instances.map((s) => s.stats().peers),
      'each instance holds its own two peers',
    ).toEqual([2, 2, 2]);

    await until(
      () => peers.every((p) => sees(p, ids)),
      () => `every peer to see all 6 (views: ${JSON.stringify(peers.map((p) => [p.id, p.mesh.peers().map((q) => q.id)]))})`,
      { timeoutMs: MESH_MS },
    );
    expect(peers.every((p) => p.mesh.peers().length === 6)).toBe(true);

    // Calls route to owners connected through other instances.
    for (const caller of peers) {
      for (const owner of peers.filter((p) => p.home !== caller.home)) {
        const id = idOwnedBy(caller.mesh, owner.id, `${caller.id}->${owner.id}`);
        const result = await increment(caller.mesh, id);
        expect(result.peer, `${caller.id} calling an actor of ${owner.id}`).toBe(owner.id);
        expect(result.result).toBe(1);
      }
    }

    // Lose instance 0 (graceful close, as on SIGTERM).
    const [victimA, victimB] = peers.filter((p) => p.home === 0) as [TestPeer, TestPeer];
    const survivor = peers.find((p) => p.home === 1)!;
    const farSurvivor = peers.find((p) => p.home === 2)!;
    const victimActor = idOwnedBy(survivor.mesh, victimA.id, 'kept');
    const before = await increment(survivor.mesh, victimActor);
    expect(before).toMatchObject({ peer: victimA.id, result: 1 });
    const lefts: string[] = [];
    for (const p of peers) p.mesh.on('topology', (t: TopologyEvent) => lefts.push(...t.left.map((l) => `${p.id} lost ${l.id}`)));
    const statesAtKill = new Map(peers.map((p) => [p.id, p.states.length]));

    await instances[0]!.close();

    // The mesh keeps serving over its existing data channels: same activation, state intact.
    const after = await increment(survivor.mesh, victimActor);
    expect(after).toEqual({ peer: victimA.id, activation: before.activation, result: 2 });
    const fromVictim = await increment(victimB.mesh, idOwnedBy(victimB.mesh, farSurvivor.id, 'from-victim'));
    expect(fromVictim.peer).toBe(farSurvivor.id);

    // The orphaned peers re-join through another instance (their next URL)...
    const rejoined = (p: TestPeer): boolean => p.states.slice(statesAtKill.get(p.id)).includes('joined');
    await until(
      () => rejoined(victimA) && rejoined(victimB),
      () => `the peers of the closed instance to re-join (states: ${JSON.stringify([victimA.states, victimB.states])})`,
      { timeoutMs: MESH_MS },
    );
    expect(instances[1]!.stats().peers + instances[2]!.stats().peers).toBe(6);
    // ... which a newcomer proves: it only learns of peers through the cluster's room membership.
    const newcomer = await startPeer('n9', room, [urls[2]!], 2);
    await until(
      () => sees(newcomer, [...ids, newcomer.id]) && peers.every((p) => sees(p, [newcomer.id])),
      () => `the newcomer to connect to everyone (its view: ${JSON.stringify(newcomer.mesh.peers().map((p) => p.id))})`,
      { timeoutMs: MESH_MS },
    );
    for (const victim of [victimA, victimB]) {
      const result = await increment(newcomer.mesh, idOwnedBy(newcomer.mesh, victim.id, `n9->${victim.id}`));
      expect(result.peer, `newcomer calling an actor of ${victim.id}`).toBe(victim.id);
    }

    expect(lefts, 'no peer lost any other peer: the old data channels were never torn down').toEqual([]);
  });
});

describe('signaling cluster over Redis: rooms, relays and limits', () => {
  it('relays signals across instances within a room and never into another room', async () => {
    const [s0, s1] = await Promise.all([startInstance(), startInstance()]);
    const r1 = freshRoom('r1');
    const r2 = freshRoom('r2');
    const alice = await joinedClient(s0.url, r1, 'alice'); // r1 on s0
    const twin1 = await joinedClient(s1.url, r1, 'twin'); // r1 on s1
    const twin2 = await joinedClient(s0.url, r2, 'twin'); // r2 on s0: same peer id, other room
    const bob = await joinedClient(s1.url, r2, 'bob'); // r2 on s1
    expect(await alice.next()).toEqual({ event: 'peer-joined', payload: { peerId: 'twin', kind: 'node' } });
    expect(await twin2.next()).toEqual({ event: 'peer-joined', payload: { peerId: 'bob', kind: 'node' } });

    // Across instances within r1: delivered, in order.
    alice.signal('twin', { type: 'offer', n: 1 });
    alice.signal('twin', { candidate: 'c', n: 2 });
    expect(await twin1.next()).toEqual({ event: 'signal', payload: { from: 'alice', data: { type: 'offer', n: 1 } } });
    expect(await twin1.next()).toEqual({ event: 'signal', payload: { from: 'alice', data: { candidate: 'c', n: 2 } } });
    twin1.signal('alice', { type: 'answer' });
    expect(await alice.next()).toEqual({ event: 'signal', payload: { from: 'twin', data: { type: 'answer' } } });

    // bob exists only in r2 (on the other instance): refused, not delivered.
    alice.signal('bob', { type: 'offer', leak: true });
    expect(await alice.next()).toMatchObject({ event: 'signal-error', payload: { to: 'bob' } });
    // From r2, "twin" is r2's twin only, although r1's twin shares the id and bob's instance.
    bob.signal('twin', { type: 'offer', from: 'r2' });
    expect(await twin2.next()).toEqual({ event: 'signal', payload: { from: 'bob', data: { type: 'offer', from: 'r2' } } });

    // Sentinels: had anything leaked, it would have arrived before them.
    twin2.signal('bob', { sentinel: 'r2' });
    expect(await bob.next()).toEqual({ event: 'signal', payload: { from: 'twin', data: { sentinel: 'r2' } } });
    alice.signal('twin', { sentinel: 'r1' });
    expect(await twin1.next()).toEqual({ event: 'signal', payload: { from: 'alice', data: { sentinel: 'r1' } } });

    // Membership events stay in their room across instances, too.
    const carol = await joinedClient(s1.url, r1, 'carol');
    expect(await alice.next()).toEqual({ event: 'peer-joined', payload: { peerId: 'carol', kind: 'node' } });
    expect(await twin1.next()).toEqual({ event: 'peer-joined', payload: { peerId: 'carol', kind: 'node' } });
    carol.socket.disconnect();
    expect(await alice.next()).toEqual({ event: 'peer-left', payload: { peerId: 'carol' } });
    const dave = await joinedClient(s0.url, r2, 'dave');
    expect(await bob.next()).toEqual({ event: 'peer-joined', payload: { peerId: 'dave', kind: 'node' } });
    expect(bob.log.map((e) => e.event)).not.toContain('peer-left');
    expect(dave.log).toEqual([]);
  });

  it('enforces maxPeers and unique peer ids across instances', async () => {
    const instances = await Promise.all([0, 1, 2].map(() => startInstance({ maxPeers: 2 })));
    const [s0, s1, s2] = instances as [StartedSignalingServer, StartedSignalingServer, StartedSignalingServer];
    const room = freshRoom('full');
    const alice = await joinedClient(s0.url, room, 'alice');
    const bob = await Client.connect(s1.url, 'bob');
    expect(peerIds(await bob.join(room))).toEqual(['alice']);

    const carol = await Client.connect(s2.url, 'carol');
    const full = await carol.join(room);
    expect(full).toMatchObject({ ok: false, code: 'ROOM_FULL' });
    const twin = await Client.connect(s2.url, 'twin');
    expect(await twin.join(room, 'bob')).toMatchObject({ ok: false, code: 'DUPLICATE_PEER' });

    // A leave on one instance frees the seat on the others.
    bob.socket.emit('leave');
    expect(await alice.next()).toEqual({ event: 'peer-joined', payload: { peerId: 'bob', kind: 'node' } });
    expect(await alice.next()).toEqual({ event: 'peer-left', payload: { peerId: 'bob' } });
    expect(peerIds(await carol.join(room))).toEqual(['alice']);
    expect(await twin.join(room, 'dave')).toMatchObject({ ok: false, code: 'ROOM_FULL' });
  });

  it('does not announce the peers of an instance that shuts down, but does announce real departures', async () => {
    const [s0, s1, s2] = await Promise.all([startInstance(), startInstance(), startInstance()]);
    const room = freshRoom('shutdown');
    const watcher = await joinedClient(s1.url, room, 'watcher');
    const orphanJoin = await (await Client.connect(s0.url, 'orphan')).join(room);
    const orphanSecret = orphanJoin.ok ? orphanJoin.secret : '';
    const leaver = await joinedClient(s2.url, room, 'leaver');
    expect(await watcher.next()).toMatchObject({ event: 'peer-joined', payload: { peerId: 'orphan' } });
    expect(await watcher.next()).toMatchObject({ event: 'peer-joined', payload: { peerId: 'leaver' } });

    await s0.close();
    // See the header: anything s0 published before closing reaches watcher before this.
    leaver.socket.disconnect();
    expect(await watcher.next()).toEqual({ event: 'peer-left', payload: { peerId: 'leaver' } });
    // The orphan is simply no longer a member, as after a crash; its id stays held for it, on every instance.
    const stranger = await Client.connect(s2.url, 'stranger');
    expect(await stranger.join(room, 'orphan')).toMatchObject({ ok: false, code: 'DUPLICATE_PEER' });
    const response = await (await Client.connect(s2.url, 'orphan')).join(room, 'orphan', orphanSecret);
    expect(peerIds(response)).toEqual(['watcher']);
    expect(await watcher.next()).toMatchObject({ event: 'peer-joined', payload: { peerId: 'orphan' } });
  });
});

describe('signaling cluster over Redis: claimed peer ids', () => {
  const secretOf = (response: JoinResponse): string => (response.ok ? response.secret : '');

  it('holds a departed peer id on every instance, and gives it back through any instance with its secret', async () => {
    // No serverSecret given: the instances share one through Redis.
    const [s0, s1] = await Promise.all([startInstance(), startInstance()]);
    const room = freshRoom('claims');
    const watcher = await joinedClient(s1.url, room, 'watcher');
    const victim = await Client.connect(s0.url, 'victim');
    const secret = secretOf(await victim.join(room));
    expect(await watcher.next()).toMatchObject({ event: 'peer-joined', payload: { peerId: 'victim' } });
    victim.socket.disconnect();
    expect(await watcher.next()).toEqual({ event: 'peer-left', payload: { peerId: 'victim' } });

    const attacker = await Client.connect(s1.url, 'attacker');
    const refused = await attacker.join(room, 'victim');
    expect(refused).toMatchObject({ ok: false, code: 'DUPLICATE_PEER' });
    expect(refused.ok ? '' : refused.message).toMatch(/held/);
    expect(await attacker.join(room, 'victim', 'A'.repeat(43))).toMatchObject({ ok: false, code: 'DUPLICATE_PEER' });

    const back = await Client.connect(s1.url, 'victim-back');
    const response = await back.join(room, 'victim', secret);
    expect(response).toMatchObject({ ok: true, secret });
    expect(peerIds(response)).toEqual(['watcher']);
    expect(await watcher.next()).toMatchObject({ event: 'peer-joined', payload: { peerId: 'victim' } });
  });

  it('takes an id over from a stale connection on another instance without a peer-left', async () => {
    const [s0, s1] = await Promise.all([startInstance(), startInstance()]);
    const room = freshRoom('takeover');
    const watcher = await joinedClient(s0.url, room, 'watcher');
    const stale = await Client.connect(s0.url, 'stale');
    const secret = secretOf(await stale.join(room, 'p'));
    expect(await watcher.next()).toMatchObject({ event: 'peer-joined', payload: { peerId: 'p' } });
    const staleGone = withTimeout(
      new Promise<string>((resolve) => stale.socket.once('disconnect', resolve)),
      'the stale connection to close',
    );

    const fresh = await Client.connect(s1.url, 'fresh');
    expect(await fresh.join(room, 'p', secret)).toMatchObject({ ok: true, secret });
    expect(await staleGone).toBe('io server disconnect');
    expect(await watcher.next()).toMatchObject({ event: 'peer-joined', payload: { peerId: 'p' } });
    // Sentinel: a join and a leave after the takeover reach the watcher with no peer-left for p before them.
    const other = await joinedClient(s1.url, room, 'other');
    other.socket.disconnect();
    expect(await watcher.next()).toMatchObject({ event: 'peer-joined', payload: { peerId: 'other' } });
    expect(await watcher.next()).toEqual({ event: 'peer-left', payload: { peerId: 'other' } });
    watcher.signal('p', { type: 'offer' });
    let event = await fresh.next();
    while (event.event !== 'signal') event = await fresh.next();
    expect(event).toEqual({ event: 'signal', payload: { from: 'watcher', data: { type: 'offer' } } });
    expect(s0.stats().peers + s1.stats().peers).toBe(2);
  });

  it('admits exactly one of several joins racing for a new id through different instances', async () => {
    const instances = await Promise.all([0, 1, 2].map(() => startInstance()));
    const room = freshRoom('race');
    const racers = await Promise.all(instances.map((s, i) => Client.connect(s.url, `racer${i}`)));
    const results = await Promise.all(racers.map((racer) => racer.join(room, 'same-id')));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.code === 'DUPLICATE_PEER')).toHaveLength(2);
  });

  it('lets a claim expire in Redis after claimTtlMs', async () => {
    const [s0, s1] = await Promise.all([startInstance({ claimTtlMs: 300 }), startInstance({ claimTtlMs: 300 })]);
    const room = freshRoom('expiry');
    const first = await Client.connect(s0.url, 'first');
    const secret = secretOf(await first.join(room, 'p'));
    first.socket.disconnect();
    const left = Date.now();
    let response: JoinResponse | undefined;
    // Polled with fresh connections: each is one join, far below the join rate limit.
    for (let attempt = 0; response?.ok !== true; attempt++) {
      if (Date.now() - left > WAIT_MS) throw new Error(`the claim did not expire: ${JSON.stringify(response)}`);
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      response = await (await Client.connect(s1.url, `try${attempt}`)).join(room, 'p');
    }
    expect(Date.now() - left).toBeGreaterThanOrEqual(250);
    expect(secretOf(response)).not.toBe(secret);
  });
});

describe('signaling cluster over Redis: a Redis outage', () => {
  it('neither crashes nor hangs while Redis is down, and the cluster heals once it is back', async () => {
    let own = await startRedis();
    try {
      const lines: string[] = [];
      const log = (line: string): number => lines.push(line);
      const [s0, s1, s2] = (await Promise.all([0, 1, 2].map(() => startInstance({ redisUrl: own.url, log })))) as [
        StartedSignalingServer,
        StartedSignalingServer,
        StartedSignalingServer,
      ];
      const room = freshRoom('outage');
      const alice = await joinedClient(s0.url, room, 'alice');
      const bob = await joinedClient(s1.url, room, 'bob');
      const erin = await joinedClient(s0.url, room, 'erin');
      expect(await alice.next()).toMatchObject({ event: 'peer-joined', payload: { peerId: 'bob' } });
      expect(await alice.next()).toMatchObject({ event: 'peer-joined', payload: { peerId: 'erin' } });

      // Kill Redis with cross-instance relays in flight: their failures must not become unhandled
      // rejections (vitest would fail this file on one).
      for (let i = 0; i < 50; i++) alice.signal('bob', { i });
      own.process.kill('SIGKILL');
      await own.stop();
      await until(() => lines.some((line) => line.startsWith('[redis] sub')), 'the instances to notice', { timeoutMs: WAIT_MS });
      // Relays within one instance do not need Redis.
      alice.signal('erin', { during: 'outage' });
      expect(await erin.next()).toEqual({ event: 'signal', payload: { from: 'alice', data: { during: 'outage' } } });

      // A join needs the other instances: it fails fast, by disconnecting, so the client tries elsewhere.
      const carol = await Client.connect(s1.url, 'carol');
      const dropped = new Promise<string>((resolve) => carol.socket.once('disconnect', resolve));
      void carol.join(room).catch(() => undefined);
      expect(await withTimeout(dropped, 'carol to be disconnected', 2000)).toBe('io server disconnect');
      // close() does not wait for Redis to come back.
      const started = Date.now();
      await withTimeout(s2.close(), 's2.close() during the outage', 3000);
      expect(Date.now() - started).toBeLessThan(1500);

      own = await startRedis({ port: own.port });
      // Both instances reconnect and resubscribe by themselves; then cross-instance joins work again.
      let response: JoinResponse | undefined;
      await until(
        async () => {
          const dave = await Client.connect(s1.url, 'dave');
          response = await dave.join(room).catch(() => undefined);
          return response?.ok === true;
        },
        () => `a successful join after Redis came back (last answer: ${JSON.stringify(response)})`,
        { timeoutMs: 10_000, intervalMs: 100 },
      );
      expect(response && peerIds(response)).toEqual(['alice', 'bob', 'erin']);
      bob.signal('alice', { after: 'outage' });
      const signals = async (): Promise<ServerEvent> => {
        for (;;) {
          const event = await alice.next();
          if (event.event === 'signal') return event;
        }
      };
      expect(await signals()).toEqual({ event: 'signal', payload: { from: 'bob', data: { after: 'outage' } } });
      expect(lines.join('\n')).toMatch(/reconnected/);
    } finally {
      await own.stop();
    }
  });
});

describe('startSignaling and createRedisAdapter', () => {
  it('hands out per-join ICE servers from a function, e.g. fresh TURN credentials', async () => {
    let now = Date.UTC(2024, 0, 1);
    const stun: IceServerConfig = { urls: 'stun:stun.example.org:3478' };
    const iceServers = turnIceServers({
      secret: 's3cret',
      urls: ['turn:turn.example.org:3478'],
      ttlSeconds: 600,
      static: [stun],
      now: () => now,
    });
    const server = await startInstance({ iceServers });
    const room = freshRoom('ice');
    const first = await (await Client.connect(server.url, 'first')).join(room);
    now += 60_000;
    const second = await (await Client.connect(server.url, 'second')).join(room);
    const turnOf = (response: JoinResponse): IceServerConfig => (response.ok ? response.iceServers[1]! : { urls: [] });
    const expiry = Date.UTC(2024, 0, 1) / 1000 + 600;
    // Per peer: the username names who the credential was issued to.
    expect(first).toMatchObject({ ok: true, iceServers: [stun, { urls: ['turn:turn.example.org:3478'], username: `${expiry}:first` }] });
    expect(turnOf(second).username).toBe(`${expiry + 60}:second`);
    for (const turn of [turnOf(first), turnOf(second)]) {
      expect(turn.credential).toBe(
        createHmac('sha1', 's3cret')
          .update(turn.username ?? '')
          .digest('base64'),
      );
    }
  });

  it('keeps a join working when the ICE servers function throws', async () => {
    const lines: string[] = [];
    const server = await startInstance({
      redisUrl: null,
      iceServers: () => {
        throw new Error('credential service down');
      },
      log: (line) => lines.push(line),
    });
    const response = await (await Client.connect(server.url, 'p')).join(freshRoom('ice-throws'));
    expect(response).toEqual({ ok: true, peers: [], iceServers: [], secret: expect.any(String), identity: null });
    expect(lines.join('\n')).toContain('credential service down');
  });

  it('takes REDIS_URL from the environment unless told otherwise', async () => {
    const saved = process.env['REDIS_URL'];
    try {
      process.env['REDIS_URL'] = redis.url;
      const fromEnv = await startSignaling({ port: 0, host: '127.0.0.1' });
      servers.push(fromEnv);
      expect(fromEnv.redisUrl).toBe(redis.url);
      const alone = await startSignaling({ port: 0, host: '127.0.0.1', redisUrl: null });
      servers.push(alone);
      expect(alone.redisUrl).toBeNull();
      process.env['REDIS_URL'] = '';
      const emptyEnv = await startSignaling({ port: 0, host: '127.0.0.1' });
      servers.push(emptyEnv);
      expect(emptyEnv.redisUrl).toBeNull();

      // fromEnv is clustered, alone is not: a room member on fromEnv is invisible from alone.
      const room = freshRoom('env');
      const clustered = await startInstance();
      await joinedClient(fromEnv.url, room, 'x');
      expect(peerIds(await (await Client.connect(clustered.url, 'y')).join(room))).toEqual(['x']);
      expect(peerIds(await (await Client.connect(alone.url, 'z')).join(room))).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env['REDIS_URL'];
      else process.env['REDIS_URL'] = saved;
    }
  });

  it('fails fast with an error naming the Redis URL (password redacted) when Redis is unreachable', async () => {
    const port = await freePort();
    const url = `redis://:hunter2@127.0.0.1:${port}`;
    const started = Date.now();
    const error = await createRedisAdapter(url, { connectTimeoutMs: 1000 }).then(
      () => new Error('connected to a closed port'),
      (thrown: unknown) => thrown as Error,
    );
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).toMatch(/cannot connect to Redis/);
    expect(error.message).not.toContain('hunter2');
    expect(Date.now() - started).toBeLessThan(3000);
    await expect(startSignaling({ port: 0, host: '127.0.0.1', redisUrl: url })).rejects.toThrow(`127.0.0.1:${port}`);
    await expect(createRedisAdapter('http://127.0.0.1:1')).rejects.toThrow(/invalid Redis URL http:\/\/127\.0\.0\.1:1/);
    await expect(startSignaling({ port: 0, redisUrl: redis.url, adapter: class {} as never })).rejects.toThrow(
      /either adapter or redisUrl/,
    );
    expect(redactUrl('redis://user:pw@h:1/0')).toBe('redis://user:***@h:1/0');
    expect(redactUrl('redis://h:1')).toBe('redis://h:1');
  });

  it('a createRedisAdapter adapter plugs into createSignalingServer directly', async () => {
    const handles = await Promise.all([createRedisAdapter(redis.url), createRedisAdapter(redis.url)]);
    const [a, b] = await Promise.all(handles.map((h) => createSignalingServer({ port: 0, host: '127.0.0.1', adapter: h.adapter })));
    try {
      const room = freshRoom('direct');
      await joinedClient(a!.url, room, 'x');
      expect(peerIds(await (await Client.connect(b!.url, 'y')).join(room))).toEqual(['x']);
    } finally {
      await Promise.all([a!.close(), b!.close()]);
      await Promise.all(handles.map((h) => h.close()));
      await Promise.all(handles.map((h) => h.close())); // idempotent
    }
  });

  it('never loads the redis modules without a Redis URL', async () => {
    const script = `
      import { createRequire } from 'node:module';
      const { startSignaling } = await import(${JSON.stringify(`${ROOT}/server/redis.ts`)});
      const server = await startSignaling({ port: 0, host: '127.0.0.1' });
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => /[\\\\/](@socket\\.io[\\\\/]redis-adapter|@redis|redis)[\\\\/]/.test(p));
      const sio = Object.keys(createRequire(import.meta.url).cache).some((p) => p.includes('socket.io'));
      await server.close();
      console.log(JSON.stringify({ loaded, sio, redisUrl: server.redisUrl }));
    `;
    const env = { ...process.env };
    delete env['REDIS_URL'];
    const { code, stdout, stderr } = await runNode(['--import', 'tsx', '--input-type=module', '--eval', script], env);
    expect(code, stderr).toBe(0);
    // sio proves the check can see CJS modules loaded from ESM at all.
    expect(JSON.parse(stdout.trim().split('\n').pop() ?? '{}')).toEqual({ loaded: [], sio: true, redisUrl: null });
  });
});

// ----------------------------------------------------------------------------------------------- CLI

function runNode(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return withTimeout(
    new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr }))),
    `node ${args.join(' ')}`,
    15_000,
  );
}

const CLI = ['--import', 'tsx', 'server/server-cli.ts'];

describe('server-cli', () => {
  it('runs a clustered instance with per-join TURN credentials and shuts down on SIGTERM', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, TURN_SECRET: 'from-env', MAX_PEERS: '3' };
    delete env['REDIS_URL'];
    const child = spawn(
      process.execPath,
      [
        ...CLI,
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--redis',
        redis.url,
        '--ice-servers',
        '[{"urls":"stun:stun.example.org:3478"}]',
        '--turn-urls',
        'turn:turn.example.org:3478,turns:turn.example.org:5349',
        '--turn-ttl',
        '120',
      ],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const ready = new Promise<string>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(stdout);
        if (match?.[1] !== undefined) resolve(match[1]);
      });
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await withTimeout(ready, `the CLI to start (stdout: ${stdout}, stderr: ${stderr})`, 15_000);
    expect(stdout).toContain(redis.url);

    const room = freshRoom('cli');
    const other = await startInstance();
    await joinedClient(other.url, room, 'x');
    const response = await (await Client.connect(url, 'y')).join(room);
    expect(peerIds(response), 'the CLI instance shares rooms through --redis').toEqual(['x']);
    const ice = response.ok ? response.iceServers : [];
    expect(ice[0]).toEqual({ urls: 'stun:stun.example.org:3478' });
    const turn = ice[1];
    expect(turn?.urls).toEqual(['turn:turn.example.org:3478', 'turns:turn.example.org:5349']);
    const [expiry, user] = (turn?.username ?? '').split(':');
    expect(user).toBe('y');
    expect(Number(expiry) - Date.now() / 1000).toBeGreaterThan(100);
    expect(Number(expiry) - Date.now() / 1000).toBeLessThanOrEqual(121);
    expect(turn?.credential).toBe(
      createHmac('sha1', 'from-env')
        .update(turn?.username ?? '')
        .digest('base64'),
    );
    // MAX_PEERS=3 from the environment, counted across the cluster.
    await joinedClient(other.url, room, 'z');
    expect(await (await Client.connect(url, 'w')).join(room)).toMatchObject({ ok: false, code: 'ROOM_FULL' });

    child.kill('SIGTERM');
    expect(await withTimeout(exited, 'the CLI to exit after SIGTERM', 10_000)).toBe(0);
  });

  it('prints help, and refuses bad options with exit code 2', async () => {
    const [help, bad] = await Promise.all([runNode([...CLI, '--help']), runNode([...CLI, '--port', 'abc'])]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--redis/);
    expect(help.stdout).toMatch(/--turn-secret/);
    for (const flag of [
      '--tokens-file',
      '--server-secret',
      '--claim-ttl',
      '--identity-key',
      '--grants',
      '--allowed-origins',
      '--max-pending',
      '--join-timeout',
      '--signal-rate',
      '--signal-burst',
    ]) {
      expect(help.stdout).toContain(flag);
    }
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--port \(PORT\) must be an integer/);
  });

  it('parses flags with environment fallbacks', () => {
    const defaults = {
      tokensFile: undefined,
      serverSecret: undefined,
      claimTtlMs: 300_000,
      identity: undefined,
      grants: undefined,
      allowedOrigins: undefined,
      maxPendingSockets: 256,
      joinTimeoutMs: 10_000,
      signalsPerSecond: 50,
      signalBurst: 500,
    };
    expect(parseServerCli([], {})).toEqual({
      port: 3000,
      host: '0.0.0.0',
      token: undefined,
      redisUrl: undefined,
      maxPeers: 64,
      iceServers: [],
      turn: undefined,
      ...defaults,
      quiet: false,
    });
    const env = {
      PORT: '4000',
      HOST: '::',
      RTC_MESH_TOKEN: 'env-token',
      REDIS_URL: 'redis://env:6379',
      MAX_PEERS: '8',
      ICE_SERVERS: '[{"urls":["stun:a","stun:b"]},{"urls":"turn:t","username":"u","credential":"c"}]',
      TURN_SECRET: 'env-secret',
      TURN_URLS: 'turn:x:3478, turns:x:5349',
      TURN_TTL: '600',
    };
    expect(parseServerCli([], env)).toEqual({
      port: 4000,
      host: '::',
      token: 'env-token',
      redisUrl: 'redis://env:6379',
      maxPeers: 8,
      iceServers: [{ urls: ['stun:a', 'stun:b'] }, { urls: 'turn:t', username: 'u', credential: 'c' }],
      turn: { secret: 'env-secret', urls: ['turn:x:3478', 'turns:x:5349'], ttlSeconds: 600 },
      ...defaults,
      quiet: false,
    });
    // Flags win over the environment.
    expect(parseServerCli(['--port', '0', '--redis', 'redis://flag', '--max-peers', '2', '--quiet'], env)).toMatchObject({
      port: 0,
      redisUrl: 'redis://flag',
      maxPeers: 2,
      quiet: true,
    });
    // Empty variables count as unset, except secrets.
    expect(parseServerCli([], { PORT: '', REDIS_URL: '', MAX_PEERS: '', ICE_SERVERS: '' })).toMatchObject({
      port: 3000,
      redisUrl: undefined,
      maxPeers: 64,
    });
    expect(parseServerCli(['--help'], { PORT: 'garbage' })).toBe('help');
  });

  it('parses the identity, access and limit flags with environment fallbacks', () => {
    const env = {
      RTC_MESH_SERVER_SECRET: 'env-server-secret-0123',
      CLAIM_TTL: '60',
      RTC_MESH_IDENTITY_KEY_FILE: '/keys/identity.pem',
      RTC_MESH_IDENTITY_PREVIOUS_KEYS: 'a, b',
      IDENTITY_TTL: '120',
      GRANTS: 'browser=game; node=game,bank; memory=*',
      ALLOWED_ORIGINS: 'https://app.example.org, http://localhost:5173',
      RTC_MESH_TOKENS_FILE: '/keys/tokens.json',
      MAX_PENDING_SOCKETS: '32',
      JOIN_TIMEOUT: '5',
      SIGNAL_RATE: '20',
      SIGNAL_BURST: '100',
    };
    expect(parseServerCli([], env)).toMatchObject({
      serverSecret: 'env-server-secret-0123',
      claimTtlMs: 60_000,
      identity: { keyFile: '/keys/identity.pem', previousPublicKeys: ['a', 'b'], ttlMs: 120_000 },
      grants: { browser: ['game'], node: ['game', 'bank'], memory: null },
      allowedOrigins: ['https://app.example.org', 'http://localhost:5173'],
      tokensFile: '/keys/tokens.json',
      maxPendingSockets: 32,
      joinTimeoutMs: 5000,
      signalsPerSecond: 20,
      signalBurst: 100,
    });
    expect(parseServerCli(['--grants', 'node=bank', '--identity-key', 'k.pem', '--claim-ttl', '1'], env)).toMatchObject({
      grants: { node: ['bank'] },
      identity: { keyFile: 'k.pem', ttlMs: 120_000 },
      claimTtlMs: 1000,
    });
    // A kind with nothing after '=' may host nothing.
    expect(parseServerCli(['--grants', 'browser='], {})).toMatchObject({ grants: { browser: [] } });
  });

  it.each([
    [['--port', '70000'], {}, /--port/],
    [['--port', '-1'], {}, /--port/],
    [['--max-peers', '0'], {}, /--max-peers/],
    [['--max-peers', '2.5'], {}, /--max-peers/],
    [['--ice-servers', '{"urls":"stun:x"}'], {}, /--ice-servers.*array/],
    [['--ice-servers', '[{"urls":"http://x"}]'], {}, /urls/],
    [['--ice-servers', '[{"urls":"stun:x","username":1}]'], {}, /username/],
    [['--ice-servers', 'nope'], {}, /JSON/],
    [['--turn-secret', 'x'], {}, /--turn-urls/],
    [['--turn-urls', 'turn:x'], {}, /--turn-secret/],
    [['--turn-secret', 'x', '--turn-urls', 'turn:x', '--turn-ttl', '0'], {}, /--turn-ttl/],
    [[], { RTC_MESH_TOKEN: '' }, /must not be empty/],
    [[], { TURN_SECRET: '', TURN_URLS: 'turn:x' }, /must not be empty/],
    [['--server-secret', 'short'], {}, /at least 16 bytes/],
    [[], { RTC_MESH_SERVER_SECRET: '' }, /at least 16 bytes/],
    [['--grants', 'toaster=game'], {}, /--grants/],
    [['--grants', 'browser'], {}, /--grants/],
    [['--identity-previous-keys', 'k'], {}, /needs --identity-key/],
    [['--identity-ttl', '0'], {}, /--identity-ttl/],
    [['--claim-ttl', 'soon'], {}, /--claim-ttl/],
    [['--max-pending', '0'], {}, /--max-pending/],
    [['--join-timeout', '-5'], {}, /--join-timeout/],
    [['--signal-rate', '0'], {}, /--signal-rate/],
    [['--signal-burst', 'x'], {}, /--signal-burst/],
    [['--bogus'], {}, /bogus/],
    [['positional'], {}, /positional/],
  ])('refuses %j (env %j)', (argv, env, message) => {
    expect(() => parseServerCli(argv, env)).toThrow(UsageError);
    expect(() => parseServerCli(argv, env)).toThrow(message);
  });

  it('exits 1 with a clear message when Redis is unreachable', async () => {
    const port = await freePort();
    const result = await runNode([...CLI, '--port', '0', '--host', '127.0.0.1', '--redis', `redis://127.0.0.1:${port}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot connect to Redis at redis://127.0.0.1:${port}`);
  });
});
