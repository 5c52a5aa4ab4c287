/**
 * `npm start` as a user runs it: demo/server/cli.ts in its own process, serving the built page and the
 * signaling server on one port, with a headless peer it spawned and stops again.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request, type IncomingHttpHeaders } from 'node:http';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from '../../demo/server/build.js';
import { tsxLoaderUrl } from '../../demo/server/node-peers.js';
import { expect, test } from './fixtures.js';

const MAIN = 'demo/server/cli.ts';

interface Started {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly url: string;
}

/** Runs demo/server/cli.ts with the given flags and waits for the line that prints its URL. */
async function startMain(args: readonly string[]): Promise<Started> {
  const child = spawn(process.execPath, ['--import', tsxLoaderUrl(), MAIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed within 60 s:\n${lines.join('\n')}`)), 60_000);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream! }).on('line', (line) => {
        lines.push(line);
        const match = /^rtc-mesh demo: (http:\/\/\S+)/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    }
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${MAIN} exited with ${code}:\n${lines.join('\n')}`));
    });
  });
  return { child, lines, url };
}

interface RawResponse {
  readonly status: number;
  /** The media type without parameters, e.g. 'text/html'. */
  readonly type: string;
  readonly charset: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A raw GET (fetch would normalise `..` away before sending). */
function rawGet(origin: string, path: string, method = 'GET'): Promise<RawResponse> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const [type = '', ...params] = String(res.headers['content-type'] ?? '')
          .split(';')
          .map((part) => part.trim().toLowerCase());
        const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length);
        resolve({ status: res.statusCode ?? 0, type, charset, headers: res.headers, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The headers every response of the page's origin carries, whatever its status. */
function expectSecurityHeaders(res: RawResponse, what: string): void {
  const csp = String(res.headers['content-security-policy'] ?? '');
  const directives = new Map(
    csp.split(';').map((d): [string, string] => {
      const [name = '', ...values] = d.trim().split(/\s+/);
      return [name, values.join(' ')];
    }),
  );
  expect(directives.get('default-src'), `${what}: CSP default-src`).toBe("'none'");
  expect(directives.get('script-src'), `${what}: CSP script-src`).toBe("'self'");
  expect(directives.get('style-src'), `${what}: CSP style-src`).toBe("'self'");
  expect(directives.get('connect-src'), `${what}: CSP connect-src`).toBe("'self'");
  expect(directives.get('frame-ancestors'), `${what}: CSP frame-ancestors`).toBe("'none'");
  expect(csp, `${what}: CSP allows no inline code or eval`).not.toMatch(/unsafe-/);
  expect(res.headers['x-content-type-options'], what).toBe('nosniff');
  expect(res.headers['referrer-policy'], what).toBe('no-referrer');
  expect(res.headers['x-frame-options'], what).toBe('DENY');
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('npm start -- --help prints the options', () => {
  const run = spawnSync(process.execPath, ['--import', tsxLoaderUrl(), MAIN, '--help'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(run.status).toBe(0);
  expect(run.stdout).toContain('Usage: npm start');
  for (const flag of ['--port', '--host', '--room', '--node-peers', '--no-build']) expect(run.stdout).toContain(flag);
  const bad = spawnSync(process.execPath, ['--import', tsxLoaderUrl(), MAIN, '--port', 'nope'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(bad.status).toBe(2);
  expect(bad.stderr).toContain('--port must be an integer');
});

test('npm start serves the page and signaling on one port, runs --node-peers, and stops them on SIGTERM', async ({ browser }) => {
  const dist = process.env['RTC_MESH_E2E_DIST']!;
  const room = `cli-${Date.now().toString(36)}`;
  const { child, lines, url } = await startMain([
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--no-build',
    '--dist',
    dist,
    '--node-peers',
    '1',
    '--room',
    room,
  ]);
  try {
    const origin = new URL(url).origin;
    expect(url).toBe(`${origin}/?room=${room}`);
    const peerLine = lines.find((l) => /^\[node peer 1\] [0-9a-z]{16} \(pid \d+\) joined room/.test(l));
    expect(peerLine, lines.join('\n')).toBeDefined();
    const [, nodeId, pid] = /\] ([0-9a-z]{16}) \(pid (\d+)\)/.exec(peerLine!)!;

    // Static files with their content types and the security headers; nothing outside the build directory.
    const index = await rawGet(origin, '/');
    expect(index.status).toBe(200);
    expect([index.type, index.charset]).toEqual(['text/html', 'utf-8']);
    expect(index.headers['cache-control']).toBe('no-cache');
    expectSecurityHeaders(index, '/');
    const script = /src="\.?\/?(assets\/[^"]+\.js)"/.exec(index.body)?.[1];
    const style = /href="\.?\/?(assets\/[^"]+\.css)"/.exec(index.body)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();
    const scriptRes = await rawGet(origin, `/${script}`);
    expect(scriptRes.type).toBe('text/javascript');
    expect(scriptRes.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expectSecurityHeaders(scriptRes, script!);
    expect((await rawGet(origin, `/${style}`)).type).toBe('text/css');
    expect((await rawGet(origin, '/index.html?x=1')).status).toBe(200);
    const head = await rawGet(origin, '/', 'HEAD');
    expect([head.status, head.body]).toEqual([200, '']);
    const post = await rawGet(origin, '/', 'POST');
    expect(post.status).toBe(405);
    expectSecurityHeaders(post, 'POST /');
    expectSecurityHeaders(await rawGet(origin, '/nope.js'), '/nope.js');
    for (const path of [
      '/../package.json',
      '/%2e%2e/package.json',
      '/assets/../../package.json',
      '/..%2fpackage.json',
      '/%2e%2e%2f%2e%2e%2fpackage.json',
      '/.env',
      '/nope.js',
      '/%00',
    ]) {
      const res = await rawGet(origin, path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).not.toContain('"name": "rtc-mesh"');
    }
    const health = await rawGet(origin, '/healthz');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ ok: true, rooms: 1, peers: 1 });

    // A tab at the printed URL meets the Node peer the server started.
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    // Under the CSP: every violation is an error, and signaling still upgrades to a websocket.
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
    });
    const websocket = page.waitForEvent('websocket', (ws) => ws.url().includes('/socket.io/'));
    await page.goto(url);
    expect((await websocket).url()).toContain('transport=websocket');
    await expect(page.locator('body')).toHaveAttribute('data-state', 'ready');
    await expect(page.getByTestId('room-name')).toHaveText(room);
    await expect(page.locator(`[data-testid="peer-row"][data-peer-id="${nodeId}"]`)).toHaveAttribute('data-kind', 'node');
    await expect(page.locator(`[data-testid="peer-row"][data-peer-id="${nodeId}"]`)).toHaveAttribute(
      'data-capabilities',
      'chat,game,payment',
    );
    await expect(page.getByTestId('peer-row')).toHaveCount(2);
    await context.close();
    expect(errors).toEqual([]);

    expect(alive(Number(pid))).toBe(true);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(lines.join('\n')).toContain('SIGTERM: stopping 1 node peer(s) and the server');
    expect(alive(Number(pid)), 'the node peer was stopped too').toBe(false);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});
