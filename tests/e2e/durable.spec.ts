/**
 * Durable actors in the demo (`?store=indexeddb`): GameActor saves each player's score in the profile's
 * IndexedDB before its call answers. Every tab of the profile closes, and a new tab of the same profile gets
 * every score back from IndexedDB; two tabs of one profile share it, so a player goes on in the tab that
 * stays when the one that held it closes.
 */
import {
  addPlayers,
  clickPlayers,
  expect,
  hostedRows,
  playerRow,
  tabActivations,
  tabGameStats,
  tabPlacements,
  tabStoreStats,
  test,
  type Tab,
} from './fixtures.js';

const PLAYERS = 6;

/** The Hosted here panel and the Live panel say where the tab's state goes, and the store's counters as mesh.stats() has them. */
async function expectStoreShown(tab: Tab, database: string): Promise<void> {
  await expect(tab.page.getByTestId('store-select')).toHaveValue('indexeddb');
  expect(await tab.page.evaluate(() => window.rtcMesh!.storeDatabase)).toBe(database);
  await expect(tab.page.locator('[data-testid="log-entry"][data-kind="store"]')).toContainText(database);
  const { loads, saves } = await tabStoreStats(tab);
  await expect(tab.page.getByTestId('stat-store-io'), `${tab.name} shows its store loads / saves`).toHaveText(`${loads} / ${saves}`);
  await expect(tab.page.getByTestId('stat-store-failures')).toHaveText('0');
}

test('every tab of a profile closes: a new tab of the profile gets every score back from IndexedDB', async ({ mesh }, testInfo) => {
  const database = `rtc-mesh-demo:${mesh.room}`;
  const profile = await mesh.newContext();
  const first = await mesh.openTab('first', { context: profile, store: 'indexeddb' });
  // Alone in its room: it owns every shard, so every score is its own to save.
  await mesh.waitForMesh([first.peerId]);

  const players = await addPlayers(first, PLAYERS);
  const scores = new Map(players.map((id, i) => [id, 1 + (i % 4)]));
  await clickPlayers(first, scores);
  for (const [id, score] of scores) {
    await expect(playerRow(first, id), `${id} scored`).toHaveAttribute('data-score', String(score));
    await expect(playerRow(first, id)).toHaveAttribute('data-peer', first.peerId);
    await expect(playerRow(first, id)).toHaveAttribute('data-state', 'ok');
  }
  // Write-through: each click was answered once its score was saved. Every player was read (empty) once.
  const before = await tabStoreStats(first);
  expect(before, 'the first tab read each player once and saved them all, without a failure').toEqual({
    loads: PLAYERS,
    saves: before.saves,
    conflicts: 0,
    failures: 0,
  });
  expect(before.saves).toBeGreaterThanOrEqual(PLAYERS);
  await expectStoreShown(first, database);
  await mesh.screenshot(first, 'the first tab, scores saved in IndexedDB');

  // Every tab of the profile closes; the signaling server stays.
  await mesh.closeTab(first);
  expect(profile.pages(), 'no tab of the profile is open').toEqual([]);

  const second = await mesh.openTab('second', { context: profile, store: 'indexeddb' });
  await mesh.waitForMesh([second.peerId]);
  expect(second.peerId).not.toBe(first.peerId);
  // No peer holds the players: nothing is hosted and nothing was read yet.
  expect(await tabActivations(second)).toEqual([]);
  expect(await tabStoreStats(second)).toEqual({ loads: 0, saves: 0, conflicts: 0, failures: 0 });

  // A call activates each player here, from what IndexedDB kept.
  for (const [id, score] of scores) {
    expect(await tabGameStats(second, id), `${id} back from IndexedDB`).toEqual({ stats: { score, level: 1 }, peer: second.peerId });
  }
  const loaded = await tabStoreStats(second);
  expect(loaded.loads, 'the new tab loaded every player from IndexedDB').toBeGreaterThan(0);
  expect(loaded).toEqual({ loads: PLAYERS, saves: 0, conflicts: 0, failures: 0 });

  // And in the page: the same players (ids are shared), one click each carries on from the saved score.
  expect(await addPlayers(second, PLAYERS)).toEqual(players);
  await clickPlayers(second, players);
  for (const [id, score] of scores) {
    await expect(playerRow(second, id), `${id} carried on`).toHaveAttribute('data-score', String(score + 1));
    await expect(playerRow(second, id)).toHaveAttribute('data-peer', second.peerId);
  }
  await expect
    .poll(async () => new Map((await hostedRows(second)).map((r) => [r.id, r.score])), { message: 'the hosted table shows the scores' })
    .toEqual(new Map(players.map((id) => [id, scores.get(id)! + 1])));
  await expect
    .poll(() => tabStoreStats(second), { message: 'each click saved' })
    .toMatchObject({ loads: PLAYERS, conflicts: 0, failures: 0 });
  expect((await tabStoreStats(second)).saves).toBeGreaterThanOrEqual(PLAYERS);
  await expectStoreShown(second, database);
  await mesh.screenshot(second, 'a new tab of the profile, scores back from IndexedDB');
  testInfo.annotations.push({ type: 'store', description: JSON.stringify(await tabStoreStats(second)) });
});

test('two tabs of one profile share its IndexedDB: the players of the tab that closes go on in the other', async ({ mesh }) => {
  const profile = await mesh.newContext();
  const a = await mesh.openTab('A', { context: profile, store: 'indexeddb' });
  const b = await mesh.openTab('B', { context: profile, store: 'indexeddb' });
  await mesh.waitForMesh();

  // Enough players that A owns four of them.
  const candidates = Array.from({ length: 200 }, (_, i) => `player_${i + 1}`);
  const placed = await tabPlacements(a, candidates, 'game');
  const ownedByA = candidates.filter((_, i) => placed[i]![1] === a.peerId).slice(0, 4);
  expect(ownedByA, 'A owns four of the first 200 players').toHaveLength(4);
  const count = candidates.indexOf(ownedByA.at(-1)!) + 1;
  const players = await addPlayers(a, count);
  expect(await addPlayers(b, count)).toEqual(players);

  // A scores its players locally, B once more each through A: A saves them all in the shared database.
  const scores = new Map(ownedByA.map((id, i) => [id, 2 + i]));
  await clickPlayers(a, scores);
  await clickPlayers(b, ownedByA);
  for (const id of ownedByA) {
    scores.set(id, scores.get(id)! + 1);
    await expect(playerRow(b, id), `${id} scored on A`).toHaveAttribute('data-score', String(scores.get(id)));
    await expect(playerRow(b, id)).toHaveAttribute('data-peer', a.peerId);
  }
  expect(await tabStoreStats(a)).toMatchObject({ loads: ownedByA.length, conflicts: 0, failures: 0 });
  const loadsBefore = (await tabStoreStats(b)).loads;

  await mesh.closeTab(a);
  await mesh.waitForMesh([b.peerId]);
  for (const id of ownedByA) await expect(playerRow(b, id), `B owns ${id} now`).toHaveAttribute('data-owner', b.peerId);

  // B activates each of A's players by loading it (whatever else it was handed): the scores carry on.
  await clickPlayers(b, ownedByA);
  for (const id of ownedByA) {
    await expect(playerRow(b, id), `${id} carried on in B`).toHaveAttribute('data-score', String(scores.get(id)! + 1));
    await expect(playerRow(b, id)).toHaveAttribute('data-peer', b.peerId);
  }
  const after = await tabStoreStats(b);
  expect(after.loads - loadsBefore, "B loaded A's players from the shared IndexedDB").toBeGreaterThanOrEqual(ownedByA.length);
  expect(after).toMatchObject({ conflicts: 0, failures: 0 });
  await expectStoreShown(b, `rtc-mesh-demo:${mesh.room}`);
});

test('the "state kept in" picker reloads the tab with ?store= set or removed; an unknown store is said in the log', async ({ mesh }) => {
  const tab = await mesh.openTab('A');
  const { page } = tab;
  const select = page.getByTestId('store-select');
  await expect(select).toHaveValue('');
  await expect(page.getByTestId('stat-store-io')).toHaveCount(0);
  expect(await page.evaluate(() => window.rtcMesh!.storeDatabase)).toBeNull();

  // Picking IndexedDB reloads the page with ?store=indexeddb, the rest of the URL kept.
  await Promise.all([page.waitForURL(/[?&]store=indexeddb(&|$)/), select.selectOption('indexeddb')]);
  await expect(page.locator('body')).toHaveAttribute('data-state', 'ready');
  expect(new URL(page.url()).searchParams.get('room')).toBe(mesh.room);
  await expect(select).toHaveValue('indexeddb');
  expect(await page.evaluate(() => window.rtcMesh!.storeDatabase)).toBe(`rtc-mesh-demo:${mesh.room}`);
  await expect(page.getByTestId('stat-store-io')).toHaveText('0 / 0');

  // And back: memory only removes it.
  await Promise.all([page.waitForURL((url) => !url.searchParams.has('store')), select.selectOption('')]);
  await expect(page.locator('body')).toHaveAttribute('data-state', 'ready');
  await expect(select).toHaveValue('');
  expect(new URL(page.url()).searchParams.get('room')).toBe(mesh.room);

  // A store the demo does not know: the tab runs without one and says so.
  const unknown = new URL(page.url());
  unknown.searchParams.set('store', 'redis');
  await page.goto(unknown.href);
  await expect(page.locator('body')).toHaveAttribute('data-state', 'ready');
  await expect(select).toHaveValue('');
  await expect(page.locator('[data-testid="log-entry"][data-kind="error"]', { hasText: 'no store called "redis"' })).toHaveCount(1);
});
