/**
 * Signed identities in the mesh core (MemoryNetwork): a room whose authority signs tokens admits only peers
 * that present a valid token for their own id, room and kind, prove on this connection that they hold the
 * token's key, and claim only granted capabilities. Stolen, replayed, foreign, expired and over-claiming
 * identities are refused; tokens renew; an open room stays open.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Actor } from '../../shared/actors/actor.js';
import { UnauthorizedError } from '../../shared/errors.js';
import { fromBase64Url, toBase64Url } from '../../shared/identity/base64url.js';
import { generateKeyPair } from '../../shared/identity/ed25519.js';
import { signProof } from '../../shared/identity/proof.js';
import { peekClaims, verifyToken } from '../../shared/identity/token.js';
import { Mesh, type MeshEvents } from '../../shared/mesh.js';
import { MemoryNetwork } from '../../shared/wire/memory-transport.js';
import { authority, claimsFor, TestIdentity, type Authority, type ClaimOptions } from '../fixtures/identities.js';
import { expectRejects, refusals, stopAll, waitConverged } from '../fixtures/mesh-helpers.js';
import { until } from '../fixtures/wait.js';
import { RawPeer } from '../fixtures/raw-peer.js';

class Echo implements Actor {
  handleCall(payload: unknown): unknown {
    return payload;
  }
}

let ca: Authority;
let net: MemoryNetwork;
const running: Mesh[] = [];
const raws: RawPeer[] = [];

beforeAll(async () => {
  ca = await authority();
});
beforeEach(() => {
  net = new MemoryNetwork();
});
afterEach(async () => {
  await Promise.all(raws.splice(0).map((r) => r.stop()));
  await stopAll(running.splice(0));
});

async function peer(
  id: string,
  claims: ClaimOptions = {},
  capabilities: readonly string[] = ['game'],
): Promise<{ mesh: Mesh; identity: TestIdentity }> {
  const identity = await TestIdentity.create(ca, id, claims);
  const mesh = await Mesh.start({ peerId: id, capabilities, actors: { Echo }, heartbeatMs: 50, transport: net.transport({ identity }) });
  running.push(mesh);
  return { mesh, identity };
}

describe('tokens', () => {
  it('verify only under a trusted key, untampered and unexpired', async () => {
    const keys = await generateKeyPair();
    const token = await ca.issue(claimsFor('room', 'p', keys.publicKey));
    expect((await verifyToken(token, [ca.publicKey], Date.now())).ok).toBe(true);
    const other = await authority();
    expect(await verifyToken(token, [other.publicKey], Date.now())).toEqual({ ok: false, reason: 'token not signed by a trusted key' });
    const [payload, sig] = token.split('.') as [string, string];
    const claims = JSON.parse(new TextDecoder().decode(fromBase64Url(payload)!)) as Record<string, unknown>;
    const forged = toBase64Url(new TextEncoder().encode(JSON.stringify({ ...claims, caps: ['bank'] })));
    expect((await verifyToken(`${forged}.${sig}`, [ca.publicKey], Date.now())).ok).toBe(false);
    expect((await verifyToken(token, [ca.publicKey], Date.now() + 120_000)).ok).toBe(false);
    for (const junk of ['', '.', 'a.b.c', 'x'.repeat(10_000), `${payload}.!!`])
      expect((await verifyToken(junk, [ca.publicKey], Date.now())).ok).toBe(false);
    expect(peekClaims(token)?.peerId).toBe('p');
  });
});

describe('a room with signed identities', () => {
  it('admits peers with valid tokens; calls flow', async () => {
    const { mesh: a } = await peer('peer-a');
    const { mesh: b } = await peer('peer-b');
    await waitConverged([a, b]);
    const ids = Array.from({ length: 20 }, (_, i) => `x${i}`);
    const results = await Promise.all(ids.map((id) => a.call({ actor: 'Echo', id, capability: 'game', payload: id })));
    expect(new Set(results.map((r) => r.peer))).toEqual(new Set(['peer-a', 'peer-b']));
  });

  it('refuses a peer without a token, and one whose token names another peer', async () => {
    const { mesh: a } = await peer('peer-a');
    const seen = refusals(a);
    const open = await Mesh.start({ peerId: 'peer-open', capabilities: ['game'], actors: { Echo }, transport: net.transport() });
    running.push(open);
    const { mesh: liar } = await peer('peer-liar', { tokenPeerId: 'peer-a' });
    await until(() => new Set(seen.map((e) => e.peer)).size === 2, 'both refusals');
    expect([...new Map(seen.map((e) => [e.peer, e.error.code])).entries()].sort()).toEqual([
      ['peer-liar', 'UNAUTHORIZED'],
      ['peer-open', 'UNAUTHORIZED'],
    ]);
    expect(a.peers().map((p) => p.id)).toEqual(['peer-a']);
    void liar;
  });

  it('refuses an expired token, a token of another room and a token for another kind of peer', async () => {
    const { mesh: a } = await peer('peer-a');
    const seen = refusals(a);
    await peer('peer-old', { ttlMs: -1000 });
    await peer('peer-away', { room: 'elsewhere' });
    await peer('peer-node', { kind: 'node' });
    await until(() => new Set(seen.map((e) => e.peer)).size === 3, 'the three to be refused');
    expect(seen.every((e) => e.error instanceof UnauthorizedError)).toBe(true);
    const why = (peerId: string): string =>
      seen
        .filter((e) => e.peer === peerId)
        .map((e) => e.error.message)
        .join(' / ');
    expect(why('peer-old')).toMatch(/token expired/);
    // peer-away may refuse us first (our token is for another room): either way, it is out.
    expect(why('peer-away')).toMatch(/in room (elsewhere|room)/);
    expect(why('peer-node')).toMatch(/token is for a node peer, hello says memory/);
    expect(a.peers()).toHaveLength(1);
  });

  it('a stolen token is worthless: its thief cannot prove the key, and a copied proof does not fit another connection', async () => {
    const { mesh: a, identity: victim } = await peer('peer-a');
    const seen = refusals(a);
    // The thief holds peer-victim's token, but signs with its own key.
    const victimIdentity = await TestIdentity.create(ca, 'peer-victim');
    const thief = await RawPeer.start(net, 'peer-victim', { hello: false });
    raws.push(thief);
    const ownKeys = await generateKeyPair();
    const fp = thief.fingerprints('peer-a');
    const proof = await signProof(ownKeys.privateKey, {
      room: 'room',
      from: 'peer-victim',
      to: 'peer-a',
      fromFingerprint: fp.local,
      toFingerprint: fp.remote,
    });
    thief.send('peer-a', { ...thief.hello(), auth: { token: victimIdentity.grant()!.token, proof } });
    // A replayer holds a valid proof, made by the real key, for another connection.
    const replayer = await RawPeer.start(net, 'peer-replay', { hello: false });
    raws.push(replayer);
    const real = await TestIdentity.create(ca, 'peer-replay');
    const stale = await real.sign({
      room: 'room',
      from: 'peer-replay',
      to: 'peer-a',
      fromFingerprint: 'memory:other-connection',
      toFingerprint: 'memory:other-end',
    });
    replayer.send('peer-a', { ...replayer.hello(), auth: { token: real.grant()!.token, proof: stale } });
    await until(() => new Set(seen.map((e) => e.peer)).size === 2, 'both refused');
    expect(seen.every((e) => /proof does not match/.test(e.error.message))).toBe(true);
    expect(a.peers().map((p) => p.id)).toEqual(['peer-a']);
    void victim;
  });

  it('a capability its token does not grant cannot be claimed: in the hello, in a caps frame, or locally', async () => {
    const { mesh: a } = await peer('peer-a', { caps: ['game'] });
    const seen = refusals(a);
    // An honest peer asking for what it was not granted is refused by its own mesh first.
    const identity = await TestIdentity.create(ca, 'peer-greedy', { caps: ['game'] });
    await expectRejects(
      Mesh.start({ peerId: 'peer-greedy', capabilities: ['game', 'bank'], actors: { Echo }, transport: net.transport({ identity }) }),
      'UNAUTHORIZED',
    );
    expect(() => a.registerCapabilities(['game', 'bank'])).toThrow(UnauthorizedError);
    // A hostile one claiming it anyway is refused by the others.
    const raw = await RawPeer.start(net, 'peer-raw', { hello: false });
    raws.push(raw);
    const rawIdentity = await TestIdentity.create(ca, 'peer-raw', { caps: ['game'] });
    const fp = raw.fingerprints('peer-a');
    const proof = await rawIdentity.sign({
      room: 'room',
      from: 'peer-raw',
      to: 'peer-a',
      fromFingerprint: fp.local,
      toFingerprint: fp.remote,
    });
    raw.send('peer-a', { ...raw.hello(), capabilities: ['bank'], auth: { token: rawIdentity.grant()!.token, proof } });
    await until(() => seen.some((e) => e.peer === 'peer-raw'), 'the over-claiming hello to be refused');
    expect(seen.find((e) => e.peer === 'peer-raw')?.error.message).toMatch(/"bank" is not granted/);
    // Admitted with game only, it then tries to add bank by caps: the frame is refused, its view entry kept.
    const { mesh: b } = await peer('peer-b', { caps: ['game'] });
    await waitConverged([a, b]);
    const rejected: MeshEvents['frame-rejected'][] = [];
    a.on('frame-rejected', (e) => rejected.push(e));
    const raw2 = await RawPeer.start(net, 'peer-raw2', { hello: false });
    raws.push(raw2);
    const id2 = await TestIdentity.create(ca, 'peer-raw2', { caps: ['game'] });
    const fp2 = raw2.fingerprints('peer-a');
    raw2.send('peer-a', {
      ...raw2.hello(),
      capabilities: ['game'],
      auth: {
        token: id2.grant()!.token,
        proof: await id2.sign({ room: 'room', from: 'peer-raw2', to: 'peer-a', fromFingerprint: fp2.local, toFingerprint: fp2.remote }),
      },
    });
    // A raw peer checks nothing: it admits peer-a at once (peer-a admits it once its own check passes too).
    raw2.send('peer-a', { t: 'admitted' });
    await until(() => a.peersFor('game').includes('peer-raw2'), 'the honest hello to be admitted');
    raw2.send('peer-a', { t: 'caps', capabilities: ['bank', 'game'], actorTypes: [] });
    await until(() => rejected.some((e) => e.peer === 'peer-raw2' && e.frame === 'caps'), 'the caps frame to be refused');
    expect(a.peersFor('bank')).toEqual([]);
  });

  it('tokens renew before they expire; a renewal under another key is refused; an unrenewed token ends the link', async () => {
    const { mesh: a } = await peer('peer-a');
    const { mesh: b, identity: bId } = await peer('peer-b', { ttlMs: 500 });
    await waitConverged([a, b]);
    // Renewed with the same key: still in the view after the first token's expiry.
    const renewed = await ca.issue(claimsFor('room', 'peer-b', bId.publicKey, { ttlMs: 60_000 }));
    bId.renew(renewed);
    const rejected: MeshEvents['frame-rejected'][] = [];
    a.on('frame-rejected', (e) => rejected.push(e));
    const other = await generateKeyPair();
    const { mesh: c, identity: cId } = await peer('peer-c', { ttlMs: 800 });
    await waitConverged([a, b, c]);
    cId.renew(await ca.issue(claimsFor('room', 'peer-c', other.publicKey, { ttlMs: 60_000 })));
    await until(() => rejected.some((e) => e.peer === 'peer-c' && e.frame === 'token'), 'the foreign-key renewal to be refused');
    const seen = refusals(a);
    await until(() => seen.some((e) => e.peer === 'peer-c'), 'peer-c to be dropped when its token expires', { timeoutMs: 5000 });
    expect(seen.find((e) => e.peer === 'peer-c')?.error.message).toMatch(/expired/);
    expect(a.peers().map((p) => p.id)).toEqual(['peer-a', 'peer-b']);
    void c;
  });
});

describe('an open room', () => {
  it('ignores tokens and admits everyone, as before', async () => {
    const a = await Mesh.start({ peerId: 'peer-a', capabilities: ['game'], actors: { Echo }, transport: net.transport() });
    const b = await Mesh.start({ peerId: 'peer-b', capabilities: ['game'], actors: { Echo }, transport: net.transport() });
    running.push(a, b);
    await waitConverged([a, b]);
    expect((await a.call({ actor: 'Echo', id: 'z', capability: 'game', payload: 1 })).result).toBe(1);
  });
});
