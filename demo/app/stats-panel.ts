/**
 * The Live panel, once a second. Calls, their rate and their latency are this tab's own calls (model.calls:
 * clicks and Call all, not the page's state polls), so every figure there describes the same calls;
 * activations and handoffs are the mesh's counters for this tab.
 */
import { byId } from './dom.js';
import { count, formatMs } from './format.js';
import type { DemoModel } from './model.js';

const HISTORY = 60;

export function setupStatsPanel(model: DemoModel): () => void {
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
