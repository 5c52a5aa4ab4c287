/** A peer as it appears everywhere on the page: its colour and id, and "you" for this tab. */
import type { PeerInfo } from '../../client/index.js';
import { el } from './dom.js';
import { shortId } from './format.js';
import type { DemoModel } from './model.js';

/**
 * A peer's chip, in its colour. 'full' shows the whole id, 'short' its first 8 characters; 'compact' says
 * just "you" for this tab, for narrow columns.
 */
export function peerChip(model: DemoModel, peerId: string | undefined, mode: 'short' | 'full' | 'compact' = 'short'): HTMLElement {
  if (peerId === undefined) return el('span', { className: 'peer-chip none' }, 'nobody');
  const isSelf = peerId === model.self;
  const chip = el(
    'span',
    { className: `peer-chip${isSelf ? ' is-self' : ''}`, title: isSelf ? `${peerId} (this tab)` : peerId, 'data-peer-id': peerId },
    el('span', { className: 'dot', style: `background:${model.colorOf(peerId).hex}` }),
    isSelf && mode === 'compact' ? el('b', { className: 'you-text' }, 'you') : el('code', {}, mode === 'full' ? peerId : shortId(peerId)),
  );
  if (isSelf && mode !== 'compact') chip.appendChild(el('span', { className: 'you' }, 'you'));
  return chip;
}

export const kindLabel = (kind: PeerInfo['kind']): string => (kind === 'browser' ? 'tab' : kind);
