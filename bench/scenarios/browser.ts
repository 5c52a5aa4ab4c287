/**
 * One Chromium tab (headless, Debian's /usr/bin/chromium through playwright-core) calling actors hosted on
 * a Node peer process, and the reverse. The page bundles client/index.ts with vite's build() into a temp
 * dir, served by the same http server as the signaling server. Baselines of the same run: raw simple-peer
 * between the tab and the Node process, and the raw Node <-> Node figures.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { createSignalingServer } from '../../server/signaling-server.js';
import { BENCH_DIR, type BenchChild } from '../lib/proc.js';
import type { DriveResult, LatencySummary } from '../lib/workload.js';
import { rate, row, us, type BenchContext, type Row, type ScenarioResult } from './common.js';
import { nextRoom } from './remote.js';

import { CHROMIUM_ARGS, CHROMIUM_PATH as CHROMIUM } from '../../tests/chromium.js';

export { CHROMIUM, CHROMIUM_ARGS };

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

/** Builds the bench page (bench/browser) into a fresh temp dir; returns the dir and the build time. */
async function buildPage(): Promise<{ dir: string; ms: number }> {
  const { build } = await import('vite');
  const dir = await mkdtemp(join(tmpdir(), 'rtc-mesh-bench-page-'));
  const t0 = performance.now();
  await build({
    configFile: false,
    root: resolve(BENCH_DIR, 'browser'),
    logLevel: 'warn',
    // BENCH_TAB_PROF keeps names readable in the tab's profile.
    build: { outDir: dir, emptyOutDir: true, target: 'es2022', reportCompressedSize: false, minify: !process.env['BENCH_TAB_PROF'] },
  });
  return { dir, ms: performance.now() - t0 };
}

function staticHandler(dir: string): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (path.startsWith('/socket.io/')) return; // engine.io answers these
    const file = normalize(join(dir, path === '/' ? 'index.html' : path));
    if (!file.startsWith(dir)) {
      res.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) =>
        res
          .writeHead(200, {
            'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
            // Cross-origin isolation: performance.now() in the tab gets 5 us resolution instead of 100 us.
            'cross-origin-opener-policy': 'same-origin',
            'cross-origin-embedder-policy': 'require-corp',
          })
          .end(body),
      () => res.writeHead(404).end('not found'),
    );
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

/**
 * With BENCH_TAB_PROF=<file>, the tab's main thread is profiled (CDP) during the tab -> Node run and the
 * .cpuprofile is written there (read it with bench/lib/cpuprofile.ts, or in DevTools).
 */
async function startTabProfile(page: import('playwright-core').Page): Promise<(() => Promise<void>) | null> {
  const file = process.env['BENCH_TAB_PROF'];
  if (!file) return null;
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  return async () => {
    const { profile } = await cdp.send('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
    await cdp.detach();
  };
}

export async function runBrowser(ctx: BenchContext, node: BenchChild): Promise<ScenarioResult> {
  if (!existsSync(CHROMIUM)) {
    return { rows: [], targets: [], data: {}, skipped: `${CHROMIUM} is missing (apt-get install chromium); browser scenario skipped` };
  }
  const q = ctx.quick;
  const durationMs = q ? 600 : 3000;
  const warmMs = q ? 200 : 1000;
  const seqCount = q ? 300 : 2000;
  const page$ = await buildPage();
  ctx.log(`browser: page built in ${page$.ms.toFixed(0)} ms`);
  const httpServer = createServer();
  httpServer.on('request', staticHandler(page$.dir));
  const server = await createSignalingServer({ httpServer, port: 0, host: '127.0.0.1' });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS], headless: true });
  const consoleErrors: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (process.env['BENCH_DEBUG']) ctx.log(`browser console ${m.type()}: ${m.text()}`);
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction(() => typeof window.rtcMeshBench === 'object', undefined, { timeout: 15_000 });
    const tab = <T>(fn: string, args: unknown, timeoutMs = 60_000): Promise<T> =>
      withTimeout(
        page.evaluate(([name, a]) => (window.rtcMeshBench as unknown as Record<string, (x: unknown) => unknown>)[name as string]!(a), [
          fn,
          args,
        ] as const) as Promise<T>,
        timeoutMs,
        `tab ${fn}`,
      );

    // -------------------------------------------------------------------- raw tab <-> Node baseline
    await page.exposeFunction('rtcMeshBenchSignal', (data: unknown) => node.call('raw-signal', { data }).then(() => undefined));
    const off = node.on('raw-signal', (signal) => void tab('rawSignal', (signal as { data: unknown }).data).catch(() => undefined));
    let rawTab: { at256: DriveResult; seq: LatencySummary; reverse256: DriveResult } | null = null;
    try {
      await node.call('raw-open', { initiator: false });
      await tab('rawOpen', { initiator: true });
      await Promise.all([tab('rawConnected', {}, 20_000), node.call('raw-connected', {}, 20_000)]);
      await tab('rawReqResp', { inflight: 256, durationMs: warmMs });
      const at256 = await tab<DriveResult>('rawReqResp', { inflight: 256, durationMs });
      const seq = await tab<LatencySummary>('rawSeq', { count: seqCount });
      const reverse256 = await node.call<DriveResult>('raw-reqresp', { inflight: 256, durationMs });
      rawTab = { at256, seq, reverse256 };
      ctx.log(`browser: raw tab->node @256 ${rate(at256.rate)}, node->tab ${rate(reverse256.rate)}, RTT p50 ${us(seq.p50)}`);
    } catch (error) {
      ctx.log(`browser: raw tab <-> Node baseline failed: ${String(error)}`);
    } finally {
      off();
      await tab('rawClose', {}).catch(() => undefined);
      await node.call('raw-close').catch(() => undefined);
    }

    // -------------------------------------------------------------------- mesh: tab + Node peer
    // The shipped bug has a precise symptom: the tab hears the Node peer (its hello arrives) while the
    // Node peer never hears the tab (the tab's links never flush). Wait for the first, then give the
    // second a few seconds; a merely slow machine delays both and is not mistaken for the bug.
    const connect = async (boundSchedule: boolean): Promise<{ ok: boolean; ms: number; error?: string }> => {
      const room = nextRoom('tab');
      const t0 = performance.now();
      try {
        await Promise.all([
          tab('start', { signal: server.url, room, capabilities: ['tab'], boundSchedule }, 30_000),
          node.call('mesh-start', { signal: server.url, room, capabilities: ['game'] }, 30_000),
        ]);
        await tab('wait', { peers: 2, timeoutMs: 20_000 }, 25_000);
        await node.call('mesh-wait', { peers: 2, timeoutMs: q ? 3000 : 5000 }, 10_000);
        return { ok: true, ms: performance.now() - t0 };
      } catch (error) {
        await node.call('mesh-stop', {}, 10_000).catch(() => undefined);
        await tab('stop', {}, 10_000).catch(() => undefined);
        return { ok: false, ms: performance.now() - t0, error: String(error) };
      }
    };
    const asShipped = await connect(false);
    let shim = false;
    let formed = asShipped;
    if (!asShipped.ok) {
      ctx.log(`browser: tab <-> Node mesh did not form as shipped (${asShipped.error ?? '?'}); retrying with the bound-schedule shim`);
      shim = true;
      formed = await connect(true);
      if (!formed.ok) throw new Error(`tab <-> Node mesh did not form, even with the shim: ${formed.error ?? '?'}`);
    }
    const formedMs = formed.ms;
    ctx.log(`browser: tab and Node peer connected in ${formedMs.toFixed(0)} ms${shim ? ' (with shim)' : ''}`);

    const hot = await tab<{ first: string }>('ids', { name: 'hot', capability: 'game', prefix: 'player_', count: 1000, owners: 'remote' });
    await tab('load', { capability: 'game', ids: 'hot', inflight: 256, durationMs: warmMs });
    const profile = await startTabProfile(page);
    const tabToNode = await tab<DriveResult>('load', { capability: 'game', ids: 'hot', inflight: 256, durationMs });
    await profile?.();
    const tabBatching = await tab<Record<string, unknown>>('batching', {});
    ctx.log(`browser: tab batching ${JSON.stringify(tabBatching)}`);
    const tabToNodeSeq = await tab<LatencySummary>('seq', { capability: 'game', id: hot.first, count: seqCount });
    ctx.log(`browser: tab->node @256 ${rate(tabToNode.rate)}, sequential p50 ${us(tabToNodeSeq.p50)}`);

    const rev = await node.call<{ first: string }>('mesh-ids', {
      name: 'tab',
      capability: 'tab',
      prefix: 'player_',
      count: 1000,
      owners: 'remote',
    });
    await node.call('mesh-load', { capability: 'tab', ids: 'tab', inflight: 256, durationMs: warmMs });
    const nodeToTab = await node.call<DriveResult>('mesh-load', { capability: 'tab', ids: 'tab', inflight: 256, durationMs }, 60_000);
    const nodeToTabSeq = await node.call<LatencySummary>('mesh-seq', { capability: 'tab', id: rev.first, count: seqCount }, 60_000);
    ctx.log(`browser: node->tab @256 ${rate(nodeToTab.rate)}, sequential p50 ${us(nodeToTabSeq.p50)}`);
    await node.call('mesh-stop', {}, 10_000).catch(() => undefined);
    await tab('stop', {}, 10_000).catch(() => undefined);

    const S = `browser: 1 Chromium tab + 1 Node peer process${shim ? ' [WITH bench shim: bound queueMicrotask]' : ''}`;
    const raw256 = ctx.raw?.reqResp['256'] ?? null;
    const base = (value: number, tabBase: number | undefined, label: string): Pick<Row, 'baseline' | 'ratio'> =>
      tabBase !== undefined
        ? { baseline: `raw ${label} @256 ${rate(tabBase)}`, ratio: value / tabBase }
        : raw256 !== null
          ? { baseline: `raw node<->node @256 ${rate(raw256)}`, ratio: value / raw256 }
          : { baseline: 'raw n/a', ratio: null };
    const rows: Row[] = [
      row({
        section: S,
        name: 'tab -> Node calls/s @256',
        value: rate(tabToNode.rate),
        raw: tabToNode.rate,
        unit: 'calls/s',
        ...base(tabToNode.rate, rawTab?.at256.rate, 'tab->node'),
      }),
      row({
        section: S,
        name: 'tab -> Node sequential p50',
        value: us(tabToNodeSeq.p50),
        raw: tabToNodeSeq.p50,
        unit: 'us',
        ...(rawTab ? { baseline: `raw tab RTT p50 ${us(rawTab.seq.p50)}`, ratio: tabToNodeSeq.p50 / rawTab.seq.p50 } : {}),
      }),
      row({
        section: S,
        name: 'tab -> Node sequential p99',
        value: us(tabToNodeSeq.p99),
        raw: tabToNodeSeq.p99,
        unit: 'us',
        ...(rawTab ? { baseline: `raw tab RTT p99 ${us(rawTab.seq.p99)}`, ratio: tabToNodeSeq.p99 / rawTab.seq.p99 } : {}),
      }),
      row({
        section: S,
        name: 'Node -> tab calls/s @256',
        value: rate(nodeToTab.rate),
        raw: nodeToTab.rate,
        unit: 'calls/s',
        ...base(nodeToTab.rate, rawTab?.reverse256.rate, 'node->tab'),
      }),
      row({
        section: S,
        name: 'Node -> tab sequential p50',
        value: us(nodeToTabSeq.p50),
        raw: nodeToTabSeq.p50,
        unit: 'us',
        ...(rawTab ? { baseline: `raw tab RTT p50 ${us(rawTab.seq.p50)}`, ratio: nodeToTabSeq.p50 / rawTab.seq.p50 } : {}),
      }),
      row({ section: S, name: 'Node -> tab sequential p99', value: us(nodeToTabSeq.p99), raw: nodeToTabSeq.p99, unit: 'us' }),
    ];
    return {
      rows,
      targets: [
        {
          name: 'tab -> Node >= 20k calls/s at 256 in flight',
          measured: shim ? `0/s as shipped (tab never sends); ${rate(tabToNode.rate)} with the one-line fix` : rate(tabToNode.rate),
          goal: '>= 20.0k/s',
          pass: shim ? false : tabToNode.rate >= 20_000,
          ...(shim ? { note: 'FrameLink calls queueMicrotask unbound: Illegal invocation in browsers' } : {}),
        },
        {
          name: 'tab -> Node >= 200k calls/s at 256 in flight (issue 15)',
          measured: rate(tabToNode.rate),
          goal: '>= 200.0k/s',
          pass: shim ? false : tabToNode.rate >= 200_000,
        },
      ],
      data: {
        crossOriginIsolated: await page.evaluate(() => crossOriginIsolated).catch(() => null),
        buildMs: page$.ms,
        formedMs,
        asShipped,
        shim,
        rawTab,
        tabToNode,
        tabToNodeSeq,
        tabBatching,
        nodeToTab,
        nodeToTabSeq,
        consoleErrors: consoleErrors.slice(0, 20),
        chromium: browser.version(),
      },
    };
  } finally {
    await browser.close().catch(() => undefined);
    await server.close().catch(() => undefined);
    await rm(page$.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
