import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TURN_TTL_SECONDS, isTurnFactory, turnCredentials, turnIceServers } from '../../server/turn.js';

/** coturn's check, done independently: base64(HMAC-SHA1(secret, username)). */
const hmac = (secret: string, username: string): string => createHmac('sha1', secret).update(username).digest('base64');

describe('turnCredentials (TURN REST API / coturn use-auth-secret)', () => {
  it('matches a known vector', () => {
    // Computed outside Node: printf '%s' '1700003600:alice' | openssl dgst -sha1 -hmac 'north-wind' -binary | base64
    const creds = turnCredentials({
      secret: 'north-wind',
      urls: 'turn:turn.example.org:3478',
      ttlSeconds: 3600,
      user: 'alice',
      now: () => 1_700_000_000_000,
    });
    expect(creds).toEqual({
      urls: ['turn:turn.example.org:3478'],
      username: '1700003600:alice',
      credential: 'iRtTIZ3N38dm9S+dP+UkHfnN9Qo=',
    });
    expect(creds.credential).toBe(hmac('north-wind', '1700003600:alice'));
  });

  it('defaults to a day and the user rtc-mesh, and rounds the clock down to whole seconds', () => {
    const creds = turnCredentials({ secret: 'north-wind', urls: ['turn:a:3478', 'turns:a:5349'], now: () => 1_700_000_000_999 });
    expect(DEFAULT_TURN_TTL_SECONDS).toBe(86_400);
    expect(creds.username).toBe('1700086400:rtc-mesh');
    expect(creds.credential).toBe('vt/iY/iukeNBGuhy/yerAZ6tcTI='); // openssl, as above
    expect(creds.urls).toEqual(['turn:a:3478', 'turns:a:5349']);
  });

  it('agrees with node:crypto for arbitrary inputs and uses the real clock by default', () => {
    const before = Math.floor(Date.now() / 1000);
    const creds = turnCredentials({ secret: 'sécret ✓', urls: 'turn:x', ttlSeconds: 60, user: 'peer:42' });
    const after = Math.floor(Date.now() / 1000);
    const expiry = Number(creds.username.split(':', 1)[0]);
    expect(expiry).toBeGreaterThanOrEqual(before + 60);
    expect(expiry).toBeLessThanOrEqual(after + 60);
    expect(creds.username).toBe(`${expiry}:peer:42`);
    expect(creds.credential).toBe(hmac('sécret ✓', creds.username));
  });

  it('refuses bad options', () => {
    const base = { secret: 's', urls: 'turn:x' };
    expect(() => turnCredentials({ ...base, secret: '' })).toThrow(/secret/);
    expect(() => turnCredentials({ ...base, urls: [] })).toThrow(/urls/);
    expect(() => turnCredentials({ ...base, urls: 'stun:x' })).toThrow(/turn: or turns:/);
    expect(() => turnCredentials({ ...base, urls: 'https://x' })).toThrow(/turn: or turns:/);
    expect(() => turnCredentials({ ...base, ttlSeconds: 0 })).toThrow(/ttlSeconds/);
    expect(() => turnCredentials({ ...base, ttlSeconds: 1.5 })).toThrow(/ttlSeconds/);
    expect(() => turnCredentials({ ...base, user: '' })).toThrow(/user/);
  });
});

describe('turnIceServers', () => {
  it('issues a fresh credential per call after the static entries, and checks its options up front', () => {
    let now = 1_700_000_000_000;
    const issue = turnIceServers({ secret: 'k', urls: 'turn:x', ttlSeconds: 10, static: [{ urls: 'stun:s' }], now: () => now });
    const first = issue();
    now += 5000;
    const second = issue();
    expect(first).toEqual([
      { urls: 'stun:s' },
      { urls: ['turn:x'], username: '1700000010:rtc-mesh', credential: hmac('k', '1700000010:rtc-mesh') },
    ]);
    expect(second[1]).toMatchObject({ username: '1700000015:rtc-mesh' });
    expect(() => turnIceServers({ secret: '', urls: 'turn:x' })).toThrow(/secret/);
  });

  it('names the peer it is issued to, and ends with its identity when told when that expires', () => {
    const now = 1_700_000_000_000;
    const issue = turnIceServers({ secret: 'k', urls: 'turn:x', ttlSeconds: 600, now: () => now });
    const open = issue({ room: 'r', peerId: 'peer:42', kind: 'browser', expiresAt: null });
    expect(open).toEqual([{ urls: ['turn:x'], username: '1700000600:peer:42', credential: hmac('k', '1700000600:peer:42') }]);
    // Signed mode: the token's expiry (ms) rounded down to whole seconds, whatever ttlSeconds says.
    const signed = issue({ room: 'r', peerId: 'tab-1', kind: 'browser', expiresAt: now + 120_999 });
    expect(signed[0]).toEqual({ urls: ['turn:x'], username: '1700000120:tab-1', credential: hmac('k', '1700000120:tab-1') });
    expect(issue()[0]?.username).toBe('1700000600:rtc-mesh');
  });

  it('is recognised as a TURN factory (the server warns when one is used without auth)', () => {
    expect(isTurnFactory(turnIceServers({ secret: 'k', urls: 'turn:x' }))).toBe(true);
    expect(isTurnFactory(() => [])).toBe(false);
  });
});
