/**
 * The simple-peer seam (client/peer-connection.ts) over real node-datachannel connections in this process.
 * Messages reach the link straight from the data channel, not through simple-peer's stream: these tests
 * fail if simple-peer stops calling the hook we replace, or if a message is lost, reordered, altered or
 * delivered after destroy().
 */
import { afterEach, describe, expect, it } from 'vitest';
import { nodePlatform } from '../../client/node.js';
import { openPeerConnection, type PeerConnection } from '../../client/peer-connection.js';
import { until } from '../fixtures/wait.js';

interface End {
  readonly conn: PeerConnection;
  readonly received: Uint8Array[];
  connected: boolean;
  closed: string | null;
}

const open: End[] = [];
afterEach(() => {
  for (const end of open.splice(0)) end.conn.destroy();
});

async function connectedPair(): Promise<[End, End]> {
  const platform = nodePlatform({ bindAddress: '127.0.0.1' });
  const ends: End[] = [];
  const make = (initiator: boolean, other: () => End): End => {
    const end: End = {
      received: [],
      connected: false,
      closed: null,
      conn: openPeerConnection(
        platform,
        { initiator, iceServers: [] },
        {
          signal: (data) => void other().conn.signal(data),
          connect: () => {
            end.connected = true;
          },
          data: (bytes) => void end.received.push(bytes),
          closed: (reason) => {
            end.closed = reason;
          },
        },
      ),
    };
    open.push(end);
    return end;
  };
  const b = make(false, () => ends[0]!);
  const a = make(true, () => b);
  ends.push(a, b);
  await until(() => a.connected && b.connected, 'both ends connected', { timeoutMs: 15_000 });
  return [a, b];
}

describe('peer connection seam', () => {
  it('delivers every message, in order and byte for byte, as Uint8Array, both ways', async () => {
    const [a, b] = await connectedPair();
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 300; i++) {
      const bytes = new Uint8Array(1 + ((i * 997) % 60_000));
      for (let j = 0; j < bytes.length; j++) bytes[j] = (i + j * 31) & 0xff;
      sent.push(bytes);
      a.conn.send(bytes);
    }
    b.conn.send(new Uint8Array([9, 8, 7]));
    await until(() => b.received.length === sent.length && a.received.length === 1, 'all messages received', { timeoutMs: 15_000 });
    for (let i = 0; i < sent.length; i++) {
      const got = b.received[i]!;
      expect(got).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(got).equals(Buffer.from(sent[i]!)), `message ${i}`).toBe(true);
    }
    expect([...a.received[0]!]).toEqual([9, 8, 7]);
  }, 30_000);

  it('hands a text message over as its UTF-8 bytes (which the link then fails to decode), and nothing after destroy()', async () => {
    const [a, b] = await connectedPair();
    // Only a peer running its own code sends text: simple-peer passes strings through to the channel.
    (a.conn as unknown as { send(data: string | Uint8Array): void }).send('héllo' as unknown as Uint8Array);
    await until(() => b.received.length === 1, 'the text message received');
    expect(new TextDecoder().decode(b.received[0]!)).toBe('héllo');
    b.conn.destroy();
    a.conn.send(new Uint8Array([1]));
    a.conn.send(new Uint8Array([2]));
    // The closing travels to a: once it knows, nothing it sent after b's destroy() was delivered to b.
    await until(() => a.closed !== null, 'a to see the connection close', { timeoutMs: 15_000 });
    expect(b.received).toHaveLength(1);
  }, 30_000);
});
