/**
 * The Live panel, once a second. Calls, their rate and their latency are this tab's own calls (model.calls:
 * clicks and Call all, not the page's state polls), so every figure there describes the same calls;
 * activations, handoffs, copies and (with `?store=`) the store's loads, saves and failures are the mesh's
 * counters for this tab.
 */
import { byId, el } from './dom.js';
import { count, formatMs } from './format.js';
import type { DemoModel } from './model.js';

const HISTORY = 60;

export function setupStatsPanel(model: DemoModel): () => void {
  // The copies' figures come with the code that fills them.
  byId('stat-created')
    .closest('dl')
    ?.append(
      el(
        'div',
        { title: "copies of other peers' actors held here: this tab carries on with them if their owner vanishes" },
        el('dt', {}, 'copies held'),
        el('dd', { id: 'stat-copies' }, '0'),
      ),
      el(
        'div',
        { title: 'actors this tab carried on from its copy after their owner vanished' },
        el('dt', {}, 'promoted'),
        el('dd', { id: 'stat-promoted', 'data-testid': 'stat-promoted' }, '0'),
      ),
    );
  const { store } = model;
  if (store !== undefined)
    byId('stat-created')
      .closest('dl')
      ?.append(
        el(
          'div',
          { title: `the scores this tab's activations read from / wrote to this browser's IndexedDB (${store.database})` },
          el('dt', {}, 'store loads / saves'),
          el('dd', { id: 'stat-store-io', 'data-testid': 'stat-store-io' }, '0 / 0'),
        ),
        el(
          'div',
          { title: 'store operations that failed or timed out here' },
          el('dt', {}, 'store failures'),
          el('dd', { id: 'stat-store-failures', 'data-testid': 'stat-store-failures' }, '0'),
        ),
      );
  const rates: number[] = [];
  let lastCalls = 0;
  let lastAt = performance.now();

  function update(): void {
    const { mesh, calls } = model;
    if (mesh.stopped) return;
    const s = mesh.stats();
    const now = performance.now();
    const rate = ((calls.total - lastCalls) * 1000) / Math.max(1, now - lastAt);
    lastCalls = calls.total;
    lastAt = now;
    rates.push(rate);
    if (rates.length > HISTORY) rates.shift();
    byId('stat-rate').textContent = rate >= 100 ? count(Math.round(rate)) : rate.toFixed(rate > 0 && rate < 10 ? 1 : 0);
    byId('stat-p50').textContent = formatMs(calls.quantileMs(0.5));
    byId('stat-p99').textContent = formatMs(calls.quantileMs(0.99));
    byId('stat-ok').textContent = count(calls.ok);
    byId('stat-failed').textContent = count(calls.failed);
    byId('stat-split').textContent = `${count(calls.local)} / ${count(calls.remote)}`;
    byId('stat-active').textContent = count(s.activations.active);
    byId('stat-handoffs').textContent = `${s.handoffs.received} / ${s.handoffs.sent}`;
    byId('stat-created').textContent = count(s.activations.created);
    const copies = byId('stat-copies');
    copies.textContent = count(s.replicas.held);
    copies.title = `${count(s.replicas.bytes)} B`;
    byId('stat-promoted').textContent = count(s.replicas.promoted);
    if (store !== undefined) {
      byId('stat-store-io').textContent = `${count(s.store.loads)} / ${count(s.store.saves)}`;
      const failures = byId('stat-store-failures');
      failures.textContent = count(s.store.failures);
      failures.title = `and ${count(s.store.conflicts)} conflict${s.store.conflicts === 1 ? '' : 's'}: saves refused because another activation of the player wrote first`;
    }
    drawSpark(rates, model.colorOf(model.self));
  }

  update();
  const timer = setInterval(update, 1000);
  return () => clearInterval(timer);
}

function drawSpark(rates: readonly number[], color: { readonly hex: string; readonly rgb: readonly number[] }): void {
  const canvas = byId<HTMLCanvasElement>('rate-spark');
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  if (rates.length < 2) return;
  const max = Math.max(1, ...rates);
  const step = width / (HISTORY - 1);
  const points = rates.map((r, i): [number, number] => [width - (rates.length - 1 - i) * step, height - 2 - (r / max) * (height - 4)]);
  const line = (): void => {
    for (const [i, [x, y]] of points.entries()) {
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
  };
  ctx.beginPath();
  line();
  ctx.lineTo(width, height);
  ctx.lineTo(points[0]![0], height);
  ctx.closePath();
  ctx.fillStyle = `rgb(${color.rgb.join(' ')} / 0.14)`;
  ctx.fill();
  ctx.beginPath();
  line();
  ctx.strokeStyle = color.hex;
  ctx.lineWidth = 1.5;
  ctx.stroke();
}
