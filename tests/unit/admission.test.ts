/**
 * Mutual admission in a room with signed identities (shared/mesh/links.ts): a peer enters the view once we
 * checked its hello and it sent `admitted` (it checked ours). So nothing is routed to a peer whose check of
 * our hello is still running, and a receiver holds nothing while it checks: whatever a peer routes to us
 * before we admitted it is refused, however much of it there is. Honest peers whose checks are slow (a busy
 * tab) are never refused for it; a hostile one flooding before admission pins no memory.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Actor } from '../../shared/actors/actor.js';
import { Mesh, type MeshEvents } from '../../shared/mesh.js';
import type { Frame } from '../../shared/wire/frames.js';
import { MemoryNetwork } from '../../shared/wire/memory-transport.js';
import { authority, claimsFor, TestIdentity, type Authority } from '../fixtures/identities.js';
import { refusals, stopAll } from '../fixtures/mesh-helpers.js';
import { RawPeer } from '../fixtures/raw-peer.js';
import { until } from '../fixtures/wait.js';

/** An actor whose state (handed over, copied to backups) is a string of `payload` characters. */
class Blob implements Actor {
  private data = '';
  handleCall(payload: unknown): unknown {
    this.data = 'x'.repeat(typeof payload === 'number' ? payload : 0);
    return this.data.length;
  }
  snapshot(): unknown {
    return this.data;
  }
  static restore(_id: string, state: unknown): Blob {
    const blob = new Blob();
    blob.data = typeof state === 'string' ? state : '';
    return blob;
  }
}

class Echo implements Actor {
  handleCall(payload: unknown): unknown {
    return typeof payload === 'string' ? payload.length : null;
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
  vi.restoreAllMocks();
  await Promise.all(raws.splice(0).map((r) => r.stop()));
  await stopAll(running.splice(0));
});

async function signedPeer(
  id: string,
  capabilities: readonly string[] = ['game'],
  identity?: TestIdentity,
  timing: { readonly peerTimeoutMs?: number } = {},
): Promise<Mesh> {
  const own = identity ?? (await TestIdentity.create(ca, id));
  const mesh = await Mesh.start({
    peerId: id,
    capabilities,
    actors: { Blob, Echo },
    heartbeatMs: 50,
    ...timing,
    maxMessageBytes: 1024 * 1024,
    transport: net.transport({ identity: own }),
  });
  running.push(mesh);
  return mesh;
}

/**
 * Makes every check of `identity`'s hello slow (a busy tab, many hellos at once): the verification of its
 * token waits until the returned function is called. Nothing else changes.
 */
function slowCheckOf(identity: TestIdentity): () => void {
  const signed = new TextEncoder().encode(`rtc-mesh-token.v1.${identity.grant()!.token.split('.')[0]!}`);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const subtle = globalThis.crypto.subtle;
  const verify = subtle.verify.bind(subtle);
  vi.spyOn(subtle, 'verify').mockImplementation(async (algorithm, key, signature, data) => {
    const bytes = data instanceof Uint8Array ? data : null;
    if (bytes !== null && bytes.length === signed.length && bytes.every((v, i) => v === signed[i])) await gate;
    return verify(algorithm, key, signature, data);
  });
  return open;
}

function rejections(mesh: Mesh): MeshEvents['frame-rejected'][] {
  const seen: MeshEvents['frame-rejected'][] = [];
  mesh.on('frame-rejected', (e) => seen.push(e));
  return seen;
}

/** A raw peer with a valid identity that has said its (signed) hello to peer-a and nothing else. */
async function signedRaw(id: string): Promise<RawPeer> {
  // Batches of up to 64 KiB and room for megabytes queued: it floods as fast as the link takes it.
  const raw = await RawPeer.start(net, id, { hello: false, link: { chunkBytes: 64 * 1024, maxQueuedBytes: 64 * 1024 * 1024 } });
  raws.push(raw);
  const own = await TestIdentity.create(ca, id);
  const fp = raw.fingerprints('peer-a');
  const proof = await own.sign({ room: 'room', from: id, to: 'peer-a', fromFingerprint: fp.local, toFingerprint: fp.remote });
  raw.send('peer-a', { ...raw.hello(), auth: { token: own.grant()!.token, proof } });
  return raw;
}

const callFrame = (corr: number, payload: unknown): Frame => ({
  t: 'call',
  corr,
  capability: 'game',
  actor: 'Echo',
  id: `e${corr}`,
  payload,
  initArg: null,
  timeoutMs: 10_000,
});

describe('mutual admission (signed rooms)', () => {
  it('an honest peer whose actors hold 8 MB sends nothing until the joiner, checking slowly, admitted it; then all of it, unrefused', async () => {
    const bId = await TestIdentity.create(ca, 'peer-b');
    const b = await signedPeer('peer-b', ['game'], bId);
    for (let i = 0; i < 40; i++) await b.call({ actor: 'Blob', id: `blob-${i}`, capability: 'game', payload: 200_000 });
    const open = slowCheckOf(bId);
    const a = await signedPeer('peer-a');
    const refusedByA = refusals(a);
    const rejectedByA = rejections(a);
    // peer-b checks peer-a's hello and admits it at once; peer-a's check of peer-b's hello waits.
    await until(() => (a.stats().peers['peer-b']?.framesIn ?? 0) >= 6, 'peer-b to have spoken a while (hello, admitted, pings)');
    expect(b.peers().map((p) => p.id)).toEqual(['peer-b']);
    expect(a.peers().map((p) => p.id)).toEqual(['peer-a']);
    expect(a.stats().peers['peer-b']!.bytesIn).toBeLessThan(64 * 1024); // none of the 8 MB yet
    open();
    await until(
      () =>
        a.peers().length === 2 &&
        b.peers().length === 2 &&
        a.activations().length > 0 &&
        a.activations().length + b.activations().length === 40,
      'the actors spread over both',
    );
    expect(a.stats().peers['peer-b']!.bytesIn).toBeGreaterThan(1_000_000);
    expect(refusedByA).toEqual([]);
    expect(rejectedByA).toEqual([]);
  });

  it('a peer is not routed to before it admitted us: calls fail fast, NO_PEERS, until then; then all succeed', async () => {
    const bId = await TestIdentity.create(ca, 'peer-b');
    const open = slowCheckOf(bId);
    const a = await signedPeer('peer-a', ['game']);
    const refusedByA = refusals(a);
    // peer-b hosts nothing for `game`: once peer-a is in its view, game calls go there.
    const b = await signedPeer('peer-b', ['chat'], bId);
    await until(() => (a.stats().peers['peer-b']?.framesIn ?? 0) >= 6, 'peer-b to have spoken a while');
    expect(b.peersFor('game')).toEqual([]);
    await expect(b.call({ actor: 'Echo', id: 'e0', capability: 'game', payload: 'x' })).rejects.toMatchObject({
      code: 'NO_PEERS_FOR_CAPABILITY',
    });
    open();
    await until(() => b.peersFor('game').includes('peer-a'), 'peer-a admitted by peer-b');
    const calls = Array.from({ length: 8 }, (_, i) =>
      b.call({ actor: 'Echo', id: `e${i}`, capability: 'game', payload: 'x'.repeat(900_000), timeoutMs: 20_000 }).then(
        (r) => `ok ${r.peer} ${String(r.result)}`,
        (e: unknown) => `failed ${String(e)}`,
      ),
    );
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 8 }, () => 'ok peer-a 900000'));
    expect(refusedByA).toEqual([]);
  });

  it('a peer routing to us before we admitted it is refused frame by frame, and pins no memory however much it sends', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const a = await signedPeer('peer-a');
    const refusedByA = refusals(a);
    const rejectedByA = rejections(a);
    const raw = await signedRaw('peer-x');
    await until(() => (a.stats().peers['peer-x']?.framesIn ?? 0) >= 1, 'the hello to arrive');
    gc();
    const before = process.memoryUsage().heapUsed;
    // 80 calls of 60,000 empty maps (60 KB each on the wire, ~4 MB each decoded), batched, then 10 calls of
    // 900 KB, chunked: all before the raw peer admitted peer-a.
    const maps = Array.from({ length: 60_000 }, () => ({}));
    for (let corr = 1; corr <= 80; corr++) raw.send('peer-a', callFrame(corr, maps));
    for (let corr = 81; corr <= 90; corr++) raw.send('peer-a', callFrame(corr, 'x'.repeat(900_000)));
    await until(() => rejectedByA.length === 90, 'the 90 calls refused');
    gc();
    const pinned = process.memoryUsage().heapUsed - before;
    expect(pinned, 'heap still held after 14 MB of calls before admission').toBeLessThan(8 * 1024 * 1024);
    expect(new Set(rejectedByA.map((e) => `${e.peer} ${e.frame} ${e.reason}`))).toEqual(new Set(['peer-x call before it was admitted']));
    expect(a.peers().map((p) => p.id)).toEqual(['peer-a']);
    // A capability change sent while it is being admitted applies once it is in; then it is served.
    raw.send('peer-a', { t: 'caps', capabilities: ['chat'], actorTypes: [] });
    raw.send('peer-a', { t: 'admitted' });
    await until(() => a.peersFor('chat').includes('peer-x'), 'peer-x admitted with its latest capabilities');
    raw.send('peer-a', callFrame(91, 'hello'));
    await until(() => raw.received('peer-a').some((f) => f.t === 'reply' && f.corr === 91), 'the call after admission answered');
    expect(refusedByA).toEqual([]);
  });

  it('an admitted frame before a hello, twice, or in an open room is refused', async () => {
    const a = await signedPeer('peer-a');
    const rejectedByA = rejections(a);
    const early = await RawPeer.start(net, 'peer-early', { hello: false });
    raws.push(early);
    early.send('peer-a', { t: 'admitted' });
    await until(() => rejectedByA.some((e) => e.peer === 'peer-early'), 'the admitted before a hello refused');
    const twice = await signedRaw('peer-twice');
    twice.send('peer-a', { t: 'admitted' });
    await until(() => a.peers().some((p) => p.id === 'peer-twice'), 'peer-twice admitted');
    twice.send('peer-a', { t: 'admitted' });
    await until(() => rejectedByA.some((e) => e.peer === 'peer-twice'), 'the second admitted refused');
    for (const e of rejectedByA) expect(e).toMatchObject({ frame: 'admitted', reason: 'before its hello, or twice' });

    const openNet = new MemoryNetwork();
    const o = await Mesh.start({ peerId: 'peer-a', capabilities: ['game'], actors: { Echo }, transport: openNet.transport() });
    running.push(o);
    const rejectedByO = rejections(o);
    const stray = await RawPeer.start(openNet, 'peer-stray');
    raws.push(stray);
    await until(() => o.peers().some((p) => p.id === 'peer-stray'), 'the raw peer admitted on its hello');
    stray.send('peer-a', { t: 'admitted' });
    await until(() => rejectedByO.length === 1, 'the admitted refused');
    expect(rejectedByO[0]).toMatchObject({ peer: 'peer-stray', frame: 'admitted', reason: 'outside a signed room' });
  });

  it('a channel kept open without joining the view is refused after peerTimeoutMs: no hello, or no admitted', async () => {
    const timing = { heartbeatMs: 50, peerTimeoutMs: 400 };
    const a = await signedPeer('peer-a', ['game'], undefined, timing);
    const refusedByA = refusals(a);
    const mute = await RawPeer.start(net, 'peer-mute', { hello: false });
    raws.push(mute);
    await signedRaw('peer-shy'); // a valid hello, never an admitted
    const b = await signedPeer('peer-b');
    await until(() => refusedByA.length === 2, 'both refused', { timeoutMs: 5000 });
    const byPeer = new Map(refusedByA.map((e) => [e.peer, e.error]));
    expect(byPeer.get('peer-mute')).toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringMatching(/not admitted within 400 ms/) });
    expect(byPeer.get('peer-shy')).toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringMatching(/not admitted within 400 ms/) });
    // The honest peer, admitted in time, stays.
    expect(a.peers().map((p) => p.id)).toEqual(['peer-a', 'peer-b']);
    void b;

    const openNet = new MemoryNetwork();
    const o = await Mesh.start({ peerId: 'peer-o', capabilities: ['game'], actors: { Echo }, ...timing, transport: openNet.transport() });
    running.push(o);
    const refusedByO = refusals(o);
    const silent = await RawPeer.start(openNet, 'peer-silent', { hello: false });
    raws.push(silent);
    await until(() => refusedByO.length === 1, 'the peer without a hello refused in an open room');
    expect(refusedByO[0]).toMatchObject({
      peer: 'peer-silent',
      error: { code: 'INCOMPATIBLE_PEER', message: expect.stringMatching(/sent no hello within 400 ms/) },
    });
  });

  it('a peer that says bye instead of a hello, and keeps answering pings, is closed after peerTimeoutMs', async () => {
    for (const signed of [true, false]) {
      const ownNet = new MemoryNetwork();
      const identity = signed ? { identity: await TestIdentity.create(ca, 'peer-a') } : {};
      const a = await Mesh.start({
        peerId: 'peer-a',
        capabilities: ['game'],
        actors: { Echo },
        heartbeatMs: 50,
        peerTimeoutMs: 300,
        transport: ownNet.transport(identity),
      });
      running.push(a);
      const raw = await RawPeer.start(ownNet, 'peer-bye', { hello: false });
      raws.push(raw);
      raw.send('peer-a', { t: 'bye', reason: 'going' });
      const stillOpen = (): boolean => {
        try {
          raw.fingerprints('peer-a');
          return true;
        } catch {
          return false;
        }
      };
      await until(() => !stillOpen(), `the channel closed (${signed ? 'signed' : 'open'} room)`, { timeoutMs: 3000 });
      expect(a.peers().map((p) => p.id)).toEqual(['peer-a']);
    }
  });

  it('a renewed token and the caps it allows, both sent while being admitted, apply in that order', async () => {
    const a = await signedPeer('peer-a');
    const rejectedByA = rejections(a);
    const raw = await RawPeer.start(net, 'peer-x', { hello: false });
    raws.push(raw);
    const x = await TestIdentity.create(ca, 'peer-x', { caps: ['game'] });
    const fp = raw.fingerprints('peer-a');
    const proof = await x.sign({ room: 'room', from: 'peer-x', to: 'peer-a', fromFingerprint: fp.local, toFingerprint: fp.remote });
    raw.send('peer-a', { ...raw.hello(), capabilities: ['game'], auth: { token: x.grant()!.token, proof } });
    // What an honest peer sends after a renewal that grants `chat` and a registerCapabilities: token, then caps.
    raw.send('peer-a', { t: 'token', token: await ca.issue(claimsFor('room', 'peer-x', x.publicKey, { caps: ['game', 'chat'] })) });
    raw.send('peer-a', { t: 'caps', capabilities: ['chat', 'game'], actorTypes: [] });
    await until(() => (a.stats().peers['peer-x']?.framesIn ?? 0) >= 3, 'hello, token and caps received while being admitted');
    raw.send('peer-a', { t: 'admitted' });
    await until(() => a.peersFor('chat').includes('peer-x'), 'the caps applied under the renewed token');
    expect(rejectedByA).toEqual([]);
  });

  it('our own slow check of a hello does not count against the peer: an honest peer is not refused for it', async () => {
    const bId = await TestIdentity.create(ca, 'peer-b');
    const open = slowCheckOf(bId);
    const timing = { peerTimeoutMs: 300 };
    const a = await signedPeer('peer-a', ['game'], undefined, timing);
    const refusedByA = refusals(a);
    // peer-b waits for peer-a's admitted the default 5 s: peer-a is the slow one here.
    const b = await signedPeer('peer-b', ['game'], bId);
    // The behaviour under test is about elapsed time: let three peerTimeoutMs pass while peer-a still checks.
    const since = performance.now();
    await until(() => performance.now() - since > 3 * timing.peerTimeoutMs, 'three peerTimeoutMs to pass during the check');
    expect(a.peers().map((p) => p.id)).toEqual(['peer-a']);
    open();
    await until(() => a.peers().length === 2 && b.peers().length === 2, 'both admitted');
    expect(refusedByA).toEqual([]);
  });
});
