/**
 * What the signaling server enforces against hostile clients (issue #13, its signaling parts): reclaimable
 * peer ids, signed identities, room-scoped tokens, allowed origins, bounds on connections not in a room,
 * relay rate limits and per-peer TURN credentials. Real server on 127.0.0.1:0, real socket.io clients (and
 * real Node WebRTC peers for the flood), no fixed sleeps: every wait is on an event, with a bound.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Manager } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Mesh } from '../../client/node.js';
import { SignalingClient, type SignalingState } from '../../client/signaling-client.js';
import { GameActor } from '../../demo/actors.js';
import { MemoryClaimStore } from '../../server/claims.js';
import {
  createSignalingServer,
  type AuthorizeRequest,
  type SignalingServer,
  type SignalingServerOptions,
} from '../../server/signaling-server.js';
import { turnIceServers } from '../../server/turn.js';
import { generateKeyPair } from '../../shared/identity/ed25519.js';
import { peekClaims, verifyToken, type IdentityClaims } from '../../shared/identity/token.js';
import {
  SIGNALING_LIMITS,
  type IceServerConfig,
  type IdentityGrant,
  type JoinResponse,
  type RefreshResponse,
} from '../../shared/wire/signaling.js';
import {
  WAIT_MS,
  cleanup,
  connect,
  connectError,
  connectSocket,
  joined,
  joinedWithSecret,
  ok,
  startServer,
  withTimeout,
} from './signaling-helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MESH_MS = 15_000;

const meshes: Mesh[] = [];
const signalingClients: SignalingClient[] = [];
const children: ChildProcess[] = [];
const files: string[] = [];

afterEach(async () => {
  for (const file of files.splice(0)) rmSync(file, { force: true });
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const client of signalingClients.splice(0)) client.close();
  await Promise.all(meshes.splice(0).map((mesh) => mesh.stop()));
  await cleanup();
});

const serverSocketOf = (server: SignalingServer, peerId: string) =>
  [...server.io.of('/').sockets.values()].find((socket) => socket.data.member?.peerId === peerId);

const refusal = (response: JoinResponse | RefreshResponse): { code: string; message: string } =>
  response.ok ? { code: 'OK', message: '' } : { code: response.code, message: response.message };

/** Every state a SignalingClient goes through, with a bounded wait for the next one matching. */
class StateLog {
  readonly states: SignalingState[] = [];
  private wake: (() => void) | null = null;

  readonly push = (state: SignalingState): void => {
    this.states.push(state);
    this.wake?.();
  };

  async waitFor(state: SignalingState, after: number, what: string, ms = WAIT_MS): Promise<void> {
    const seen = (): boolean => this.states.slice(after).includes(state);
    if (seen()) return;
    await withTimeout(
      new Promise<void>((resolve) => {
        this.wake = () => {
          if (seen()) resolve();
        };
      }),
      `${what} (states: ${this.states.join(' > ')})`,
      ms,
    );
    this.wake = null;
  }
}

function signalingClient(
  urls: readonly string[],
  room: string,
  peerId: string,
  extra: {
    readonly peerKey?: string;
    readonly secret?: string;
    readonly onIdentity?: (grant: IdentityGrant, ice: readonly IceServerConfig[]) => void;
  } = {},
): { client: SignalingClient; log: StateLog } {
  const log = new StateLog();
  const client = new SignalingClient({
    urls,
    room,
    peerId,
    kind: 'node',
    minBackoffMs: 20,
    maxBackoffMs: 100,
    onPeers: () => {},
    onPeerJoined: () => {},
    onPeerLeft: () => {},
    onSignal: () => {},
    onState: log.push,
    ...extra,
  });
  signalingClients.push(client);
  return { client, log };
}

function identityKey(): { pem: string; key: KeyObject; raw: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'jwk' }).x;
  if (typeof raw !== 'string') throw new Error('no raw public key');
  return { pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), key: privateKey, raw };
}

const identityOf = (response: JoinResponse): IdentityGrant | null => (response.ok ? response.identity : null);

/** The claims of a verified token: the signature checked against `serverKeys`, as a peer would. */
async function verified(grant: IdentityGrant | null): Promise<IdentityClaims> {
  if (grant === null) throw new Error('no identity in the answer');
  const check = await verifyToken(grant.token, grant.serverKeys, Date.now());
  if (!check.ok) throw new Error(`token does not verify: ${check.reason}`);
  return check.claims;
}

// ================================================================================================= claims

describe('peer ids: claimed, and reclaimable only with their secret', () => {
  it("refuses a departed peer's id to anyone else and gives it back to its holder (identity takeover)", async () => {
    const server = await startServer();
    const observer = await joined(server, 'r', 'observer');
    const { peer: victim, secret } = await joinedWithSecret(server, 'r', 'victim');
    expect(await observer.next('peer-joined')).toEqual({ peerId: 'victim', kind: 'node' });

    // The victim's signaling connection drops; the attacker joins at once with its id.
    victim.socket.disconnect();
    expect(await observer.next('peer-left')).toEqual({ peerId: 'victim' });
    const attacker = await connect(server, 'attacker');
    const bare = await attacker.join('r', 'victim');
    expect(refusal(bare).code).toBe('DUPLICATE_PEER');
    expect(refusal(bare).message).toMatch(/held .* left less than the claim time ago; only its secret can reclaim it/);
    for (const guess of ['x'.repeat(43), secret.slice(0, 42) + (secret.endsWith('A') ? 'B' : 'A'), secret.toLowerCase()]) {
      if (guess === secret) continue;
      expect(refusal(await attacker.joinWith('r', 'victim', { secret: guess })).code).toBe('DUPLICATE_PEER');
    }
    // The secret of an id is worth nothing for another id, nor for the same id in another room.
    const { secret: attackerSecret } = await joinedWithSecret(server, 'elsewhere', 'victim');
    expect(refusal(await attacker.joinWith('r', 'victim', { secret: attackerSecret })).code).toBe('DUPLICATE_PEER');
    expect(observer.all('peer-joined')).toEqual([{ peerId: 'victim', kind: 'node' }]);

    const back = await connect(server, 'victim-again');
    const response = await back.joinWith('r', 'victim', { secret });
    expect(response).toEqual(ok([{ peerId: 'observer', kind: 'node' }]));
    expect(response.ok ? response.secret : '').toBe(secret);
    expect(await observer.next('peer-joined')).toEqual({ peerId: 'victim', kind: 'node' });
    observer.signal('victim', { type: 'offer' });
    expect(await back.next('signal')).toEqual({ from: 'observer', data: { type: 'offer' } });
  });

  it('lets the holder take its id over from a connection still open, with no peer-left for it', async () => {
    const server = await startServer();
    const observer = await joined(server, 'r', 'observer');
    const { peer: stale, secret } = await joinedWithSecret(server, 'r', 'p');
    expect(await observer.next('peer-joined')).toEqual({ peerId: 'p', kind: 'node' });
    const staleGone = stale.disconnected();

    const fresh = await connect(server, 'p-fresh');
    expect(await fresh.join('r', 'p')).toMatchObject({ ok: false, code: 'DUPLICATE_PEER' });
    const response = await fresh.joinWith('r', 'p', { secret }, 'browser');
    expect(response).toEqual(ok([{ peerId: 'observer', kind: 'node' }]));
    expect(await staleGone).toBe('io server disconnect');
    expect(await observer.next('peer-joined')).toEqual({ peerId: 'p', kind: 'browser' });

    // Sentinel: a later join and leave reach the observer, and no peer-left for p came before them.
    const other = await joined(server, 'r', 'other');
    other.socket.disconnect();
    expect(await observer.next('peer-joined')).toEqual({ peerId: 'other', kind: 'node' });
    expect(await observer.next('peer-left')).toEqual({ peerId: 'other' });
    expect(observer.all('peer-left')).toEqual([{ peerId: 'other' }]);
    observer.signal('p', { type: 'offer' });
    expect(await fresh.next('signal')).toEqual({ from: 'observer', data: { type: 'offer' } });
    expect(server.stats()).toMatchObject({ rooms: 1, peers: 2 });
  });

  it('lets a claim expire after claimTtlMs: the next holder gets a new secret and the old one is worthless', async () => {
    let now = 1_700_000_000_000;
    const claims = new MemoryClaimStore({ now: () => now });
    const server = await startServer({ claims, claimTtlMs: 60_000 });
    const { peer: first, secret: oldSecret } = await joinedWithSecret(server, 'r', 'p');
    first.socket.disconnect();
    await withTimeout(
      (async () => {
        while (server.stats().peers > 0) await new Promise((resolve) => setImmediate(resolve));
      })(),
      'the server to see the disconnect',
    );
    now += 59_000;
    const early = await connect(server, 'early');
    expect(await early.join('r', 'p')).toMatchObject({ ok: false, code: 'DUPLICATE_PEER' });
    now += 1_001;
    const { peer: next, secret: newSecret } = await joinedWithSecret(server, 'r', 'p');
    expect(newSecret).not.toBe(oldSecret);
    next.socket.disconnect();
    const late = await connect(server, 'late');
    expect(await late.joinWith('r', 'p', { secret: oldSecret })).toMatchObject({ ok: false, code: 'DUPLICATE_PEER' });
    expect(await late.joinWith('r', 'p', { secret: newSecret })).toMatchObject({ ok: true, secret: newSecret });
  });

  it('lets a connection re-join under the id it holds with another kind, without presenting the secret', async () => {
    const server = await startServer();
    const observer = await joined(server, 'r', 'observer');
    const peer = await joined(server, 'r', 'p');
    expect(await peer.join('r', 'p', 'browser')).toEqual(ok([{ peerId: 'observer', kind: 'node' }]));
    expect(await observer.next('peer-joined')).toEqual({ peerId: 'p', kind: 'node' });
    expect(await observer.next('peer-left')).toEqual({ peerId: 'p' });
    expect(await observer.next('peer-joined')).toEqual({ peerId: 'p', kind: 'browser' });
  });

  it('keeps the in-memory claim store bounded, forgetting the least recently held claim first', async () => {
    let now = 0;
    const store = new MemoryClaimStore({ maxClaims: 3, now: () => now });
    expect(await store.hold('a', 'na', 1000)).toBe('na');
    expect(await store.hold('b', 'nb', 1000)).toBe('nb');
    expect(await store.hold('c', 'nc', 1000)).toBe('nc');
    // Held with another nonce: unchanged, and the holder's nonce is the answer.
    expect(await store.hold('a', 'intruder', 1000)).toBe('na');
    now = 10;
    expect(await store.hold('a', 'na', 1000)).toBe('na'); // a is now the most recently held
    expect(await store.hold('d', 'nd', 1000)).toBe('nd');
    expect(store.size).toBe(3);
    expect(await store.get('b')).toBeNull();
    expect(await store.get('a')).toBe('na');
    await store.release('a', 'wrong');
    expect(await store.get('a')).toBe('na');
    await store.release('a', 'na');
    expect(await store.get('a')).toBeNull();
    now = 1005;
    expect(await store.get('c')).toBeNull();
    expect(await store.get('d')).toBe('nd');
    expect(() => new MemoryClaimStore({ maxClaims: 0 })).toThrow(/maxClaims/);

    // Expired claims make room before any live one is forgotten.
    let t = 0;
    const small = new MemoryClaimStore({ maxClaims: 2, now: () => t });
    await small.hold('x', 'nx', 100);
    t = 50;
    await small.hold('y', 'ny', 1000);
    t = 200;
    await small.hold('z', 'nz', 1000);
    expect([await small.get('y'), await small.get('z'), small.size]).toEqual(['ny', 'nz', 2]);
    t = 300;
    await small.hold('w', 'nw', 1000);
    expect([await small.get('y'), await small.get('z'), await small.get('w')]).toEqual([null, 'nz', 'nw']);
  });

  it('the signaling client re-joins with its secret after its connection drops; an impostor cannot take its id meanwhile', async () => {
    const server = await startServer();
    const observer = await joined(server, 'r', 'observer');
    const { client, log } = signalingClient([server.url], 'r', 'c');
    await client.start(WAIT_MS);
    const mark = log.states.length;
    serverSocketOf(server, 'c')?.disconnect(true);
    const impostor = await connect(server, 'impostor');
    expect(await impostor.join('r', 'c')).toMatchObject({ ok: false, code: 'DUPLICATE_PEER' });
    await log.waitFor('joined', mark, 'the client to re-join');
    expect(log.states.slice(mark)).toContain('disconnected');
    expect(serverSocketOf(server, 'c')).toBeDefined();
    expect(await impostor.join('r', 'c')).toMatchObject({ ok: false, code: 'DUPLICATE_PEER' });
    expect(observer.all('peer-joined').map((p) => p.peerId)).toEqual(['c', 'c']);
  });

  it('a new signaling client given the reclaim secret of an earlier one gets its id back (a page reload)', async () => {
    const server = await startServer();
    const { client: before } = signalingClient([server.url], 'r', 'tab');
    await before.start(WAIT_MS);
    const secret = before.reclaimSecret;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    before.close();
    const { client: stranger } = signalingClient([server.url], 'r', 'tab');
    await expect(stranger.start(1500)).rejects.toThrow(/DUPLICATE_PEER/);
    const { client: after } = signalingClient([server.url], 'r', 'tab', { secret: secret ?? '' });
    await after.start(WAIT_MS);
    expect(after.reclaimSecret).toBe(secret);
  });

  it('the signaling client reclaims its id through its next server URL, when the servers share secret and claims', async () => {
    const claims = new MemoryClaimStore();
    const shared: SignalingServerOptions = { claims, serverSecret: 'a-secret-both-instances-share' };
    const [first, second] = await Promise.all([startServer(shared), startServer(shared)]);
    const { client, log } = signalingClient([first.url, second.url], 'r', 'c');
    await client.start(WAIT_MS);
    expect(client.currentUrl).toBe(first.url);
    const mark = log.states.length;
    await first.close();
    const impostor = await connect(second, 'impostor');
    expect(await impostor.join('r', 'c')).toMatchObject({ ok: false, code: 'DUPLICATE_PEER' });
    await log.waitFor('joined', mark, 'the client to re-join through the second server');
    expect(client.currentUrl).toBe(second.url);
    expect(serverSocketOf(second, 'c')).toBeDefined();
  });

  it('refuses malformed secrets and peer keys, and rate-limits a flood of joins', async () => {
    const server = await startServer();
    const hostile = await connect(server, 'hostile');
    const before = server.stats().refused;
    const bad: Record<string, unknown>[] = [
      { secret: 42 },
      { secret: '' },
      { secret: ['a'] },
      { secret: 'x'.repeat(SIGNALING_LIMITS.maxSecretLength + 1) },
      { secret: 'x'.repeat(200_000) },
      { peerKey: 7 },
      { peerKey: '' },
      { peerKey: 'A'.repeat(42) },
      { peerKey: 'A'.repeat(44) },
      { peerKey: `${'A'.repeat(42)}B` }, // non-canonical: the last character carries bits past 32 bytes
      { peerKey: `${'A'.repeat(42)}=` },
      { peerKey: { x: 1 } },
    ];
    for (const extra of bad) {
      expect(await hostile.joinWith('r', 'hostile', extra), JSON.stringify(extra).slice(0, 60)).toMatchObject({
        ok: false,
        code: 'INVALID_ARGUMENT',
      });
    }
    expect(server.stats().refused).toBe(before + bad.length);

    // A flood of well-formed joins: the first burst is served, the rest refused before any lookup or broadcast.
    const answers = await Promise.all(Array.from({ length: 100 }, () => hostile.join('r', 'hostile')));
    const served = answers.filter((a) => a.ok).length;
    expect(served).toBeGreaterThanOrEqual(10);
    expect(served).toBeLessThan(20);
    expect(answers.filter((a) => !a.ok && a.code === 'RATE_LIMITED')).toHaveLength(100 - served);
    // Another connection is not affected.
    expect(await (await connect(server, 'calm')).join('r', 'calm')).toMatchObject({ ok: true });
  });
});

// ======================================================================================= signed identities

describe('signed identities', () => {
  it('requires a peer key and answers a token bound to it, with the capabilities its kind is granted', async () => {
    const current = identityKey();
    const old = identityKey();
    const server = await startServer({
      identity: { privateKey: current.pem, previousPublicKeys: [old.raw], ttlMs: 60_000 },
      grants: { browser: ['game'], node: ['game', 'bank'] },
    });
    const tab = await connect(server, 'tab');
    expect(refusal(await tab.join('r', 'tab', 'browser'))).toEqual({
      code: 'UNAUTHORIZED',
      message: "this server issues signed identities: a join must carry the peer's public key (peerKey)",
    });

    const tabKey = await generateKeyPair();
    const before = Date.now();
    const response = await tab.joinWith('r', 'tab', { peerKey: tabKey.publicKey }, 'browser');
    if (!response.ok) throw new Error(`refused: ${response.message}`);
    expect(response.identity?.serverKeys).toEqual([current.raw, old.raw]);
    const claims = await verified(response.identity);
    expect(claims).toMatchObject({ v: 1, room: 'r', peerId: 'tab', kind: 'browser', caps: ['game'], key: tabKey.publicKey });
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(claims.exp - claims.iat).toBe(60_000);

    const nodeKey = await generateKeyPair();
    const node = await connect(server, 'node');
    const nodeClaims = await verified(identityOf(await node.joinWith('r', 'node', { peerKey: nodeKey.publicKey })));
    expect(nodeClaims.caps).toEqual(['bank', 'game']);
    // A kind the grants do not list may host nothing.
    const memKey = await generateKeyPair();
    const mem = await connect(server, 'mem');
    const memAnswer = await mem.joinWith('r', 'mem', { peerKey: memKey.publicKey }, 'memory');
    expect(memAnswer.ok && peekClaims(memAnswer.identity?.token ?? '')?.caps).toEqual([]);
  });

  it('keeps the largest token it can issue within what peers accept', async () => {
    // 2,048 characters of capabilities in JSON, the most the server grants.
    const caps = Array.from({ length: 70 }, (_, i) => `c${String(i).padStart(2, '0')}-${'x'.repeat(22)}`).slice(0, 70);
    expect(JSON.stringify(caps).length).toBeLessThanOrEqual(2048);
    const server = await startServer({ identity: { privateKey: identityKey().pem }, authorize: () => ({ caps }) });
    const room = '\u0001'.repeat(SIGNALING_LIMITS.maxRoomLength); // six characters each once in JSON
    const peerId = 'p'.repeat(SIGNALING_LIMITS.maxPeerIdLength);
    const answer = await (await connect(server, 'big')).joinWith(room, peerId, { peerKey: (await generateKeyPair()).publicKey });
    const grant = identityOf(answer);
    expect(grant?.token.length).toBeLessThan(8192);
    expect((await verified(grant)).caps).toHaveLength(70);
  });

  it('takes the key as a KeyObject, any capability without grants, and refuses keys that are not Ed25519', async () => {
    const { key, raw } = identityKey();
    const server = await startServer({ identity: { privateKey: key } });
    const peerKey = (await generateKeyPair()).publicKey;
    const answer = await (await connect(server, 'p')).joinWith('r', 'p', { peerKey });
    const claims = await verified(answer.ok ? answer.identity : null);
    expect(claims.caps).toBeNull();
    expect(claims.exp - claims.iat).toBe(10 * 60_000);
    expect(answer.ok ? answer.identity?.serverKeys : []).toEqual([raw]);
    // A kind granted null may carry anything; one not listed, nothing.
    const graded = await startServer({ identity: { privateKey: key }, grants: { node: null, browser: ['game'] } });
    const nodeAnswer = await (await connect(graded, 'n')).joinWith('r', 'n', { peerKey });
    expect((await verified(identityOf(nodeAnswer))).caps).toBeNull();
    const memAnswer = await (await connect(graded, 'm')).joinWith('r', 'm', { peerKey }, 'memory');
    expect((await verified(identityOf(memAnswer))).caps).toEqual([]);

    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const base = { port: 0, host: '127.0.0.1' };
    await expect(createSignalingServer({ ...base, identity: { privateKey: rsa } })).rejects.toThrow(/Ed25519/);
    await expect(createSignalingServer({ ...base, identity: { privateKey: 'not a pem' } })).rejects.toThrow(/PEM/);
    await expect(createSignalingServer({ ...base, identity: { privateKey: key, previousPublicKeys: ['short'] } })).rejects.toThrow(
      /previousPublicKeys/,
    );
    await expect(createSignalingServer({ ...base, identity: { privateKey: key, ttlMs: 10 } })).rejects.toThrow(/ttlMs/);
    await expect(createSignalingServer({ ...base, grants: { toaster: ['x'] } as never })).rejects.toThrow(/grants/);
  });

  it("asks the authorize hook, which sees the handshake's credential and origin, and can refuse or narrow the grant", async () => {
    const asked: AuthorizeRequest[] = [];
    const server = await startServer({
      identity: { privateKey: identityKey().pem },
      grants: { node: ['bank', 'chat', 'game'] },
      authorizeTimeoutMs: 200,
      authorize: async (request) => {
        asked.push(request);
        switch (request.credential) {
          case 'alice-session':
            return { caps: ['game', 'chat', 'admin'] };
          case 'bob-session':
            return true;
          case 'throws':
            throw new Error('database is down');
          case 'slow':
            return new Promise<boolean>(() => {});
          case 'garbage':
            return { caps: 'all' } as never;
          case 'huge':
            return { caps: Array.from({ length: 200 }, (_, i) => `capability-${i}-${'x'.repeat(20)}`) };
          default:
            return false;
        }
      },
    });
    const peerKey = (await generateKeyPair()).publicKey;
    const alice = await connect(server, 'alice', { token: 'alice-session' }, { origin: 'https://app.example.org' });
    const aliceClaims = await verified(identityOf(await alice.joinWith('r', 'alice', { peerKey })));
    // What the hook grants and what the kind may have, both: 'admin' is not a node capability.
    expect(aliceClaims.caps).toEqual(['chat', 'game']);
    expect(asked[0]).toMatchObject({
      room: 'r',
      peerId: 'alice',
      kind: 'node',
      credential: 'alice-session',
      origin: 'https://app.example.org',
      peerKey,
      reason: 'join',
    });
    expect(asked[0]?.address).toMatch(/127\.0\.0\.1/);

    const bob = await connect(server, 'bob', { token: 'bob-session' });
    expect(await verified(identityOf(await bob.joinWith('r', 'bob', { peerKey })))).toMatchObject({ caps: ['bank', 'chat', 'game'] });
    expect(asked[1]).toMatchObject({ credential: 'bob-session', origin: undefined });

    const cases: [Record<string, unknown> | undefined, string][] = [
      [undefined, 'not authorized'],
      [{ token: 'mallory' }, 'not authorized'],
      [{ token: 'throws' }, 'authorization failed'],
      [{ token: 'slow' }, 'authorization failed'],
      [{ token: 'garbage' }, 'authorization failed'],
      // Would make a token larger than peers accept.
      [{ token: 'huge' }, 'authorization failed'],
    ];
    for (const [auth, message] of cases) {
      const peer = await connect(server, `p-${String(auth?.['token'])}`, auth);
      expect(refusal(await peer.joinWith('r', peer.name, { peerKey })), JSON.stringify(auth)).toEqual({ code: 'UNAUTHORIZED', message });
    }
    expect(server.stats()).toMatchObject({ peers: 2 });
  });

  it('refreshes the token of a joined peer with the same key, and stops when the hook revokes the grant', async () => {
    let revoked = false;
    const server = await startServer({
      identity: { privateKey: identityKey().pem, ttlMs: 60_000 },
      authorize: ({ reason }) => (reason === 'refresh' && revoked ? false : { caps: ['game'] }),
    });
    const peerKey = (await generateKeyPair()).publicKey;
    const peer = await connect(server, 'p');
    expect(refusal(await peer.refresh())).toEqual({ code: 'INVALID_ARGUMENT', message: 'join a room before refreshing' });
    const joinedAnswer = await peer.joinWith('r', 'p', { peerKey });
    const first = await verified(joinedAnswer.ok ? joinedAnswer.identity : null);

    const refreshed = await peer.refresh();
    if (!refreshed.ok) throw new Error(`refresh refused: ${refreshed.message}`);
    const second = await verified(refreshed.identity);
    expect(second).toMatchObject({ room: 'r', peerId: 'p', kind: 'node', caps: ['game'], key: peerKey });
    expect(second.exp).toBeGreaterThanOrEqual(first.exp);
    expect(second.exp - second.iat).toBe(60_000);

    revoked = true;
    expect(refusal(await peer.refresh())).toEqual({ code: 'UNAUTHORIZED', message: 'not authorized' });
    peer.socket.emit('leave');
    expect(refusal(await peer.refresh())).toEqual({ code: 'INVALID_ARGUMENT', message: 'join a room before refreshing' });
  });

  it('refuses refresh in open mode, and survives malformed refreshes and a refresh flood', async () => {
    const open = await startServer();
    const openPeer = await joined(open, 'r', 'p');
    expect(refusal(await openPeer.refresh())).toEqual({
      code: 'INVALID_ARGUMENT',
      message: 'this server does not issue signed identities',
    });

    const server = await startServer({ identity: { privateKey: identityKey().pem } });
    const peer = await connect(server, 'p');
    await peer.joinWith('r', 'p', { peerKey: (await generateKeyPair()).publicKey });
    const before = server.stats().refused;
    // No ack: nothing to answer on, counted and dropped. Extra arguments: answered with a refusal.
    peer.raw.emit('refresh');
    peer.raw.emit('refresh', { please: true });
    const extra = await withTimeout(
      new Promise<RefreshResponse>((resolve) => peer.raw.emit('refresh', 'x'.repeat(100_000), resolve)),
      'the ack of a refresh with an argument',
    );
    expect(refusal(extra).code).toBe('INVALID_ARGUMENT');
    expect(server.stats().refused).toBe(before + 3);

    const answers = await Promise.all(Array.from({ length: 50 }, () => peer.refresh()));
    const served = answers.filter((a) => a.ok).length;
    expect(served).toBeGreaterThanOrEqual(4);
    expect(served).toBeLessThan(10);
    expect(answers.filter((a) => !a.ok && a.code === 'RATE_LIMITED')).toHaveLength(50 - served);
    // The connection still relays.
    const other = await connect(server, 'q');
    await other.joinWith('r', 'q', { peerKey: (await generateKeyPair()).publicKey });
    peer.signal('q', { type: 'offer' });
    expect(await other.next('signal')).toEqual({ from: 'p', data: { type: 'offer' } });
  });

  it('the signaling client sends its key, reports each identity and refreshes it by itself at about 2/3 of its life', async () => {
    const server = await startServer({ identity: { privateKey: identityKey().pem, ttlMs: 1500 } });
    const keys = await generateKeyPair();
    const grants: { claims: IdentityClaims; at: number }[] = [];
    let wake = (): void => {};
    const { client } = signalingClient([server.url], 'r', 'c', {
      peerKey: keys.publicKey,
      onIdentity: (grant) => {
        void verified(grant).then((claims) => {
          grants.push({ claims, at: Date.now() });
          wake();
        });
      },
    });
    const started = Date.now();
    await client.start(WAIT_MS);
    await withTimeout(
      new Promise<void>((resolve) => {
        wake = () => {
          if (grants.length >= 3) resolve();
        };
        wake();
      }),
      'two refreshes',
      5000,
    );
    expect(grants.map((g) => g.claims.key)).toEqual([keys.publicKey, keys.publicKey, keys.publicKey]);
    expect(client.identity).not.toBeNull();
    // Each refresh came before the previous token expired, and not before 2/3 of its lifetime.
    for (let i = 1; i < grants.length; i++) {
      const previous = grants[i - 1]!;
      const gap = grants[i]!.at - previous.at;
      expect(gap).toBeGreaterThanOrEqual(900);
      expect(grants[i]!.at).toBeLessThan(previous.claims.exp);
    }
    expect(grants[0]!.at - started).toBeLessThan(1500);
  });
});

// ============================================================================================ TURN per peer

describe('TURN credentials per peer', () => {
  it('names the peer in the username and, with signed identities, expires them with its token; refresh renews them', async () => {
    const secret = 'turn-shared-secret';
    const iceServers = turnIceServers({ secret, urls: 'turn:turn.example.org:3478', ttlSeconds: 86_400 });
    const server = await startServer({ identity: { privateKey: identityKey().pem, ttlMs: 120_000 }, iceServers });
    const peer = await connect(server, 'p');
    const answer = await peer.joinWith('r', 'p', { peerKey: (await generateKeyPair()).publicKey });
    if (!answer.ok) throw new Error(answer.message);
    const claims = await verified(answer.identity);
    const turn = answer.iceServers[0];
    expect(turn?.username).toBe(`${Math.floor(claims.exp / 1000)}:p`);
    expect(turn?.credential).toBe(
      createHmac('sha1', secret)
        .update(turn?.username ?? '')
        .digest('base64'),
    );

    const refreshed = await peer.refresh();
    if (!refreshed.ok) throw new Error(refreshed.message);
    const renewed = await verified(refreshed.identity);
    expect(refreshed.iceServers[0]?.username).toBe(`${Math.floor(renewed.exp / 1000)}:p`);

    // Open mode: the factory's own lifetime, still named after the peer.
    const open = await startServer({ iceServers, token: 't' });
    const openAnswer = await (await connect(open, 'q', { token: 't' })).join('r', 'q');
    const [expiry, user] = (openAnswer.ok ? (openAnswer.iceServers[0]?.username ?? '') : '').split(':');
    expect(user).toBe('q');
    expect(Number(expiry) - Date.now() / 1000).toBeGreaterThan(86_000);
  });

  it('warns at start-up when TURN is handed out without any auth', async () => {
    const lines: string[] = [];
    const log = (line: string): void => void lines.push(line);
    const turn = turnIceServers({ secret: 's', urls: 'turn:t' });
    const warning = /warning: TURN credentials go to anyone who can connect/;
    await startServer({ iceServers: turn, log });
    expect(lines.filter((l) => warning.test(l))).toHaveLength(1);
    await startServer({ iceServers: [{ urls: 'turns:t:5349', username: 'u', credential: 'c' }], log });
    expect(lines.filter((l) => warning.test(l))).toHaveLength(2);
    for (const guarded of [
      { token: 'x' },
      { authorize: () => true },
      { identity: { privateKey: identityKey().pem } },
      { tokens: { a: { rooms: '*' as const } } },
    ]) {
      await startServer({ iceServers: turn, log, ...guarded });
    }
    await startServer({ iceServers: [{ urls: 'stun:s' }], log });
    expect(lines.filter((l) => warning.test(l))).toHaveLength(2);
  });
});

// ============================================================================================== access

describe('room-scoped tokens', () => {
  it('admits a token only to its rooms, next to the server-wide token', async () => {
    const server = await startServer({
      token: 'everywhere',
      tokens: { 'only-a': { rooms: ['A'] }, 'a-and-b': { rooms: ['A', 'B'] } },
    });
    const a = await connect(server, 'a', { token: 'only-a' });
    expect(await a.join('A', 'a')).toMatchObject({ ok: true });
    expect(refusal(await a.join('B', 'a'))).toEqual({ code: 'UNAUTHORIZED', message: 'this token does not admit room "B"' });
    const ab = await connect(server, 'ab', { token: 'a-and-b' });
    expect(await ab.join('B', 'ab')).toMatchObject({ ok: true });
    expect(refusal(await ab.join('C', 'ab')).code).toBe('UNAUTHORIZED');
    const any = await connect(server, 'any', { token: 'everywhere' });
    expect(await any.join('C', 'any')).toMatchObject({ ok: true });
    const refused = await Promise.all([
      connectError(server),
      connectError(server, { token: 'only-b' }),
      connectError(server, { token: 'x'.repeat(SIGNALING_LIMITS.maxCredentialLength + 1) }),
    ]);
    expect(refused.map((e) => e.message)).toEqual([
      'UNAUTHORIZED: missing token',
      'UNAUTHORIZED: invalid token',
      `UNAUTHORIZED: token longer than ${SIGNALING_LIMITS.maxCredentialLength} characters`,
    ]);
  });

  it("caps a signed identity's capabilities by its token's scope too", async () => {
    const server = await startServer({
      identity: { privateKey: identityKey().pem },
      grants: { node: ['bank', 'game'] },
      tokens: { tabs: { rooms: '*', caps: ['game', 'chat'] }, ops: { rooms: ['ops'] } },
    });
    const peerKey = (await generateKeyPair()).publicKey;
    const tab = await connect(server, 'tab', { token: 'tabs' });
    expect((await verified(identityOf(await tab.joinWith('r', 'tab', { peerKey })))).caps).toEqual(['game']);
    const ops = await connect(server, 'ops', { token: 'ops' });
    expect((await verified(identityOf(await ops.joinWith('ops', 'ops', { peerKey })))).caps).toEqual(['bank', 'game']);
  });

  it('refuses malformed token lists at start-up', async () => {
    const base = { port: 0, host: '127.0.0.1' };
    await expect(createSignalingServer({ ...base, tokens: { '': { rooms: '*' } } })).rejects.toThrow(/empty/);
    await expect(createSignalingServer({ ...base, tokens: { t: { rooms: [] } } })).rejects.toThrow(/rooms/);
    await expect(createSignalingServer({ ...base, tokens: { t: { rooms: 'A' as never } } })).rejects.toThrow(/rooms/);
    await expect(createSignalingServer({ ...base, tokens: { t: { rooms: ['A'], caps: [''] } } })).rejects.toThrow(/caps/);
  });
});

describe('allowed origins', () => {
  it('refuses a page of another origin at the handshake, and admits its own pages and Node clients', async () => {
    const server = await startServer({ allowedOrigins: ['https://app.example.org', 'http://localhost:5173'] });
    const foreign = await Promise.all(
      [
        'https://evil.example',
        'https://app.example.org.evil.example',
        'http://app.example.org',
        'https://app.example.org:8443',
        'null',
        'garbage',
      ].map((origin) => connectError(server, undefined, { origin })),
    );
    expect(foreign.map((error) => error.message)).toEqual([
      'UNAUTHORIZED: origin "https://evil.example" is not allowed',
      'UNAUTHORIZED: origin "https://app.example.org.evil.example" is not allowed',
      'UNAUTHORIZED: origin "http://app.example.org" is not allowed',
      'UNAUTHORIZED: origin "https://app.example.org:8443" is not allowed',
      'UNAUTHORIZED: origin "null" is not allowed',
      'UNAUTHORIZED: origin "garbage" is not allowed',
    ]);
    for (const [i, origin] of ['https://app.example.org', 'https://APP.example.org:443', 'http://localhost:5173'].entries()) {
      const page = await connect(server, origin, undefined, { origin });
      expect(await page.join('r', `page${i}`)).toMatchObject({ ok: true });
    }
    // No Origin header: not a browser (which always sends one), and anything else could forge one anyway.
    expect(await (await connect(server, 'node')).join('r', 'node')).toMatchObject({ ok: true });
    expect(server.stats().refused).toBe(6);
  });

  it('refuses entries that are not origins at start-up', async () => {
    for (const bad of ['https://app.example.org/', 'app.example.org', 'https://a.example/path', '*']) {
      await expect(createSignalingServer({ port: 0, host: '127.0.0.1', allowedOrigins: [bad] }), bad).rejects.toThrow(/allowedOrigins/);
    }
  });
});

// ================================================================================== connections not joined

describe('connections not in a room', () => {
  it('caps them: the excess is refused, members keep relaying, and a slot frees as soon as one joins', async () => {
    const server = await startServer({ maxPendingSockets: 5, joinTimeoutMs: 30_000 });
    const alice = await joined(server, 'r', 'alice');
    const bob = await joined(server, 'r', 'bob');
    const idle = await Promise.all(Array.from({ length: 5 }, (_, i) => connect(server, `idle${i}`)));
    expect(server.stats().pending).toBe(5);
    const excessSockets = [connectSocket(server), connectSocket(server)];
    const excess = await Promise.all(
      excessSockets.map((socket) => withTimeout(new Promise<Error>((resolve) => socket.once('connect_error', resolve)), 'the refusal')),
    );
    expect(excess.map((e) => e.message)).toEqual([
      'RATE_LIMITED: too many connections waiting to join (5); retry later',
      'RATE_LIMITED: too many connections waiting to join (5); retry later',
    ]);
    alice.signal('bob', { type: 'offer' });
    expect(await bob.next('signal')).toEqual({ from: 'alice', data: { type: 'offer' } });

    // A waiting connection that joins is no longer waiting; the refused ones are gone once their clients close.
    expect(await idle[0]!.join('r', 'idle0')).toMatchObject({ ok: true });
    for (const socket of excessSockets) socket.disconnect();
    await cleanupRefused(server, 4);
    const late = await connect(server, 'late');
    expect(await late.join('r', 'late')).toMatchObject({ ok: true });
  });

  it('closes a connection that has not joined within joinTimeoutMs, and one that left its room', async () => {
    const server = await startServer({ joinTimeoutMs: 300 });
    const member = await joined(server, 'r', 'member');
    const idle = await connect(server, 'idle');
    const leaver = await joined(server, 'r', 'leaver');
    const idleGone = idle.disconnected();
    const leaverGone = leaver.disconnected();
    leaver.socket.emit('leave');
    expect(await idleGone).toBe('io server disconnect');
    expect(await leaverGone).toBe('io server disconnect');
    // The member, connected before both, is still there.
    expect(member.socket.connected).toBe(true);
    expect(server.stats()).toMatchObject({ peers: 1, pending: 0 });
    expect(server.stats().refused).toBe(2);
  });

  it('closes a transport that never even opens a socket.io session within the same time', async () => {
    const server = await startServer({ joinTimeoutMs: 300 });
    const manager = new Manager(server.url, { transports: ['websocket'], reconnection: false, autoConnect: false });
    try {
      const opened = new Promise<void>((resolve, reject) => manager.open((error) => (error ? reject(error) : resolve())));
      await withTimeout(opened, 'the engine.io connection');
      expect(server.stats().pending).toBe(1);
      const closed = new Promise<string>((resolve) => manager.once('close', (reason: string) => resolve(reason)));
      expect(await withTimeout(closed, 'the server to close the bare transport')).toBe('transport close');
      expect(server.stats().pending).toBe(0);
    } finally {
      manager.engine?.close();
    }
  });
});

/** Waits until the refused connections of a test have closed on the server side (their clients did). */
async function cleanupRefused(server: SignalingServer, pendingAtMost: number): Promise<void> {
  await withTimeout(
    (async () => {
      while (server.stats().pending > pendingAtMost) await new Promise((resolve) => setTimeout(resolve, 10));
    })(),
    `pending connections to drop to ${pendingAtMost} (now ${server.stats().pending})`,
  );
}

// =============================================================================================== relays

describe('relay rate limit', () => {
  it('cuts a flood of 20,000 signals down to the bucket, while two Node peers connect and call each other', async () => {
    const server = await startServer({ signalsPerSecond: 50, signalBurst: 200 });
    const room = 'flooded';
    const peerOptions = {
      signal: server.url,
      room,
      capabilities: ['game'],
      actors: { GameActor },
      bindAddress: '127.0.0.1',
      connectTimeoutMs: MESH_MS,
    };
    const victim = await Mesh.start({ ...peerOptions, peerId: 'victim-a' });
    meshes.push(victim);
    // The lowest id: the peers wait for its offers, and the junk it sends is not an offer, so they ignore it.
    const flooder = await joined(server, room, 'aa-flooder');
    const flooded = 20_000;
    const started = performance.now();
    for (let i = 0; i < flooded; i++) flooder.signal('victim-a', { junk: i });
    const newcomer = await Mesh.start({ ...peerOptions, peerId: 'victim-b' });
    meshes.push(newcomer);

    // The barrier: the join ack comes after every signal sent before it has been handled.
    expect(await flooder.join(room, 'aa-flooder')).toMatchObject({ ok: true });
    const seconds = (performance.now() - started) / 1000;
    await flooder.waitForCount('signal-error', 1);
    const limited = flooder.all('signal-error').filter((e) => /^rate limited/.test(e.reason));
    const passed = flooded - limited.length;
    expect(passed).toBeGreaterThanOrEqual(200);
    expect(passed).toBeLessThanOrEqual(200 + Math.ceil(50 * seconds) + 1);
    expect(limited[0]).toEqual({ to: 'victim-a', reason: 'rate limited: at most 200 signals at once and 50/s per connection' });
    expect(server.stats().refused).toBeGreaterThanOrEqual(limited.length);

    await withTimeout(
      (async () => {
        const sees = (mesh: Mesh, id: string): boolean => mesh.peers().some((p) => p.id === id);
        while (!(sees(victim, 'victim-b') && sees(newcomer, 'victim-a'))) await new Promise((resolve) => setTimeout(resolve, 20));
      })(),
      'the two peers to connect during the flood',
      MESH_MS,
    );
    for (let i = 0; i < 1000; i++) {
      const id = `player-${i}`;
      if (newcomer.ownerPeer(newcomer.shardFor(id), 'game') !== 'victim-a') continue;
      const result = await newcomer.call<number>({ actor: 'GameActor', id, capability: 'game', payload: { action: 'increment_score' } });
      expect(result).toMatchObject({ peer: 'victim-a', result: 1 });
      break;
    }
  }, 60_000);
});

// ================================================================================================== CLI

describe('server-cli with signed identities and origins', () => {
  it('serves signed identities from --identity-key with --grants, and refuses foreign origins', async () => {
    const dir = `${ROOT}/tests/.tmp`;
    mkdirSync(dir, { recursive: true });
    const key = identityKey();
    const keyFile = `${dir}/identity-${process.pid}.pem`;
    writeFileSync(keyFile, key.pem, { mode: 0o600 });
    files.push(keyFile);
    const tokensFile = `${dir}/tokens-${process.pid}.json`;
    writeFileSync(tokensFile, JSON.stringify({ 'lobby-token': { rooms: ['lobby'] } }), { mode: 0o600 });
    files.push(tokensFile);
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'server/server-cli.ts',
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--identity-key',
        keyFile,
        '--identity-ttl',
        '90',
        '--grants',
        'browser=game;node=game,bank',
        '--allowed-origins',
        'https://app.example.org',
        '--tokens-file',
        tokensFile,
      ],
      { cwd: ROOT, env: { ...process.env, REDIS_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const url = await withTimeout(
      new Promise<string>((resolve) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          const match = /signaling server listening on (http:\/\/\S+)/.exec(stdout);
          if (match?.[1] !== undefined) resolve(match[1]);
        });
      }),
      `the CLI to start (stderr: ${stderr})`,
      15_000,
    );
    expect(stdout).toContain('signed identities valid 90 s');
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    const foreign = connectSocket(url, { auth: { token: 'lobby-token' }, headers: { origin: 'https://evil.example' } });
    const refusedOrigin = await withTimeout(
      new Promise<Error>((resolve) => foreign.once('connect_error', resolve)),
      'the foreign origin refusal',
    );
    expect(refusedOrigin.message).toBe('UNAUTHORIZED: origin "https://evil.example" is not allowed');

    const peer = await connect(url, 'node-peer', { token: 'lobby-token' });
    const peerKey = (await generateKeyPair()).publicKey;
    expect(refusal(await peer.joinWith('other', 'n', { peerKey })).code).toBe('UNAUTHORIZED');
    const answer = await peer.joinWith('lobby', 'n', { peerKey });
    const claims = await verified(answer.ok ? answer.identity : null);
    expect(claims).toMatchObject({ room: 'lobby', peerId: 'n', caps: ['bank', 'game'], key: peerKey });
    expect(claims.exp - claims.iat).toBe(90_000);
    expect(answer.ok ? answer.identity?.serverKeys : []).toEqual([key.raw]);

    child.kill('SIGTERM');
    expect(await withTimeout(exited, 'the CLI to exit after SIGTERM', 10_000)).toBe(0);
  });

  it('exits 2 when the identity key is not an Ed25519 key', async () => {
    const dir = `${ROOT}/tests/.tmp`;
    mkdirSync(dir, { recursive: true });
    const keyFile = `${dir}/rsa-${process.pid}.pem`;
    writeFileSync(
      keyFile,
      generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    );
    files.push(keyFile);
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/server-cli.ts', '--port', '0', '--identity-key', keyFile], {
      cwd: ROOT,
      env: { ...process.env, REDIS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await withTimeout(new Promise<number | null>((resolve) => child.once('exit', resolve)), 'the CLI to exit', 15_000);
    expect(code).toBe(2);
    expect(stderr).toMatch(/Ed25519/);
  });
});
