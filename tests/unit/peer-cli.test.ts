/**
 * rtc-mesh-peer's flags for durable actors: --store (redis://, file:, memory), --store-prefix, --persistence,
 * --write-behind-ms. Parsing opens nothing and every mistake is a usage message that names the flag; the
 * process-level behaviour (exit 2, a store that survives a restart) is in tests/integration/durable.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { describeStore, openStore, parseCli, parseStoreSpec } from '../../server/peer-cli.js';
import { FileStore, MemoryStore, RedisStore } from '../../server/stores/index.js';

const BASE = ['--signal', 'http://127.0.0.1:3000'];
const parse = (...flags: string[]) => {
  const options = parseCli([...BASE, ...flags]);
  if (options === 'help') throw new Error('unexpected help');
  return options;
};

describe('peer-cli --store and persistence flags', () => {
  it('without --store: no store, no persistence settings (the peer runs as before)', () => {
    const options = parse('--room', 'r');
    expect(options.store).toBeUndefined();
    expect(options.persistence).toBeUndefined();
    expect(options.writeBehindMs).toBeUndefined();
    expect(options.room).toBe('r');
  });

  it('reads redis://host:port[/db] (and rediss://), with an optional --store-prefix', () => {
    expect(parse('--store', 'redis://127.0.0.1:6379').store).toEqual({ kind: 'redis', url: 'redis://127.0.0.1:6379', prefix: undefined });
    expect(parse('--store', 'redis://127.0.0.1:6379/3', '--store-prefix', 'game:').store).toEqual({
      kind: 'redis',
      url: 'redis://127.0.0.1:6379/3',
      prefix: 'game:',
    });
    expect(parse('--store', 'rediss://user:pw@redis.internal:6380/0').store).toMatchObject({ kind: 'redis' });
  });

  it('reads file:<dir> and memory', () => {
    expect(parse('--store', 'file:./actor-state').store).toEqual({ kind: 'file', directory: './actor-state' });
    expect(parse('--store', 'file:/var/lib/app/state').store).toEqual({ kind: 'file', directory: '/var/lib/app/state' });
    expect(parse('--store', 'memory').store).toEqual({ kind: 'memory' });
  });

  it('reads --persistence and --write-behind-ms', () => {
    const options = parse('--store', 'memory', '--persistence', 'write-behind', '--write-behind-ms', '250');
    expect(options.persistence).toBe('write-behind');
    expect(options.writeBehindMs).toBe(250);
    expect(parse('--store', 'memory', '--persistence', 'write-through').persistence).toBe('write-through');
  });

  it('reads --store-timeout-ms', () => {
    expect(parse('--store', 'memory', '--store-timeout-ms', '750').storeTimeoutMs).toBe(750);
    expect(parse('--store', 'memory').storeTimeoutMs).toBeUndefined();
  });

  it.each([
    [['--store', 'postgres://db:5432'], /--store must be redis:\/\/host:port\[\/db\], file:<dir> or memory; got "postgres:\/\/db:5432"/],
    [['--store', 'redis'], /--store must be redis:\/\/host:port\[\/db\], file:<dir> or memory; got "redis"/],
    [['--store', ''], /--store must be/],
    [['--store', 'memory:'], /--store must be/],
    [['--store', 'redis://'], /a redis URL needs a host/],
    [['--store', 'redis://127.0.0.1:6379/cache'], /the database after the host must be a number/],
    [['--store', 'redis://h:99999'], /not a valid URL/],
    [['--store', 'file:'], /--store file: needs a directory/],
    [['--store', 'file:///var/state'], /not a file:\/\/ URL/],
    [['--store', 'file:./s', '--store-prefix', 'p:'], /--store-prefix applies to a redis:\/\/ store only/],
    [['--store', 'redis://h:1', '--store-prefix', ''], /--store-prefix must not be empty/],
    [['--store-prefix', 'p:'], /--store-prefix needs --store/],
    [['--persistence', 'write-behind'], /--persistence needs --store/],
    [['--store', 'memory', '--persistence', 'lazy'], /--persistence must be write-through or write-behind; got "lazy"/],
    [['--store', 'memory', '--write-behind-ms', '0'], /--write-behind-ms must be a positive number of ms/],
    [['--store', 'memory', '--write-behind-ms', 'soon'], /--write-behind-ms must be a positive number of ms/],
    [['--write-behind-ms', '100'], /--write-behind-ms needs --store/],
    [['--store', 'memory', '--store-timeout-ms', '0'], /--store-timeout-ms must be a positive number of ms/],
    [['--store-timeout-ms', '100'], /--store-timeout-ms needs --store/],
  ])('refuses %j with a message naming the flag', (flags, message) => {
    expect(() => parse(...flags)).toThrow(message);
  });

  it('never prints a redis password in its messages', () => {
    expect(() => parseStoreSpec('redis://user:hunter2@h:1/x')).toThrow(/redis:\/\/user:\*\*\*@h:1\/x/);
    expect(() => parseStoreSpec('redis://user:hunter2@h:1/x')).not.toThrow(/hunter2/);
    expect(describeStore(parseStoreSpec('redis://user:hunter2@h:1/2', 'p:'))).toBe('redis redis://user:***@h:1/2 prefix p:');
  });

  it('openStore makes the adapter the spec names, opening no connection', async () => {
    const redis = openStore({ kind: 'redis', url: 'redis://127.0.0.1:1', prefix: 'x:' });
    expect(redis).toBeInstanceOf(RedisStore);
    expect((redis as RedisStore).prefix).toBe('x:');
    await redis.close?.();
    expect(openStore({ kind: 'redis', url: 'redis://127.0.0.1:1', prefix: undefined })).toMatchObject({ prefix: 'rtc-mesh:state:' });
    expect(openStore({ kind: 'file', directory: './state' })).toBeInstanceOf(FileStore);
    expect(openStore({ kind: 'memory' })).toBeInstanceOf(MemoryStore);
  });
});
