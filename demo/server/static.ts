/**
 * The demo server's static files (the vite build) through sirv, with the security headers every response
 * of the page's origin carries.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import sirv from 'sirv';

/**
 * What the built page needs and nothing more: its own module scripts and stylesheet (vite emits no inline
 * script or style, and the app sets styles through the CSSOM, which style-src does not govern), the favicon
 * as a data: URL, and the signaling websocket to this same origin ('self' covers ws: and wss: of the page's
 * own host). WebRTC data channels are outside CSP. No framing, no plugins, no forms posting anywhere.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  // The URL carries the room name: no other site gets to see it.
  'referrer-policy': 'no-referrer',
  // frame-ancestors for current browsers, this for the ones that only know the header.
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Serves GET/HEAD of the files under `root` as they are when this is called (the build must exist): sirv
 * lists them once and answers only a path on that list, so `..`, encoded or not, dotfiles and files added
 * later are 404s. `/` serves index.html; other methods are a 405.
 */
export function createStaticHandler(root: string): (req: IncomingMessage, res: ServerResponse) => void {
  const files = sirv(root, {
    etag: true,
    setHeaders(res, pathname) {
      // vite puts a content hash in every name under assets/; index.html names the current ones.
      res.setHeader('cache-control', pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  return (req, res) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
    files(req, res, () => plain(res, 404, 'not found\n'));
  };
}
