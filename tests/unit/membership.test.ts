import { describe, expect, it } from 'vitest';
import { Membership, normalizeNames, type MembershipChange, type PeerInfo } from '../../shared/placement/membership.js';

const peer = (id: string, capabilities: string[], actorTypes: string[] = [], kind: PeerInfo['kind'] = 'node'): PeerInfo => ({
  id,
  kind,
  capabilities,
  actorTypes,
});

function record(m: Membership): MembershipChange[] {
  const changes: MembershipChange[] = [];
  m.onChange((c) => changes.push(c));
  return changes;
}

describe('normalizeNames', () => {
  it('sorts and de-duplicates', () => {
    expect(normalizeNames(['b', 'a', 'b', 'c', 'a'])).toEqual(['a', 'b', 'c']);
    expect(normalizeNames(new Set(['z', 'y']))).toEqual(['y', 'z']);
    expect(normalizeNames([])).toEqual([]);
  });
});

describe('Membership', () => {
  it('starts empty at version 0', () => {
    const m = new Membership();
    expect(m.version).toBe(0);
    expect(m.size).toBe(0);
    expect(m.peers()).toEqual([]);
    expect(m.peersFor('game')).toEqual([]);
    expect(m.allCapabilities()).toEqual([]);
    expect(m.get('x')).toBeUndefined();
    expect(m.has('x')).toBe(false);
  });

  it('bumps the version on every join, update and leave', () => {
    const m = new Membership();
    expect(m.upsert(peer('a', ['game']))).toBe(true);
    expect(m.version).toBe(1);
    expect(m.upsert(peer('b', ['game']))).toBe(true);
    expect(m.version).toBe(2);
    expect(m.upsert(peer('a', ['game', 'chat']))).toBe(true);
    expect(m.version).toBe(3);
    expect(m.remove('b')).toBe(true);
    expect(m.version).toBe(4);
    expect(m.size).toBe(1);
  });

  it('upsert of identical info (in any order, with duplicates) changes nothing', () => {
    const m = new Membership();
    const changes = record(m);
    m.upsert(peer('a', ['game', 'chat'], ['GameActor', 'ChatRoomActor']));
    expect(m.upsert(peer('a', ['chat', 'game'], ['ChatRoomActor', 'GameActor']))).toBe(false);
    expect(m.upsert(peer('a', ['chat', 'game', 'chat'], ['GameActor', 'ChatRoomActor', 'GameActor']))).toBe(false);
    expect(m.version).toBe(1);
    expect(changes).toHaveLength(1);
  });

  it('a different kind or actor type list is an update', () => {
    const m = new Membership();
    m.upsert(peer('a', ['game'], ['GameActor'], 'node'));
    expect(m.upsert(peer('a', ['game'], ['GameActor'], 'browser'))).toBe(true);
    expect(m.upsert(peer('a', ['game'], ['GameActor', 'ChatRoomActor'], 'browser'))).toBe(true);
    expect(m.version).toBe(3);
    expect(m.get('a')?.kind).toBe('browser');
    expect(m.get('a')?.actorTypes).toEqual(['ChatRoomActor', 'GameActor']);
  });

  it('stores normalized, frozen info and does not alias the caller’s arrays', () => {
    const m = new Membership();
    const caps = ['game', 'chat', 'game'];
    m.upsert(peer('a', caps, ['Z', 'A']));
    caps.push('evil');
    const info = m.get('a')!;
    expect(info.capabilities).toEqual(['chat', 'game']);
    expect(info.actorTypes).toEqual(['A', 'Z']);
    expect(Object.isFrozen(info)).toBe(true);
    expect(Object.isFrozen(info.capabilities)).toBe(true);
    expect(Object.isFrozen(info.actorTypes)).toBe(true);
    expect(m.peersFor('evil')).toEqual([]);
  });

  it('remove of an unknown peer returns false and does not bump the version', () => {
    const m = new Membership();
    const changes = record(m);
    m.upsert(peer('a', ['game']));
    expect(m.remove('zzz')).toBe(false);
    expect(m.remove('a')).toBe(true);
    expect(m.remove('a')).toBe(false);
    expect(m.version).toBe(2);
    expect(changes).toHaveLength(2);
    expect(m.has('a')).toBe(false);
  });

  it('peers() is sorted by id', () => {
    const m = new Membership();
    for (const id of ['m', 'b', 'z', 'a', 'B']) m.upsert(peer(id, []));
    expect(m.peers().map((p) => p.id)).toEqual(['B', 'a', 'b', 'm', 'z']);
  });

  it('peersFor is sorted, filtered by capability and frozen', () => {
    const m = new Membership();
    m.upsert(peer('c', ['game']));
    m.upsert(peer('a', ['game', 'chat']));
    m.upsert(peer('b', ['chat']));
    m.upsert(peer('d', []));
    expect(m.peersFor('game')).toEqual(['a', 'c']);
    expect(m.peersFor('chat')).toEqual(['a', 'b']);
    expect(m.peersFor('nope')).toEqual([]);
    expect(Object.isFrozen(m.peersFor('game'))).toBe(true);
  });

  it('peersFor returns the same array instance until the next change, then a new one', () => {
    const m = new Membership();
    m.upsert(peer('a', ['game']));
    const first = m.peersFor('game');
    expect(m.peersFor('game')).toBe(first);
    m.upsert(peer('a', ['game'])); // no-op: identity kept
    expect(m.peersFor('game')).toBe(first);
    m.upsert(peer('b', ['chat'])); // a change, even one not touching 'game'
    const second = m.peersFor('game');
    expect(second).not.toBe(first);
    expect(second).toEqual(['a']);
    expect(m.peersFor('game')).toBe(second);
    m.upsert(peer('c', ['game']));
    expect(m.peersFor('game')).toEqual(['a', 'c']);
    expect(first).toEqual(['a']); // old snapshots are not mutated
    m.remove('a');
    expect(m.peersFor('game')).toEqual(['c']);
  });

  it('allCapabilities is the sorted union', () => {
    const m = new Membership();
    m.upsert(peer('a', ['game', 'chat']));
    m.upsert(peer('b', ['payments', 'chat']));
    expect(m.allCapabilities()).toEqual(['chat', 'game', 'payments']);
    m.remove('b');
    expect(m.allCapabilities()).toEqual(['chat', 'game']);
  });

  it('emits one change event per change with joined / updated / left', () => {
    const m = new Membership();
    const changes = record(m);
    m.upsert(peer('a', ['game']));
    m.upsert(peer('a', ['game', 'chat']));
    m.remove('a');
    expect(changes.map((c) => c.version)).toEqual([1, 2, 3]);
    const [join, update, leave] = changes;
    expect(join!.joined.map((p) => p.id)).toEqual(['a']);
    expect(join!.left).toEqual([]);
    expect(join!.updated).toEqual([]);
    expect(update!.joined).toEqual([]);
    expect(update!.updated.map((p) => p.capabilities)).toEqual([['chat', 'game']]);
    expect(update!.left).toEqual([]);
    expect(leave!.left.map((p) => p.id)).toEqual(['a']);
    expect(leave!.left[0]!.capabilities).toEqual(['chat', 'game']);
    expect(leave!.joined).toEqual([]);
  });

  it('the view is already updated when listeners run (they may query it)', () => {
    const m = new Membership();
    const seen: (readonly string[])[] = [];
    m.onChange(() => seen.push(m.peersFor('game')));
    m.upsert(peer('a', ['game']));
    m.upsert(peer('b', ['game']));
    m.remove('a');
    expect(seen).toEqual([['a'], ['a', 'b'], ['b']]);
  });

  it('onChange returns an unsubscribe function', () => {
    const m = new Membership();
    let calls = 0;
    const off = m.onChange(() => calls++);
    m.upsert(peer('a', []));
    off();
    m.upsert(peer('b', []));
    expect(calls).toBe(1);
  });
});
