/**
 * The Players panel: the players this tab added, where each one's shard is owned now and which peer holds
 * its copy (its backup), its score, and which peer and activation answered its last call. When the owner
 * changes after that call (a rebalance, a peer leaving), "served by" says so instead of naming the old peer
 * as if it still ran the player.
 */
import { peerChip } from './chips.js';
import { byId, el } from './dom.js';
import type { DemoModel, Player } from './model.js';

interface Row {
  readonly tr: HTMLTableRowElement;
  readonly owner: HTMLTableCellElement;
  readonly backup: HTMLTableCellElement;
  readonly score: HTMLTableCellElement;
  readonly served: HTMLTableCellElement;
  /** What "served by" and the backup show, to touch the DOM only when that changes. */
  servedShown: string;
  backupShown: string;
}

export function setupPlayersPanel(model: DemoModel): void {
  const rows = new Map<string, Row>();
  const body = byId('player-rows');
  const callAll = byId<HTMLButtonElement>('call-all');
  // The backup column comes with the code that fills it: after "owner", the peer that takes over from it.
  byId('players')
    .querySelector('thead th:nth-child(3)')
    ?.after(
      el('th', { title: "the peer holding a copy of the player's state: if the owner vanishes, it carries on from there" }, 'backup'),
    );

  byId<HTMLFormElement>('add-players-form').addEventListener('submit', (event) => {
    event.preventDefault();
    model.addPlayers(Math.max(1, Math.min(500, Number(byId<HTMLInputElement>('player-count').value) || 10)));
  });
  callAll.addEventListener('click', () => {
    for (const player of model.players.values()) void model.callPlayer(player.id);
  });

  function add(player: Player): Row {
    const { id, shard } = player;
    const row: Row = {
      tr: el('tr', {
        className: 'player-row',
        tabindex: 0,
        role: 'button',
        title: `call GameActor(${id}).increment_score (shard ${shard})`,
        'data-testid': 'player-row',
        'data-player': id,
        'data-shard': shard,
        'data-calls': 0,
        'data-state': 'idle',
      }),
      owner: el('td', { className: 'owner' }),
      backup: el('td', { className: 'backup' }),
      score: el('td', { className: 'num score' }, '–'),
      served: el('td', { className: 'served' }, el('span', { className: 'muted' }, '–')),
      servedShown: '',
      backupShown: '',
    };
    row.tr.append(
      el('td', {}, el('b', {}, id)),
      el('td', { className: 'num muted col-shard' }, shard),
      row.owner,
      row.backup,
      row.score,
      row.served,
    );
    row.tr.addEventListener('click', () => void model.callPlayer(id));
    row.tr.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        void model.callPlayer(id);
      }
    });
    rows.set(id, row);
    body.appendChild(row.tr);
    return row;
  }

  /** The owner and backup columns and "served by": all follow the current owner of the player's shard. */
  function place(player: Player, row: Row): void {
    const owner = model.ownerOfPlayer(player);
    if (row.tr.dataset['owner'] !== (owner ?? '')) {
      row.tr.dataset['owner'] = owner ?? '';
      row.owner.replaceChildren(peerChip(model, owner, 'compact'));
      row.tr.style.setProperty('--peer', owner ? model.colorOf(owner).hex : 'transparent');
    }
    const backup = model.backupOfPlayer(player);
    if (row.backupShown !== `${backup ?? ''} ${owner ?? ''}`) {
      row.backupShown = `${backup ?? ''} ${owner ?? ''}`;
      row.tr.dataset['backup'] = backup ?? '';
      row.backup.replaceChildren(peerChip(model, backup, 'compact'));
      // The chip's own title names the peer; the cell says what being the backup means.
      row.backup.title =
        backup === undefined
          ? `no other peer offers game: ${player.id} has no copy, and its state goes with its owner`
          : `${backup}${backup === model.self ? ' (this tab)' : ''} holds ${player.id}'s copy: if ${owner ?? 'its owner'} vanishes, it carries on from there`;
      const chip = row.backup.firstElementChild;
      if (chip instanceof HTMLElement) chip.removeAttribute('title');
    }
    const { peer, activation } = player;
    if (player.error !== null || peer === null || activation === null) return;
    // A peer that leaves often first gives up its capabilities (its shards move), then leaves the view.
    const why = peer === owner ? '' : model.mesh.peers().some((p) => p.id === peer) ? 'moved' : 'left';
    const shown = `${activation} ${why} ${owner ?? ''}`;
    if (row.servedShown === shown) return;
    row.servedShown = shown;
    row.tr.dataset['served'] = why === '' ? 'current' : 'stale';
    // The owner column names the peer; here its colour and the activation's number are enough.
    const suffix = activation.startsWith(`${peer}#`) ? activation.slice(peer.length) : activation;
    const who = `${peer}${peer === model.self ? ' (this tab)' : ''}`;
    row.served.className = `served${why === '' ? '' : ' stale'}`;
    row.served.replaceChildren(el('span', { className: 'dot', style: `background:${model.colorOf(peer).hex}` }), el('code', {}, suffix));
    if (why !== '') row.served.appendChild(el('span', { className: 'stale-tag' }, why));
    row.served.title =
      why === ''
        ? `served by ${who}, activation ${activation}`
        : `last served by ${who}, activation ${activation}; ${why === 'left' ? 'that peer has left' : 'its shard has moved'}: the next call goes to ${owner ?? 'nobody'}`;
  }

  model.onPlayer((player) => {
    const row = rows.get(player.id) ?? add(player);
    const { tr } = row;
    tr.dataset['calls'] = String(player.calls);
    tr.dataset['state'] = player.pending > 0 ? 'pending' : player.error !== null ? 'error' : player.calls > 0 ? 'ok' : 'idle';
    if (player.pending > 0) return;
    if (player.error !== null) {
      row.served.className = 'served';
      row.served.replaceChildren(el('span', { className: 'error' }, player.error));
      row.servedShown = '';
      delete tr.dataset['served'];
      return;
    }
    if (player.score === null || player.peer === null || player.activation === null) return place(player, row);
    row.score.textContent = String(player.score);
    tr.dataset['score'] = String(player.score);
    tr.dataset['peer'] = player.peer;
    tr.dataset['activation'] = player.activation;
    place(player, row);
    tr.classList.remove('flash');
    void tr.offsetWidth; // restart the flash animation
    tr.classList.add('flash');
  });

  model.render('players', () => {
    for (const player of model.players.values()) {
      const row = rows.get(player.id);
      if (row) place(player, row);
    }
    byId('players-empty').hidden = model.players.size > 0;
    byId('player-count-label').textContent = String(model.players.size);
    callAll.disabled = model.players.size === 0;
  });
}
