/**
 * The demo at the sizes people open it: three tabs at 1400x900, a phone at 390x844 and a laptop at 1024x768,
 * in one room with a Node peer that offers a capability with a long name; the phone and the laptop keep their
 * players in IndexedDB (two more rows in the Live panel). No page is wider than its window, and no panel,
 * table header, control or number is cut off or covered. Screenshots go to the report.
 */
import type { Page } from '@playwright/test';
import { addPlayers, clickPlayers, expect, test, type Tab } from './fixtures.js';

const LONG_CAPABILITY = 'matchmaking-for-ranked-tournaments-eu-west';
const WIDE = { width: 1400, height: 900 };
const PHONE = { width: 390, height: 844 };
const LAPTOP = { width: 1024, height: 768 };

/** Everything on the page that sticks out of where it belongs, as readable lines (empty: none). */
function layoutProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    const root = document.documentElement;
    const name = (el: Element): string => {
      const id = el.id ? `#${el.id}` : '';
      const cls = typeof el.className === 'string' && el.className ? `.${el.className.trim().split(/\s+/).join('.')}` : '';
      return `${el.tagName.toLowerCase()}${id}${cls}`;
    };
    const visible = (el: Element): boolean => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    /** `inner` lies within `outer` horizontally (1 px of rounding allowed). */
    const inside = (inner: Element, outer: Element | { left: number; right: number }, what: string): void => {
      const a = inner.getBoundingClientRect();
      const b = outer instanceof Element ? outer.getBoundingClientRect() : outer;
      if (a.left < b.left - 1 || a.right > b.right + 1)
        problems.push(
          `${what}: ${name(inner)} spans ${a.left.toFixed(0)}..${a.right.toFixed(0)}, outside ${b.left.toFixed(0)}..${b.right.toFixed(0)}`,
        );
    };

    if (root.scrollWidth > root.clientWidth) problems.push(`page is ${root.scrollWidth} px wide in a ${root.clientWidth} px window`);
    const screen = { left: 0, right: root.clientWidth };
    // One-screen layout: the body does not scroll, so a panel below the window would be lost.
    const oneScreen = getComputedStyle(document.body).overflowY === 'hidden';

    for (const panel of document.querySelectorAll('main > section.panel')) {
      inside(panel, screen, 'panel in the window');
      if (panel.scrollWidth > panel.clientWidth + 1)
        problems.push(`${name(panel)}: content ${panel.scrollWidth} px wide in ${panel.clientWidth} px`);
      if (oneScreen && panel.getBoundingClientRect().bottom > innerHeight + 1) problems.push(`${name(panel)}: below the window`);
    }
    for (const control of document.querySelectorAll(
      '#capabilities label, #map-capability, #store-select, #add-players-form > *, #self-id, #room-name',
    )) {
      if (visible(control)) inside(control, screen, 'control in the window');
    }
    // Tables: no sideways scrolling, every header in sight.
    for (const scroller of document.querySelectorAll('main .scroll')) {
      if (scroller.scrollWidth > scroller.clientWidth + 1)
        problems.push(`${name(scroller)}: scrolls sideways (${scroller.scrollWidth} px in ${scroller.clientWidth} px)`);
      for (const th of scroller.querySelectorAll('thead th')) if (visible(th)) inside(th, scroller, `header "${th.textContent}"`);
    }
    // Map: canvas, legend and picker inside their panel.
    const map = document.getElementById('map-panel')!;
    for (const el of map.querySelectorAll('#shard-map, #map-legend li, #map-capability, .map-caption')) inside(el, map, 'map panel');
    // Peer rows: the numbers are never covered by the title or the capabilities.
    for (const row of document.querySelectorAll('[data-testid="peer-row"]')) {
      const nums = row.querySelector('.peer-nums')!.getBoundingClientRect();
      for (const part of row.querySelectorAll('.peer-title > *, .cap-chip')) {
        const r = part.getBoundingClientRect();
        if (r.right > nums.left + 1)
          problems.push(`peer row ${(row as HTMLElement).dataset['peerId']}: ${name(part)} "${part.textContent}" runs into the numbers`);
      }
      inside(row, document.getElementById('peer-list')!, 'peer list');
    }
    return problems;
  });
}

test('the demo fits 1400x900 (three tabs), 390x844 and 1024x768: no sideways overflow, nothing cut off', async ({ mesh }, testInfo) => {
  await mesh.startNodePeer('node', { capabilities: ['chat', 'game', LONG_CAPABILITY, 'payment'] });
  const tabs: [Tab, { width: number; height: number }][] = [];
  for (const name of ['A', 'B', 'C']) tabs.push([await mesh.openTab(name, { viewport: WIDE }), WIDE]);
  // The smaller two keep their players in IndexedDB: the Live panel has the store's rows as well.
  tabs.push([await mesh.openTab('phone', { viewport: PHONE, store: 'indexeddb' }), PHONE]);
  tabs.push([await mesh.openTab('laptop', { viewport: LAPTOP, store: 'indexeddb' }), LAPTOP]);
  await mesh.waitForMesh();
  for (const [tab] of tabs) {
    await clickPlayers(tab, await addPlayers(tab, 12));
    await expect(tab.page.locator('[data-testid="peer-row"] .cap-chip', { hasText: LONG_CAPABILITY })).toHaveCount(6);
  }

  // Soft: every size is checked and pictured, whichever fails.
  const soft = expect.configure({ soft: true });
  for (const [tab, size] of tabs) {
    const { page } = tab;
    const where = `${tab.name} at ${size.width}x${size.height}`;
    await soft.poll(() => layoutProblems(page), { message: where, timeout: 10_000 }).toEqual([]);
    // The long name is cut with an ellipsis and told in full by its title.
    const chip = page.locator(`[data-testid="peer-row"][data-peer-id="${mesh.nodes[0]!.peerId}"] .cap-chip`, { hasText: LONG_CAPABILITY });
    await soft(chip, where).toHaveCSS('text-overflow', 'ellipsis', { timeout: 5_000 });
    await soft(chip, where).toHaveAttribute('title', `offers ${LONG_CAPABILITY}`, { timeout: 5_000 });
    await testInfo.attach(where, { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });
  }
});
