/**
 * Errors and payloads across the wire: an in-process caller A and, in a child process, the owner B of the
 * ids called. Every error below is produced on B (or decided by A before sending) and must reach the
 * caller with its code, its class and its remote message; big payloads travel chunked over the channel.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Mesh } from '../../client/node.js';
import {
  ActorFailedError,
  MeshError,
  NoPeersForCapabilityError,
  PayloadTooLargeError,
  TimeoutError,
  UnknownActorError,
} from '../../shared/index.js';
import { cleanup, idsOwnedBy, settle, spawnPeer, startPeer, startServer, uniqueRoom, waitForViews, type PeerProcess } from './helpers.js';

const MIB = 1024 * 1024;
const LIMIT = 4 * MIB;

let a: Mesh;
let b: PeerProcess;
let ids: string[];
let next = 0;
/** A fresh id owned by the child B (every test uses its own actors). */
const idOnB = (): string => {
  const id = ids[next++];
  if (id === undefined) throw new Error('ran out of ids owned by B');
  return id;
};

beforeAll(async () => {
  const server = await startServer();
  const room = uniqueRoom('wire');
  // HangActor never finishes, so stopping B drains until drainTimeoutMs: short, not the 2 s default.
  const base = { signal: server.url, room, capabilities: ['svc'], maxMessageBytes: LIMIT, drainTimeoutMs: 200 };
  [a, b] = await Promise.all([startPeer(base), spawnPeer('proc-b', base)]);
  await waitForViews([a, b], [a, b], 20_000);
  ids = idsOwnedBy(a, b.peerId, 'svc', 64, 'wire-');
}, 60_000);

afterAll(cleanup, 30_000);

const digest = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('errors over the wire', () => {
  it('UNKNOWN_ACTOR comes from the remote owner, naming it', async () => {
    const id = idOnB();
    const error = await a.call({ actor: 'NoSuchActor', id, capability: 'svc' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownActorError);
    expect(error).toBeInstanceOf(MeshError);
    expect(error).toMatchObject({ code: 'UNKNOWN_ACTOR', details: { actor: 'NoSuchActor', peer: b.peerId } });
    expect((error as Error).message).toContain(b.peerId);
    // A cast to an unknown type is refused the same way (by the types the owner advertises), as it is locally.
    const castError = await a.cast({ actor: 'NoSuchActor', id, capability: 'svc' }).catch((e: unknown) => e);
    expect(castError).toBeInstanceOf(UnknownActorError);
    expect(castError).toMatchObject({ code: 'UNKNOWN_ACTOR', details: { actor: 'NoSuchActor', peer: b.peerId } });
  }, 20_000);

  it('ACTOR_FAILED carries the message thrown on the remote peer; the next call gets a fresh activation', async () => {
    const id = idOnB();
    const error = await a
      .call({ actor: 'FailActor', id, capability: 'svc', payload: { reason: 'card declined' } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ActorFailedError);
    expect(error).toMatchObject({ code: 'ACTOR_FAILED', message: `kaboom on ${b.peerId}: card declined` });
    const crashed = (error as MeshError).details?.['activation'];
    expect(String(crashed)).toMatch(new RegExp(`^${b.peerId}#`));

    // A demo actor's own error text arrives verbatim too.
    const gameId = idOnB();
    await expect(a.call({ actor: 'GameActor', id: gameId, capability: 'svc', payload: { action: 'fly' } })).rejects.toMatchObject({
      code: 'ACTOR_FAILED',
      message: 'unknown action fly',
    });
    const first = await a.call({ actor: 'GameActor', id: gameId, capability: 'svc', payload: { action: 'increment_score' } });
    expect(first).toMatchObject({ peer: b.peerId, result: 1 });
    await b.waitForEvent(
      (e) => e.event === 'deactivated' && e['id'] === gameId && e['reason'] === 'crash',
      5000,
      'the crashed GameActor to be discarded',
    );
  }, 20_000);

  it('NO_PEERS_FOR_CAPABILITY fails immediately, for call and cast', async () => {
    const started = performance.now();
    const outcome = await settle(a.call({ actor: 'GameActor', id: 'x', capability: 'nobody-has-this', timeoutMs: 20_000 }));
    const elapsed = outcome.at - started;
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.error).toBeInstanceOf(NoPeersForCapabilityError);
      expect(outcome.error).toMatchObject({ code: 'NO_PEERS_FOR_CAPABILITY', details: { capability: 'nobody-has-this' } });
    }
    expect(elapsed, 'ms until NO_PEERS_FOR_CAPABILITY').toBeLessThan(500);
    await expect(a.cast({ actor: 'GameActor', id: 'x', capability: 'nobody-has-this' })).rejects.toMatchObject({
      code: 'NO_PEERS_FOR_CAPABILITY',
    });
    await expect(b.call({ actor: 'GameActor', id: 'x', capability: 'nobody-has-this' })).rejects.toMatchObject({
      code: 'NO_PEERS_FOR_CAPABILITY',
    });
    await expect(b.cast({ actor: 'GameActor', id: 'x', capability: 'nobody-has-this' })).rejects.toMatchObject({
      code: 'NO_PEERS_FOR_CAPABILITY',
    });
  }, 20_000);

  it('TIMEOUT when the remote handler never answers, after the call’s own timeoutMs', async () => {
    const id = idOnB();
    const timeoutMs = 300;
    const started = performance.now();
    const outcome = await settle(a.call({ actor: 'HangActor', id, capability: 'svc', timeoutMs }));
    const elapsed = outcome.at - started;
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.error).toBeInstanceOf(TimeoutError);
      expect(outcome.error).toMatchObject({ code: 'TIMEOUT', details: { peer: b.peerId, actor: 'HangActor', id } });
    }
    expect(elapsed, 'ms until TIMEOUT').toBeGreaterThanOrEqual(timeoutMs - 50);
    expect(elapsed, 'ms until TIMEOUT').toBeLessThan(4000);
    await b.waitForEvent((e) => e.event === 'hang-started' && e['id'] === id, 1000, 'the call to have reached HangActor on B');
    // The link is still fine.
    await expect(a.call({ actor: 'EchoActor', id: idOnB(), capability: 'svc', payload: 'still here' })).resolves.toMatchObject({
      result: 'still here',
    });
  }, 20_000);

  it('an AbortSignal aborts a call in flight with ABORTED, and an already-aborted signal fails at once', async () => {
    const id = idOnB();
    const controller = new AbortController();
    const pending = settle(a.call({ actor: 'HangActor', id, capability: 'svc', timeoutMs: 20_000, signal: controller.signal }));
    await b.waitForEvent((e) => e.event === 'hang-started' && e['id'] === id, 10_000, 'the call to reach HangActor on B');
    const abortedAt = performance.now();
    controller.abort();
    const outcome = await pending;
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.error).toMatchObject({ code: 'ABORTED' });
    expect(outcome.at - abortedAt, 'ms from abort() to rejection').toBeLessThan(500);

    const remoteBefore = a.stats().calls.remote;
    await expect(a.call({ actor: 'EchoActor', id: idOnB(), capability: 'svc', signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'ABORTED',
    });
    expect(a.stats().calls.remote, 'an aborted call is not sent').toBe(remoteBefore);
  }, 20_000);
});

describe('payload size over the wire', () => {
  it('round-trips a 2 MiB binary payload and a 2 MiB string through a remote echo actor', async () => {
    const bytes = new Uint8Array(randomBytes(2 * MIB));
    const sentBefore = a.stats().peers[b.peerId]?.bytesOut ?? 0;
    const echoed = await a.call<Uint8Array>({ actor: 'EchoActor', id: idOnB(), capability: 'svc', payload: bytes, timeoutMs: 20_000 });
    expect(echoed.peer).toBe(b.peerId);
    expect(echoed.result).toBeInstanceOf(Uint8Array);
    expect(echoed.result.length).toBe(bytes.length);
    expect(digest(echoed.result)).toBe(digest(bytes));
    expect((a.stats().peers[b.peerId]?.bytesOut ?? 0) - sentBefore, 'bytes A sent to B').toBeGreaterThan(2 * MIB);

    const text = 'é😀x'.repeat((2 * MIB) / 8);
    const echoedText = await a.call<{ text: string }>({
      actor: 'EchoActor',
      id: idOnB(),
      capability: 'svc',
      payload: { text },
      timeoutMs: 20_000,
    });
    expect(echoedText.result.text.length).toBe(text.length);
    expect(echoedText.result.text === text, 'the 2 MiB string came back unchanged').toBe(true);
  }, 30_000);

  it('PAYLOAD_TOO_LARGE for a call over maxMessageBytes, before anything is sent; the link keeps working', async () => {
    const sentBefore = a.stats().peers[b.peerId]?.bytesOut ?? 0;
    const started = performance.now();
    const outcome = await settle(
      a.call({ actor: 'EchoActor', id: idOnB(), capability: 'svc', payload: new Uint8Array(LIMIT + 1024), timeoutMs: 20_000 }),
    );
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.error).toBeInstanceOf(PayloadTooLargeError);
      expect(outcome.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { limit: LIMIT } });
    }
    expect(outcome.at - started, 'ms until PAYLOAD_TOO_LARGE').toBeLessThan(1000);
    expect((a.stats().peers[b.peerId]?.bytesOut ?? 0) - sentBefore, 'bytes sent for the refused call').toBeLessThan(64 * 1024);
    await expect(a.call({ actor: 'EchoActor', id: idOnB(), capability: 'svc', payload: 'after' })).resolves.toMatchObject({
      result: 'after',
    });
  }, 20_000);

  it('PAYLOAD_TOO_LARGE for a cast over maxMessageBytes (it must not be dropped silently)', async () => {
    const id = idOnB();
    const outcome = await settle(a.cast({ actor: 'EchoActor', id, capability: 'svc', payload: new Uint8Array(LIMIT + 1024) }));
    expect(outcome.ok, 'cast of an over-limit payload settled with').toBe(false);
    if (!outcome.ok) expect(outcome.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { limit: LIMIT } });
    // A cast that fits still arrives (B activates the actor).
    const fits = idOnB();
    await a.cast({ actor: 'EchoActor', id: fits, capability: 'svc', payload: new Uint8Array(1024) });
    await b.waitForEvent((e) => e.event === 'activated' && e['id'] === fits, 5000, 'the cast that fits to activate EchoActor on B');
  }, 20_000);

  it('PAYLOAD_TOO_LARGE from the remote owner when its reply is over its maxMessageBytes', async () => {
    const outcome = await settle(
      a.call({ actor: 'BlobActor', id: idOnB(), capability: 'svc', payload: { bytes: LIMIT + 1024 }, timeoutMs: 20_000 }),
    );
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { limit: LIMIT } });
    const fits = await a.call<Uint8Array>({
      actor: 'BlobActor',
      id: idOnB(),
      capability: 'svc',
      payload: { bytes: 3 * MIB },
      timeoutMs: 20_000,
    });
    expect(fits.result.length).toBe(3 * MIB);
  }, 30_000);
});
