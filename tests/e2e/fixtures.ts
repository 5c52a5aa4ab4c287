/**
 * The e2e harness: one demo server (static page + signaling) per worker, a fresh room per test, browser tabs
 * in separate contexts and headless Node peers as child processes whose JSON lines are parsed.
 */
import { fileURLToPath } from 'node:url';
import { test as base, expect, type Browser, type BrowserContext, type Locator, type Page } from '@playwright/test';
import type { PeerInfo } from '../../client/index.js';
import type { HostedView, PlayerView } from '../../demo/app/debug-api.js';
import { startDemoServer, type DemoServer } from '../../demo/server/demo-server.js';
import { spawnNodePeer, type NodePeerProcess, type PeerEvent } from '../../demo/server/node-peers.js';

export { expect };

export const CAPABILITIES = ['game', 'chat', 'payment'] as const;
const TEST_PEER_SCRIPT = fileURLToPath(new URL('./fixtures/node-peer.ts', import.meta.url));

// ------------------------------------------------------------------------------------------ tabs

export interface Tab {
  readonly name: string;
  readonly context: BrowserContext;
  readonly page: Page;
  readonly peerId: string;
  /** The tab has its context to itself (closing the tab closes it); false: a page of a shared profile. */
  readonly ownsContext: boolean;
  closed: boolean;
}

export interface HostedRow {
  readonly actor: string;
  readonly id: string;
  readonly activation: string;
  readonly score: number | null;
}

/** The peer ids this tab's mesh sees (itself included), sorted. */
export const tabPeerIds = (tab: Tab): Promise<string[]> =>
  tab.page.evaluate(() =>
    window
      .rtcMesh!.mesh.peers()
      .map((p) => p.id)
      .sort(),
  );

export const tabPeers = (tab: Tab): Promise<PeerInfo[]> => tab.page.evaluate(() => window.rtcMesh!.mesh.peers());

/** [shard, owner] per id, as the tab computes them. Ids travel as JSON so that lone surrogates survive. */
export const tabPlacements = (tab: Tab, ids: readonly string[], capability: string): Promise<[number, string | null][]> =>
  tab.page.evaluate(([json, cap]) => window.rtcMesh!.placements(JSON.parse(json) as string[], cap), [
    JSON.stringify(ids),
    capability,
  ] as const);

/** The owner of every shard for `capability` in the tab's view. */
export const tabOwners = (tab: Tab, capability: string): Promise<(string | null)[]> =>
  tab.page.evaluate((cap) => {
    const r = window.rtcMesh!;
    return Array.from({ length: r.mesh.shardCount }, (_, shard) => r.ownerPeer(shard, cap) ?? null);
  }, capability);

/** The shard map as painted: owner per cell, the colour read back from the canvas, and the expected colours. */
export const tabMap = (
  tab: Tab,
): Promise<{ capability: string; painted: (string | null)[]; pixels: string[]; colors: Record<string, string> }> =>
  tab.page.evaluate(() => {
    const r = window.rtcMesh!;
    const painted = r.mapOwners();
    const colors: Record<string, string> = { '': r.colorOf(null) };
    for (const owner of painted) if (owner !== null) colors[owner] = r.colorOf(owner);
    return { capability: r.mapCapability(), painted, pixels: r.sampleMap(), colors };
  });

export const tabPlayers = (tab: Tab): Promise<PlayerView[]> => tab.page.evaluate(() => window.rtcMesh!.players());

export const tabActivations = (tab: Tab): Promise<HostedView[]> => tab.page.evaluate(() => window.rtcMesh!.hosted());

/** The "hosted here" table as shown. */
export const hostedRows = (tab: Tab): Promise<HostedRow[]> =>
  tab.page.locator('[data-testid="hosted-row"]').evaluateAll((rows) =>
    rows.map((row) => {
      const el = row as HTMLElement;
      return {
        actor: el.dataset['actor'] ?? '',
        id: el.dataset['id'] ?? '',
        activation: el.dataset['activation'] ?? '',
        score: el.dataset['score'] === undefined ? null : Number(el.dataset['score']),
      };
    }),
  );

export const playerRow = (tab: Tab, id: string): Locator => tab.page.locator(`[data-testid="player-row"][data-player="${id}"]`);

/** Adds players through the form; returns their ids. */
export async function addPlayers(tab: Tab, count: number): Promise<string[]> {
  const before = await tab.page.getByTestId('player-row').count();
  await tab.page.getByTestId('player-count').fill(String(count));
  await tab.page.getByTestId('add-players').click();
  await expect(tab.page.getByTestId('player-row')).toHaveCount(before + count);
  return tab.page
    .getByTestId('player-row')
    .evaluateAll((rows, skip) => rows.slice(skip).map((r) => (r as HTMLElement).dataset['player'] ?? ''), before);
}

/** Clicks each player row its number of times, then waits for every reply (or error) to be shown. */
export async function clickPlayers(tab: Tab, clicks: ReadonlyMap<string, number> | readonly string[]): Promise<void> {
  const plan = Array.isArray(clicks) ? new Map(clicks.map((id) => [id, 1])) : (clicks as ReadonlyMap<string, number>);
  const targets = new Map<string, number>();
  for (const [id, times] of plan) {
    const row = playerRow(tab, id);
    targets.set(id, Number((await row.getAttribute('data-calls')) ?? '0') + times);
    for (let i = 0; i < times; i++) await row.click();
  }
  for (const [id, calls] of targets) await expect(playerRow(tab, id), `replies for ${id}`).toHaveAttribute('data-calls', String(calls));
}

/** Clicks a player row `times` times and waits for every reply (or error) to be shown. */
export async function clickPlayer(tab: Tab, id: string, times = 1): Promise<void> {
  const row = playerRow(tab, id);
  const before = Number((await row.getAttribute('data-calls')) ?? '0');
  for (let i = 0; i < times; i++) await row.click();
  await expect(row).toHaveAttribute('data-calls', String(before + times));
}

/** [shard, owner, backup] per id, as the tab computes them (backup: the peer holding the actor's copy). */
export const tabBackups = (tab: Tab, ids: readonly string[], capability: string): Promise<[number, string | null, string | null][]> =>
  tab.page.evaluate(
    ([json, cap]) => {
      const r = window.rtcMesh!;
      return (JSON.parse(json) as string[]).map((id): [number, string | null, string | null] => {
        const shard = r.shardFor(id);
        return [shard, r.ownerPeer(shard, cap) ?? null, r.backupPeer(shard, cap) ?? null];
      });
    },
    [JSON.stringify(ids), capability] as const,
  );

/** The tab's replica counters (mesh.stats().replicas). */
export const tabReplicaStats = (
  tab: Tab,
): Promise<{ sent: number; acked: number; held: number; bytes: number; evicted: number; promoted: number }> =>
  tab.page.evaluate(() => window.rtcMesh!.mesh.stats().replicas);

/** The copies the tab holds for other owners: [actor id, owner] (mesh.replicas()). */
export const tabReplicas = (tab: Tab, actor: string): Promise<[string, string][]> =>
  tab.page.evaluate(
    (type) =>
      window
        .rtcMesh!.mesh.replicas()
        .filter((r) => r.actor === type)
        .map((r): [string, string] => [r.id, r.owner]),
    actor,
  );

/** The tab's durable-actor store counters (mesh.stats().store). */
export const tabStoreStats = (tab: Tab): Promise<{ loads: number; saves: number; conflicts: number; failures: number }> =>
  tab.page.evaluate(() => window.rtcMesh!.mesh.stats().store);

/** A player's score and level as its actor answers get_stats (a call: it activates the actor if need be). */
export const tabGameStats = (tab: Tab, id: string): Promise<{ stats: { score: number; level: number }; peer: string }> =>
  tab.page.evaluate(async (playerId) => {
    const reply = await window.rtcMesh!.mesh.call<{ score: number; level: number }>({
      actor: 'GameActor',
      id: playerId,
      capability: 'game',
      payload: { action: 'get_stats' },
    });
    return { stats: reply.result, peer: reply.peer };
  }, id);

/**
 * Crashes the tab's renderer: no pagehide, no drain, no goodbye, like a tab killed by the OS. The tab counts
 * as closed from here on (waitForMesh leaves it out); its context stays open, for the test to close later.
 * Returns how: navigating to chrome://crash, or CDP's Page.crash where a Chromium refuses that URL.
 */
export async function crashTab(tab: Tab): Promise<'chrome://crash' | 'Page.crash'> {
  tab.closed = true;
  const crash = (timeout: number): Promise<boolean> =>
    tab.page.waitForEvent('crash', { timeout }).then(
      () => true,
      () => false,
    );
  const crashed = crash(5_000);
  // The navigation is aborted as the renderer dies: its error is expected, the crash event is the answer.
  await tab.page.goto('chrome://crash').catch(() => undefined);
  if (await crashed) return 'chrome://crash';
  const again = crash(15_000);
  const cdp = await tab.context.newCDPSession(tab.page);
  // Not awaited: the renderer dies before it answers, and the command only fails once the target is gone.
  void cdp.send('Page.crash').catch(() => undefined);
  if (!(await again)) throw new Error(`${tab.name} did not crash`);
  return 'Page.crash';
}

// ------------------------------------------------------------------------------------------ node peers

/** A headless Node peer process: its JSON lines, plus commands when it runs the test peer script. */
export class NodePeer {
  readonly events: PeerEvent[] = [];
  readonly stderr: string[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly listeners = new Set<(event: PeerEvent) => void>();
  readonly process: NodePeerProcess;
  readonly script: 'cli' | 'test';

  constructor(
    readonly name: string,
    options: { signal: string; room: string; capabilities?: readonly string[]; script: 'cli' | 'test'; peerId?: string },
  ) {
    this.script = options.script;
    this.process = spawnNodePeer({
      signal: options.signal,
      room: options.room,
      ...(options.capabilities ? { capabilities: options.capabilities } : {}),
      ...(options.script === 'test' ? { script: TEST_PEER_SCRIPT } : {}),
      ...(options.peerId ? { extraArgs: ['--peer-id', options.peerId] } : {}),
      onEvent: (event) => this.onEvent(event),
      onStderr: (line) => this.stderr.push(line),
    });
    this.process.child.once('exit', () => {
      for (const { reject } of this.pending.values()) reject(new Error(`${this.name} exited`));
      this.pending.clear();
    });
  }

  get peerId(): string {
    if (this.process.peerId === null) throw new Error(`${this.name} has not joined yet`);
    return this.process.peerId;
  }

  ready(): Promise<string> {
    return this.process.ready;
  }

  private onEvent(event: PeerEvent): void {
    this.events.push(event);
    if (event.event === 'reply' && typeof event['id'] === 'number') {
      const waiter = this.pending.get(event['id']);
      this.pending.delete(event['id']);
      if (event['ok'] === true) waiter?.resolve(event['result']);
      else waiter?.reject(new Error(`${this.name}: ${String(event['error'])}`));
    }
    for (const listener of this.listeners) listener(event);
  }

  /** Sends a command to the test peer script and resolves with its answer. */
  request<T>(command: Record<string, unknown>, timeoutMs = 15_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no answer to ${String(command['cmd'])} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.process.child.stdin?.write(`${JSON.stringify({ ...command, id })}\n`);
    });
  }

  peers(): Promise<PeerInfo[]> {
    return this.request<PeerInfo[]>({ cmd: 'peers' });
  }

  async peerIds(): Promise<string[]> {
    return (await this.peers()).map((p) => p.id).sort();
  }

  placements(
    ids: readonly string[],
    capabilities: readonly string[],
  ): Promise<{ shards: number[]; owners: Record<string, (string | null)[]>; peersFor: Record<string, string[]> }> {
    return this.request({ cmd: 'placements', ids, capabilities }, 30_000);
  }

  owners(capability: string): Promise<(string | null)[]> {
    return this.request({ cmd: 'owners', capability });
  }

  activations(): Promise<(HostedView & { state: { score: number; level: number } | null })[]> {
    return this.request({ cmd: 'activations' });
  }

  /** The peer ids of the latest 'topology' line, sorted (works for peer-cli too). */
  lastTopology(): string[] | null {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const event = this.events[i]!;
      if (event.event === 'topology' && Array.isArray(event['peers'])) return (event['peers'] as { id: string }[]).map((p) => p.id).sort();
    }
    return null;
  }

  stop(): Promise<void> {
    return this.process.stop();
  }
}

// ------------------------------------------------------------------------------------------ the fixture

export interface TabOptions {
  readonly capabilities?: readonly string[];
  /** A fixed peer id (the page's ?peer=); default: the page picks a random one. */
  readonly peerId?: string;
  /** This tab's window size; default: the project's viewport. */
  readonly viewport?: { readonly width: number; readonly height: number };
  /**
   * Open the tab as a new page of this context (from `mesh.newContext()`): the same browser profile as its
   * other pages, sharing their IndexedDB. Default: a context of its own (`viewport` then applies).
   */
  readonly context?: BrowserContext;
  /** The page's ?store=: keep durable actors in the profile's IndexedDB. */
  readonly store?: 'indexeddb';
}

export interface MeshHarness {
  readonly server: DemoServer;
  readonly room: string;
  readonly tabs: Tab[];
  readonly nodes: NodePeer[];
  /** Opens the demo in a new browser context (its own profile: a separate peer), joined to the room. */
  openTab(name: string, options?: TabOptions): Promise<Tab>;
  /** A browser context (one profile) for several tabs (`openTab(name, { context })`), closed after the test. */
  newContext(): Promise<BrowserContext>;
  /** Starts a headless Node peer: the test peer script (answers commands) or server/peer-cli.ts. */
  startNodePeer(name: string, options?: { capabilities?: readonly string[]; script?: 'cli' | 'test'; peerId?: string }): Promise<NodePeer>;
  /** Waits until every open tab and every node peer sees exactly the given peers. */
  waitForMesh(expected?: readonly string[]): Promise<string[]>;
  /** Closes the tab: its context, or only its page when it shares the context (`TabOptions.context`). */
  closeTab(tab: Tab): Promise<void>;
  screenshot(tab: Tab, name: string, options?: { fullPage?: boolean; path?: string }): Promise<void>;
}

interface Fixtures {
  mesh: MeshHarness;
  /** The room of the test's mesh; null: a fresh name per test. `test.use({ room: 'demo' })` for pictures. */
  room: string | null;
}

interface WorkerFixtures {
  demoServer: DemoServer;
}

let roomCounter = 0;

export const test = base.extend<Fixtures, WorkerFixtures>({
  demoServer: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const distDir = process.env['RTC_MESH_E2E_DIST'];
      if (!distDir) throw new Error('RTC_MESH_E2E_DIST is not set: run through the Playwright config (its globalSetup builds the demo)');
      const server = await startDemoServer({ port: 0, host: '127.0.0.1', build: false, distDir, log: () => undefined });
      await use(server);
      await server.close();
    },
    { scope: 'worker' },
  ],

  room: [null, { option: true }],

  mesh: async ({ demoServer, browser, viewport, room: fixedRoom }, use, testInfo) => {
    const room = fixedRoom ?? `e2e-${process.pid}-${++roomCounter}-${Date.now().toString(36)}`;
    const tabs: Tab[] = [];
    const nodes: NodePeer[] = [];
    const contexts: BrowserContext[] = [];
    const consoleErrors: string[] = [];

    const harness: MeshHarness = {
      server: demoServer,
      room,
      tabs,
      nodes,
      openTab: (name, options = {}) => openTab(browser, demoServer, room, name, options, viewport, consoleErrors, tabs),
      async newContext() {
        const context = await browser.newContext(viewport ? { viewport } : {});
        contexts.push(context);
        return context;
      },
      async startNodePeer(name, options = {}) {
        const peer = new NodePeer(name, {
          signal: demoServer.origin,
          room,
          script: options.script ?? 'test',
          ...(options.peerId ? { peerId: options.peerId } : {}),
          ...(options.capabilities ? { capabilities: options.capabilities } : {}),
        });
        nodes.push(peer);
        await peer.ready();
        return peer;
      },
      async waitForMesh(expected) {
        const ids = [...(expected ?? [...tabs.filter((t) => !t.closed).map((t) => t.peerId), ...nodes.map((n) => n.peerId)])].sort();
        for (const tab of tabs) {
          if (tab.closed) continue;
          await expect.poll(() => tabPeerIds(tab), { message: `${tab.name} sees every peer`, timeout: 45_000 }).toEqual(ids);
        }
        for (const node of nodes) {
          if (node.process.child.exitCode !== null) continue;
          await expect
            .poll(() => (node.script === 'test' ? node.peerIds() : Promise.resolve(node.lastTopology())), {
              message: `${node.name} sees every peer`,
              timeout: 45_000,
            })
            .toEqual(ids);
        }
        return ids;
      },
      async closeTab(tab) {
        tab.closed = true;
        await (tab.ownsContext ? tab.context.close() : tab.page.close());
      },
      async screenshot(tab, name, options = {}) {
        const body = await tab.page.screenshot({ fullPage: options.fullPage ?? false, ...(options.path ? { path: options.path } : {}) });
        await testInfo.attach(name, { body, contentType: 'image/png' });
      },
    };

    await use(harness);

    if (testInfo.status !== testInfo.expectedStatus) {
      // What each tab saw, to tell a mesh problem from a page problem.
      for (const tab of tabs) {
        if (tab.closed) continue;
        const events =
          (await tab.page
            .locator('#event-log')
            .textContent()
            .catch(() => null)) ?? '(page gone)';
        await testInfo.attach(`${tab.name} (${tab.peerId}) event log`, { body: events, contentType: 'text/plain' });
      }
    }
    for (const tab of tabs) if (!tab.closed) await tab.context.close().catch(() => undefined);
    for (const context of contexts) await context.close().catch(() => undefined);
    await Promise.all(nodes.map((n) => n.stop()));
    if (testInfo.status === testInfo.expectedStatus) {
      // Every page of the test, closed ones included, must have run without a console error.
      expect(consoleErrors, 'console errors on the demo pages').toEqual([]);
    } else if (consoleErrors.length > 0) {
      await testInfo.attach('console-errors', { body: consoleErrors.join('\n'), contentType: 'text/plain' });
    }
    const stderr = nodes.flatMap((n) => n.stderr.map((line) => `${n.name}: ${line}`));
    if (stderr.length > 0) await testInfo.attach('node-peer-stderr', { body: stderr.join('\n'), contentType: 'text/plain' });
  },
});

async function openTab(
  browser: Browser,
  server: DemoServer,
  room: string,
  name: string,
  options: TabOptions,
  viewport: { width: number; height: number } | null,
  consoleErrors: string[],
  tabs: Tab[],
): Promise<Tab> {
  const size = options.viewport ?? viewport;
  const context = options.context ?? (await browser.newContext(size ? { viewport: size } : {}));
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(`${name}: console.error: ${message.text()}`);
  });
  page.on('pageerror', (error) => consoleErrors.push(`${name}: uncaught ${error.name}: ${error.message}`));
  const caps = options.capabilities ? `&caps=${encodeURIComponent(options.capabilities.join(','))}` : '';
  const peer = options.peerId ? `&peer=${encodeURIComponent(options.peerId)}` : '';
  const store = options.store ? `&store=${options.store}` : '';
  await page.goto(`${server.origin}/?room=${encodeURIComponent(room)}${caps}${peer}${store}`);
  await expect(page.locator('body'), `${name} joined the mesh`).toHaveAttribute('data-state', 'ready');
  const peerId = await page.evaluate(() => window.rtcMesh!.peerId);
  const tab: Tab = { name, context, page, peerId, ownsContext: options.context === undefined, closed: false };
  tabs.push(tab);
  return tab;
}
