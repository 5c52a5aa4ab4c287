/** The top bar: this tab's id and colour, the signaling state, the room, and the capabilities it offers. */
import type { MeshError, SignalingState } from '../../client/index.js';
import { byId, el } from './dom.js';
import type { Log } from './event-log.js';
import { shortId } from './format.js';
import type { DemoModel } from './model.js';
import { CAPABILITIES } from './settings.js';

export function showRoom(room: string): void {
  byId('room-name').textContent = room;
}

export function showSignaling(log: Log, state: SignalingState, detail?: MeshError): void {
  const badge = byId('signaling-state');
  badge.textContent = state;
  badge.className = `badge badge-${state}`;
  badge.title = detail?.message ?? '';
  if (state === 'disconnected' || detail) log('signaling', `signaling ${state}${detail ? `: ${detail.message}` : ''}`);
}

export function showBanner(text: string): void {
  const banner = byId('banner');
  banner.textContent = text;
  banner.hidden = false;
}

/** This tab's identity, and its colour on the page's accents. */
export function setupHeader(model: DemoModel, log: Log): void {
  const { self, mesh } = model;
  const color = model.colorOf(self);
  const root = document.documentElement.style;
  root.setProperty('--self-color', color.hex);
  root.setProperty('--self-tint', color.tint);
  root.setProperty('--self-ink', color.ink);
  byId('self-swatch').style.background = color.hex;
  const id = byId('self-id');
  id.textContent = self;
  id.title = `peer id ${self} (${mesh.kind})`;
  document.title = `${shortId(self)} · rtc-mesh`;

  const fieldset = byId<HTMLFieldSetElement>('capabilities');
  const mine = new Set(mesh.peers().find((p) => p.id === self)?.capabilities ?? []);
  const inputs = CAPABILITIES.map((cap) => {
    const input = el('input', {
      type: 'checkbox',
      id: `cap-${cap}`,
      'data-testid': `cap-toggle-${cap}`,
      value: cap,
      checked: mine.has(cap),
    });
    input.addEventListener('change', () => {
      const chosen = CAPABILITIES.filter((_, i) => inputs[i]!.checked);
      mesh.registerCapabilities(chosen);
      log('caps', 'this tab now offers ', el('b', {}, chosen.join(', ') || 'nothing'));
    });
    fieldset.appendChild(el('label', { className: `toggle cap-${cap}`, for: `cap-${cap}` }, input, el('span', {}, cap)));
    return input;
  });
  fieldset.disabled = false;
}
