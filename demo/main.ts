/**
 * The rtc-mesh demo page: this tab joins the mesh of its room as a browser peer hosting the demo actors,
 * and shows the mesh from its point of view: peers, the shard map, players and where they run, the actors
 * hosted here and an event log. Everything the tests look at carries a stable id or data-testid.
 */
import { Mesh, type ActivationInfo, type MeshError, type PeerInfo, type SignalingState, type TopologyEvent } from '../client/index.js';
import { actors } from './actors.js';
import { UNOWNED_HEX, peerColor } from './colors.js';

const CAPABILITIES = ['game', 'chat', 'payment'] as const;
const MAP_COLUMNS = 64;

/** The shard map's cell pitch in CSS pixels (a cell and a 1 px gap), sized to the screen's layout. */
function choosePitch(): number {
  const w = window.innerWidth;
  const h = window.innerHeight;
  const clamp = (n: number): number => Math.max(4, Math.min(9, Math.floor(n)));
  if (w <= 900) return clamp((w - 72) / MAP_COLUMNS); // one column: the map takes the width
  if (w <= 1250) return w >= 1100 ? 6 : 5; // two columns
  // One screen: as large as the height allows once the header and the bottom row are placed.
  const byHeight = (h - 192 - Math.max(190, 0.25 * h)) / MAP_COLUMNS;
  const byWidth = w >= 1800 ? 8 : w >= 1600 ? 7 : w >= 1400 ? 6 : 5;
  return clamp(Math.min(byWidth, byHeight));
}
const HOSTED_POLL_MS = 600;
const LOG_LIMIT = 300;

// ------------------------------------------------------------------------------------------ settings

const params = new URLSearchParams(location.search);
const room = params.get('room')?.trim() || 'demo';
const signalUrl = params.get('signal')?.trim() || location.origin;
/** `?peer=<id>` keeps a tab's peer id (and so its colour) across reloads; absent: a random id. */
const fixedPeerId = params.get('peer')?.trim() || undefined;
const initialCaps = params.has('caps')
  ? (params.get('caps') ?? '')
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean)
  : [...CAPABILITIES];

// ------------------------------------------------------------------------------------------ DOM helpers

type Child = Node | string | number | null | undefined | false;
type Props = Record<string, string | number | boolean | undefined>;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (key === 'className') node.className = String(value);
    // Through the CSSOM: the served page's CSP refuses style attributes.
    else if (key === 'style') node.style.cssText = String(value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} missing from index.html`);
  return node as T;
}

const shortId = (peerId: string): string => (peerId.length > 8 ? peerId.slice(0, 8) : peerId);

/**
 * A peer's coloured chip; the same colour everywhere (peers, map legend, players, log). 'full' shows the
 * whole id, 'short' its first 8 characters; 'compact' says just "you" for this tab, for narrow columns.
 */
function peerChip(peerId: string | undefined, self: string, mode: 'short' | 'full' | 'compact' = 'short'): HTMLElement {
  if (peerId === undefined) return el('span', { className: 'peer-chip none' }, 'nobody');
  const color = peerColor(peerId);
  const isSelf = peerId === self;
  const chip = el(
    'span',
    { className: `peer-chip${isSelf ? ' is-self' : ''}`, title: isSelf ? `${peerId} (this tab)` : peerId, 'data-peer-id': peerId },
    el('span', { className: 'dot', style: `background:${color.hex}` }),
    isSelf && mode === 'compact' ? el('b', { className: 'you-text' }, 'you') : el('code', {}, mode === 'full' ? peerId : shortId(peerId)),
  );
  if (isSelf && mode !== 'compact') chip.appendChild(el('span', { className: 'you' }, 'you'));
  return chip;
}

const kindLabel = (kind: PeerInfo['kind']): string => (kind === 'browser' ? 'tab' : kind);

function clock(): string {
  const d = new Date();
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

const formatMs = (ms: number): string => (ms === 0 ? '–' : ms < 1 ? `${Math.round(ms * 1000)} µs` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`);

// ------------------------------------------------------------------------------------------ event log

type LogKind =
  | 'self'
  | 'joined'
  | 'left'
  | 'caps'
  | 'rebalance'
  | 'activated'
  | 'deactivated'
  | 'handoff'
  | 'signaling'
  | 'error';

const logList = byId<HTMLOListElement>('event-log');

function log(kind: LogKind, ...message: Child[]): void {
  const entry = el(
    'li',
    { className: `log-entry kind-${kind}`, 'data-testid': 'log-entry', 'data-kind': kind },
    el('time', {}, clock()),
    el('span', { className: 'kind' }, kind),
  );
  const text = el('span', { className: 'msg' });
  append(text, message);
  entry.appendChild(text);
  logList.prepend(entry);
  while (logList.childElementCount > LOG_LIMIT) logList.lastElementChild?.remove();
}

byId('clear-log').addEventListener('click', () => logList.replaceChildren());

// ------------------------------------------------------------------------------------------ signaling badge

const signalingBadge = byId('signaling-state');

function showSignaling(state: SignalingState, detail?: MeshError): void {
  signalingBadge.textContent = state;
  signalingBadge.className = `badge badge-${state}`;
  signalingBadge.title = detail?.message ?? '';
  if (state === 'disconnected' || detail) log('signaling', `signaling ${state}${detail ? `: ${detail.message}` : ''}`);
}

function showBanner(text: string): void {
  const banner = byId('banner');
  banner.textContent = text;
  banner.hidden = false;
}

// ------------------------------------------------------------------------------------------ the app

interface Player {
  readonly id: string;
  readonly shard: number;
  readonly row: HTMLTableRowElement;
  readonly ownerCell: HTMLTableCellElement;
  readonly scoreCell: HTMLTableCellElement;
  readonly servedCell: HTMLTableCellElement;
  calls: number;
  pending: number;
  score: number | null;
  peer: string | null;
  activation: string | null;
  error: string | null;
}

interface Hosted {
  readonly info: ActivationInfo;
  readonly row: HTMLTableRowElement;
  readonly stateCell: HTMLTableCellElement;
  state: unknown;
}

export interface PlayerView {
  readonly id: string;
  readonly shard: number;
  readonly owner: string | null;
  readonly calls: number;
  readonly score: number | null;
  readonly peer: string | null;
  readonly activation: string | null;
  readonly error: string | null;
}

export interface HostedView extends ActivationInfo {
  readonly state: unknown;
}

/** What the page exposes as `window.rtcMesh`, for tests and for poking at the mesh from the console. */
export interface RtcMeshDebug {
  readonly mesh: Mesh;
  readonly room: string;
  readonly peerId: string;
  readonly capabilities: readonly string[];
  shardFor(id: string): number;
  ownerPeer(shard: number, capability: string): string | undefined;
  /** id -> [shard, owner or null] for each id, in one round trip. */
  placements(ids: readonly string[], capability: string): [number, string | null][];
  /** A peer's colour, '#rrggbb' (null: the colour of unowned shards). */
  colorOf(peerId: string | null): string;
  /** The capability the shard map shows. */
  mapCapability(): string;
  setMapCapability(capability: string): void;
  /** The owner of each shard as last painted on the map (null: nobody). */
  mapOwners(): (string | null)[];
  /** The colour of each shard read back from the canvas pixels, '#rrggbb'. */
  sampleMap(): string[];
  players(): PlayerView[];
  hosted(): HostedView[];
  addPlayers(count: number): string[];
  callPlayer(id: string): Promise<void>;
}

declare global {
  interface Window {
    rtcMesh?: RtcMeshDebug;
    /** Set when joining the mesh failed. */
    rtcMeshError?: string;
  }
}

class DemoApp {
  private readonly self: string;
  private mapCap = 'game';
  /** capability -> owner of each shard, as of the last topology change. */
  private owners = new Map<string, (string | undefined)[]>();
  private painted: (string | null)[] = [];
  private readonly players = new Map<string, Player>();
  private nextPlayer = 1;
  private readonly hosted = new Map<string, Hosted>();
  /** The state polls' own calls, kept out of the call counts shown (they are this page's bookkeeping). */
  private readonly polls = { ok: 0, failed: 0 };
  private polling = false;
  private pollAgain = false;
  private lastCalls = 0;
  private lastStatsAt = performance.now();
  private readonly rates: number[] = [];
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private readonly canvas = byId<HTMLCanvasElement>('shard-map');
  private pitch = choosePitch();
  private renderQueued = new Set<'peers' | 'map' | 'players' | 'hosted'>();

  constructor(private readonly mesh: Mesh) {
    this.self = mesh.peerId;
  }

  start(): void {
    const { mesh } = this;
    const color = peerColor(this.self);
    document.documentElement.style.setProperty('--self-color', color.hex);
    document.documentElement.style.setProperty('--self-tint', color.tint);
    document.documentElement.style.setProperty('--self-ink', color.ink);
    byId('self-swatch').style.background = color.hex;
    byId('self-id').textContent = this.self;
    byId('self-id').title = `peer id ${this.self} (${mesh.kind})`;
    document.title = `${shortId(this.self)} · rtc-mesh`;

    this.setupCapabilities();
    this.setupMap();
    this.setupPlayers();

    mesh.on('topology', (t) => this.onTopology(t));
    mesh.on('activated', (a) => {
      log('activated', `${a.actor.replace(/Actor$/, '')} `, el('b', {}, a.id), ' activated here ', el('code', { className: 'activation', title: a.activation }, a.activation.slice(a.activation.lastIndexOf('#'))));
      this.syncHosted();
    });
    mesh.on('deactivated', (a) => {
      log('deactivated', `${a.actor.replace(/Actor$/, '')} `, el('b', {}, a.id), ` stopped here: ${a.reason}`, a.reason === 'rebalance' ? ' (its shard moved)' : '');
      this.syncHosted();
    });
    mesh.on('handoff', (h) =>
      log(
        'handoff',
        `${h.actor} `,
        el('b', {}, h.id),
        h.direction === 'sent' ? ' state handed to ' : ' state received from ',
        peerChip(h.peer, this.self),
        ` (${h.bytes} B)`,
      ),
    );
    mesh.on('handoff-lost', (h) => log('handoff', `${h.actor} `, el('b', {}, h.id), ' starts fresh: ', peerChip(h.from, this.self), ' left before handing it over'));
    mesh.on('cast-failed', (e) => log('error', `cast to ${e.actor} ${e.id} failed: ${e.error.message}`));
    mesh.on('peer-refused', (e) => log('error', 'refused ', peerChip(e.peer, this.self), `: ${e.error.message}`));
    mesh.on('frame-dropped', (e) => log('error', 'dropped a frame from ', peerChip(e.peer, this.self), `: ${e.error.message}`));
    mesh.on('stopped', () => {
      document.body.dataset['state'] = 'stopped';
      showSignaling('closed');
      for (const timer of this.timers) clearInterval(timer);
    });

    this.recomputeOwners();
    log('self', 'joined room ', el('b', {}, room), ' as ', peerChip(this.self, this.self, 'full'), ` offering ${mesh.peers().find((p) => p.id === this.self)?.capabilities.join(', ') || 'nothing'}`);
    for (const peer of mesh.peers()) if (peer.id !== this.self) log('joined', peerChip(peer.id, this.self), ` (${kindLabel(peer.kind)}) is here`);
    this.queue('peers', 'map', 'players', 'hosted');

    this.timers.push(setInterval(() => this.updateStats(), 1000));
    this.timers.push(setInterval(() => void this.pollHosted(), HOSTED_POLL_MS));
    this.updateStats();
    document.body.dataset['state'] = 'ready';
  }

  // ---------------------------------------------------------------- rendering queue

  private queue(...parts: ('peers' | 'map' | 'players' | 'hosted')[]): void {
    const first = this.renderQueued.size === 0;
    for (const part of parts) this.renderQueued.add(part);
    if (!first) return;
    // rAF batches renders with painting; the timer covers hidden tabs, where rAF does not run.
    const frame = requestAnimationFrame(() => this.flush(timer));
    const timer = setTimeout(() => {
      cancelAnimationFrame(frame);
      this.flush(timer);
    }, 250);
  }

  private flush(timer: ReturnType<typeof setTimeout>): void {
    clearTimeout(timer);
    const parts = this.renderQueued;
    this.renderQueued = new Set();
    if (parts.has('peers')) this.renderPeers();
    if (parts.has('map')) this.renderMap();
    if (parts.has('players')) this.renderPlayerOwners();
    if (parts.has('hosted')) this.renderHostedCount();
  }

  // ---------------------------------------------------------------- capabilities

  private setupCapabilities(): void {
    const fieldset = byId<HTMLFieldSetElement>('capabilities');
    const mine = new Set(this.mesh.peers().find((p) => p.id === this.self)?.capabilities ?? initialCaps);
    for (const cap of CAPABILITIES) {
      const input = el('input', { type: 'checkbox', id: `cap-${cap}`, 'data-testid': `cap-toggle-${cap}`, value: cap, checked: mine.has(cap) });
      input.addEventListener('change', () => {
        const chosen = CAPABILITIES.filter((c) => byId<HTMLInputElement>(`cap-${c}`).checked);
        this.mesh.registerCapabilities(chosen);
        log('caps', 'this tab now offers ', el('b', {}, chosen.join(', ') || 'nothing'));
      });
      fieldset.appendChild(el('label', { className: `toggle cap-${cap}`, for: `cap-${cap}` }, input, el('span', {}, cap)));
    }
    fieldset.disabled = false;
  }

  // ---------------------------------------------------------------- topology

  private capabilitiesInView(): string[] {
    return [...new Set([...CAPABILITIES, ...this.mesh.allCapabilities()])];
  }

  private recomputeOwners(): Map<string, (string | undefined)[]> {
    const before = this.owners;
    const next = new Map<string, (string | undefined)[]>();
    for (const cap of this.capabilitiesInView()) {
      const owners = new Array<string | undefined>(this.mesh.shardCount);
      for (let shard = 0; shard < owners.length; shard++) owners[shard] = this.mesh.ownerPeer(shard, cap);
      next.set(cap, owners);
    }
    this.owners = next;
    return before;
  }

  private onTopology(t: TopologyEvent): void {
    const before = this.recomputeOwners();
    for (const peer of t.joined) if (peer.id !== this.self) log('joined', peerChip(peer.id, this.self), ` (${kindLabel(peer.kind)}) joined with ${peer.capabilities.join(', ') || 'nothing'}`);
    for (const peer of t.left) if (peer.id !== this.self) log('left', peerChip(peer.id, this.self), ` (${kindLabel(peer.kind)}) left`);
    for (const peer of t.updated) if (peer.id !== this.self) log('caps', peerChip(peer.id, this.self), ` now offers ${peer.capabilities.join(', ') || 'nothing'}`);
    for (const [cap, owners] of this.owners) {
      const old = before.get(cap);
      if (!old) continue;
      const flows = new Map<string, number>();
      let moved = 0;
      for (let shard = 0; shard < owners.length; shard++) {
        if (old[shard] === owners[shard]) continue;
        moved++;
        const key = `${old[shard] ?? ''}>${owners[shard] ?? ''}`;
        flows.set(key, (flows.get(key) ?? 0) + 1);
      }
      if (moved === 0) continue;
      const parts: Child[] = [el('b', {}, cap), `: ${moved} shards moved`];
      const top = [...flows].sort((a, b) => b[1] - a[1]).slice(0, 4);
      top.forEach(([key, count], i) => {
        const [from, to] = key.split('>') as [string, string];
        parts.push(i === 0 ? ' — ' : ', ', from ? peerChip(from, this.self, 'compact') : 'nobody', ' → ', to ? peerChip(to, this.self, 'compact') : 'nobody', ` ${count}`);
      });
      if (flows.size > top.length) parts.push(', …');
      log('rebalance', ...parts);
    }
    if (t.moved > 0) log('rebalance', `${t.moved} activation${t.moved === 1 ? '' : 's'} left this tab with their shards`);
    this.queue('peers', 'map', 'players', 'hosted');
  }

  // ---------------------------------------------------------------- peers

  private renderPeers(): void {
    const peers = this.mesh.peers();
    byId('peer-count').textContent = String(peers.length);
    document.body.dataset['peers'] = String(peers.length);
    document.body.dataset['viewVersion'] = String(this.mesh.version);
    byId('stat-version').textContent = String(this.mesh.version);
    const owners = this.owners.get(this.mapCap) ?? [];
    const shards = new Map<string, number>();
    for (const owner of owners) if (owner !== undefined) shards.set(owner, (shards.get(owner) ?? 0) + 1);
    const actorsSeen = this.actorsPerPeer();
    const list = byId('peer-list');
    // Self first, then by id: the order every tab shows the others in.
    peers.sort((a, b) => (a.id === this.self ? -1 : b.id === this.self ? 1 : a.id < b.id ? -1 : 1));
    list.replaceChildren(
      ...peers.map((peer) => {
        const color = peerColor(peer.id);
        const caps = el('span', { className: 'caps-list' });
        for (const cap of this.capabilitiesInView()) {
          const has = peer.capabilities.includes(cap);
          caps.appendChild(el('span', { className: `cap-chip${has ? ' on' : ''}`, title: has ? `offers ${cap}` : `does not offer ${cap}` }, cap));
        }
        const owned = shards.get(peer.id) ?? 0;
        const active = actorsSeen.get(peer.id) ?? 0;
        return el(
          'li',
          {
            className: `peer-row${peer.id === this.self ? ' self' : ''}`,
            style: `--peer:${color.hex};--peer-tint:${color.tint}`,
            'data-testid': 'peer-row',
            'data-peer-id': peer.id,
            'data-kind': peer.kind,
            'data-capabilities': peer.capabilities.join(','),
          },
          el('span', { className: 'swatch', style: `background:${color.hex}` }),
          el(
            'div',
            { className: 'peer-main' },
            el('div', { className: 'peer-title' }, el('code', { title: peer.id }, peer.id), peer.id === this.self ? el('span', { className: 'you' }, 'you') : null, el('span', { className: `kind kind-${peer.kind}` }, kindLabel(peer.kind))),
            caps,
          ),
          el(
            'div',
            { className: 'peer-nums' },
            el('b', { title: `shards of ${this.mapCap} this peer owns`, 'data-testid': 'peer-shards' }, owned),
            el('span', { title: peer.id === this.self ? 'activations hosted in this tab' : "this tab's players this peer is hosting", 'data-testid': 'peer-actors' }, `${active} act`),
          ),
        );
      }),
    );
  }

  /** Exact for this tab; for the others, how many of this tab's players they are known to host now. */
  private actorsPerPeer(): Map<string, number> {
    const counts = new Map<string, number>([[this.self, this.hosted.size]]);
    const gameOwners = this.owners.get('game') ?? [];
    for (const player of this.players.values()) {
      if (player.peer === null || player.peer === this.self || gameOwners[player.shard] !== player.peer) continue;
      counts.set(player.peer, (counts.get(player.peer) ?? 0) + 1);
    }
    return counts;
  }

  // ---------------------------------------------------------------- shard map

  private setupMap(): void {
    const select = byId<HTMLSelectElement>('map-capability');
    for (const cap of CAPABILITIES) select.appendChild(el('option', { value: cap, selected: cap === this.mapCap }, cap));
    select.addEventListener('change', () => this.setMapCapability(select.value));
    this.sizeMap();
    let resizeTimer: ReturnType<typeof setTimeout> | null = null;
    window.addEventListener('resize', () => {
      if (resizeTimer !== null) clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        resizeTimer = null;
        const pitch = choosePitch();
        if (pitch === this.pitch && this.canvas.width === Math.round(MAP_COLUMNS * pitch * (window.devicePixelRatio || 1))) return;
        this.pitch = pitch;
        this.sizeMap();
        this.queue('map');
      }, 150);
    });
    const hover = byId('map-hover');
    const defaultHover = hover.innerHTML;
    this.canvas.addEventListener('mousemove', (event) => {
      const rect = this.canvas.getBoundingClientRect();
      const col = Math.floor((event.clientX - rect.left) / this.pitch);
      const row = Math.floor((event.clientY - rect.top) / this.pitch);
      const shard = row * MAP_COLUMNS + col;
      if (col < 0 || col >= MAP_COLUMNS || shard < 0 || shard >= this.mesh.shardCount) return;
      const owner = this.painted[shard] ?? undefined;
      const players = [...this.players.values()].filter((p) => p.shard === shard).map((p) => p.id);
      hover.replaceChildren(`shard ${shard} · ${this.mapCap} → `, peerChip(owner, this.self), players.length ? ` · ${players.join(', ')}` : '');
    });
    this.canvas.addEventListener('mouseleave', () => {
      hover.innerHTML = defaultHover;
    });
  }

  private sizeMap(): void {
    const rows = Math.ceil(this.mesh.shardCount / MAP_COLUMNS);
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(MAP_COLUMNS * this.pitch * dpr);
    this.canvas.height = Math.round(rows * this.pitch * dpr);
    this.canvas.style.width = `${MAP_COLUMNS * this.pitch}px`;
    this.canvas.style.height = `${rows * this.pitch}px`;
    byId('map-panel').style.setProperty('--map-size', `${rows * this.pitch}px`);
  }

  setMapCapability(cap: string): void {
    this.mapCap = cap;
    const select = byId<HTMLSelectElement>('map-capability');
    if (![...select.options].some((o) => o.value === cap)) select.appendChild(el('option', { value: cap }, cap));
    select.value = cap;
    for (const node of document.querySelectorAll('.map-cap-name')) node.textContent = cap;
    if (!this.owners.has(cap)) this.recomputeOwners();
    this.queue('map', 'peers');
  }

  private renderMap(): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const pitch = this.pitch;
    const cell = pitch - 1;
    const mark = Math.floor((cell - 1) / 2); // the player marker: a white square in the cell's top left
    const dpr = this.canvas.width / (MAP_COLUMNS * pitch);
    const owners = this.owners.get(this.mapCap) ?? new Array<string | undefined>(this.mesh.shardCount).fill(undefined);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    const playerShards = new Set([...this.players.values()].map((p) => p.shard));
    const counts = new Map<string, number>();
    this.painted = owners.map((o) => o ?? null);
    // Integer device pixels, so every cell is one flat colour (the tests read it back).
    const px = (v: number): number => Math.round(v * dpr);
    for (let shard = 0; shard < owners.length; shard++) {
      const owner = owners[shard];
      if (owner !== undefined) counts.set(owner, (counts.get(owner) ?? 0) + 1);
      const x = (shard % MAP_COLUMNS) * pitch;
      const y = Math.floor(shard / MAP_COLUMNS) * pitch;
      ctx.fillStyle = owner === undefined ? UNOWNED_HEX : peerColor(owner).hex;
      ctx.fillRect(px(x), px(y), px(x + cell) - px(x), px(y + cell) - px(y));
      if (mark > 0 && playerShards.has(shard)) {
        ctx.fillStyle = '#ffffff';
        ctx.fillRect(px(x + 1), px(y + 1), px(x + 1 + mark) - px(x + 1), px(y + 1 + mark) - px(y + 1));
      }
    }
    this.canvas.dataset['capability'] = this.mapCap;
    this.canvas.dataset['version'] = String(this.mesh.version);
    const legend = byId('map-legend');
    const total = owners.length;
    const entries = [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const unowned = total - entries.reduce((sum, [, n]) => sum + n, 0);
    legend.replaceChildren(
      ...entries.map(([peer, n]) =>
        el(
          'li',
          { 'data-testid': 'legend-item', 'data-peer-id': peer, 'data-count': n },
          peerChip(peer, this.self),
          el('span', { className: 'legend-count' }, `${n}`),
          el('span', { className: 'legend-bar' }, el('span', { style: `width:${((n / total) * 100).toFixed(1)}%;background:${peerColor(peer).hex}` })),
        ),
      ),
      unowned > 0
        ? el('li', { 'data-testid': 'legend-item', 'data-peer-id': '', 'data-count': unowned, className: 'unowned' }, el('span', { className: 'peer-chip none' }, el('span', { className: 'dot', style: `background:${UNOWNED_HEX}` }), `no peer offers ${this.mapCap}`), el('span', { className: 'legend-count' }, `${unowned}`))
        : '',
    );
  }

  /** Reads each cell's colour back from the canvas, at its bottom-right pixel (away from the player marker). */
  sampleMap(): string[] {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return [];
    const pitch = this.pitch;
    const dpr = this.canvas.width / (MAP_COLUMNS * pitch);
    const data = ctx.getImageData(0, 0, this.canvas.width, this.canvas.height).data;
    const out: string[] = [];
    for (let shard = 0; shard < this.mesh.shardCount; shard++) {
      const x = Math.floor(((shard % MAP_COLUMNS) * pitch + pitch - 1.5) * dpr);
      const y = Math.floor((Math.floor(shard / MAP_COLUMNS) * pitch + pitch - 1.5) * dpr);
      const i = (y * this.canvas.width + x) * 4;
      out.push(`#${[data[i], data[i + 1], data[i + 2]].map((c) => (c ?? 0).toString(16).padStart(2, '0')).join('')}`);
    }
    return out;
  }

  mapCapability(): string {
    return this.mapCap;
  }

  mapOwners(): (string | null)[] {
    return [...this.painted];
  }

  // ---------------------------------------------------------------- players

  private setupPlayers(): void {
    byId<HTMLFormElement>('add-players-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const count = Math.max(1, Math.min(500, Number(byId<HTMLInputElement>('player-count').value) || 10));
      this.addPlayers(count);
    });
    byId('call-all').addEventListener('click', () => {
      for (const player of this.players.values()) void this.callPlayer(player.id);
    });
  }

  addPlayers(count: number): string[] {
    const added: string[] = [];
    const body = byId('player-rows');
    for (let i = 0; i < count; i++) {
      const id = `player_${this.nextPlayer++}`;
      const shard = this.mesh.shardFor(id);
      const ownerCell = el('td', { className: 'owner' });
      const scoreCell = el('td', { className: 'num score' }, '–');
      const servedCell = el('td', { className: 'served' }, el('span', { className: 'muted' }, '–'));
      const row = el(
        'tr',
        { className: 'player-row', tabindex: 0, role: 'button', title: `call GameActor(${id}).increment_score`, 'data-testid': 'player-row', 'data-player': id, 'data-shard': shard, 'data-calls': 0, 'data-state': 'idle' },
        el('td', {}, el('b', {}, id)),
        el('td', { className: 'num muted' }, shard),
        ownerCell,
        scoreCell,
        servedCell,
      );
      const player: Player = { id, shard, row, ownerCell, scoreCell, servedCell, calls: 0, pending: 0, score: null, peer: null, activation: null, error: null };
      row.addEventListener('click', () => void this.callPlayer(id));
      row.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          void this.callPlayer(id);
        }
      });
      this.players.set(id, player);
      body.appendChild(row);
      added.push(id);
    }
    byId('players-empty').hidden = this.players.size > 0;
    byId('player-count-label').textContent = String(this.players.size);
    byId<HTMLButtonElement>('call-all').disabled = this.players.size === 0;
    this.queue('players', 'map');
    return added;
  }

  private renderPlayerOwners(): void {
    const owners = this.owners.get('game') ?? [];
    for (const player of this.players.values()) {
      const owner = owners[player.shard];
      if (player.row.dataset['owner'] === (owner ?? '')) continue;
      player.row.dataset['owner'] = owner ?? '';
      player.ownerCell.replaceChildren(peerChip(owner, this.self, 'compact'));
      player.row.style.setProperty('--peer', owner ? peerColor(owner).hex : 'transparent');
    }
  }

  async callPlayer(id: string): Promise<void> {
    const player = this.players.get(id);
    if (!player) throw new Error(`no player ${id}`);
    player.pending++;
    player.row.dataset['state'] = 'pending';
    try {
      const reply = await this.mesh.call<number>({ actor: 'GameActor', id, capability: 'game', payload: { action: 'increment_score' } });
      player.score = reply.result;
      player.peer = reply.peer;
      player.activation = reply.activation;
      player.error = null;
      player.scoreCell.textContent = String(reply.result);
      // The serving peer's colour and the activation's number: the owner column already names the peer.
      const suffix = reply.activation.startsWith(`${reply.peer}#`) ? reply.activation.slice(reply.peer.length) : reply.activation;
      player.servedCell.replaceChildren(
        el('span', { className: 'dot', style: `background:${peerColor(reply.peer).hex}` }),
        el('code', { title: `served by ${reply.peer}${reply.peer === this.self ? ' (this tab)' : ''}, activation ${reply.activation}` }, suffix),
      );
      player.row.dataset['score'] = String(reply.result);
      player.row.dataset['peer'] = reply.peer;
      player.row.dataset['activation'] = reply.activation;
      player.row.classList.remove('flash');
      void player.row.offsetWidth; // restart the flash animation
      player.row.classList.add('flash');
      if (reply.peer === this.self) this.requestPoll();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      player.error = message;
      player.servedCell.replaceChildren(el('span', { className: 'error' }, message));
      log('error', `call to GameActor ${id} failed: ${message}`);
    } finally {
      player.pending--;
      player.calls++;
      player.row.dataset['calls'] = String(player.calls);
      player.row.dataset['state'] = player.pending > 0 ? 'pending' : player.error ? 'error' : 'ok';
      if (player.pending === 0) this.queue('peers');
    }
  }

  playerViews(): PlayerView[] {
    const owners = this.owners.get('game') ?? [];
    return [...this.players.values()].map((p) => ({
      id: p.id,
      shard: p.shard,
      owner: owners[p.shard] ?? null,
      calls: p.calls,
      score: p.score,
      peer: p.peer,
      activation: p.activation,
      error: p.error,
    }));
  }

  // ---------------------------------------------------------------- hosted here

  /** Adds and removes rows to match the runtime's activations; their state comes from pollHosted(). */
  private syncHosted(): void {
    const live = new Map(this.mesh.activations().map((a) => [a.key, a]));
    for (const [key, hosted] of this.hosted) {
      if (live.get(key)?.activation === hosted.info.activation) continue;
      hosted.row.remove();
      this.hosted.delete(key);
    }
    const body = byId('hosted-rows');
    for (const [key, info] of live) {
      if (this.hosted.has(key)) continue;
      const stateCell = el('td', { className: 'state' }, el('span', { className: 'muted' }, '…'));
      const row = el(
        'tr',
        { 'data-testid': 'hosted-row', 'data-actor': info.actor, 'data-id': info.id, 'data-capability': info.capability, 'data-activation': info.activation },
        el('td', {}, el('span', { className: `actor-tag actor-${info.actor}` }, info.actor.replace(/Actor$/, ''))),
        el('td', {}, el('b', {}, info.id)),
        el('td', { className: 'num muted' }, info.shard),
        el('td', {}, el('code', { className: 'activation' }, info.activation)),
        stateCell,
      );
      this.hosted.set(key, { info, row, stateCell, state: undefined });
      body.appendChild(row);
    }
    this.queue('hosted', 'peers');
    this.requestPoll();
  }

  private renderHostedCount(): void {
    byId('hosted-count').textContent = String(this.hosted.size);
    byId('hosted-empty').hidden = this.hosted.size > 0;
    byId('stat-active').textContent = String(this.hosted.size);
  }

  private requestPoll(): void {
    if (this.polling) this.pollAgain = true;
    else void this.pollHosted();
  }

  /**
   * Asks every local activation for its state through the mesh. Only while this tab still owns its shard:
   * such a call never leaves the tab, so polling cannot activate anything anywhere.
   */
  private async pollHosted(): Promise<void> {
    if (this.polling || this.mesh.stopped) return;
    this.polling = true;
    try {
      do {
        this.pollAgain = false;
        await Promise.all([...this.hosted.values()].map((h) => this.pollOne(h)));
      } while (this.pollAgain && !this.mesh.stopped);
    } finally {
      this.polling = false;
    }
  }

  private async pollOne(hosted: Hosted): Promise<void> {
    const { info } = hosted;
    const payload =
      info.actor === 'GameActor' ? { action: 'get_stats' } : info.actor === 'ChatRoomActor' ? { action: 'history' } : info.actor === 'PaymentActor' ? { action: 'balance' } : null;
    if (payload === null || this.mesh.stopped || this.mesh.ownerPeer(info.shard, info.capability) !== this.self) return;
    let state: unknown;
    try {
      const reply = await this.mesh.call({ actor: info.actor, id: info.id, capability: info.capability, payload, timeoutMs: 2000 });
      this.polls.ok++;
      if (reply.peer !== this.self || reply.activation !== info.activation) return;
      state = reply.result;
    } catch {
      this.polls.failed++;
      return; // moved or stopped meanwhile: syncHosted removes the row
    }
    if (this.hosted.get(info.key) !== hosted) return;
    hosted.state = state;
    const row = hosted.row;
    if (info.actor === 'GameActor') {
      const s = state as { score: number; level: number };
      if (row.dataset['score'] === String(s.score) && row.dataset['level'] === String(s.level)) return;
      row.dataset['score'] = String(s.score);
      row.dataset['level'] = String(s.level);
      hosted.stateCell.replaceChildren('score ', el('b', { 'data-testid': 'hosted-score' }, s.score), el('span', { className: 'muted' }, ` · level ${s.level}`));
    } else if (info.actor === 'ChatRoomActor') {
      const n = Array.isArray(state) ? state.length : 0;
      hosted.stateCell.replaceChildren(el('b', {}, n), ` message${n === 1 ? '' : 's'}`);
    } else {
      hosted.stateCell.replaceChildren('balance ', el('b', {}, String(state)));
    }
  }

  hostedViews(): HostedView[] {
    return [...this.hosted.values()].map((h) => ({ ...h.info, state: h.state }));
  }

  // ---------------------------------------------------------------- live stats

  private updateStats(): void {
    if (this.mesh.stopped) return;
    const s = this.mesh.stats();
    const now = performance.now();
    const ok = s.calls.ok - this.polls.ok;
    const failed = s.calls.failed - this.polls.failed;
    const calls = ok + failed;
    const rate = ((calls - this.lastCalls) * 1000) / Math.max(1, now - this.lastStatsAt);
    this.lastCalls = calls;
    this.lastStatsAt = now;
    this.rates.push(rate);
    if (this.rates.length > 60) this.rates.shift();
    byId('stat-rate').textContent = rate >= 100 ? Math.round(rate).toLocaleString('en') : rate.toFixed(rate > 0 && rate < 10 ? 1 : 0);
    byId('stat-p50').textContent = formatMs(s.latencyMs.p50);
    byId('stat-p99').textContent = formatMs(s.latencyMs.p99);
    byId('stat-ok').textContent = ok.toLocaleString('en');
    byId('stat-failed').textContent = failed.toLocaleString('en');
    byId('stat-split').textContent = `${Math.max(0, s.calls.local - this.polls.ok - this.polls.failed).toLocaleString('en')} / ${s.calls.remote.toLocaleString('en')}`;
    byId('stat-handoffs').textContent = `${s.handoffs.received} / ${s.handoffs.sent}`;
    byId('stat-created').textContent = s.activations.created.toLocaleString('en');
    this.drawSpark();
  }

  private drawSpark(): void {
    const canvas = byId<HTMLCanvasElement>('rate-spark');
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    const { width, height } = canvas;
    ctx.clearRect(0, 0, width, height);
    const max = Math.max(1, ...this.rates);
    const step = width / 59;
    const points = this.rates.map((r, i): [number, number] => [width - (this.rates.length - 1 - i) * step, height - 2 - (r / max) * (height - 4)]);
    if (points.length < 2) return;
    const color = peerColor(this.self);
    ctx.beginPath();
    points.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
    ctx.lineTo(width, height);
    ctx.lineTo(points[0]![0], height);
    ctx.closePath();
    ctx.fillStyle = `rgb(${color.rgb.join(' ')} / 0.14)`;
    ctx.fill();
    ctx.beginPath();
    points.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
    ctx.strokeStyle = color.hex;
    ctx.lineWidth = 1.5;
    ctx.stroke();
  }

}

// ------------------------------------------------------------------------------------------ boot

async function boot(): Promise<void> {
  byId('room-name').textContent = room;
  let mesh: Mesh;
  try {
    mesh = await Mesh.start({
      signal: signalUrl,
      room,
      capabilities: initialCaps,
      actors,
      ...(fixedPeerId !== undefined ? { peerId: fixedPeerId } : {}),
      onSignalingState: (state, detail) => showSignaling(state, detail),
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    document.body.dataset['state'] = 'error';
    window.rtcMeshError = message;
    showBanner(`Could not join the mesh at ${signalUrl}: ${message}`);
    log('error', `could not join: ${message}`);
    return;
  }
  const app = new DemoApp(mesh);
  window.rtcMesh = {
    mesh,
    room,
    peerId: mesh.peerId,
    capabilities: CAPABILITIES,
    shardFor: (id) => mesh.shardFor(id),
    ownerPeer: (shard, capability) => mesh.ownerPeer(shard, capability),
    placements: (ids, capability) =>
      ids.map((id) => {
        const shard = mesh.shardFor(id);
        return [shard, mesh.ownerPeer(shard, capability) ?? null];
      }),
    colorOf: (peerId) => (peerId === null ? UNOWNED_HEX : peerColor(peerId).hex),
    mapCapability: () => app.mapCapability(),
    setMapCapability: (capability) => app.setMapCapability(capability),
    mapOwners: () => app.mapOwners(),
    sampleMap: () => app.sampleMap(),
    players: () => app.playerViews(),
    hosted: () => app.hostedViews(),
    addPlayers: (count) => app.addPlayers(count),
    callPlayer: (id) => app.callPlayer(id),
  };
  app.start();
  // Leave the mesh with the page; a page restored from the back/forward cache joins afresh.
  window.addEventListener('pagehide', () => void mesh.stop());
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) location.reload();
  });
}

void boot();
