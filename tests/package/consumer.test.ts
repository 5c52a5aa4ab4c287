/**
 * rtc-mesh as its users get it: `npm pack` (which builds dist/ through prepack), then a fresh project in
 * the OS temp dir (outside the repo, so nothing resolves from the repo's node_modules or sources) that
 * installs the tarball and uses it the way an app does:
 *
 *   - installed alone, as a browser app does, it brings none of its optional peer dependencies (the
 *     Node-only socket.io, redis, prom-client, @roamhq/wrtc); the project then adds socket.io and
 *     prom-client, as the README tells a Node service to;
 *   - plain `node` scripts importing `rtc-mesh/server` and `rtc-mesh/node` (no tsx, no custom condition),
 *     with real WebRTC between two Node peers, and the installed `rtc-mesh-server` / `rtc-mesh-peer` bins;
 *   - `rtc-mesh/stores` with neither redis nor socket.io installed: FileStore works, RedisStore says what
 *     to install;
 *   - a vite build of a page importing `rtc-mesh` (and no Node binding in its output), served next to the
 *     packaged signaling server and loaded in Chromium, where the tab answers a Node peer's call and keeps a
 *     record in IndexedDBStore;
 *   - `tsc --noEmit`, strict, over a Node service (nodenext) and a browser app (bundler) using the types.
 *
 * vite, tsc and Playwright run from the repo's node_modules with the consumer as cwd (installing them into
 * the consumer would only cost time). The install uses the npm cache first (`--prefer-offline`): every
 * dependency of the lock is there after `npm ci`; what the lock does not pin (a newer transitive @types
 * package, say) comes from the registry.
 */
import { CHROMIUM_ARGS, CHROMIUM_PATH as CHROMIUM } from '../chromium.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const BIN = join(REPO, 'node_modules', '.bin');
/** Optional peer dependencies, for Node services only: a browser app that installs rtc-mesh gets none of them. */
const NODE_ONLY_PACKAGES = ['socket.io', '@socket.io/redis-adapter', 'redis', 'prom-client', '@roamhq/wrtc'];
/** What must never reach a browser bundle: the Node WebRTC bindings and Node-only modules. */
const NODE_ONLY_IN_BUNDLE =
  /node-datachannel|node_datachannel|@roamhq|prom-client|createRequire|["']node:[a-z_/]+["']|["']redis["']|@redis\//g;

/**
 * Children get the environment a user's shell would have: no NODE_OPTIONS (the suite may carry tsx or the
 * rtc-mesh-source condition in it), nothing of vitest's, nothing npm set for the script running us.
 */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'NODE_OPTIONS' || key.startsWith('VITEST') || key.startsWith('npm_') || key === 'INIT_CWD') continue;
    env[key] = value;
  }
  env['NO_UPDATE_NOTIFIER'] = '1';
  env['NO_COLOR'] = '1';
  return env;
}

interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

const children = new Set<ChildProcess>();

/** Runs a command to completion; rejects (with its output) on a non-zero exit or after `timeoutMs`. */
function run(command: string, args: readonly string[], cwd: string, timeoutMs: number): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} still running after ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      children.delete(child);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      const result = { code, stdout, stderr, ms: Date.now() - started };
      if (code === 0) resolve(result);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code} in ${cwd}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
    });
  });
}

/** A long-running child whose stdout is read as lines; `next` waits for a line matching a predicate. */
interface Service {
  readonly child: ChildProcess;
  next(match: (line: string) => boolean, timeoutMs: number, what: string): Promise<string>;
  output(): string;
  stop(): Promise<void>;
}

function startService(command: string, args: readonly string[], cwd: string): Service {
  const child = spawn(command, args, { cwd, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const lines: string[] = [];
  let stderr = '';
  let exited: number | null | undefined;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const waiter of waiters) waiter();
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    wake();
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.on('exit', (code) => {
    exited = code;
    children.delete(child);
    wake();
  });
  const output = (): string => `--- stdout\n${lines.join('\n')}\n--- stderr\n${stderr}`;
  let seen = 0;
  return {
    child,
    output,
    next(match, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          for (; seen < lines.length; seen++) {
            const line = lines[seen]!;
            if (match(line)) {
              seen++;
              done();
              resolve(line);
              return;
            }
          }
          if (exited !== undefined) {
            done();
            reject(new Error(`${command} ${args.join(' ')} exited (${exited}) before ${what}\n${output()}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`not within ${timeoutMs} ms: ${what}\n${output()}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (exited !== undefined || child.exitCode !== null) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}

const parseJsonLine = (line: string): Record<string, unknown> => JSON.parse(line) as Record<string, unknown>;
const isJsonEvent =
  (event: string) =>
  (line: string): boolean => {
    try {
      return line.startsWith('{') && parseJsonLine(line)['event'] === event;
    } catch {
      return false; // a log line that merely starts with a brace
    }
  };

const timings: Record<string, number> = {};
let work = '';
let app = '';
let tarball = '';
let packedFiles: string[] = [];
/** After installing the tarball alone: the Node-only packages present, and what importing two entries did. */
let bareInstall = { present: [] as string[], nodeImport: '', serverImport: '', storesImport: '' };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rtc-mesh-consumer-'));
  app = join(work, 'app');
  await mkdir(app);

  // `npm pack` runs prepack -> `npm run build` (tsc -> dist/) and reports the files it packed.
  const pack = await run('npm', ['pack', '--json', '--pack-destination', work], REPO, 150_000);
  timings['npm pack (build included)'] = pack.ms;
  const report = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const packed = report[0]!;
  tarball = join(work, packed.filename);
  packedFiles = packed.files.map((f) => f.path).sort();

  await writeFile(join(app, 'package.json'), `${JSON.stringify({ name: 'rtc-mesh-consumer', private: true, type: 'module' }, null, 2)}\n`);
  const npmInstall = ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];
  const install = await run('npm', [...npmInstall, tarball], app, 150_000);
  timings['npm install <tarball>'] = install.ms;
  const tryImport = (entry: string): Promise<string> =>
    run(process.execPath, ['--input-type=module', '-e', `await import('${entry}')`], app, 30_000).then(
      () => 'imported',
      (error: Error) => error.message,
    );
  bareInstall = {
    present: NODE_ONLY_PACKAGES.filter((name) => existsSync(join(app, 'node_modules', name))),
    nodeImport: await tryImport('rtc-mesh/node'),
    serverImport: await tryImport('rtc-mesh/server'),
    storesImport: await tryImport('rtc-mesh/stores'),
  };
  // Then what a Node service adds (README, "Use it in your app"): the signaling server and the peer bin's metrics.
  const peers = (JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> })
    .peerDependencies;
  const extras = ['socket.io', 'prom-client'].map((name) => {
    const range = peers[name];
    if (range === undefined) throw new Error(`package.json has no peer dependency on ${name}`);
    return `${name}@${range}`;
  });
  timings['npm install socket.io prom-client'] = (await run('npm', [...npmInstall, ...extras], app, 150_000)).ms;
  for (const entry of await readdir(FIXTURES)) await cp(join(FIXTURES, entry), join(app, entry), { recursive: true });
}, 300_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  if (work !== '') await rm(work, { recursive: true, force: true });
  console.log(`package test timings (ms): ${JSON.stringify(timings)}`);
});

describe('the packed tarball', () => {
  it('holds the built package and nothing else', () => {
    const unexpected = packedFiles.filter(
      (path) => !['package.json', 'README.md', 'LICENSE'].includes(path) && !/^dist\/(client|server|shared)\/.+\.(js|d\.ts)$/.test(path),
    );
    expect(unexpected).toEqual([]);
    expect(packedFiles.filter((path) => path.startsWith('dist/demo'))).toEqual([]);
    for (const path of [
      'dist/client/index.js',
      'dist/client/index.d.ts',
      'dist/client/node.js',
      'dist/client/node.d.ts',
      'dist/server/index.js',
      'dist/server/index.d.ts',
      'dist/shared/index.js',
      'dist/shared/index.d.ts',
      'dist/server/stores/index.js',
      'dist/server/stores/index.d.ts',
      'dist/client/stores/indexeddb-store.js',
      'dist/server/bin/rtc-mesh-server.js',
      'dist/server/bin/rtc-mesh-peer.js',
    ]) {
      expect(packedFiles).toContain(path);
    }
    expect(
      packedFiles.filter((path) => path.includes('demo')),
      'the demo and its server are not part of the package',
    ).toEqual([]);
  });
});

describe('rtc-mesh installed alone, as a browser app does', () => {
  it('brings no signaling server, Redis client, metrics library or second Node WebRTC binding', () => {
    expect(bareInstall.present).toEqual([]);
  });

  it('can still import rtc-mesh/node (node-datachannel is a dependency), but rtc-mesh/server fails naming socket.io', () => {
    expect(bareInstall.nodeImport).toBe('imported');
    expect(bareInstall.serverImport).not.toBe('imported');
    expect(bareInstall.serverImport).toMatch(/socket\.io/);
  });

  it('imports rtc-mesh/stores (redis is loaded only by a RedisStore in use)', () => {
    expect(bareInstall.storesImport).toBe('imported');
  });
});

describe('a Node service', () => {
  it('imports rtc-mesh/server and rtc-mesh/node with plain node; a call lands on the other peer', async () => {
    const result = await run(process.execPath, ['node-mesh.mjs'], app, 90_000);
    timings['node: server + 2 peers'] = result.ms;
    const line = result.stdout.trim().split('\n').at(-1) ?? '';
    const report = parseJsonLine(line) as { ok: boolean; entry: string; first: { peer: string } };
    expect(report.ok).toBe(true);
    expect(report.entry).toBe(join(app, 'node_modules', 'rtc-mesh', 'package.json'));
    expect(report.first.peer).toBe('host-peer');
  }, 120_000);

  it('keeps actor state with rtc-mesh/stores: a FileStore on disk; a RedisStore without redis installed names it', async () => {
    expect(existsSync(join(app, 'node_modules', 'redis')), 'redis must not be installed for this check').toBe(false);
    const result = await run(process.execPath, ['stores.mjs'], app, 30_000);
    const report = parseJsonLine(result.stdout.trim().split('\n').at(-1) ?? '');
    expect(report).toMatchObject({ ok: true, files: 1 });
    expect(String(report['redisError'])).toMatch(/npm install redis/);
  }, 60_000);

  it('runs the installed rtc-mesh-server and rtc-mesh-peer bins', async () => {
    const started = Date.now();
    const bin = (name: string): string => join(app, 'node_modules', '.bin', name);
    const serverHelp = await run(bin('rtc-mesh-server'), ['--help'], app, 30_000);
    expect(serverHelp.stdout).toContain('rtc-mesh signaling server');
    expect(serverHelp.stdout).toContain('--port');
    const peerHelp = await run(bin('rtc-mesh-peer'), ['--help'], app, 30_000);
    expect(peerHelp.stdout).toContain('rtc-mesh headless peer');
    expect(peerHelp.stdout).toContain('--signal');

    // The real thing: the server bin, a peer bin hosting actors from a plain .mjs module, a caller.
    const server = startService(bin('rtc-mesh-server'), ['--port', '0', '--host', '127.0.0.1', '--quiet'], app);
    const peer: Service[] = [];
    try {
      const listening = await server.next((l) => l.includes('listening on http://'), 30_000, 'the signaling bin listening');
      const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(listening)?.[1];
      expect(url).toBeDefined();
      const args = ['--signal', url!, '--room', 'bins', '--capabilities', 'counter', '--actors', './actors.mjs'];
      peer.push(startService(bin('rtc-mesh-peer'), [...args, '--bind-address', '127.0.0.1', '--peer-id', 'bin-host', '--json'], app));
      await peer[0]!.next(isJsonEvent('ready'), 30_000, 'the peer bin ready');
      const call = await run(process.execPath, ['call-bin-peer.mjs', url!, 'bin-host'], app, 60_000);
      expect(parseJsonLine(call.stdout.trim().split('\n').at(-1) ?? '')['ok']).toBe(true);
    } finally {
      await Promise.all([...peer.map((p) => p.stop()), server.stop()]);
    }
    timings['bins'] = Date.now() - started;
  }, 120_000);
});

describe('a vite app in Chromium', () => {
  let built = '';

  it('builds a page importing rtc-mesh with no Node binding in the bundle', async () => {
    const out = join(app, 'page-dist');
    const build = await run(join(BIN, 'vite'), ['build', 'page', '--outDir', out, '--emptyOutDir', '--logLevel', 'warn'], app, 120_000);
    timings['vite build'] = build.ms;
    const assets = (await readdir(join(out, 'assets'))).filter((name) => name.endsWith('.js'));
    expect(assets.length).toBeGreaterThan(0);
    const found: string[] = [];
    for (const asset of assets) {
      const text = await readFile(join(out, 'assets', asset), 'utf8');
      found.push(...(text.match(NODE_ONLY_IN_BUNDLE) ?? []).map((hit) => `${asset}: ${hit}`));
    }
    expect(found).toEqual([]);
    built = out;
  }, 150_000);

  it('joins the mesh from the tab, answers a Node peer, and calls it back', async () => {
    expect(built, 'the vite build above must have passed').not.toBe('');
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: npm test provisions it (apt-get install chromium)`).toBe(true);
    const started = Date.now();
    const { chromium } = await import('@playwright/test');
    const service = startService(process.execPath, ['serve-page.mjs', built], app);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS], timeout: 60_000 });
    try {
      const listening = parseJsonLine(await service.next(isJsonEvent('listening'), 30_000, 'the page server listening'));
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(String(listening['url']), { timeout: 30_000 });

      const tabState = async (): Promise<string> =>
        JSON.stringify(
          await page.evaluate(() => {
            const w = window as unknown as { __rtc?: unknown; __mesh?: { stats(): { peers: unknown } } };
            return { state: w.__rtc, traffic: w.__mesh?.stats().peers };
          }),
        );
      const answered = parseJsonLine(
        await service.next(
          (l) => isJsonEvent('tab-answered')(l) || isJsonEvent('failed')(l),
          60_000,
          "the tab answering the Node peer's call",
        ),
      );
      if (answered['event'] !== 'tab-answered') {
        expect.fail(`${JSON.stringify(answered)}\ntab: ${await tabState()}\npage errors: ${pageErrors.join('; ')}\n${service.output()}`);
      }
      const state = await page.evaluate(() => (window as unknown as { __rtc: { peerId: string; error?: unknown } }).__rtc);
      expect(state.error).toBeUndefined();
      expect(answered['tab']).toBe(state.peerId);

      // And back: the tab calls the Node peer's actor.
      const reply = await page
        .evaluate(() =>
          (window as unknown as { __callNode(): Promise<{ peer: string; result: { host: string; got: unknown } }> }).__callNode(),
        )
        .catch(async (error: Error) => expect.fail(`${error.message}\ntab: ${await tabState()}\n${service.output()}`));
      expect(reply.peer).toBe(listening['peerId']);
      expect(reply.result).toMatchObject({ host: listening['peerId'], got: { hello: 'from the tab' } });
      // The tab's IndexedDBStore (from the `rtc-mesh` entry) saved and loaded a record.
      expect(await page.evaluate(() => (window as unknown as { __store: Promise<unknown> }).__store)).toEqual({
        name: 'indexeddb',
        version: 1,
        text: 'kept',
      });
      expect(pageErrors).toEqual([]);
      await page.close();
    } finally {
      await browser.close();
      await service.stop();
    }
    timings['chromium'] = Date.now() - started;
  }, 150_000);
});

describe('TypeScript consumers', () => {
  // skipLibCheck: false, so rtc-mesh's own .d.ts files are checked too: any diagnostic fails.
  async function typecheck(config: string): Promise<void> {
    const started = Date.now();
    const result = await run(join(BIN, 'tsc'), ['--noEmit', '-p', config], app, 120_000);
    timings[`tsc ${config}`] = Date.now() - started;
    expect(result.stdout).toBe('');
  }

  it('typechecks a Node service (nodenext, strict, skipLibCheck false)', async () => {
    await typecheck('types/tsconfig.node.json');
  }, 150_000);

  it('typechecks a browser app (bundler resolution, DOM, no @types/node, strict, skipLibCheck false)', async () => {
    await typecheck('types/tsconfig.browser.json');
  }, 150_000);

  it('typechecks both with skipLibCheck, as app templates do, without a single diagnostic', async () => {
    for (const name of ['node', 'browser']) {
      const config = JSON.parse(await readFile(join(app, 'types', `tsconfig.${name}.json`), 'utf8')) as {
        compilerOptions: Record<string, unknown>;
      };
      config.compilerOptions['skipLibCheck'] = true;
      await writeFile(join(app, 'types', `tsconfig.${name}.skiplib.json`), JSON.stringify(config));
      const result = await run(join(BIN, 'tsc'), ['--noEmit', '-p', `types/tsconfig.${name}.skiplib.json`], app, 120_000);
      expect(result.stdout).toBe('');
    }
  }, 150_000);
});
