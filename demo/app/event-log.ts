/** The Events panel: what happened to this tab's view of the mesh, newest first. */
import { kindLabel, peerChip } from './chips.js';
import { append, byId, el, type Child } from './dom.js';
import { clock, count } from './format.js';
import type { DemoModel, OwnersChange } from './model.js';

export type LogKind =
  | 'self'
  | 'joined'
  | 'left'
  | 'caps'
  | 'rebalance'
  | 'activated'
  | 'deactivated'
  | 'handoff'
  | 'promoted'
  | 'store'
  | 'signaling'
  | 'error';

export type Log = (kind: LogKind, ...message: Child[]) => void;

const LOG_LIMIT = 300;

/** The log itself; usable before the mesh is joined (to say why joining failed). */
export function createLog(): Log {
  const list = byId<HTMLOListElement>('event-log');
  byId('clear-log').addEventListener('click', () => list.replaceChildren());
  return (kind, ...message) => {
    const text = el('span', { className: 'msg' });
    append(text, message);
    list.prepend(
      el(
        'li',
        { className: `log-entry kind-${kind}`, 'data-testid': 'log-entry', 'data-kind': kind },
        el('time', {}, clock()),
        el('span', { className: 'kind' }, kind),
        text,
      ),
    );
    while (list.childElementCount > LOG_LIMIT) list.lastElementChild?.remove();
  };
}

const actorName = (actor: string): string => actor.replace(/Actor$/, '');

/** Writes the mesh's events to the log as a person would want to read them. */
export function logMeshEvents(model: DemoModel, log: Log): void {
  const { mesh } = model;
  const chip = (peer: string, mode?: 'compact'): HTMLElement => peerChip(model, peer, mode);
  const caps = (list: readonly string[]): string => list.join(', ') || 'nothing';

  log(
    'self',
    'joined room ',
    el('b', {}, model.room),
    ' as ',
    peerChip(model, model.self, 'full'),
    ` offering ${caps(mesh.peers().find((p) => p.id === model.self)?.capabilities ?? [])}`,
  );
  if (model.store !== undefined)
    log('store', "players' scores are saved in IndexedDB ", el('code', {}, model.store.database), ' and outlive every tab');
  for (const peer of mesh.peers()) if (peer.id !== model.self) log('joined', chip(peer.id), ` (${kindLabel(peer.kind)}) is here`);

  model.onOwners((change) => {
    const { topology: t } = change;
    for (const peer of t.joined)
      if (peer.id !== model.self) log('joined', chip(peer.id), ` (${kindLabel(peer.kind)}) joined with ${caps(peer.capabilities)}`);
    for (const peer of t.left) if (peer.id !== model.self) log('left', chip(peer.id), ` (${kindLabel(peer.kind)}) left`);
    for (const peer of t.updated) if (peer.id !== model.self) log('caps', chip(peer.id), ` now offers ${caps(peer.capabilities)}`);
    logMoves(change, log, chip);
    if (t.moved > 0) log('rebalance', `${t.moved} activation${t.moved === 1 ? '' : 's'} left this tab with their shards`);
  });
  mesh.on('activated', (a) =>
    log(
      'activated',
      `${actorName(a.actor)} `,
      el('b', {}, a.id),
      ' activated here ',
      el('code', { className: 'activation', title: a.activation }, a.activation.slice(a.activation.lastIndexOf('#'))),
    ),
  );
  mesh.on('deactivated', (a) =>
    log(
      'deactivated',
      `${actorName(a.actor)} `,
      el('b', {}, a.id),
      ` stopped here: ${a.reason}`,
      a.reason === 'rebalance' ? ' (its shard moved)' : '',
    ),
  );
  mesh.on('handoff', (h) =>
    log(
      'handoff',
      `${h.actor} `,
      el('b', {}, h.id),
      h.direction === 'sent' ? ' state handed to ' : ' state received from ',
      chip(h.peer),
      ` (${count(h.bytes)} B)`,
    ),
  );
  mesh.on('handoff-lost', (h) =>
    log('handoff', `${h.actor} `, el('b', {}, h.id), ' starts fresh: ', chip(h.from), ' left before handing it over'),
  );
  mesh.on('replica-promoted', (p) =>
    log(
      'promoted',
      `${actorName(p.actor)} `,
      el('b', {}, p.id),
      ' went on from its copy on this tab after ',
      chip(p.from),
      ' vanished (',
      el(
        'code',
        { className: 'version', title: `the copy's version: activation epoch ${p.version.epoch}, change ${p.version.seq}` },
        `v${p.version.epoch}.${p.version.seq}`,
      ),
      ')',
    ),
  );
  mesh.on('snapshot-failed', (e) =>
    log('error', `${actorName(e.actor)} `, el('b', {}, e.id), ` keeps no copy: its snapshot failed (${e.error.message})`),
  );
  mesh.on('store-failed', (e) =>
    log('error', `${actorName(e.actor)} `, el('b', {}, e.id), ` was not saved to IndexedDB: ${e.error.message}`),
  );
  mesh.on('cast-failed', (e) => log('error', `cast to ${e.actor} ${e.id} failed: ${e.error.message}`));
  mesh.on('peer-refused', (e) => log('error', 'refused ', chip(e.peer), `: ${e.error.message}`));
  mesh.on('frame-dropped', (e) => log('error', 'dropped a frame from ', chip(e.peer), `: ${e.error.message}`));
  model.onPlayer((player, failure) => {
    if (failure !== undefined) log('error', `call to GameActor ${player.id} failed: ${failure}`);
  });
}

/** Per capability: how many shards changed owner, and the largest flows between two peers. */
function logMoves({ before, after }: OwnersChange, log: Log, chip: (peer: string, mode: 'compact') => HTMLElement): void {
  for (const [cap, owners] of after) {
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
    top.forEach(([key, n], i) => {
      const [from, to] = key.split('>') as [string, string];
      parts.push(i === 0 ? ' — ' : ', ', from ? chip(from, 'compact') : 'nobody', ' → ', to ? chip(to, 'compact') : 'nobody', ` ${n}`);
    });
    if (flows.size > top.length) parts.push(', …');
    log('rebalance', ...parts);
  }
}
