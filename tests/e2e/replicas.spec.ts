/**
 * Live replicas in the demo: three tabs and a Node peer, players scored, then one tab's renderer crashes
 * (no drain, no goodbye). Every player it owned goes on from its copy on the peer that held it, the backup
 * the other tabs showed in their players table, with its score intact; the next clicks continue from there.
 */
import {
  addPlayers,
  clickPlayers,
  crashTab,
  expect,
  hostedRows,
  playerRow,
  tabActivations,
  tabBackups,
  tabPeerIds,
  tabPlayers,
  tabReplicaStats,
  tabReplicas,
  test,
  type NodePeer,
  type Tab,
} from './fixtures.js';

/** Players owned by the doomed tab: enough of them to spread over the survivors as backups. */
const DOOMED_PLAYERS = 6;
/** The default peerTimeoutMs (5 s) plus room for a loaded machine; signaling usually tells sooner. */
const NOTICE_MS = 15_000;

test('a tab crashes: every score it held goes on from its copy on the backup, in every other tab', async ({ mesh }, testInfo) => {
  const node = await mesh.startNodePeer('node');
  const [a, b, doomed] = [await mesh.openTab('A'), await mesh.openTab('B'), await mesh.openTab('C')] as const;
  const everyone = await mesh.waitForMesh();

  // Enough players that C owns several, with their copies on A or B (so a tab's counters can tell) as well
  // as wherever else placement puts them. Ids are shared: player_k is the same actor in every tab.
  const candidates = Array.from({ length: 300 }, (_, i) => `player_${i + 1}`);
  const placed = await tabBackups(a, candidates, 'game');
  let count = 0;
  let onC: string[] = [];
  for (let k = 1; k <= candidates.length; k++) {
    onC = candidates.slice(0, k).filter((_, i) => placed[i]![1] === doomed.peerId);
    const backups = onC.map((id) => placed[candidates.indexOf(id)]![2]);
    if (onC.length >= DOOMED_PLAYERS && backups.some((p) => p === a.peerId || p === b.peerId)) {
      count = k;
      break;
    }
  }
  expect(count, `${DOOMED_PLAYERS} of the first 300 players are C's, some backed up on a tab`).toBeGreaterThan(0);
  const players = await addPlayers(a, count);
  expect(await addPlayers(b, count)).toEqual(players);
  const backupOf = new Map(onC.map((id) => [id, placed[candidates.indexOf(id)]![2]!]));

  // Scores: C's players 2..5 clicks from A and one more from B; the others one click from A.
  const expected = new Map(players.map((id, i) => [id, onC.includes(id) ? 2 + (i % 4) : 1]));
  await clickPlayers(a, expected);
  await clickPlayers(b, onC);
  for (const id of onC) expected.set(id, expected.get(id)! + 1);
  for (const id of onC) {
    await expect(playerRow(b, id), `${id} scored on C`).toHaveAttribute('data-score', String(expected.get(id)));
    await expect(playerRow(b, id)).toHaveAttribute('data-peer', doomed.peerId);
  }

  // Before the crash: both tabs show each of C's players with C as owner and its backup; C itself sends the
  // copies exactly there (its hosted panel), and a backup tab holds them.
  for (const tab of [a, b])
    for (const id of onC) {
      await expect(playerRow(tab, id)).toHaveAttribute('data-owner', doomed.peerId);
      await expect(playerRow(tab, id), `${tab.name} shows ${id}'s backup`).toHaveAttribute('data-backup', backupOf.get(id)!);
      await expect(playerRow(tab, id).locator(`.backup .peer-chip[data-peer-id="${backupOf.get(id)}"]`)).toHaveCount(1);
    }
  await expect
    .poll(async () => new Map((await tabActivations(doomed)).map((h) => [h.id, h.backups.join(',')])), {
      message: "C's activations send their copies to the backups the other tabs show",
    })
    .toEqual(new Map(onC.map((id) => [id, backupOf.get(id)!])));
  for (const id of onC) {
    await expect(doomed.page.locator(`[data-testid="hosted-row"][data-id="${id}"]`)).toHaveAttribute('data-backups', backupOf.get(id)!);
  }
  for (const tab of [a, b]) {
    const mine = onC.filter((id) => backupOf.get(id) === tab.peerId).sort();
    // A sync call resolves only once its state is on the backup: the copies are there already.
    const held = (await tabReplicas(tab, 'GameActor')).filter(([, owner]) => owner === doomed.peerId).map(([id]) => id);
    expect(held.sort(), `${tab.name} holds the copies of the players it backs up`).toEqual(mine);
  }
  await mesh.screenshot(doomed, 'tab C before its crash');

  // The crash: C's renderer dies mid-session.
  const how = await crashTab(doomed);
  testInfo.annotations.push({ type: 'crash', description: how });
  const crashedAt = Date.now();
  const survivors = everyone.filter((id) => id !== doomed.peerId);
  for (const tab of [a, b])
    await expect.poll(() => tabPeerIds(tab), { message: `${tab.name} notices that C is gone`, timeout: NOTICE_MS }).toEqual(survivors);
  await mesh.waitForMesh(survivors);
  testInfo.annotations.push({ type: 'noticed', description: `${Date.now() - crashedAt} ms after the crash` });

  // Each of C's players now belongs to its backup, which went on from its copy at once: the score is there
  // before anyone calls it again.
  const hostOf = (peer: string): Tab | NodePeer => [a, b].find((t) => t.peerId === peer) ?? node;
  for (const id of onC) {
    const backup = backupOf.get(id)!;
    for (const tab of [a, b])
      await expect(playerRow(tab, id), `${tab.name}: ${id} now on its backup`).toHaveAttribute('data-owner', backup);
    const host = hostOf(backup);
    if ('page' in host)
      await expect
        .poll(async () => (await hostedRows(host)).find((r) => r.id === id)?.score, { message: `${host.name} hosts ${id} with its score` })
        .toBe(expected.get(id));
    else
      await expect
        .poll(async () => (await host.activations()).find((x) => x.id === id)?.state?.score, { message: `the node peer hosts ${id}` })
        .toBe(expected.get(id));
  }

  // The backup tabs counted their promotions and logged each one; nothing started fresh anywhere.
  let promoted = 0;
  for (const tab of [a, b]) {
    const mine = onC.filter((id) => backupOf.get(id) === tab.peerId);
    promoted += mine.length;
    await expect.poll(async () => (await tabReplicaStats(tab)).promoted, { message: `${tab.name} promoted its copies` }).toBe(mine.length);
    await expect(tab.page.getByTestId('stat-promoted')).toHaveText(String(mine.length));
    const logged = tab.page.locator('[data-testid="log-entry"][data-kind="promoted"]');
    await expect(logged).toHaveCount(mine.length);
    for (const id of mine) {
      const entry = logged.filter({ hasText: `${id} went on from its copy on this tab after` });
      await expect(entry).toHaveCount(1);
      await expect(entry.locator(`.peer-chip[data-peer-id="${doomed.peerId}"]`)).toHaveCount(1);
    }
    await expect(tab.page.locator('[data-testid="log-entry"]', { hasText: 'starts fresh' })).toHaveCount(0);
  }
  expect(promoted, 'at least one surviving tab promoted a copy').toBeGreaterThan(0);

  // Until they are called again, "served by" says C has left; then one click from B and one from A each
  // continue the score where it was (a fresh actor would answer 1).
  for (const id of onC) await expect(playerRow(a, id).locator('.stale-tag')).toHaveText('left');
  // The table still fits its panel with the backup column and those tags in it.
  const sideways = await a.page.locator('#players-panel .scroll').evaluate((list) => list.scrollWidth - list.clientWidth);
  expect(sideways, 'the players table does not scroll sideways').toBeLessThanOrEqual(1);
  // Tab A logged promotions only if it was the backup of one of C's players (peer ids are random).
  const promotedOnA = a.page.locator('[data-testid="log-entry"][data-kind="promoted"]');
  if ((await promotedOnA.count()) > 0) await promotedOnA.first().scrollIntoViewIfNeeded();
  await mesh.screenshot(a, 'tab A once C is gone, before its players are called again');
  await clickPlayers(b, onC);
  await clickPlayers(a, onC);
  for (const id of onC) {
    const before = expected.get(id)!;
    const backup = backupOf.get(id)!;
    for (const [tab, score] of [
      [b, before + 1],
      [a, before + 2],
    ] as const) {
      const row = playerRow(tab, id);
      await expect(row, `${tab.name}: ${id} carried on`).toHaveAttribute('data-score', String(score));
      await expect(row, `${tab.name}: ${id} served by its backup`).toHaveAttribute('data-peer', backup);
      await expect(row).toHaveAttribute('data-served', 'current');
    }
  }
  for (const p of await tabPlayers(a)) {
    expect(p.error, p.id).toBeNull();
    expect(p.score, `${p.id}'s score`).toBe(expected.get(p.id)! + (onC.includes(p.id) ? 2 : 0));
    // The copies are rebuilt on the survivors: a backup that is neither the crashed tab nor the owner.
    expect(p.backup, `${p.id} has a backup again`).not.toBeNull();
    expect([doomed.peerId, p.owner]).not.toContain(p.backup);
  }
  await mesh.screenshot(a, 'tab A after C crashed');
  await doomed.context.close();
});
