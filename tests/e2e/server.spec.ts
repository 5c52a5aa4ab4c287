/**
 * `npm start` as a user runs it: server/main.ts in its own process, serving the built page and the
 * signaling server on one port, with a headless peer it spawned and stops again.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { REPO_ROOT, tsxLoaderUrl } from '../../server/main.js';
import { expect, test } from './fixtures.js';

const MAIN = 'server/main.ts';

interface Started {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly url: string;
}

/** Runs server/main.ts with the given flags and waits for the line that prints its URL. */
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
      reject(new Error(`server/main.ts exited with ${code}:\n${lines.join('\n')}`));
    });
  });
  return { child, lines, url };
}

/** A raw GET (fetch would normalise `..` away before sending). */
function rawGet(origin: string, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('server/main.ts --help prints the options', () => {
  const run = spawnSync(process.execPath, ['--import', tsxLoaderUrl(), MAIN, '--help'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
  expect(run.status).toBe(0);
  expect(run.stdout).toContain('Usage: npm start');
  for (const flag of ['--port', '--host', '--room', '--node-peers', '--no-build']) expect(run.stdout).toContain(flag);
  const bad = spawnSync(process.execPath, ['--import', tsxLoaderUrl(), MAIN, '--port', 'nope'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
  expect(bad.status).toBe(2);
  expect(bad.stderr).toContain('--port must be an integer');
});

test('server/main.ts serves the page and signaling on one port, runs --node-peers, and stops them on SIGTERM', async ({ browser }) => {
  const dist = process.env['RTC_MESH_E2E_DIST']!;
  const room = `cli-${Date.now().toString(36)}`;
  const { child, lines, url } = await startMain(['--port', '0', '--host', '127.0.0.1', '--no-build', '--dist', dist, '--node-peers', '1', '--room', room]);
  try {
    const origin = new URL(url).origin;
    expect(url).toBe(`${origin}/?room=${room}`);
    const peerLine = lines.find((l) => /^\[node peer 1\] [0-9a-z]{16} \(pid \d+\) joined room/.test(l));
    expect(peerLine, lines.join('\n')).toBeDefined();
    const [, nodeId, pid] = /\] ([0-9a-z]{16}) \(pid (\d+)\)/.exec(peerLine!)!;

    // Static files with their content types; nothing outside the build directory.
    const index = await rawGet(origin, '/');
    expect(index.status).toBe(200);
    expect(index.type).toBe('text/html; charset=utf-8');
    const script = /src="\.?\/?(assets\/[^"]+\.js)"/.exec(index.body)?.[1];
    const style = /href="\.?\/?(assets\/[^"]+\.css)"/.exec(index.body)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();
    expect((await rawGet(origin, `/${script}`)).type).toBe('text/javascript; charset=utf-8');
    expect((await rawGet(origin, `/${style}`)).type).toBe('text/css; charset=utf-8');
    expect((await rawGet(origin, '/index.html?x=1')).status).toBe(200);
    const head = await rawGet(origin, '/', 'HEAD');
    expect([head.status, head.body]).toEqual([200, '']);
    expect((await rawGet(origin, '/', 'POST')).status).toBe(405);
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/assets/../../package.json', '/..%2fpackage.json', '/%2e%2e%2f%2e%2e%2fpackage.json', '/.env', '/nope.js', '/%00']) {
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
    await page.goto(url);
    await expect(page.locator('body')).toHaveAttribute('data-state', 'ready');
    await expect(page.getByTestId('room-name')).toHaveText(room);
    await expect(page.locator(`[data-testid="peer-row"][data-peer-id="${nodeId}"]`)).toHaveAttribute('data-kind', 'node');
    await expect(page.locator(`[data-testid="peer-row"][data-peer-id="${nodeId}"]`)).toHaveAttribute('data-capabilities', 'chat,game,payment');
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
