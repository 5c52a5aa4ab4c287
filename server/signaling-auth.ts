/** Token auth of the signaling server's socket connections. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ExtendedError } from 'socket.io';
import { countRefusal, type Context, type SignalingSocket } from './signaling-context.js';
import { isPlainObject } from './signaling-validate.js';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Compares digests so that neither the token's content nor its length leaks through timing. */
export function tokenMiddleware(ctx: Context, expected: string) {
  const expectedDigest = digest(expected);
  return (socket: SignalingSocket, next: (error?: ExtendedError) => void): void => {
    const auth: unknown = socket.handshake.auth;
    const token = isPlainObject(auth) ? auth['token'] : undefined;
    if (typeof token !== 'string' || token.length === 0) return refuseConnection(ctx, socket, next, 'missing token');
    if (!timingSafeEqual(digest(token), expectedDigest)) return refuseConnection(ctx, socket, next, 'invalid token');
    next();
  };
}

function refuseConnection(
  ctx: Context,
  socket: SignalingSocket,
  next: (error?: ExtendedError) => void,
  reason: string,
): void {
  countRefusal(ctx, socket, `connection: ${reason}`);
  // The client sees this message verbatim in its connect_error; the prefix is what it switches on.
  next(new Error(`UNAUTHORIZED: ${reason}`));
}
