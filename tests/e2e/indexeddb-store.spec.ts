/**
 * IndexedDBStore in real Chromium: a test page (./stores-page, built here with vite, served with the demo's
 * static handler and its CSP) runs the shared StateStore contract (tests/fixtures/store-contract.ts) case
 * by case; then what only a browser has: two tabs of one profile racing saves with the same expected
 * version, records outliving every tab and the browser itself, another tab deleting the database, and
 * databases or rows the store did not make.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, expect, test as base, type BrowserContext, type Page } from '@playwright/test';
import { createStaticHandler } from '../../demo/server/static.js';
import { STORE_CONTRACT } from '../fixtures/store-contract.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../chromium.js';
import type { Outcome } from './stores-page/main.js';

const PAGE_ROOT = fileURLToPath(new URL('./stores-page/', import.meta.url));

interface Fixtures {
  /** A page of the test page in a fresh context (its own, empty IndexedDB). */
  page: Page;
}

const test = base.extend<Fixtures, { origin: string }>({
  origin: [
    async ({}, use) => {
      const dir = await mkdtemp(join(tmpdir(), 'rtc-mesh-stores-page-'));
      const { build } = await import('vite');
      await build({
        configFile: false,
        root: PAGE_ROOT,
        base: './',
        publicDir: false,
        logLevel: 'warn',
        build: { outDir: dir, emptyOutDir: true, target: 'es2022' },
      });
      const server: Server = createServer(createStaticHandler(dir));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      if (address === null || typeof address === 'string') throw new Error('the page server has no port');
      await use(`http://127.0.0.1:${address.port}`);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
    { scope: 'worker' },
  ],
  page: async ({ browser, origin }, use) => {
    const context = await browser.newContext();
    const page = await openPage(context, origin);
    await use(page);
    await context.close();
  },
});

const errors = new WeakMap<Page, string[]>();

async function openPage(context: BrowserContext, origin: string): Promise<Page> {
  const page = await context.newPage();
  const seen: string[] = [];
  errors.set(page, seen);
  page.on('pageerror', (error) => seen.push(`uncaught ${error.name}: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') seen.push(`console.error: ${message.text()}`);
  });
  await page.goto(`${origin}/`);
  await expect(page.locator('body')).toHaveAttribute('data-state', 'ready');
  return page;
}

test.afterEach(async ({ page }) => {
  expect(errors.get(page) ?? [], 'errors on the test page').toEqual([]);
});

let databases = 0;
const freshDatabase = (): string => `store-test-${Date.now().toString(36)}-${++databases}`;

test.describe('IndexedDBStore: the StateStore contract in Chromium', () => {
  test('the page runs the same cases as the Node suites', async ({ page }) => {
    expect(await page.evaluate(() => window.storeTests!.cases)).toEqual(STORE_CONTRACT.map((c) => c.name));
  });

  for (const { name } of STORE_CONTRACT) {
    test(name, async ({ page }) => {
      await page.evaluate(([caseName, database]) => window.storeTests!.runCase(caseName, database), [name, freshDatabase()] as const);
    });
  }
});

test.describe('IndexedDBStore across tabs', () => {
  test('two tabs of one profile racing saves with the same expected version: exactly one wins each', async ({ browser, origin }) => {
    const context = await browser.newContext();
    try {
      const tabs = [await openPage(context, origin), await openPage(context, origin)] as const;
      const database = freshDatabase();
      const ids = Array.from({ length: 25 }, (_, i) => `racer-${i}`);
      const wins = [0, 0];
      for (let round = 0; round < 8; round++) {
        await Promise.all(tabs.map((tab) => tab.evaluate((db) => window.storeTests!.open(db), database)));
        for (const [i, tab] of tabs.entries()) {
          await tab.evaluate(([db, list, expected, tag]) => window.storeTests!.arm(db, list, expected, tag), [
            database,
            ids,
            round,
            `tab${i}`,
          ] as const);
        }
        // Chromium favours the foreground tab's IndexedDB work: alternate which tab is in front (and fires).
        await tabs[round % 2]!.bringToFront();
        await tabs[round % 2]!.evaluate(() => window.storeTests!.go());
        const results: Outcome[][] = await Promise.all(tabs.map((tab) => tab.evaluate(() => window.storeTests!.results())));
        for (const [j, id] of ids.entries()) {
          const outcomes = results.map((r) => r[j]!);
          const winners = outcomes.flatMap((o, tab) => (o.ok ? [tab] : []));
          expect(winners, `round ${round}, ${id}: ${JSON.stringify(outcomes)}`).toHaveLength(1);
          const winner = winners[0]!;
          wins[winner]! += 1;
          expect(outcomes[winner]).toEqual({ ok: true, version: round + 1 });
          expect(outcomes[1 - winner]).toMatchObject({ ok: false, code: 'STORE_CONFLICT' });
          // Both tabs read the winner's record.
          for (const tab of tabs) {
            expect(await tab.evaluate(([db, k]) => window.storeTests!.loadText(db, k), [database, id] as const)).toBe(`tab${winner} ${id}`);
          }
        }
      }
      test.info().annotations.push({ type: 'wins per tab', description: JSON.stringify(wins) });
      expect(wins[0]! + wins[1]!).toBe(ids.length * 8);
      // With the front tab alternating each tab wins some: the two really raced, neither always came late.
      expect(wins[0], `wins per tab ${JSON.stringify(wins)}`).toBeGreaterThan(0);
      expect(wins[1], `wins per tab ${JSON.stringify(wins)}`).toBeGreaterThan(0);
    } finally {
      await context.close();
    }
  });

  test('records outlive every tab of the profile: close them all, open a new one, everything is there', async ({ browser, origin }) => {
    const context = await browser.newContext();
    try {
      const database = freshDatabase();
      const first = await openPage(context, origin);
      const second = await openPage(context, origin);
      expect(await first.evaluate((db) => window.storeTests!.save(db, 'big', { seed: 3, length: 1024 * 1024 }, 0), database)).toEqual({
        ok: true,
        version: 1,
      });
      expect(await second.evaluate((db) => window.storeTests!.save(db, 'big', { seed: 4, length: 1024 * 1024 }, 1), database)).toEqual({
        ok: true,
        version: 2,
      });
      expect(await first.evaluate((db) => window.storeTests!.save(db, 'small', { seed: 5, length: 10 }, 0), database)).toEqual({
        ok: true,
        version: 1,
      });
      const before = await first.evaluate(
        (db) => Promise.all([window.storeTests!.load(db, 'big'), window.storeTests!.load(db, 'small')]),
        database,
      );
      await first.close();
      await second.close();
      expect(context.pages()).toEqual([]);
      const later = await openPage(context, origin);
      expect(
        await later.evaluate((db) => Promise.all([window.storeTests!.load(db, 'big'), window.storeTests!.load(db, 'small')]), database),
      ).toEqual(before);
      expect(before[0]).toMatchObject({ version: 2, length: 1024 * 1024 });
    } finally {
      await context.close();
    }
  });

  test('records outlive the browser: a persistent profile closed and launched again', async ({ origin }, testInfo) => {
    const profile = await mkdtemp(join(tmpdir(), 'rtc-mesh-idb-profile-'));
    const launch = (): Promise<BrowserContext> =>
      chromium.launchPersistentContext(profile, { executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
    try {
      const database = freshDatabase();
      let context = await launch();
      const page = await openPage(context, origin);
      // Default durability is 'strict': a resolved save is on disk, not only in the browser's memory.
      expect(await page.evaluate((db) => window.storeTests!.save(db, 'kept', { seed: 8, length: 4096 }, 0), database)).toEqual({
        ok: true,
        version: 1,
      });
      const before = await page.evaluate((db) => window.storeTests!.load(db, 'kept'), database);
      await context.close();
      context = await launch();
      try {
        const again = await openPage(context, origin);
        expect(await again.evaluate((db) => window.storeTests!.load(db, 'kept'), database)).toEqual(before);
        expect(await again.evaluate((db) => window.storeTests!.save(db, 'kept', { seed: 9, length: 1 }, 1), database)).toEqual({
          ok: true,
          version: 2,
        });
      } finally {
        await context.close();
      }
    } finally {
      await rm(profile, { recursive: true, force: true }).catch((error: unknown) =>
        testInfo.annotations.push({ type: 'cleanup', description: String(error) }),
      );
    }
  });

  test('another tab can delete the database: the store lets go of it and starts afresh', async ({ browser, origin }) => {
    const context = await browser.newContext();
    try {
      const database = freshDatabase();
      const holder = await openPage(context, origin);
      const other = await openPage(context, origin);
      expect(await holder.evaluate((db) => window.storeTests!.save(db, 'p1', { seed: 1, length: 100 }, 0), database)).toEqual({
        ok: true,
        version: 1,
      });
      // The holder's connection is open; it closes on versionchange instead of blocking the delete.
      expect(await other.evaluate((db) => window.storeTests!.deleteDatabase(db), database)).toBe('deleted');
      expect(await holder.evaluate((db) => window.storeTests!.load(db, 'p1'), database)).toBeNull();
      expect(await holder.evaluate((db) => window.storeTests!.save(db, 'p1', { seed: 2, length: 100 }, 0), database)).toEqual({
        ok: true,
        version: 1,
      });
    } finally {
      await context.close();
    }
  });

  test("a row it did not write, or a database that is someone else's, is STORE_UNAVAILABLE", async ({ page }) => {
    const database = freshDatabase();
    expect(await page.evaluate((db) => window.storeTests!.save(db, 'p1', { seed: 1, length: 10 }, 0), database)).toEqual({
      ok: true,
      version: 1,
    });
    await page.evaluate((db) => window.storeTests!.putForeignRow(db, 'p2'), database);
    expect(await page.evaluate((db) => window.storeTests!.load(db, 'p2'), database)).toEqual({ code: 'STORE_UNAVAILABLE' });
    expect(await page.evaluate((db) => window.storeTests!.save(db, 'p2', { seed: 1, length: 10 }, 0), database)).toMatchObject({
      ok: false,
      code: 'STORE_UNAVAILABLE',
    });
    expect(await page.evaluate((db) => window.storeTests!.load(db, 'p1'), database)).toMatchObject({ version: 1 });

    const foreign = freshDatabase();
    await page.evaluate((db) => window.storeTests!.createForeignDatabase(db), foreign);
    expect(await page.evaluate((db) => window.storeTests!.save(db, 'p1', { seed: 1, length: 10 }, 0), foreign)).toMatchObject({
      ok: false,
      code: 'STORE_UNAVAILABLE',
      message: expect.stringMatching(/database of its own/),
    });
  });
});
