/**
 * Raw socket.io clients against a real signaling server on 127.0.0.1:0, for the signaling tests. Every
 * server, client and http server made here is closed by `cleanup()` (call it in afterEach).
 *
 * "Not delivered" is asserted without sleeping: after a refusal, a legitimate sentinel is sent to the same
 * target, and since the server emits in processing order, anything the refusal leaked would arrive first.
 */
import { withTimeout as boundedWait } from '../fixtures/wait.js';
import type { Server as HttpServer } from 'node:http';
import { io, type Socket } from 'socket.io-client';
import { expect } from 'vitest';
import { createSignalingServer, type SignalingServer, type SignalingServerOptions } from '../../server/signaling-server.js';
import type { PeerKind } from '../../shared/placement/membership.js';
import {
  SIGNALING_PROTOCOL,
  type ClientToServerEvents,
  type JoinResponse,
  type RefreshResponse,
  type ServerToClientEvents,
} from '../../shared/wire/signaling.js';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
export type Payload<E extends keyof ServerToClientEvents> = Parameters<ServerToClientEvents[E]>[0];
/** For sending what the typed API forbids. */
export type RawEmitter = { emit(event: string, ...args: unknown[]): unknown };

export const WAIT_MS = 3000;

const servers: SignalingServer[] = [];
const clients: ClientSocket[] = [];
export const httpServers: HttpServer[] = [];

export async function cleanup(): Promise<void> {
  for (const client of clients.splice(0)) client.disconnect();
  await Promise.all(servers.splice(0).map((server) => server.close()));
  await Promise.all(httpServers.splice(0).map(closeHttp));
}

export async function startServer(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const server = await createSignalingServer({ port: 0, host: '127.0.0.1', ...options });
  servers.push(server);
  return server;
}

/** Closed by cleanup() too (idempotent), for servers a test made itself. */
export function track(server: SignalingServer): SignalingServer {
  servers.push(server);
  return server;
}

function closeHttp(server: HttpServer): Promise<void> {
  return new Promise((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
}

/** The shared withTimeout (tests/fixtures/wait.ts) with this file's default wait. */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  return boundedWait(promise, what, ms);
}

/** A client that records every server event from the start, so no event is missed between awaits. */
export class Peer {
  private readonly received = new Map<string, unknown[]>();
  private readonly cursors = new Map<string, number>();
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly socket: ClientSocket,
    readonly name: string,
  ) {
    socket.onAny((event: string, payload: unknown) => {
      const list = this.received.get(event) ?? [];
      list.push(payload);
      this.received.set(event, list);
      for (const wake of this.waiters) wake();
    });
  }

  get raw(): RawEmitter {
    return this.socket as unknown as RawEmitter;
  }

  all<E extends keyof ServerToClientEvents>(event: E): Payload<E>[] {
    return [...((this.received.get(event) ?? []) as Payload<E>[])];
  }

  count(event: keyof ServerToClientEvents): number {
    return this.received.get(event)?.length ?? 0;
  }

  /** Resolves once `count(event)` reaches `n`. */
  async waitForCount(event: keyof ServerToClientEvents, n: number, ms = WAIT_MS): Promise<void> {
    if (this.count(event) >= n) return;
    const reached = new Promise<void>((resolve) => {
      const wake = (): void => {
        if (this.count(event) < n) return;
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
    });
    await withTimeout(reached, `${this.name} to receive ${n} "${event}" (got ${this.count(event)})`, ms);
  }

  /** The next `event` this peer has not consumed yet, waiting for it if needed. */
  next<E extends keyof ServerToClientEvents>(event: E, ms = WAIT_MS): Promise<Payload<E>> {
    const take = (): { value: Payload<E> } | undefined => {
      const cursor = this.cursors.get(event) ?? 0;
      const list = this.received.get(event) ?? [];
      if (cursor >= list.length) return undefined;
      this.cursors.set(event, cursor + 1);
      return { value: list[cursor] as Payload<E> };
    };
    const ready = take();
    if (ready) return Promise.resolve(ready.value);
    const arrived = new Promise<Payload<E>>((resolve) => {
      const wake = (): void => {
        const got = take();
        if (!got) return;
        this.waiters.delete(wake);
        resolve(got.value);
      };
      this.waiters.add(wake);
    });
    const seen = JSON.stringify(Object.fromEntries(this.received)).slice(0, 500);
    return withTimeout(arrived, `${this.name} to receive "${event}" (received so far: ${seen})`, ms);
  }

  join(room: string, peerId: string, kind: PeerKind = 'node', protocol: number = SIGNALING_PROTOCOL): Promise<JoinResponse> {
    return this.joinRaw({ room, peerId, kind, protocol });
  }

  /** A join with extra fields (secret, peerKey). */
  joinWith(room: string, peerId: string, extra: Record<string, unknown>, kind: PeerKind = 'node'): Promise<JoinResponse> {
    return this.joinRaw({ room, peerId, kind, protocol: SIGNALING_PROTOCOL, ...extra });
  }

  joinRaw(request: unknown): Promise<JoinResponse> {
    const acked = new Promise<JoinResponse>((resolve) => this.raw.emit('join', request, resolve));
    return withTimeout(acked, `${this.name}'s join ack`);
  }

  refresh(): Promise<RefreshResponse> {
    const acked = new Promise<RefreshResponse>((resolve) => this.raw.emit('refresh', resolve));
    return withTimeout(acked, `${this.name}'s refresh ack`);
  }

  signal(to: string, data: unknown): void {
    this.raw.emit('signal', { to, data });
  }

  /** Resolves with the disconnect reason. */
  disconnected(ms = WAIT_MS): Promise<string> {
    if (!this.socket.connected) return Promise.resolve('not connected');
    return withTimeout(new Promise<string>((resolve) => this.socket.once('disconnect', resolve)), `${this.name} to be disconnected`, ms);
  }
}

export interface ConnectOptions {
  readonly auth?: Record<string, unknown>;
  readonly headers?: Record<string, string>;
}

export function connectSocket(server: SignalingServer | string, options: ConnectOptions = {}): ClientSocket {
  const socket: ClientSocket = io(typeof server === 'string' ? server : server.url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: WAIT_MS,
    ...(options.auth === undefined ? {} : { auth: options.auth }),
    ...(options.headers === undefined ? {} : { extraHeaders: options.headers }),
  });
  clients.push(socket);
  return socket;
}

export async function connect(
  server: SignalingServer | string,
  name: string,
  auth?: Record<string, unknown>,
  headers?: Record<string, string>,
): Promise<Peer> {
  const socket = connectSocket(server, { ...(auth === undefined ? {} : { auth }), ...(headers === undefined ? {} : { headers }) });
  const peer = new Peer(socket, name);
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (error) => reject(new Error(`${name} could not connect: ${error.message}`)));
  });
  await withTimeout(connected, `${name} to connect`);
  return peer;
}

export function connectError(server: SignalingServer, auth?: Record<string, unknown>, headers?: Record<string, string>): Promise<Error> {
  const socket = connectSocket(server, { ...(auth === undefined ? {} : { auth }), ...(headers === undefined ? {} : { headers }) });
  const refused = new Promise<Error>((resolve, reject) => {
    socket.once('connect_error', resolve);
    socket.once('connect', () => reject(new Error(`connected with auth ${JSON.stringify(auth)} but expected a refusal`)));
  });
  return withTimeout(refused, 'connect_error');
}

export async function joined(server: SignalingServer, room: string, peerId: string, kind: PeerKind = 'node'): Promise<Peer> {
  const peer = await connect(server, peerId);
  const response = await peer.join(room, peerId, kind);
  expect(response, `${peerId} joining ${room}`).toMatchObject({ ok: true });
  return peer;
}

/** Joins and returns the peer with the secret its join was answered with. */
export async function joinedWithSecret(server: SignalingServer, room: string, peerId: string): Promise<{ peer: Peer; secret: string }> {
  const peer = await connect(server, peerId);
  const response = await peer.join(room, peerId);
  if (!response.ok) throw new Error(`${peerId} could not join ${room}: ${response.code} ${response.message}`);
  return { peer, secret: response.secret };
}

/** Proves `target` got no `signal` before `sentinel`'s, i.e. an earlier refused relay was not delivered. */
export async function expectOnlySentinel(sender: Peer, target: Peer, targetId: string): Promise<void> {
  const marker = { sentinel: `${sender.name}->${targetId}` };
  const before = target.all('signal').length;
  sender.signal(targetId, marker);
  const got = await target.next('signal');
  expect(got, `${target.name} received something before the sentinel`).toEqual({ from: sender.name, data: marker });
  expect(target.all('signal')).toHaveLength(before + 1);
}

/** An open-mode acceptance: every join carries its peer id's reclaim secret, and no signed identity. */
export const ok = (peers: unknown[], iceServers: unknown[] = []): JoinResponse =>
  ({ ok: true, peers, iceServers, secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), identity: null }) as unknown as JoinResponse;
