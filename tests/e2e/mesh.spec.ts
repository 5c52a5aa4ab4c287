/**
 * The demo as users see it: Chromium tabs (separate browser contexts, so separate peers) and headless Node
 * peers in one WebRTC mesh, checked through the page's UI and, where the UI cannot say it, window.rtcMesh.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveStrategy } from '../../shared/placement/placement.js';
import { shardFor } from '../../shared/placement/shards.js';
import {
  CAPABILITIES,
  addPlayers,
  clickPlayer,
  clickPlayers,
  expect,
  hostedRows,
  playerRow,
  tabActivations,
  tabMap,
  tabOwners,
  tabPeers,
  tabPlacements,
  tabPlayers,
  test,
  type NodePeer,
  type Tab,
} from './fixtures.js';

const SHARDS = 4096;
const strategy = resolveStrategy(undefined);
const VECTORS_PATH = fileURLToPath(new URL('../fixtures/shard-vectors.json', import.meta.url));
const DEMO_PNG = fileURLToPath(new URL('../../docs/demo.png', import.meta.url));

interface ShardVectors {
  readonly version: number;
  readonly shardCount: number;
  readonly vectors: readonly { readonly id: string; readonly shard: number }[];
}

/** Read at test time: the vectors belong to the shard-hash tests and may change with them. */
async function loadVectors(): Promise<ShardVectors> {
  const vectors = JSON.parse(await readFile(VECTORS_PATH, 'utf8')) as ShardVectors;
  expect(vectors.shardCount, 'the demo uses the default shard count').toBe(SHARDS);
  expect(vectors.vectors.length).toBeGreaterThan(0);
  return vectors;
}

/** The vectors' ids, then deterministic extras (ASCII, Latin, Greek, CJK, emoji, combining, lone surrogates). */
function idsUnderTest(vectors: ShardVectors, total: number): string[] {
  const ids = new Set(vectors.vectors.map((v) => v.id));
  let seed = 0x2f6b1d3;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const ranges: [number, number][] = [
    [0x61, 0x7a],
    [0xc0, 0x17f],
    [0x391, 0x3c9],
    [0x4e00, 0x4fff],
    [0x1f600, 0x1f64f],
    [0x300, 0x36f],
  ];
  for (let i = 0; ids.size < total; i++) {
    if (i % 3 === 0) {
      ids.add(`player_${i}`);
      continue;
    }
    let id = '';
    const length = 1 + Math.floor(next() * 12);
    for (let k = 0; k < length; k++) {
      const [lo, hi] = ranges[Math.floor(next() * ranges.length)]!;
      id += String.fromCodePoint(lo + Math.floor(next() * (hi - lo + 1)));
    }
    if (i % 97 === 0) id += '\ud800'; // a lone surrogate: hashed as U+FFFD, like TextEncoder does
    ids.add(id);
  }
  return [...ids];
}

/** The first few differences between two equally long lists, to keep failure messages readable. */
function differences<T>(actual: readonly T[], expected: readonly T[], label: (i: number) => string): string[] {
  const out: string[] = [];
  if (actual.length !== expected.length) out.push(`length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < expected.length && out.length < 10; i++) {
    if (actual[i] !== expected[i]) out.push(`${label(i)}: got ${String(actual[i])}, expected ${String(expected[i])}`);
  }
  return out;
}

function expectedOwners(peerIds: readonly string[], capability: string): string[] {
  const sorted = [...peerIds].sort();
  return Array.from({ length: SHARDS }, (_, shard) => strategy.owner(shard, capability, sorted) ?? '');
}

/** Waits until the tab's shard map shows `owners` for its capability, and checks the canvas pixels match. */
async function expectMap(tab: Tab, owners: readonly (string | null)[], capability = 'game'): Promise<void> {
  await expect
    .poll(
      async () => {
        const map = await tabMap(tab);
        return map.capability === capability ? differences(map.painted, owners, (i) => `shard ${i}`) : [`map shows ${map.capability}`];
      },
      { message: `${tab.name}'s shard map shows the owners of ${capability}` },
    )
    .toEqual([]);
  const map = await tabMap(tab);
  const wrongPixels = differences(
    map.pixels,
    map.painted.map((owner) => map.colors[owner ?? '']!),
    (i) => `cell ${i} (owner ${map.painted[i]})`,
  );
  expect(wrongPixels, `${tab.name}'s canvas cells have their owner's colour`).toEqual([]);
}

const hostedGame = async (tab: Tab): Promise<[string, number | null][]> =>
  (await hostedRows(tab))
    .filter((r) => r.actor === 'GameActor')
    .map((r): [string, number | null] => [r.id, r.score])
    .sort((x, y) => (x[0] < y[0] ? -1 : 1));

const nodeGame = async (node: NodePeer): Promise<[string, number | null][]> =>
  (await node.activations())
    .filter((a) => a.actor === 'GameActor')
    .map((a): [string, number | null] => [a.id, a.state?.score ?? null])
    .sort((x, y) => (x[0] < y[0] ? -1 : 1));

/** The peer list's swatch colour of every peer, as the tab shows it. */
const swatchColours = (tab: Tab): Promise<Record<string, string>> =>
  tab.page
    .getByTestId('peer-row')
    .evaluateAll((els) =>
      Object.fromEntries(
        els.map((el) => [(el as HTMLElement).dataset['peerId'] ?? '', getComputedStyle(el.querySelector('.swatch')!).backgroundColor]),
      ),
    );

/** 'rgb(r, g, b)' -> its distance to another in sRGB (0-441). */
function rgbDistance(x: string, y: string): number {
  const channels = (c: string): number[] => (c.match(/\d+/g) ?? []).slice(0, 3).map(Number);
  const [a, b] = [channels(x), channels(y)];
  return Math.hypot(...a.map((v, i) => v - (b[i] ?? 0)));
}

test('three tabs and a headless Node peer form one mesh, and every tab shows all four', async ({ mesh }) => {
  // The real CLI, as `npm start -- --node-peers` runs it; its --json topology lines are parsed.
  const node = await mesh.startNodePeer('node (peer-cli)', { script: 'cli' });
  const [a, b] = [await mesh.openTab('A'), await mesh.openTab('B')];
  await mesh.waitForMesh();
  const coloursBefore = await swatchColours(a);
  const tabs = [a, b, await mesh.openTab('C')];
  const ids = await mesh.waitForMesh();
  expect(ids).toHaveLength(4);

  const swatches: Record<string, string>[] = [];
  for (const tab of tabs) {
    const { page } = tab;
    await expect(page.getByTestId('self-id')).toHaveText(tab.peerId);
    await expect(page.getByTestId('signaling-state')).toHaveText('joined');
    await expect(page.getByTestId('peer-count')).toHaveText('4');
    const rows = page.getByTestId('peer-row');
    await expect(rows).toHaveCount(4);
    await expect(rows.first(), 'this tab is listed first').toHaveAttribute('data-peer-id', tab.peerId);
    await expect(rows.first()).toHaveClass(/\bself\b/);
    const listed = await rows.evaluateAll((els) =>
      els.map((el) => {
        const row = el as HTMLElement;
        const swatch = row.querySelector('.swatch') as HTMLElement;
        return {
          id: row.dataset['peerId'] ?? '',
          kind: row.dataset['kind'] ?? '',
          caps: row.dataset['capabilities'] ?? '',
          color: getComputedStyle(swatch).backgroundColor,
        };
      }),
    );
    expect(listed.map((r) => r.id).sort()).toEqual(ids);
    for (const row of listed) {
      expect(row.kind, `kind of ${row.id} in ${tab.name}`).toBe(row.id === node.peerId ? 'node' : 'browser');
      expect(row.caps).toBe('chat,game,payment');
    }
    swatches.push(Object.fromEntries(listed.map((r) => [r.id, r.color])));
  }
  // Every tab gives each peer a colour of its own, far from the others (hues 60° apart or more).
  for (const [i, colours] of swatches.entries()) {
    const list = Object.values(colours);
    for (const [k, x] of list.entries()) {
      for (const y of list.slice(k + 1)) expect(rgbDistance(x, y), `${tabs[i]!.name}: ${x} and ${y} are far apart`).toBeGreaterThan(80);
    }
  }
  // And keeps it: C joining did not repaint the peers A already showed.
  expect(Object.fromEntries(Object.entries(swatches[0]!).filter(([id]) => id in coloursBefore))).toEqual(coloursBefore);

  const topology = node.events.filter((e) => e.event === 'topology').at(-1) as { peers: { id: string; kind: string }[] } | undefined;
  expect(topology?.peers.map((p) => p.kind).sort()).toEqual(['browser', 'browser', 'browser', 'node']);
  await mesh.screenshot(tabs[0]!, 'tab A with four peers');
});

test('every tab and the Node peer compute the same shard and owner for 2,000 ids, as shared/placement/shards.ts does', async ({ mesh }) => {
  const node = await mesh.startNodePeer('node');
  const tabs = [await mesh.openTab('A'), await mesh.openTab('B'), await mesh.openTab('C')];
  const members = await mesh.waitForMesh();
  const vectors = await loadVectors();
  const ids = idsUnderTest(vectors, 2000);
  expect(
    ids.some((id) => [...id].some((c) => c.charCodeAt(0) > 0x7f)),
    'non-ASCII ids are part of the set',
  ).toBe(true);

  // Node side, from the library's own modules: the hash against the published vectors, then placement.
  const shards = ids.map((id) => shardFor(id, SHARDS));
  expect(
    differences(
      vectors.vectors.map((v) => shardFor(v.id, SHARDS)),
      vectors.vectors.map((v) => v.shard),
      (i) => JSON.stringify(vectors.vectors[i]!.id),
    ),
  ).toEqual([]);

  // The Node peer's view: the same members for every capability, and owners as placement computes them.
  const nodeView = await node.placements(ids, CAPABILITIES);
  expect(differences(nodeView.shards, shards, (i) => JSON.stringify(ids[i]))).toEqual([]);
  const owners: Record<string, string[]> = {};
  for (const cap of CAPABILITIES) {
    expect(nodeView.peersFor[cap], `node's peers for ${cap}`).toEqual(members);
    owners[cap] = shards.map((shard) => strategy.owner(shard, cap, nodeView.peersFor[cap]!) ?? '');
    expect(differences(nodeView.owners[cap]!, owners[cap]!, (i) => `${cap} ${JSON.stringify(ids[i])}`)).toEqual([]);
  }
  // Each owner gets a share: placement spreads ids over all four peers.
  expect(new Set(owners['game']).size).toBe(4);

  for (const tab of tabs) {
    for (const cap of CAPABILITIES) {
      const placed = await tabPlacements(tab, ids, cap);
      expect(
        differences(
          placed.map((p) => p[0]),
          shards,
          (i) => `${tab.name} shard of ${JSON.stringify(ids[i])}`,
        ),
      ).toEqual([]);
      expect(
        differences(
          placed.map((p) => p[1] ?? ''),
          owners[cap]!,
          (i) => `${tab.name} ${cap} owner of ${JSON.stringify(ids[i])}`,
        ),
      ).toEqual([]);
    }
    // The vectors as the browser hashes them (UTF-8 of non-ASCII and lone surrogates included).
    const vectorShards = await tab.page.evaluate(
      (json) => (JSON.parse(json) as string[]).map((id) => window.rtcMesh!.shardFor(id)),
      JSON.stringify(vectors.vectors.map((v) => v.id)),
    );
    expect(
      differences(
        vectorShards,
        vectors.vectors.map((v) => v.shard),
        (i) => `${tab.name} ${JSON.stringify(vectors.vectors[i]!.id)}`,
      ),
    ).toEqual([]);
    // And the whole map: every one of the 4096 cells painted in its owner's colour.
    await expectMap(tab, expectedOwners(members, 'game'));
  }
  await mesh.screenshot(tabs[1]!, 'tab B shard map');
});

test('clicking players in tab A routes each call to its owner, which alone hosts it with the right score', async ({ mesh }) => {
  const node = await mesh.startNodePeer('node');
  const [a, b, c] = [await mesh.openTab('A'), await mesh.openTab('B'), await mesh.openTab('C')] as const;
  await mesh.waitForMesh();
  const players = await addPlayers(a, 40);
  expect(players[0]).toBe('player_1');

  const placed = await tabPlacements(a, players, 'game');
  const owner = new Map(players.map((id, i) => [id, placed[i]![1]!]));
  const hosts: { name: string; id: string }[] = [
    ...[a, b, c].map((t) => ({ name: t.name, id: t.peerId })),
    { name: 'node', id: node.peerId },
  ];
  for (const host of hosts) {
    expect([...owner.values()].filter((o) => o === host.id).length, `40 players give ${host.name} some`).toBeGreaterThan(0);
  }

  // Each peer's row counts the players of the tab's own list placed on it: the same rule in every row, so
  // A shows its 40 spread over the four peers, and B and C, which have no players, show none anywhere.
  for (const host of hosts) {
    const n = [...owner.values()].filter((o) => o === host.id).length;
    await expect(a.page.locator(`[data-testid="peer-row"][data-peer-id="${host.id}"] [data-testid="peer-players"]`)).toHaveText(
      `${n} player${n === 1 ? '' : 's'}`,
    );
    for (const tab of [b, c])
      await expect(tab.page.locator(`[data-testid="peer-row"][data-peer-id="${host.id}"] [data-testid="peer-players"]`)).toHaveText(
        '0 players',
      );
  }

  const clicks = new Map(players.map((id, i) => [id, (i % 3) + 1]));
  await clickPlayers(a, clicks);

  // What tab A shows: each reply came from the owner, with the running score and the owner's activation.
  const rows = await a.page.getByTestId('player-row').evaluateAll((els) => els.map((el) => ({ ...(el as HTMLElement).dataset })));
  for (const row of rows) {
    const id = row['player']!;
    expect(row['owner'], `owner of ${id} shown`).toBe(owner.get(id));
    expect(row['peer'], `${id} served by its owner`).toBe(owner.get(id));
    expect(row['score'], `score of ${id}`).toBe(String(clicks.get(id)));
    expect(row['activation'], `activation of ${id}`).toMatch(new RegExp(`^${owner.get(id)}#\\d+$`));
    expect(row['state']).toBe('ok');
  }
  const served = new Map((await tabPlayers(a)).map((p) => [p.id, p.activation]));

  // Each host lists exactly its players under "hosted here", with the score the clicks gave them.
  const expectedOn = (peer: string): [string, number][] =>
    players
      .filter((id) => owner.get(id) === peer)
      .map((id): [string, number] => [id, clicks.get(id)!])
      .sort((x, y) => (x[0] < y[0] ? -1 : 1));
  for (const tab of [a, b, c]) {
    await expect.poll(() => hostedGame(tab), { message: `${tab.name} hosts exactly its players` }).toEqual(expectedOn(tab.peerId));
    for (const row of (await hostedRows(tab)).filter((r) => r.actor === 'GameActor'))
      expect(row.activation, `${row.id} in ${tab.name}`).toBe(served.get(row.id));
    await expect(tab.page.getByTestId('hosted-count')).toHaveText(String(expectedOn(tab.peerId).length));
  }
  // The Node peer's players ran in the Node process.
  await expect.poll(() => nodeGame(node), { message: 'the node peer hosts exactly its players' }).toEqual(expectedOn(node.peerId));

  await mesh.screenshot(a, 'tab A after the calls');
  await mesh.screenshot(b, 'tab B hosting its players');
});

test('a tab without the game capability hosts no game actor, yet calls them and hosts its other actors; offering it again hands players over', async ({
  mesh,
}) => {
  const node = await mesh.startNodePeer('node');
  const [a, b, c] = [await mesh.openTab('A'), await mesh.openTab('B'), await mesh.openTab('C')] as const;
  const members = await mesh.waitForMesh();

  await c.page.getByTestId('cap-toggle-game').uncheck();
  await expect(c.page.getByTestId('cap-toggle-game')).not.toBeChecked();
  for (const tab of [a, b, c]) {
    await expect(
      tab.page.locator(`[data-testid="peer-row"][data-peer-id="${c.peerId}"]`),
      `${tab.name} sees C without game`,
    ).toHaveAttribute('data-capabilities', 'chat,payment');
  }
  await expect.poll(async () => (await node.peers()).find((p) => p.id === c.peerId)?.capabilities).toEqual(['chat', 'payment']);

  // No view maps a game shard to C; the map and its legend show none.
  const gameOwners = expectedOwners(
    members.filter((id) => id !== c.peerId),
    'game',
  );
  for (const tab of [a, b, c]) {
    await expectMap(tab, gameOwners);
    await expect(tab.page.locator(`[data-testid="legend-item"][data-peer-id="${c.peerId}"]`)).toHaveCount(0);
  }
  expect(await node.owners('game')).toEqual(gameOwners);

  const players = await addPlayers(a, 30);
  await clickPlayers(a, players);
  const own = await addPlayers(c, 10); // C calls game actors it cannot host
  await clickPlayers(c, own);

  for (const [tab, ids] of [
    [a, players],
    [c, own],
  ] as const) {
    const views = await tabPlayers(tab);
    expect(views.map((p) => p.id).sort()).toEqual([...ids].sort());
    for (const p of views) {
      expect(p.error, `${p.id} from ${tab.name}`).toBeNull();
      expect(p.peer, `${p.id} from ${tab.name}`).not.toBe(c.peerId);
      expect(p.peer).toBe(gameOwners[p.shard]);
    }
  }
  expect((await tabActivations(c)).filter((x) => x.actor === 'GameActor')).toEqual([]);
  expect((await hostedRows(c)).filter((x) => x.actor === 'GameActor')).toEqual([]);

  // C still hosts what it offers: a chat room whose shard C owns runs in C.
  const chatOwners = await tabOwners(a, 'chat');
  const room = Array.from({ length: 5000 }, (_, i) => `room_${i}`).find((id) => chatOwners[shardFor(id, SHARDS)] === c.peerId);
  expect(room, 'some chat room belongs to C').toBeDefined();
  const reply = await a.page.evaluate(
    (id) =>
      window.rtcMesh!.mesh.call({ actor: 'ChatRoomActor', id, capability: 'chat', payload: { action: 'post', from: 'A', text: 'hi' } }),
    room!,
  );
  expect(reply.peer).toBe(c.peerId);
  await expect(c.page.locator(`[data-testid="hosted-row"][data-actor="ChatRoomActor"][data-id="${room}"]`)).toHaveCount(1);
  await mesh.screenshot(c, 'tab C without game');

  // Offering game again: C takes its shards back, and the players on them move with their state (handoff).
  // Ids are shared: C's player_1..player_10 are A's too, so those have had two increments, the rest one.
  const scores = new Map(players.map((id) => [id, own.includes(id) ? 2 : 1]));
  await c.page.getByTestId('cap-toggle-game').check();
  const withC = expectedOwners(members, 'game');
  for (const tab of [a, b, c]) await expectMap(tab, withC);
  const moving = players.filter((id) => withC[shardFor(id, SHARDS)] === c.peerId);
  expect(moving.length, "some of A's players move to C").toBeGreaterThan(0);
  await clickPlayers(a, moving);
  for (const p of (await tabPlayers(a)).filter((x) => moving.includes(x.id))) {
    expect(p.peer, `${p.id} now runs in C`).toBe(c.peerId);
    expect(p.score, `${p.id} kept its score across the move`).toBe(scores.get(p.id)! + 1);
  }
  await expect
    .poll(async () => (await hostedGame(c)).filter(([id]) => moving.includes(id)))
    .toEqual(moving.map((id): [string, number] => [id, scores.get(id)! + 1]).sort((x, y) => (x[0] < y[0] ? -1 : 1)));
  await expect(c.page.locator('[data-testid="log-entry"][data-kind="handoff"]').first()).toContainText('state received from');
});

test('closing a tab moves its shards in every remaining view and its players activate elsewhere', async ({ mesh }) => {
  const node = await mesh.startNodePeer('node');
  const [a, b, c] = [await mesh.openTab('A'), await mesh.openTab('B'), await mesh.openTab('C')] as const;
  await mesh.waitForMesh();
  const players = await addPlayers(a, 40);
  await clickPlayers(a, players);
  const before = new Map((await tabPlayers(a)).map((p) => [p.id, p]));
  const onC = players.filter((id) => before.get(id)!.peer === c.peerId);
  const elsewhere = players.filter((id) => before.get(id)!.peer !== c.peerId);
  expect(onC.length, 'C hosts some of the players').toBeGreaterThan(0);
  const cColor = await a.page.evaluate((id) => window.rtcMesh!.colorOf(id), c.peerId);

  await mesh.closeTab(c);
  const remaining = await mesh.waitForMesh();
  expect(remaining).not.toContain(c.peerId);
  expect(remaining).toHaveLength(3);

  // Every remaining view: C gone from the list, its shards owned by the others, and all views agree.
  for (const tab of [a, b]) {
    await expect(tab.page.getByTestId('peer-row')).toHaveCount(3);
    await expect(tab.page.locator(`[data-testid="peer-row"][data-peer-id="${c.peerId}"]`)).toHaveCount(0);
    await expect(tab.page.locator('[data-testid="log-entry"][data-kind="left"]', { hasText: c.peerId.slice(0, 8) })).toHaveCount(1);
  }
  for (const cap of CAPABILITIES) {
    const expected = expectedOwners(remaining, cap);
    for (const tab of [a, b]) expect(differences(await tabOwners(tab, cap), expected, (i) => `${tab.name} ${cap} shard ${i}`)).toEqual([]);
    expect(differences(await node.owners(cap), expected, (i) => `node ${cap} shard ${i}`)).toEqual([]);
  }

  // The shard map: no cell of the closed tab, neither in the data nor in the pixels.
  const gameOwners = expectedOwners(remaining, 'game');
  for (const tab of [a, b]) {
    await expectMap(tab, gameOwners);
    const map = await tabMap(tab);
    expect(map.painted).not.toContain(c.peerId);
    if (!Object.values(map.colors).includes(cColor)) expect(map.pixels).not.toContain(cColor);
    await expect(tab.page.locator(`[data-testid="legend-item"][data-peer-id="${c.peerId}"]`)).toHaveCount(0);
  }

  // Until they are called again, "served by" tells that C, which served C's players, has left.
  for (const id of onC) {
    await expect(playerRow(a, id), `${id} was served by C`).toHaveAttribute('data-served', 'stale');
    await expect(playerRow(a, id).locator('.stale-tag')).toHaveText('left');
  }
  for (const id of elsewhere) await expect(playerRow(a, id), `${id} still runs where it did`).toHaveAttribute('data-served', 'current');

  // C's players: the next call activates them afresh on their new owners.
  await clickPlayers(a, onC);
  for (const id of onC) await expect(playerRow(a, id)).toHaveAttribute('data-served', 'current');
  const after = new Map((await tabPlayers(a)).map((p) => [p.id, p]));
  const hostOf = (peer: string): Tab | NodePeer => [a, b].find((t) => t.peerId === peer) ?? node;
  for (const id of onC) {
    const p = after.get(id)!;
    expect(p.error, id).toBeNull();
    expect(p.peer, `${id} moved to its new owner`).toBe(gameOwners[p.shard]);
    expect(p.activation, `${id} was activated again`).not.toBe(before.get(id)!.activation);
    expect(p.activation).toMatch(new RegExp(`^${p.peer}#\\d+$`));
    const host = hostOf(p.peer!);
    if ('page' in host)
      await expect(host.page.locator(`[data-testid="hosted-row"][data-actor="GameActor"][data-id="${id}"]`)).toHaveAttribute(
        'data-activation',
        p.activation!,
      );
    else expect((await host.activations()).find((x) => x.id === id)?.activation).toBe(p.activation);
  }
  // The other players did not move: same host, same activation, score carried on.
  for (const id of elsewhere.slice(0, 8)) {
    await clickPlayer(a, id);
    const p = (await tabPlayers(a)).find((x) => x.id === id)!;
    expect(p.peer).toBe(before.get(id)!.peer);
    expect(p.activation).toBe(before.get(id)!.activation);
    expect(p.score).toBe(2);
  }
  await mesh.screenshot(a, 'tab A after C closed');
});

/** The README's picture shows the room `npm start` opens, not a test's. */
const inDemoRoom = test.extend({ room: 'demo' });

inDemoRoom(
  'the demo page fits one screen, follows the capability picker, and is pictured (UPDATE_DEMO_PNG=1 writes docs/demo.png)',
  async ({ mesh }) => {
    // Fixed ids, so that the picture is the same on every run.
    const [idA, idB, idC, idNode] = ['k3769s22cum1mzzy', 'g78qwhingtj94if1', 'ztzunxmc01016ge8', 'm22vx8im64ucjsad'];
    await mesh.startNodePeer('node', { peerId: idNode });
    const a = await mesh.openTab('A', { peerId: idA });
    const b = await mesh.openTab('B', { peerId: idB });
    await mesh.openTab('C', { peerId: idC });
    await mesh.waitForMesh();
    await expect(a.page.getByTestId('self-id')).toHaveText(idA);
    await expect(a.page.getByTestId('room-name')).toHaveText('demo');

    const players = await addPlayers(a, 30);
    await clickPlayers(a, new Map(players.map((id, i) => [id, 1 + (i % 4)])));
    await clickPlayers(b, await addPlayers(b, 6));
    // Every player's shard carries a marker of its own, a disc well past the size of a cell.
    const shards = [...new Set((await tabPlayers(a)).map((p) => p.shard))];
    await expect(a.page.getByTestId('shard-marks')).toHaveAttribute('data-marks', String(shards.length));
    const markerAreas = await a.page.evaluate((list) => {
      const map = document.getElementById('shard-map') as HTMLCanvasElement;
      const marks = document.getElementById('shard-marks') as HTMLCanvasElement;
      const pitch = map.getBoundingClientRect().width / 64;
      const margin = map.getBoundingClientRect().left - marks.getBoundingClientRect().left;
      const dpr = marks.width / marks.getBoundingClientRect().width;
      const data = marks.getContext('2d')!.getImageData(0, 0, marks.width, marks.height).data;
      // Opaque CSS px² within a cell's distance of each marked cell's centre.
      return list.map((shard) => {
        const cx = (margin + (shard % 64) * pitch + pitch / 2) * dpr;
        const cy = (margin + Math.floor(shard / 64) * pitch + pitch / 2) * dpr;
        let opaque = 0;
        for (let y = Math.floor(cy - pitch * dpr); y < cy + pitch * dpr; y++) {
          for (let x = Math.floor(cx - pitch * dpr); x < cx + pitch * dpr; x++)
            if ((data[(y * marks.width + x) * 4 + 3] ?? 0) > 128) opaque++;
        }
        return opaque / dpr / dpr;
      });
    }, shards);
    for (const area of markerAreas) expect(area, 'a marker covers more than a cell').toBeGreaterThan(30);
    for (const id of ['map-panel', 'peers-panel', 'stats-panel', 'players-panel', 'hosted-panel', 'log-panel']) {
      await expect(a.page.locator(`#${id}`), `${id} on screen`).toBeInViewport({ ratio: 1 });
    }
    // One screen at a common laptop size: no page scrolling either way; long lists scroll in their panels.
    expect(
      await a.page.evaluate(() => [
        document.documentElement.scrollWidth <= innerWidth,
        document.documentElement.scrollHeight <= innerHeight,
      ]),
    ).toEqual([true, true]);
    // Live stats count this tab's own calls (30 players, 1 to 4 clicks each), not the page's state polls, and
    // time the same calls.
    await expect
      .poll(async () => [await a.page.locator('#stat-ok').textContent(), await a.page.locator('#stat-failed').textContent()])
      .toEqual(['73', '0']);
    const live = await a.page.evaluate(() => window.rtcMesh!.liveStats());
    expect(live).toMatchObject({ ok: 73, failed: 0, latencyCount: 73 });
    expect(live.local + live.remote).toBe(73);
    await expect(a.page.locator('#stat-p50')).toHaveText(/\d( ms| µs)$/);
    // Every peer's colour is the same in the list, the legend and the player rows.
    const colours = await a.page.evaluate(() => {
      const out: Record<string, string[]> = {};
      for (const el of document.querySelectorAll<HTMLElement>('[data-peer-id] .dot, .peer-row[data-peer-id] > .swatch')) {
        const id = el.closest<HTMLElement>('[data-peer-id]')!.dataset['peerId']!;
        const seen = out[id] ?? [];
        seen.push(getComputedStyle(el).backgroundColor);
        out[id] = seen;
      }
      return Object.values(out).map((list) => new Set(list).size);
    });
    expect(colours.length).toBeGreaterThanOrEqual(4);
    for (const distinct of colours) expect(distinct).toBe(1);

    // Clicking scrolled the players' list to its last row; the picture shows it from the top.
    await a.page.locator('#players-panel .scroll').evaluate((list) => list.scrollTo(0, 0));
    const box = (await a.page.getByTestId('shard-map').boundingBox())!;
    await a.page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.4);
    await expect(a.page.locator('#map-hover')).toContainText(/shard \d+ · game →/);
    // Always attached to the report; docs/demo.png is rewritten only on request, so a test run leaves the tree clean.
    if (process.env['UPDATE_DEMO_PNG'] === '1') {
      await mkdir(dirname(DEMO_PNG), { recursive: true });
      await mesh.screenshot(a, 'the demo (docs/demo.png)', { path: DEMO_PNG });
    } else {
      await mesh.screenshot(a, 'the demo');
    }

    // The map and its legend follow the capability picker.
    await a.page.getByTestId('map-capability').selectOption('chat');
    await expect(a.page.getByTestId('shard-map')).toHaveAttribute('data-capability', 'chat');
    await expectMap(
      a,
      expectedOwners(
        (await tabPeers(a)).map((p) => p.id),
        'chat',
      ),
      'chat',
    );
    await mesh.screenshot(a, 'tab A, chat map');
  },
);

test('a tab joining takes a scored player with its score intact', async ({ mesh }) => {
  // Fixed ids, so the player is chosen here: J will own it once it joins; until then the Node peer does. Caller,
  // old owner and new owner are three different peers, and the state crosses from Node to the browser.
  const [idA, idNode, idJ] = ['tab-a-handoff', 'node-handoff', 'tab-j-joiner'];
  const ownerAmong = (id: string, peers: readonly string[]): string | undefined =>
    strategy.owner(shardFor(id, SHARDS), 'game', [...peers].sort());
  const index = Array.from({ length: 200 }, (_, i) => i + 1).find(
    (k) => ownerAmong(`player_${k}`, [idA, idNode, idJ]) === idJ && ownerAmong(`player_${k}`, [idA, idNode]) === idNode,
  );
  expect(index, 'some player moves from the node peer to J when J joins').toBeDefined();
  const player = `player_${index!}`;

  const node = await mesh.startNodePeer('node', { peerId: idNode });
  const a = await mesh.openTab('A', { peerId: idA });
  await mesh.waitForMesh([idA, idNode]);
  const added = await addPlayers(a, index!);
  expect(added.at(-1)).toBe(player);
  const row = playerRow(a, player);
  await expect(row, 'before J joins, the node peer owns the player').toHaveAttribute('data-owner', idNode);

  // Score it on its first owner: 5 clicks (increment_score) and a level_up.
  await clickPlayer(a, player, 5);
  await expect(row).toHaveAttribute('data-score', '5');
  await expect(row).toHaveAttribute('data-peer', idNode);
  const call = (action: string) =>
    a.page.evaluate(
      ([id, act]) =>
        window
          .rtcMesh!.mesh.call({ actor: 'GameActor', id, capability: 'game', payload: { action: act } })
          .then((r) => ({ peer: r.peer, result: r.result as unknown, activation: r.activation })),
      [player, action] as const,
    );
  const levelled = await call('level_up');
  expect(levelled).toMatchObject({ peer: idNode, result: 2 });
  await expect.poll(() => nodeGame(node), { message: 'the node peer hosts the scored player' }).toEqual([[player, 5]]);

  // J joins and every view (A, J, the node peer) sees all three.
  const j = await mesh.openTab('J', { peerId: idJ });
  expect(await mesh.waitForMesh()).toEqual([idA, idNode, idJ].sort());
  await expect(row, 'A now places the player on J').toHaveAttribute('data-owner', idJ);
  await expect(row, 'the node peer served it last, and it has moved since').toHaveAttribute('data-served', 'stale');
  await expect(row.locator('.stale-tag')).toHaveText('moved');

  // The next click reaches J, which carries on from the handed-over score (a fresh actor would answer 1).
  await clickPlayer(a, player);
  await expect(row).toHaveAttribute('data-state', 'ok');
  await expect(row, 'the reply came from J').toHaveAttribute('data-peer', idJ);
  await expect(row).toHaveAttribute('data-served', 'current');
  await expect(row, 'the score survived the move').toHaveAttribute('data-score', '6');
  const activation = await row.getAttribute('data-activation');
  expect(activation).toMatch(new RegExp(`^${idJ}#\\d+$`));
  expect(await call('get_stats')).toEqual({ peer: idJ, result: { score: 6, level: 2 }, activation });

  // J hosts it with score 6 (its "hosted here" table); the node peer and A do not.
  await expect.poll(() => hostedGame(j), { message: 'J hosts the player with its score' }).toEqual([[player, 6]]);
  const hostedOnJ = j.page.locator(`[data-testid="hosted-row"][data-actor="GameActor"][data-id="${player}"]`);
  await expect(hostedOnJ).toHaveAttribute('data-activation', activation!);
  await expect(hostedOnJ).toHaveAttribute('data-level', '2');
  await expect(hostedOnJ.getByTestId('hosted-score')).toHaveText('6');
  await expect.poll(() => nodeGame(node), { message: 'the old owner no longer hosts it' }).toEqual([]);
  expect((await hostedRows(a)).filter((r) => r.actor === 'GameActor')).toEqual([]);
  expect(node.events.filter((e) => e.event === 'deactivated' && e['id'] === player).map((e) => e['reason'])).toEqual(['rebalance']);
  expect(node.events.filter((e) => e.event === 'handoff' && e['id'] === player).map((e) => [e['direction'], e['peer']])).toEqual([
    ['sent', idJ],
  ]);

  // J's event log shows the state arriving from the node peer, once, and nothing started fresh.
  const handoffs = j.page.locator('[data-testid="log-entry"][data-kind="handoff"]');
  const received = handoffs.filter({ hasText: `${player} state received from` });
  await expect(received).toHaveCount(1);
  await expect(received.locator(`.peer-chip[data-peer-id="${idNode}"]`)).toHaveCount(1);
  await expect(handoffs.filter({ hasText: 'starts fresh' })).toHaveCount(0);
  await expect(j.page.locator('#stat-handoffs'), 'J received one handoff and sent none').toHaveText('1 / 0');
  await mesh.screenshot(j, 'tab J after taking the player');
});
