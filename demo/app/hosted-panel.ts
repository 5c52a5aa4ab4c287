/** The Hosted here panel: the activations living in this tab, with their state as the last poll saw it. */
import { append, byId, el, type Child } from './dom.js';
import type { DemoModel, Hosted } from './model.js';

interface Row {
  readonly tr: HTMLTableRowElement;
  readonly state: HTMLTableCellElement;
  /** The state last shown, to touch the DOM only when it changes. */
  shown: string;
}

export function setupHostedPanel(model: DemoModel): void {
  const rows = new Map<string, Row>();
  const body = byId('hosted-rows');

  function add(hosted: Hosted): Row {
    const { info } = hosted;
    const state = el('td', { className: 'state' }, el('span', { className: 'muted' }, '…'));
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
    );
    body.appendChild(tr);
    return { tr, state, shown: '' };
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
    }
    byId('hosted-count').textContent = String(model.hosted.size);
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
