/**
 * The raw baseline: two simple-peers on one data channel, no mesh. Same message shape and codec as a mesh
 * call (cbor-x, plain CBOR arrays: [2, corr, 'game', 'GameActor', 'player_123', {action}, null, 5000]), one
 * message per send (no batching), and a reply shaped like the mesh's ([4, corr, serial, result], protocol 4).
 * Isomorphic: used by Node bench peers and by the bench page.
 */
import { Encoder } from 'cbor-x';
import { drive, summarize, type DriveResult, type LatencySummary } from './workload.js';

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

const REQUEST = 2;
const ONEWAY = 3;
const REPLY = 4;
const ONEWAY_DONE = 5;
/** A raw synchronous backup: the state after a request, shaped like a mesh replica frame, and its ack. */
const COPY = 6;
const COPY_ACK = 7;
/** A small actor state, as GameActor's snapshot encodes. */
const STATE = new Uint8Array(24).fill(7);

/** The part of a simple-peer instance the baseline needs. */
export interface RawPeerLike {
  send(data: Uint8Array): void;
  on(event: 'data', listener: (data: Uint8Array) => void): unknown;
}

interface ChannelLike {
  bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  addEventListener(type: 'bufferedamountlow', listener: () => void): void;
  removeEventListener(type: 'bufferedamountlow', listener: () => void): void;
}

const encode = (value: unknown): Uint8Array => new Uint8Array(cbor.encode(value));

/** Resolves (once) whoever waits on `key`: a request for its reply, a copy for its ack. */
function wake(waiting: Map<number, () => void>, key: number): void {
  const resolve = waiting.get(key);
  if (resolve === undefined) return;
  waiting.delete(key);
  resolve();
}

export function requestMessage(corr: number): unknown[] {
  return [REQUEST, corr, 'game', 'GameActor', 'player_123', { action: 'increment_score' }, null, 5000];
}

/** Size of one request at a typical correlation id (for the report). */
export function requestBytes(corr = 123_456): number {
  return encode(requestMessage(corr)).length;
}

export class RawEndpoint {
  private nextCorr = 1;
  private readonly pending = new Map<number, () => void>();
  private served = 0;
  private onewayReceived = 0;
  private onewayDone: ((received: number) => void) | null = null;
  /** When set, a request is answered only once this endpoint's peer acknowledged a copy (see relay). */
  relayTo: RawEndpoint | null = null;
  private nextCopy = 1;
  private readonly copies = new Map<number, () => void>();

  constructor(private readonly peer: RawPeerLike) {
    peer.on('data', (data) => this.onData(data));
  }

  private get channel(): ChannelLike | undefined {
    return (this.peer as unknown as { _channel?: ChannelLike })._channel;
  }

  private onData(data: Uint8Array): void {
    const message = cbor.decode(data) as unknown[];
    switch (message[0]) {
      case REQUEST: {
        // The "actor": decode, answer with a reply of the mesh's shape (protocol 4: the activation's serial, not its name).
        this.served++;
        const reply = encode([REPLY, message[1], 1, this.served]);
        if (this.relayTo === null) this.peer.send(reply);
        else void this.relayTo.copy(this.served).then(() => this.peer.send(reply));
        return;
      }
      case COPY:
        this.peer.send(encode([COPY_ACK, message[1]]));
        return;
      case COPY_ACK:
        return wake(this.copies, message[1] as number);
      case REPLY:
        return wake(this.pending, message[1] as number);
      case ONEWAY: {
        this.onewayReceived++;
        const total = message[7] as number;
        if (this.onewayReceived >= total) {
          const received = this.onewayReceived;
          this.onewayReceived = 0;
          this.peer.send(encode([ONEWAY_DONE, received]));
        }
        return;
      }
      case ONEWAY_DONE: {
        const done = this.onewayDone;
        this.onewayDone = null;
        done?.(message[1] as number);
        return;
      }
    }
  }

  /** Sends the backup behind this endpoint a copy (a mesh replica frame's shape); resolves at its ack. */
  copy(seq: number): Promise<void> {
    const n = this.nextCopy++;
    return new Promise<void>((resolve) => {
      this.copies.set(n, resolve);
      this.peer.send(encode([COPY, n, 'game', 'GameActor', 'player_123', 1, seq, STATE, null, 1, null]));
    });
  }

  request(): Promise<void> {
    const corr = this.nextCorr++;
    return new Promise<void>((resolve) => {
      this.pending.set(corr, resolve);
      this.peer.send(encode(requestMessage(corr)));
    });
  }

  /** Request/response with `inflight` outstanding, for `durationMs`. */
  reqResp(inflight: number, durationMs: number): Promise<DriveResult> {
    return drive(inflight, { durationMs }, () => this.request());
  }

  async sequential(count: number): Promise<LatencySummary> {
    const samples = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await this.request();
      samples[i] = (performance.now() - t0) * 1000;
    }
    return summarize(samples);
  }

  /**
   * One-way throughput: `total` messages, one per send(), as fast as the channel takes them (pausing above
   * 1 MiB buffered), timed until the receiver confirms the last one arrived.
   */
  async oneway(total: number): Promise<{ messages: number; ms: number; rate: number }> {
    const channel = this.channel;
    const done = new Promise<number>((resolve) => (this.onewayDone = resolve));
    const start = performance.now();
    const high = 1024 * 1024;
    if (channel) channel.bufferedAmountLowThreshold = 256 * 1024;
    for (let seq = 0; seq < total; seq++) {
      if (channel && (seq & 63) === 0 && channel.bufferedAmount > high) {
        await new Promise<void>((resolve) => {
          const low = (): void => {
            channel.removeEventListener('bufferedamountlow', low);
            resolve();
          };
          channel.addEventListener('bufferedamountlow', low);
        });
      }
      this.peer.send(encode([ONEWAY, seq, 'game', 'GameActor', 'player_123', { action: 'increment_score' }, null, total]));
    }
    const received = await done;
    const ms = performance.now() - start;
    return { messages: received, ms, rate: received / (ms / 1000) };
  }
}
