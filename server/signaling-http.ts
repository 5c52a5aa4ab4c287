/** The http side of the signaling server: /healthz next to socket.io, listening, addresses. */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { InvalidArgumentError } from '../shared/errors.js';
import { ROOM_PREFIX } from './signaling-context.js';
import type { SignalingIo } from './signaling-types.js';

/**
 * Serves GET/HEAD /healthz and leaves every other path to whoever else handles the server.
 *
 * Node calls every 'request' listener for every request, so answering /healthz from one more listener would
 * make a static-file handler answer it a second time. Instead this takes the listeners registered so far
 * and calls them itself for other paths, the same trick engine.io uses for /socket.io/. Consequently, when
 * passing your own `httpServer`, register its request handler BEFORE calling createSignalingServer (socket.io
 * requires the same, or your handler would also see /socket.io/ requests). With a server created here, other
 * paths get a 404.
 */
export function installHealthz(server: HttpServer, owned: boolean, members: () => { rooms: number; peers: number }): void {
  const previous = server.listeners('request');
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (isHealthz(req)) return answerHealthz(req, res, members());
    if (owned) return answer(res, 404, { ok: false, error: 'not found' });
    for (const listener of previous) Reflect.apply(listener, server, [req, res]);
  });
}

function isHealthz(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  const path = url.split('?', 1)[0];
  return path === '/healthz';
}

function answerHealthz(req: IncomingMessage, res: ServerResponse, members: { rooms: number; peers: number }): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return answer(res, 405, { ok: false, error: 'method not allowed' });
  }
  answer(res, 200, { ok: true, ...members }, req.method === 'HEAD');
}

function answer(res: ServerResponse, status: number, body: object, headOnly = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(headOnly ? undefined : text);
}

export function ensureListening(server: HttpServer, port: number, host: string): Promise<void> {
  if (server.listening) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

export function describeAddress(server: HttpServer): { url: string; port: number } {
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new InvalidArgumentError('the signaling http server must listen on a TCP port');
  }
  const host = reachableHost(address.address);
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`, port: address.port };
}

/** A wildcard bind is not an address a client can dial; loopback is the one that surely works locally. */
function reachableHost(bound: string): string {
  if (bound === '0.0.0.0') return '127.0.0.1';
  if (bound === '::') return '::1';
  return bound;
}

export function countMembers(io: SignalingIo): { rooms: number; peers: number } {
  let rooms = 0;
  let peers = 0;
  for (const [key, sockets] of io.of('/').adapter.rooms) {
    if (!key.startsWith(ROOM_PREFIX) || sockets.size === 0) continue;
    rooms++;
    peers += sockets.size;
  }
  return { rooms, peers };
}
