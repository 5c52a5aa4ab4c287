/**
 * The Hosted here panel: the activations living in this tab, with their state as the last poll saw it and
 * the peers their copies go to; and how many copies of other peers' actors this tab holds.
 */
import { peerChip } from './chips.js';
import { append, byId, el, type Child } from './dom.js';
import { count } from './format.js';
import type { DemoModel, Hosted } from './model.js';
import { urlWithStore } from './settings.js';

interface Row {
  readonly tr: HTMLTableRowElement;
  readonly state: HTMLTableCellElement;
  readonly copy: HTMLTableCellElement;
  /** The state and the copies last shown, to touch the DOM only when they change. */
  shown: string;
  copyShown: string;
}

export function setupHostedPanel(model: DemoModel): void {
  const rows = new Map<string, Row>();
  const body = byId('hosted-rows');
  // The copy column and the count of copies held come with the code that fills them.
  byId('hosted')
    .querySelector('thead tr')
    ?.append(el('th', { title: "the peers holding a copy of the actor's state: one of them carries on if this tab vanishes" }, 'copy on'));
  const held = el('span', { 'data-testid': 'held-copies' });
  document.querySelector('#hosted-panel .panel-head .hint')?.append(held);
  setupStoreSelect(model);

  function add(hosted: Hosted): Row {
    const { info } = hosted;
    const state = el('td', { className: 'state' }, el('span', { className: 'muted' }, '…'));
    const copy = el('td', { className: 'copy' });
    // Every activation here is this tab's, so its number says it all; the full id is in the title.
    const number = info.activation.slice(info.activation.lastIndexOf('#'));
    const tr = el(
      'tr',
      {
        'data-testid': 'hosted-row',
        'data-actor': info.actor,
        'data-id': info.id,
        'data-capability': info.capability,
        'data-activation': info.activation,
      },
      el('td', {}, el('span', { className: `actor-tag actor-${info.actor}` }, info.actor.replace(/Actor$/, ''))),
      el('td', { className: 'id' }, el('b', { title: info.id }, info.id)),
      el('td', { className: 'num muted col-shard' }, info.shard),
      el('td', {}, el('code', { className: 'activation', title: info.activation }, number)),
      state,
      copy,
    );
    body.appendChild(tr);
    return { tr, state, copy, shown: '', copyShown: '' };
  }

  /** Where the actor's copies are: chips of its backups, or why there is none. */
  function showCopy(hosted: Hosted, row: Row): void {
    const { backups, info } = hosted;
    const others = model.mesh.peersFor(info.capability).some((p) => p !== model.self);
    const shown = `${backups.join(',')}|${others}`;
    if (row.copyShown === shown) return;
    row.copyShown = shown;
    row.tr.dataset['backups'] = backups.join(',');
    if (backups.length > 0) {
      row.copy.replaceChildren(...backups.map((peer) => peerChip(model, peer, 'compact')));
      row.copy.title = `copies of ${info.id} are kept on ${backups.join(', ')}: if this tab vanishes, ${backups[0]} carries on from its copy`;
    } else {
      row.copy.replaceChildren(el('span', { className: 'muted' }, 'none'));
      // A type without snapshot() keeps no copy; one with it has nowhere to keep it until another peer offers the capability.
      row.copy.title = others
        ? `${info.actor} keeps no copies: its state is lost if this tab vanishes`
        : `no other peer offers ${info.capability}: no copy until one does`;
    }
  }

  model.render('hosted', () => {
    for (const [key, row] of rows) {
      if (model.hosted.get(key)?.info.activation === row.tr.dataset['activation']) continue;
      row.tr.remove();
      rows.delete(key);
    }
    for (const [key, hosted] of model.hosted) {
      let row = rows.get(key);
      if (!row) {
        row = add(hosted);
        rows.set(key, row);
      }
      showState(hosted, row);
      showCopy(hosted, row);
    }
    byId('hosted-count').textContent = String(model.hosted.size);
    held.textContent =
      model.heldCopies > 0 ? ` · holds ${count(model.heldCopies)} ${model.heldCopies === 1 ? 'copy' : 'copies'} for other peers` : '';
    held.dataset['count'] = String(model.heldCopies);
    byId('hosted-empty').hidden = model.hosted.size > 0;
  });
}

function showState(hosted: Hosted, row: Row): void {
  if (hosted.state === undefined) return;
  const shown = JSON.stringify(hosted.state);
  if (shown === row.shown) return;
  row.shown = shown;
  const { actor } = hosted.info;
  let content: Child[];
  if (actor === 'GameActor') {
    const s = hosted.state as { score: number; level: number };
    row.tr.dataset['score'] = String(s.score);
    row.tr.dataset['level'] = String(s.level);
    content = ['score ', el('b', { 'data-testid': 'hosted-score' }, s.score), el('span', { className: 'muted' }, ` · level ${s.level}`)];
  } else if (actor === 'ChatRoomActor') {
    const n = Array.isArray(hosted.state) ? hosted.state.length : 0;
    content = [el('b', {}, n), ` message${n === 1 ? '' : 's'}`];
  } else {
    content = ['balance ', el('b', {}, String(hosted.state))];
  }
  row.state.replaceChildren();
  append(row.state, content);
}

/**
 * Where durable actors (GameActor) keep their state: memory only, or this browser's IndexedDB. The store is
 * chosen when the tab joins the mesh, so picking another reloads the page with `?store=` set or removed (and
 * so with a new peer id).
 */
function setupStoreSelect(model: DemoModel): void {
  const { store } = model;
  const select = byId<HTMLSelectElement>('store-select');
  select.value = store === undefined ? '' : 'indexeddb';
  byId('store-setting').title =
    store === undefined
      ? "players' scores live only in the memory of the peers hosting them: gone once every one of them has left. Choosing IndexedDB reloads this tab."
      : `players' scores are saved in this browser's IndexedDB (database ${store.database}) before each call answers, and come back after every tab has closed. Choosing memory only reloads this tab.`;
  select.addEventListener('change', () =>
    location.assign(urlWithStore(location.href, select.value === 'indexeddb' ? 'indexeddb' : undefined)),
  );
  select.disabled = false;
}
