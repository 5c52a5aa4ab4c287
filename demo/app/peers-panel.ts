/**
 * The Peers panel: every peer of this tab's view, this tab first, with its capabilities, the shards of the
 * mapped capability it owns, and how many of this tab's players are placed on it. Both numbers are computed
 * the same way for every row, from this tab's view and its own player list.
 */
import { kindLabel } from './chips.js';
import { byId, el } from './dom.js';
import { plural } from './format.js';
import { countPerPeer, type DemoModel } from './model.js';

export function setupPeersPanel(model: DemoModel): void {
  model.render('peers', () => renderPeers(model));
}

function renderPeers(model: DemoModel): void {
  const { mesh, self } = model;
  const peers = mesh.peers();
  byId('peer-count').textContent = String(peers.length);
  document.body.dataset['peers'] = String(peers.length);
  document.body.dataset['viewVersion'] = String(mesh.version);
  byId('stat-version').textContent = String(mesh.version);
  for (const node of document.querySelectorAll('.map-cap-name')) node.textContent = model.mapCapability;

  const shards = countPerPeer(model.ownersOf(model.mapCapability));
  const gameOwners = model.ownersOf('game');
  const players = countPerPeer([...model.players.values()].map((p) => gameOwners[p.shard]));
  const capabilities = model.capabilities();
  // Self first, then by id: the order every tab shows the others in.
  peers.sort((a, b) => (a.id === self ? -1 : b.id === self ? 1 : a.id < b.id ? -1 : 1));
  byId('peer-list').replaceChildren(
    ...peers.map((peer) => {
      const color = model.colorOf(peer.id);
      const caps = el('span', { className: 'caps-list' });
      for (const cap of capabilities) {
        const has = peer.capabilities.includes(cap);
        caps.appendChild(
          el('span', { className: `cap-chip${has ? ' on' : ''}`, title: has ? `offers ${cap}` : `does not offer ${cap}` }, cap),
        );
      }
      const owned = shards.get(peer.id) ?? 0;
      const placed = players.get(peer.id) ?? 0;
      return el(
        'li',
        {
          className: `peer-row${peer.id === self ? ' self' : ''}`,
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
          el(
            'div',
            { className: 'peer-title' },
            el('code', { title: peer.id }, peer.id),
            peer.id === self ? el('span', { className: 'you' }, 'you') : null,
            el('span', { className: `kind kind-${peer.kind}` }, kindLabel(peer.kind)),
          ),
          caps,
        ),
        el(
          'div',
          { className: 'peer-nums' },
          el('b', { title: `shards of ${model.mapCapability} this peer owns`, 'data-testid': 'peer-shards' }, owned),
          el(
            'span',
            {
              title: `of the ${plural(model.players.size, 'player')} in this tab's list, those whose game shard this peer owns: their next call runs there`,
              'data-testid': 'peer-players',
            },
            plural(placed, 'player'),
          ),
        ),
      );
    }),
  );
}
