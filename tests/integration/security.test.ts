/**
 * The hostile-peer issue over real WebRTC (node-datachannel) and a real signaling server on 127.0.0.1:0:
 * signed identities between Node peers (one in its own process), a refused capability claim, identity
 * takeover after a signaling blip, and an offer flood against one peer.
 */
import { generateKeyPairSync } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { Mesh } from '../../client/node.js';
import { createSignalingServer, type SignalingServer, type SignalingServerOptions } from '../../server/signaling-server.js';
import {
  SIGNALING_PROTOCOL,
  type ClientToServerEvents,
  type JoinResponse,
  type ServerToClientEvents,
} from '../../shared/wire/signaling.js';
import { until, withTimeout } from '../fixtures/wait.js';
import { LOOPBACK, cleanup, idsOwnedBy, spawnPeer, startPeer, uniqueRoom } from './helpers.js';

const servers: SignalingServer[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.disconnect();
  await cleanup();
  await Promise.all(servers.splice(0).map((s) => s.close()));
}, 30_000);

async function server(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const started = await createSignalingServer({ port: 0, host: LOOPBACK, ...options });
  servers.push(started);
  return started;
}

function identityKey(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** A bare socket.io client joined to `room` as `peerId`: what a hostile page can do with the signaling server. */
async function rawJoin(
  url: string,
  room: string,
  peerId: string,
  extra: Record<string, unknown> = {},
): Promise<{ socket: Socket<ServerToClientEvents, ClientToServerEvents>; response: JoinResponse }> {
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
  });
  sockets.push(socket);
  await withTimeout(new Promise<void>((resolve) => socket.once('connect', () => resolve())), `${peerId} to connect`);
  const response = await withTimeout(
    new Promise<JoinResponse>((resolve) =>
      socket.emit('join', { room, peerId, kind: 'node', protocol: SIGNALING_PROTOCOL, ...extra }, resolve),
    ),
    `${peerId}'s join answer`,
  );
  return { socket, response };
}

describe('signed identities over WebRTC', () => {
  it('Node peers (one in its own process) form a mesh with signed identities and call each other', async () => {
    const signaling = await server({ identity: { privateKey: identityKey() }, grants: { node: ['game', 'bank'] } });
    const room = uniqueRoom('signed');
    const a = await startPeer({ signal: signaling.url, room, capabilities: ['game', 'bank'] });
    const b = await startPeer({ signal: signaling.url, room, capabilities: ['game'] });
    const child = await spawnPeer('signed-child', { signal: signaling.url, room, capabilities: ['game'] });
    const childId = await child.ready();
    await until(() => a.peers().length === 3 && b.peers().length === 3, 'the three signed peers to see each other', { timeoutMs: 20_000 });
    for (const [owner, mesh] of [
      [b.peerId, a],
      [childId, a],
      [a.peerId, b],
    ] as const) {
      const [id] = idsOwnedBy(mesh, owner, 'game', 1, 'signed-');
      const result = await mesh.call({ actor: 'GameActor', id: id!, capability: 'game', payload: { action: 'increment_score' } });
      expect(result).toMatchObject({ peer: owner, result: 1 });
    }
    expect(a.peersFor('bank')).toEqual([a.peerId]);
  }, 60_000);

  it('a capability the server does not grant cannot be claimed: start fails UNAUTHORIZED', async () => {
    const signaling = await server({ identity: { privateKey: identityKey() }, grants: { node: ['game'] } });
    const room = uniqueRoom('grant');
    await expect(startPeer({ signal: signaling.url, room, capabilities: ['game', 'bank'] })).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
    const honest = await startPeer({ signal: signaling.url, room, capabilities: ['game'] });
    expect(() => honest.registerCapabilities(['bank'])).toThrow(/not granted/);
  }, 30_000);
});

describe('identity takeover after a signaling blip', () => {
  it('the victim keeps its channels and its id; the attacker joining under it is refused', async () => {
    const signaling = await server();
    const room = uniqueRoom('takeover');
    const [victim, other] = await Promise.all([
      startPeer({ signal: signaling.url, room, capabilities: ['game'], heartbeatMs: 200, peerTimeoutMs: 3000 }),
      startPeer({ signal: signaling.url, room, capabilities: ['game'], heartbeatMs: 200, peerTimeoutMs: 3000 }),
    ]);
    await until(() => victim.peers().length === 2 && other.peers().length === 2, 'the two peers to see each other', { timeoutMs: 20_000 });
    const [id] = idsOwnedBy(other, victim.peerId, 'game', 1, 'victim-');
    await other.call({ actor: 'GameActor', id: id!, capability: 'game', payload: { action: 'increment_score' } });
    // The server loses the victim's socket: it announces the victim gone.
    const victimSocket = (await signaling.io.fetchSockets()).find((s) => s.data.member?.peerId === victim.peerId);
    expect(victimSocket).toBeDefined();
    victimSocket!.disconnect(true);
    // The attacker races in under the victim's id, without its secret.
    const attempt = await rawJoin(signaling.url, room, victim.peerId);
    expect(attempt.response).toMatchObject({ ok: false, code: 'DUPLICATE_PEER' });
    // The other peer probed the victim over their channel instead of dropping it: calls still reach it.
    const second = await other.call({ actor: 'GameActor', id: id!, capability: 'game', payload: { action: 'increment_score' } });
    expect(second).toMatchObject({ peer: victim.peerId, result: 2 });
    // And the victim gets back into the room with its secret.
    await until(
      async () => (await signaling.io.fetchSockets()).some((s) => s.data.member?.peerId === victim.peerId),
      'the victim to re-join',
      { timeoutMs: 15_000 },
    );
    expect(other.peers().map((p) => p.id)).toContain(victim.peerId);
  }, 60_000);
});

describe('offer flood', () => {
  it('600 junk offers from one peer cost the victim a handful of connections; it keeps serving', async () => {
    const signaling = await server({ signalsPerSecond: 10_000, signalBurst: 10_000 });
    const room = uniqueRoom('offers');
    // Only a lower peer id may offer: the attacker takes the smallest.
    const victim = await startPeer({ signal: signaling.url, room, capabilities: ['game'], peerId: 'zz-victim' });
    const honest = await startPeer({ signal: signaling.url, room, capabilities: ['game'], peerId: 'yy-honest' });
    await until(() => victim.peers().length === 2, 'the honest pair to connect', { timeoutMs: 20_000 });
    const before = connectionsBuilt(victim);
    const { socket } = await rawJoin(signaling.url, room, 'aa-attacker');
    const relayedBefore = signalsRelayed(signaling);
    // In batches the server's per-connection queue takes whole: every offer reaches the victim.
    for (let batch = 0; batch < 12; batch++) {
      for (let i = 0; i < 50; i++)
        socket.emit('signal', { to: 'zz-victim', data: { type: 'offer', sdp: `v=0\r\njunk ${batch}.${i}\r\n` } });
      await until(() => signalsRelayed(signaling) >= relayedBefore + (batch + 1) * 50, `batch ${batch} of the flood to be relayed`, {
        timeoutMs: 10_000,
      });
    }
    expect(connectionsBuilt(victim) - before).toBeLessThanOrEqual(6);
    expect(victim.stats().transport['connectionsRefused']).toBeGreaterThanOrEqual(500);
    const [id] = idsOwnedBy(honest, victim.peerId, 'game', 1, 'flood-');
    expect(await honest.call({ actor: 'GameActor', id: id!, capability: 'game', payload: { action: 'increment_score' } })).toMatchObject({
      peer: victim.peerId,
    });
  }, 60_000);
});

function signalsRelayed(signaling: SignalingServer): number {
  return signaling.stats().relayed;
}

const connectionsBuilt = (mesh: Mesh): number => mesh.stats().transport['connectionsCreated'] ?? 0;
