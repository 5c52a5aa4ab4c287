/**
 * The Shard map: the 4096 shards of one capability, 64 to a row, each painted in its owner's colour, with a
 * marker on the shards of this tab's players, and a legend of owners with their share.
 */
import { peerChip } from './chips.js';
import { byId, el } from './dom.js';
import { UNOWNED_HEX } from './colors.js';
import { countPerPeer, type DemoModel } from './model.js';

const MAP_COLUMNS = 64;
/** Room around the map for markers on its edge cells, which reach past their cell. */
const MARK_MARGIN = 8;

export interface MapPanel {
  /** The owner of each shard as last painted (null: nobody). */
  owners(): (string | null)[];
  /** Each shard's colour read back from the canvas pixels, '#rrggbb'. */
  sample(): string[];
}

export function setupMapPanel(model: DemoModel): MapPanel {
  const canvas = byId<HTMLCanvasElement>('shard-map');
  const marks = byId<HTMLCanvasElement>('shard-marks');
  const panel = byId('map-panel');
  const select = byId<HTMLSelectElement>('map-capability');
  const hover = byId('map-hover');
  const rows = Math.ceil(model.mesh.shardCount / MAP_COLUMNS);
  let pitch = 0;
  let painted: (string | null)[] = [];

  function size(): boolean {
    const next = choosePitch(panel);
    const dpr = window.devicePixelRatio || 1;
    if (next === pitch && canvas.width === Math.round(MAP_COLUMNS * next * dpr)) return false;
    pitch = next;
    const [w, h] = [MAP_COLUMNS * pitch, rows * pitch];
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
    marks.width = Math.round((w + 2 * MARK_MARGIN) * dpr);
    marks.height = Math.round((h + 2 * MARK_MARGIN) * dpr);
    marks.style.width = `${w + 2 * MARK_MARGIN}px`;
    marks.style.height = `${h + 2 * MARK_MARGIN}px`;
    marks.style.left = marks.style.top = `${-MARK_MARGIN}px`;
    panel.style.setProperty('--map-size', `${h}px`);
    return true;
  }

  function draw(): void {
    syncOptions(select, model.capabilities(), model.mapCapability);
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    const cap = model.mapCapability;
    const owners = model.ownersOf(cap);
    const cell = pitch - 1;
    const dpr = canvas.width / (MAP_COLUMNS * pitch);
    // Integer device pixels, so every cell is one flat colour (the tests read it back).
    const px = (v: number): number => Math.round(v * dpr);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    for (let shard = 0; shard < owners.length; shard++) {
      const owner = owners[shard];
      const x = (shard % MAP_COLUMNS) * pitch;
      const y = Math.floor(shard / MAP_COLUMNS) * pitch;
      ctx.fillStyle = owner === undefined ? UNOWNED_HEX : model.colorOf(owner).hex;
      ctx.fillRect(px(x), px(y), px(x + cell) - px(x), px(y + cell) - px(y));
    }
    painted = owners.map((o) => o ?? null);
    canvas.dataset['capability'] = cap;
    canvas.dataset['version'] = String(model.mesh.version);
    drawMarks();
    drawLegend();
  }

  /** A white disc with a dark ring, larger than a cell: visible on every owner's colour at any size. */
  function drawMarks(): void {
    const ctx = marks.getContext('2d');
    if (!ctx) return;
    const dpr = marks.width / (MAP_COLUMNS * pitch + 2 * MARK_MARGIN);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, marks.width, marks.height);
    const radius = Math.max(2.5, pitch * 0.55);
    ctx.fillStyle = '#ffffff';
    ctx.strokeStyle = '#1d2230';
    ctx.lineWidth = Math.max(1.5, pitch / 4);
    const shards = new Set([...model.players.values()].map((p) => p.shard));
    for (const shard of shards) {
      const x = MARK_MARGIN + (shard % MAP_COLUMNS) * pitch + (pitch - 1) / 2;
      const y = MARK_MARGIN + Math.floor(shard / MAP_COLUMNS) * pitch + (pitch - 1) / 2;
      ctx.beginPath();
      ctx.arc(x, y, radius, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
    }
    marks.dataset['marks'] = String(shards.size);
  }

  function drawLegend(): void {
    const total = painted.length;
    const entries = [...countPerPeer(painted)].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const unowned = total - entries.reduce((sum, [, n]) => sum + n, 0);
    byId('map-legend').replaceChildren(
      ...entries.map(([peer, n]) =>
        el(
          'li',
          { 'data-testid': 'legend-item', 'data-peer-id': peer, 'data-count': n },
          peerChip(model, peer),
          el('span', { className: 'legend-count' }, n),
          el(
            'span',
            { className: 'legend-bar' },
            el('span', { style: `width:${((n / total) * 100).toFixed(1)}%;background:${model.colorOf(peer).hex}` }),
          ),
        ),
      ),
      unowned > 0
        ? el(
            'li',
            { 'data-testid': 'legend-item', 'data-peer-id': '', 'data-count': unowned, className: 'unowned' },
            el(
              'span',
              { className: 'peer-chip none' },
              el('span', { className: 'dot', style: `background:${UNOWNED_HEX}` }),
              `no peer offers ${model.mapCapability}`,
            ),
            el('span', { className: 'legend-count' }, unowned),
          )
        : '',
    );
  }

  select.addEventListener('change', () => model.setMapCapability(select.value));
  let resizeTimer: ReturnType<typeof setTimeout> | undefined;
  const resized = (): void => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (size()) model.changed('map');
    }, 150);
  };
  window.addEventListener('resize', resized);
  // In one column the panel also narrows without the window, e.g. when the page grows a scrollbar.
  new ResizeObserver(resized).observe(panel);
  const defaultHover = [...hover.childNodes];
  canvas.addEventListener('mousemove', (event) => {
    const rect = canvas.getBoundingClientRect();
    const col = Math.floor((event.clientX - rect.left) / pitch);
    const shard = Math.floor((event.clientY - rect.top) / pitch) * MAP_COLUMNS + col;
    if (col < 0 || col >= MAP_COLUMNS || shard < 0 || shard >= painted.length) return;
    const players = [...model.players.values()].filter((p) => p.shard === shard).map((p) => p.id);
    hover.replaceChildren(
      `shard ${shard} · ${model.mapCapability} → `,
      peerChip(model, painted[shard] ?? undefined),
      players.length ? ` · ${players.join(', ')}` : '',
    );
  });
  canvas.addEventListener('mouseleave', () => hover.replaceChildren(...defaultHover));

  size();
  model.render('map', draw);
  return {
    owners: () => [...painted],
    sample(): string[] {
      const ctx = canvas.getContext('2d');
      if (!ctx) return [];
      const dpr = canvas.width / (MAP_COLUMNS * pitch);
      const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      return painted.map((_, shard) => {
        const x = Math.floor(((shard % MAP_COLUMNS) * pitch + pitch / 2 - 0.5) * dpr);
        const y = Math.floor((Math.floor(shard / MAP_COLUMNS) * pitch + pitch / 2 - 0.5) * dpr);
        const i = (y * canvas.width + x) * 4;
        return `#${[data[i], data[i + 1], data[i + 2]].map((c) => (c ?? 0).toString(16).padStart(2, '0')).join('')}`;
      });
    },
  };
}

/**
 * The cell pitch in CSS pixels (a cell and a 1 px gap). In one column the map takes the panel's width; in
 * the wider layouts its column is sized by the map, so the pitch follows the window.
 */
function choosePitch(panel: HTMLElement): number {
  const w = document.documentElement.clientWidth;
  const h = window.innerHeight;
  const clamp = (n: number): number => Math.max(3, Math.min(9, Math.floor(n)));
  if (w <= 900) {
    const style = getComputedStyle(panel);
    return clamp((panel.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)) / MAP_COLUMNS);
  }
  if (w <= 1250) return w >= 1100 ? 6 : 5;
  // One screen: as large as the height allows once the header and the bottom row are placed.
  const byHeight = (h - 192 - Math.max(190, 0.25 * h)) / MAP_COLUMNS;
  const byWidth = w >= 1800 ? 8 : w >= 1600 ? 7 : w >= 1400 ? 6 : 5;
  return clamp(Math.min(byWidth, byHeight));
}

/** The picker offers every capability in view, the mapped one included even when nobody offers it. */
function syncOptions(select: HTMLSelectElement, capabilities: readonly string[], current: string): void {
  const wanted = capabilities.includes(current) ? capabilities : [...capabilities, current];
  if ([...select.options].map((o) => o.value).join('\n') !== wanted.join('\n')) {
    select.replaceChildren(...wanted.map((cap) => el('option', { value: cap, title: cap }, cap)));
  }
  select.value = current;
}
