/**
 * Drives a real signaling server on 127.0.0.1:0 with real socket.io-client connections (see
 * signaling-helpers.ts for the clients and the sentinel technique).
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Adapter, type BroadcastOptions } from 'socket.io-adapter';
import { afterEach, describe, expect, it } from 'vitest';
import { createSignalingServer, installShutdown } from '../../server/signaling-server.js';
import { SIGNALING_LIMITS, SIGNALING_PROTOCOL, type JoinResponse } from '../../shared/wire/signaling.js';
import {
  Peer,
  WAIT_MS,
  cleanup,
  connect,
  connectError,
  expectOnlySentinel,
  httpServers,
  joined,
  ok,
  startServer,
  withTimeout,
} from './signaling-helpers.js';

afterEach(cleanup);

function httpGet(url: string, method = 'GET'): Promise<{ status: number; type: string | null; body: string }> {
  return withTimeout(
    fetch(url, { method }).then(async (res) => ({
      status: res.status,
      type: res.headers.get('content-type'),
      body: await res.text(),
    })),
    `${method} ${url}`,
    WAIT_MS,
  );
}

describe('signaling server: rooms', () => {
  it('answers a join with the other peers and the ICE servers, and announces joins and leaves', async () => {
    const iceServers = [{ urls: 'stun:stun.example.org:3478' }, { urls: ['turn:t.example.org'], username: 'u', credential: 'c' }];
    const server = await startServer({ iceServers });
    const alice = await connect(server, 'alice');
    expect(await alice.join('r1', 'alice', 'node')).toEqual(ok([], iceServers));

    const bob = await connect(server, 'bob');
    expect(await bob.join('r1', 'bob', 'browser')).toEqual(ok([{ peerId: 'alice', kind: 'node' }], iceServers));
    expect(await alice.next('peer-joined')).toEqual({ peerId: 'bob', kind: 'browser' });

    const carol = await connect(server, 'carol');
    expect(await carol.join('r2', 'carol', 'memory')).toEqual(ok([], iceServers));
    const dave = await connect(server, 'dave');
    expect(await dave.join('r1', 'dave')).toEqual(
      ok(
        [
          { peerId: 'alice', kind: 'node' },
          { peerId: 'bob', kind: 'browser' },
        ],
        iceServers,
      ),
    );
    // carol joined another room in between: alice must have heard of bob and dave only.
    expect(await alice.next('peer-joined')).toEqual({ peerId: 'dave', kind: 'node' });
    expect(alice.all('peer-joined').map((p) => p.peerId)).toEqual(['bob', 'dave']);
    expect(bob.all('peer-joined').map((p) => p.peerId)).toEqual(['dave']);
    expect(carol.all('peer-joined')).toEqual([]);
    expect(server.stats()).toMatchObject({ rooms: 2, peers: 4 });

    bob.socket.emit('leave');
    expect(await alice.next('peer-left')).toEqual({ peerId: 'bob' });
    expect(await dave.next('peer-left')).toEqual({ peerId: 'bob' });

    dave.socket.disconnect();
    expect(await alice.next('peer-left')).toEqual({ peerId: 'dave' });
    expect(carol.all('peer-left')).toEqual([]);
    expect(server.stats()).toMatchObject({ rooms: 2, peers: 2 });
  });

  it('moves a socket that joins a second room out of the first one', async () => {
    const server = await startServer();
    const alice = await joined(server, 'r1', 'alice');
    const carol = await joined(server, 'r2', 'carol');
    const bob = await joined(server, 'r1', 'bob');
    expect(await alice.next('peer-joined')).toEqual({ peerId: 'bob', kind: 'node' });

    expect(await bob.join('r2', 'bob')).toEqual(ok([{ peerId: 'carol', kind: 'node' }]));
    expect(await alice.next('peer-left')).toEqual({ peerId: 'bob' });
    expect(await carol.next('peer-joined')).toEqual({ peerId: 'bob', kind: 'node' });
    expect(server.stats()).toMatchObject({ rooms: 2, peers: 3 });
    // bob's old peer key must be gone too: alice can no longer reach him.
    alice.signal('bob', { type: 'offer' });
    expect(await alice.next('signal-error')).toMatchObject({ to: 'bob' });
  });

  it('treats a repeated identical join as a no-op instead of a leave and a join', async () => {
    const server = await startServer();
    const alice = await joined(server, 'r', 'alice');
    const bob = await joined(server, 'r', 'bob');
    expect(await bob.join('r', 'bob')).toEqual(ok([{ peerId: 'alice', kind: 'node' }]));
    const carol = await joined(server, 'r', 'carol');
    expect(await alice.next('peer-joined')).toEqual({ peerId: 'bob', kind: 'node' });
    expect(await alice.next('peer-joined')).toEqual({ peerId: 'carol', kind: 'node' });
    expect(alice.all('peer-left')).toEqual([]);
    expect(carol.all('peer-joined')).toEqual([]);
  });
});

describe('signaling server: relay', () => {
  it('relays signals both ways within a room, in order, even before the join ack arrived', async () => {
    const server = await startServer();
    const bob = await joined(server, 'r', 'bob');
    const alice = await connect(server, 'alice');
    // No await between join and signal: the server must process them in order.
    const ack = alice.join('r', 'alice');
    alice.signal('bob', { type: 'offer', sdp: 'v=0 offer' });
    alice.signal('bob', { candidate: 'c1' });
    expect(await ack).toMatchObject({ ok: true });

    expect(await bob.next('signal')).toEqual({ from: 'alice', data: { type: 'offer', sdp: 'v=0 offer' } });
    expect(await bob.next('signal')).toEqual({ from: 'alice', data: { candidate: 'c1' } });
    bob.signal('alice', { type: 'answer', sdp: 'v=0 answer' });
    expect(await alice.next('signal')).toEqual({ from: 'bob', data: { type: 'answer', sdp: 'v=0 answer' } });
    expect(alice.all('signal-error')).toEqual([]);
    expect(server.stats()).toMatchObject({ relayed: 3, refused: 0 });
  });

  it('never relays to a peer of another room, even one with the same id', async () => {
    const server = await startServer();
    const alice = await joined(server, 'room-1', 'alice');
    const xavier1 = await joined(server, 'room-1', 'xavier');
    const carol = await joined(server, 'room-2', 'carol');
    const xavier2 = await joined(server, 'room-2', 'xavier');

    alice.signal('carol', { type: 'offer' });
    const refusal = await alice.next('signal-error');
    expect(refusal.to).toBe('carol');
    expect(refusal.reason).toMatch(/no peer "carol"/);
    await expectOnlySentinel(xavier2, carol, 'carol');

    alice.signal('xavier', { type: 'offer', n: 1 });
    expect(await xavier1.next('signal')).toEqual({ from: 'alice', data: { type: 'offer', n: 1 } });
    await expectOnlySentinel(carol, xavier2, 'xavier');
    expect(server.stats()).toMatchObject({ refused: 1 });
  });

  it('refuses a room whose name would collide with another room in a naive peer key', async () => {
    const server = await startServer();
    // "a" + ":" + "b:c" and "a:b" + ":" + "c" would be the same "peer:a:b:c".
    const sender = await joined(server, 'a', 'sender');
    const target = await joined(server, 'a:b', 'c');
    const other = await joined(server, 'a:b', 'other');
    sender.signal('b:c', { x: 1 });
    expect(await sender.next('signal-error')).toMatchObject({ to: 'b:c' });
    await expectOnlySentinel(other, target, 'c');
  });

  it('refuses signals to unknown peers and from sockets that have not joined', async () => {
    const server = await startServer();
    const loner = await connect(server, 'loner');
    const bob = await joined(server, 'r', 'bob');
    const alice = await joined(server, 'r', 'alice');

    loner.signal('bob', { type: 'offer' });
    expect(await loner.next('signal-error')).toEqual({ to: 'bob', reason: 'join a room before signaling' });
    alice.signal('nobody', { type: 'offer' });
    expect(await alice.next('signal-error')).toEqual({ to: 'nobody', reason: 'no peer "nobody" in this room' });
    await expectOnlySentinel(alice, bob, 'bob');
    expect(server.stats()).toMatchObject({ relayed: 1, refused: 2 });
  });

  it('refuses oversized and non-object signal data and delivers nothing of it', async () => {
    const server = await startServer();
    const alice = await joined(server, 'r', 'alice');
    const bob = await joined(server, 'r', 'bob');
    const envelope = Buffer.byteLength(JSON.stringify({ blob: '' }));

    alice.signal('bob', { blob: 'x'.repeat(SIGNALING_LIMITS.maxSignalBytes - envelope + 1) });
    const tooBig = await alice.next('signal-error');
    expect(tooBig.to).toBe('bob');
    expect(tooBig.reason).toMatch(/exceeds maxSignalBytes/);

    for (const data of ['a string', [1, 2, 3], null, 42]) {
      alice.signal('bob', data);
      expect(await alice.next('signal-error')).toEqual({ to: 'bob', reason: 'signal data must be a plain object' });
    }
    await expectOnlySentinel(alice, bob, 'bob');

    // Exactly at the limit is still fine.
    const fits = { blob: 'y'.repeat(SIGNALING_LIMITS.maxSignalBytes - envelope) };
    alice.signal('bob', fits);
    expect(await bob.next('signal')).toEqual({ from: 'alice', data: fits });
    expect(server.stats()).toMatchObject({ relayed: 2, refused: 5 });
  });
});

describe('signaling server: refusals', () => {
  it('survives garbage events while another room keeps working', async () => {
    const server = await startServer();
    const alice = await joined(server, 'calm', 'alice');
    const bob = await joined(server, 'calm', 'bob');
    expect(await alice.next('peer-joined')).toEqual({ peerId: 'bob', kind: 'node' });
    const garbage = await connect(server, 'garbage');
    const valid = { room: 'calm', peerId: 'intruder', kind: 'node', protocol: SIGNALING_PROTOCOL };

    // Dropped without an answer (no ack to answer on): 3 refusals.
    garbage.raw.emit('join');
    garbage.raw.emit('join', valid);
    garbage.raw.emit('join', 'string', 42);
    // Unknown event: 1 refusal. Leave while not joined is a harmless no-op.
    garbage.raw.emit('no-such-event', { a: 1 }, 2);
    garbage.raw.emit('leave', { unexpected: true });
    // Malformed signals: 5 refusals, each answered with a signal-error that echoes no target.
    for (const message of ['str', null, { to: 5, data: {} }, [1, 2], { to: 'x'.repeat(100_000), data: {} }]) {
      garbage.raw.emit('signal', message);
    }
    // Acked malformed joins: 10 refusals.
    const extra = await withTimeout(
      new Promise<JoinResponse>((resolve) => garbage.raw.emit('join', valid, 'extra', resolve)),
      'the ack of a join with an extra argument',
      WAIT_MS,
    );
    expect(extra).toMatchObject({ ok: false, code: 'INVALID_ARGUMENT' });
    const badJoins: unknown[] = [
      null,
      'calm',
      [valid],
      { ...valid, room: 'x'.repeat(200_000) },
      { ...valid, room: '' },
      { ...valid, room: 7 },
      { ...valid, peerId: 'has space' },
      { ...valid, peerId: 'p'.repeat(SIGNALING_LIMITS.maxPeerIdLength + 1) },
      { ...valid, kind: 'toaster' },
    ];
    for (const request of badJoins) {
      const response = await garbage.joinRaw(request);
      expect(response, `join ${JSON.stringify(request).slice(0, 80)}`).toMatchObject({ ok: false, code: 'INVALID_ARGUMENT' });
    }
    for (let i = 0; i < 5; i++) expect(await garbage.next('signal-error')).toMatchObject({ to: null });

    // The calm room saw none of it and still relays.
    alice.signal('bob', { type: 'offer' });
    expect(await bob.next('signal')).toEqual({ from: 'alice', data: { type: 'offer' } });
    expect(alice.all('peer-joined')).toEqual([{ peerId: 'bob', kind: 'node' }]);
    expect(bob.all('peer-joined')).toEqual([]);
    expect(server.stats()).toEqual({ rooms: 1, peers: 2, pending: 1, relayed: 1, refused: 3 + 1 + 5 + 10 });

    // The garbage socket itself is still served correctly.
    expect(await garbage.join('elsewhere', 'garbage')).toEqual(ok([]));

    // A packet beyond the transport limit closes only that connection.
    const closed = new Promise<string>((resolve) => garbage.socket.once('disconnect', resolve));
    garbage.raw.emit('signal', { to: 'bob', data: { blob: 'z'.repeat(SIGNALING_LIMITS.maxSignalBytes * 5) } });
    await withTimeout(closed, 'the oversized packet to close the garbage connection', WAIT_MS);
    bob.signal('alice', { type: 'answer' });
    expect(await alice.next('signal')).toEqual({ from: 'bob', data: { type: 'answer' } });
    expect(bob.all('signal')).toHaveLength(1);
    await expect.poll(() => server.stats().rooms, { timeout: WAIT_MS }).toBe(1);
  });

  it('refuses a missing or wrong token with UNAUTHORIZED and accepts the right one', async () => {
    const server = await startServer({ token: 's3cret-token' });
    const refusals = await Promise.all([
      connectError(server),
      connectError(server, {}),
      connectError(server, { token: 'wrong' }),
      connectError(server, { token: 's3cret-tokeN' }),
      connectError(server, { token: 12345 }),
    ]);
    expect(refusals.map((error) => error.message)).toEqual([
      'UNAUTHORIZED: missing token',
      'UNAUTHORIZED: missing token',
      'UNAUTHORIZED: invalid token',
      'UNAUTHORIZED: invalid token',
      'UNAUTHORIZED: missing token',
    ]);
    const alice = await connect(server, 'alice', { token: 's3cret-token' });
    expect(await alice.join('r', 'alice')).toEqual(ok([]));
    expect(server.stats()).toMatchObject({ peers: 1, refused: 5 });
  });

  it('refuses an empty token in the options instead of running without auth', async () => {
    await expect(createSignalingServer({ port: 0, host: '127.0.0.1', token: '' })).rejects.toThrow(/token/);
    await expect(createSignalingServer({ port: 0, host: '127.0.0.1', maxPeers: 0 })).rejects.toThrow(/maxPeers/);
  });

  it('refuses a peer id already used in the room, and keeps it for its holder after it left', async () => {
    const server = await startServer();
    const observer = await joined(server, 'r', 'observer');
    const first = await connect(server, 'p');
    const admitted = await first.join('r', 'p');
    const secret = admitted.ok ? admitted.secret : '';
    const second = await connect(server, 'second');

    const duplicate = await second.join('r', 'p', 'browser');
    expect(duplicate).toMatchObject({ ok: false, code: 'DUPLICATE_PEER' });
    expect(observer.all('peer-joined')).toEqual([{ peerId: 'p', kind: 'node' }]);
    // The same id in another room is fine.
    expect(await second.join('r2', 'p')).toEqual(ok([]));

    first.socket.disconnect();
    expect(await observer.next('peer-joined')).toEqual({ peerId: 'p', kind: 'node' });
    expect(await observer.next('peer-left')).toEqual({ peerId: 'p' });
    // Gone, but its id is still held: only its secret brings it back (see signaling-security.test.ts).
    const held = await second.join('r', 'p', 'browser');
    expect(held).toMatchObject({ ok: false, code: 'DUPLICATE_PEER' });
    expect(held.ok ? '' : held.message).toMatch(/held/);
    const back = await second.joinRaw({ room: 'r', peerId: 'p', kind: 'browser', protocol: SIGNALING_PROTOCOL, secret });
    expect(back).toEqual(ok([{ peerId: 'observer', kind: 'node' }]));
    expect(back.ok ? back.secret : '').toBe(secret);
  });

  it('refuses a join into a room that already has maxPeers peers', async () => {
    const server = await startServer({ maxPeers: 2 });
    const alice = await joined(server, 'r', 'alice');
    const bob = await joined(server, 'r', 'bob');
    const carol = await connect(server, 'carol');

    const full = await carol.join('r', 'carol');
    expect(full).toMatchObject({ ok: false, code: 'ROOM_FULL' });
    expect(full.ok ? '' : full.message).toContain('2');
    // An identical re-join by a member is not a new peer.
    expect(await alice.join('r', 'alice')).toEqual(ok([{ peerId: 'bob', kind: 'node' }]));
    expect(await carol.join('other', 'carol')).toEqual(ok([]));

    bob.socket.emit('leave');
    expect(await alice.next('peer-left')).toEqual({ peerId: 'bob' });
    expect(await carol.join('r', 'carol')).toEqual(ok([{ peerId: 'alice', kind: 'node' }]));
  });

  it('refuses a client that speaks another signaling protocol', async () => {
    const server = await startServer();
    const client = await connect(server, 'future');
    const mismatch = await client.join('r', 'future', 'node', SIGNALING_PROTOCOL + 1);
    expect(mismatch).toMatchObject({ ok: false, code: 'INCOMPATIBLE_PEER' });
    expect(mismatch.ok ? '' : mismatch.message).toContain(String(SIGNALING_PROTOCOL + 1));
    // A future protocol may shape the request differently: the protocol is what gets reported.
    expect(await client.joinRaw({ protocol: SIGNALING_PROTOCOL + 1, rooms: ['r'] })).toMatchObject({
      ok: false,
      code: 'INCOMPATIBLE_PEER',
    });
    expect(await client.joinRaw({ room: 'r', peerId: 'x', kind: 'node', protocol: '1' })).toMatchObject({
      ok: false,
      code: 'INCOMPATIBLE_PEER',
    });
    expect(server.stats()).toMatchObject({ peers: 0, refused: 3 });
  });
});

/**
 * The in-memory adapter answers fetchSockets() within the same tick, so joins never overlap; a cluster
 * adapter answers after a network round trip. This one imitates that delay, which also proves that the
 * `adapter` option reaches socket.io.
 */
class SlowFetchAdapter extends Adapter {
  static fetches = 0;
  /** When set, answers wait for it instead of a fixed delay, so a test can act while a join is in flight. */
  static gate: Promise<void> | undefined;

  override async fetchSockets(options: BroadcastOptions): Promise<unknown[]> {
    SlowFetchAdapter.fetches++;
    // Snapshot first, answer later: the answer is as stale as a remote instance's would be.
    const sockets = await super.fetchSockets(options);
    await (SlowFetchAdapter.gate ?? new Promise((resolve) => setTimeout(resolve, 25)));
    return sockets;
  }
}

describe('signaling server: joins that overlap (slow adapter)', () => {
  it('admits one of several sockets racing for the same peer id', async () => {
    const server = await startServer({ adapter: SlowFetchAdapter });
    const fetchesBefore = SlowFetchAdapter.fetches;
    const racers = await Promise.all([connect(server, 'racer1'), connect(server, 'racer2'), connect(server, 'racer3')]);
    const results = await Promise.all(racers.map((racer) => racer.join('race', 'same-id')));
    expect(SlowFetchAdapter.fetches).toBeGreaterThan(fetchesBefore);
    expect(results.filter((response) => response.ok)).toHaveLength(1);
    expect(results.filter((response) => !response.ok && response.code === 'DUPLICATE_PEER')).toHaveLength(2);
    expect(server.stats()).toMatchObject({ rooms: 1, peers: 1 });
  });

  it('admits no more than maxPeers of several sockets racing into a room', async () => {
    const server = await startServer({ adapter: SlowFetchAdapter, maxPeers: 2 });
    const racers = await Promise.all([connect(server, 'q0'), connect(server, 'q1'), connect(server, 'q2')]);
    const results = await Promise.all(racers.map((racer, i) => racer.join('race', `q${i}`)));
    expect(results.filter((response) => response.ok)).toHaveLength(2);
    expect(results.filter((response) => !response.ok && response.code === 'ROOM_FULL')).toHaveLength(1);
    expect(server.stats()).toMatchObject({ rooms: 1, peers: 2 });
  });

  it('leaves no ghost behind when a socket disconnects in the middle of its join', async () => {
    const server = await startServer({ adapter: SlowFetchAdapter });
    const observer = await joined(server, 'r', 'observer');
    const ghost = await connect(server, 'ghost');
    let release = (): void => {};
    SlowFetchAdapter.gate = new Promise<void>((resolve) => (release = resolve));
    try {
      const fetchesBefore = SlowFetchAdapter.fetches;
      ghost.raw.emit('join', { room: 'r', peerId: 'ghost', kind: 'node', protocol: SIGNALING_PROTOCOL }, () => {});
      await expect.poll(() => SlowFetchAdapter.fetches, { timeout: WAIT_MS }).toBeGreaterThan(fetchesBefore);
      ghost.socket.disconnect();
      await expect.poll(() => server.io.of('/').sockets.size, { timeout: WAIT_MS }).toBe(1);
    } finally {
      SlowFetchAdapter.gate = undefined;
      release();
    }
    // The ghost's join held the room lock first, so this one is answered only after it.
    const late = await joined(server, 'r', 'late');
    expect(server.stats().refused).toBe(1);
    expect(observer.all('peer-joined')).toEqual([{ peerId: 'late', kind: 'node' }]);
    expect(late.all('peer-joined')).toEqual([]);
    expect(server.stats()).toMatchObject({ rooms: 1, peers: 2 });
    observer.signal('ghost', { type: 'offer' });
    expect(await observer.next('signal-error')).toMatchObject({ to: 'ghost' });
    // Nobody learnt the secret of the ghost's claim, so it was dropped: the id is free, not held.
    expect(await (await connect(server, 'ghost2')).join('r', 'ghost')).toMatchObject({ ok: true });
  });
});

describe('signaling server: http and lifecycle', () => {
  it('answers /healthz with the local room and peer counts', async () => {
    const server = await startServer();
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.port).toBeGreaterThan(0);
    const empty = await httpGet(`${server.url}/healthz`);
    expect(empty.status).toBe(200);
    expect(empty.type).toMatch(/^application\/json/);
    expect(JSON.parse(empty.body)).toEqual({ ok: true, rooms: 0, peers: 0 });

    await joined(server, 'r1', 'a');
    await joined(server, 'r1', 'b');
    await joined(server, 'r2', 'c');
    expect(JSON.parse((await httpGet(`${server.url}/healthz?probe=1`)).body)).toEqual({ ok: true, rooms: 2, peers: 3 });
    expect((await httpGet(`${server.url}/elsewhere`)).status).toBe(404);
    expect((await httpGet(`${server.url}/healthz`, 'POST')).status).toBe(405);
  });

  it('shares a passed-in http server: /healthz is answered, other paths reach the owner exactly once', async () => {
    const seen: string[] = [];
    const http = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.end(`static:${req.url ?? ''}`);
    });
    httpServers.push(http);
    const server = await startServer({ httpServer: http });
    expect(server.httpServer).toBe(http);
    expect(http.listening).toBe(true);

    expect(await httpGet(`${server.url}/index.html`)).toMatchObject({ status: 200, body: 'static:/index.html' });
    expect(JSON.parse((await httpGet(`${server.url}/healthz`)).body)).toEqual({ ok: true, rooms: 0, peers: 0 });
    const alice = await joined(server, 'r', 'alice');
    expect(alice.socket.connected).toBe(true);
    expect(seen).toEqual(['/index.html']);

    await server.close();
    expect(http.listening).toBe(false);
  });

  it('uses an http server that is already listening as it is', async () => {
    const http = createServer((_req, res) => res.end('owner'));
    httpServers.push(http);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const address = http.address();
    const port = typeof address === 'object' && address !== null ? address.port : -1;
    const server = await startServer({ httpServer: http, port: 1 });
    expect(server.port).toBe(port);
    expect(server.url).toBe(`http://127.0.0.1:${port}`);
    expect(await joined(server, 'r', 'alice')).toBeInstanceOf(Peer);
  });

  it('reports a port already in use instead of hanging', async () => {
    const first = await startServer();
    await expect(createSignalingServer({ port: first.port, host: '127.0.0.1' })).rejects.toThrow(/EADDRINUSE/);
  });

  it('close() disconnects everyone, is idempotent and leaves stats consistent', async () => {
    const server = await startServer();
    const alice = await joined(server, 'r', 'alice');
    const bob = await joined(server, 'r', 'bob');
    alice.signal('bob', { type: 'offer' });
    await bob.next('signal');
    expect(server.stats()).toEqual({ rooms: 1, peers: 2, pending: 0, relayed: 1, refused: 0 });

    const disconnected = Promise.all([alice, bob].map((peer) => new Promise<string>((resolve) => peer.socket.once('disconnect', resolve))));
    const first = server.close();
    const second = server.close();
    expect(second).toBe(first);
    await withTimeout(first, 'close()', WAIT_MS);
    await withTimeout(disconnected, 'clients to see the disconnect', WAIT_MS);
    await withTimeout(server.close(), 'a third close()', WAIT_MS);
    expect(server.httpServer.listening).toBe(false);
    expect(server.stats()).toEqual({ rooms: 0, peers: 0, pending: 0, relayed: 1, refused: 0 });
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});

describe('installShutdown', () => {
  it('returns a disposer that removes exactly its handlers', () => {
    const before = { usr2: process.listenerCount('SIGUSR2'), hup: process.listenerCount('SIGHUP') };
    let closes = 0;
    const dispose = installShutdown({ close: async () => void closes++ }, { signals: ['SIGUSR2', 'SIGHUP'] });
    expect(process.listenerCount('SIGUSR2')).toBe(before.usr2 + 1);
    expect(process.listenerCount('SIGHUP')).toBe(before.hup + 1);
    dispose();
    expect(process.listenerCount('SIGUSR2')).toBe(before.usr2);
    expect(process.listenerCount('SIGHUP')).toBe(before.hup);
    expect(closes).toBe(0);
  });

  it('closes the server once and exits 0 on SIGTERM', async () => {
    const modulePath = fileURLToPath(new URL('../../server/signaling-server.ts', import.meta.url));
    const script = `
      import { createSignalingServer, installShutdown } from ${JSON.stringify(modulePath)};
      const server = await createSignalingServer({ port: 0, host: '127.0.0.1' });
      const close = server.close;
      let closes = 0;
      installShutdown({ close: () => { closes++; console.log('closing ' + closes); return close(); } });
      console.log('ready ' + server.url);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const ready = new Promise<string>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /ready (\S+)/.exec(stdout);
        if (match?.[1] !== undefined) resolve(match[1]);
      });
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const url = await withTimeout(ready, `the child server to start (stderr: ${stderr})`, 15_000);
      expect((await httpGet(`${url}/healthz`)).status).toBe(200);
      child.kill('SIGTERM');
      child.kill('SIGTERM');
      expect(await withTimeout(exited, 'the child to exit after SIGTERM', 10_000)).toBe(0);
      expect(stdout.match(/closing \d+/g)).toEqual(['closing 1']);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});
