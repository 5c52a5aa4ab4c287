import type { ChannelSink, LocalIdentity, PeerChannel, Transport, TransportHandlers } from './transport.js';

interface Endpoint {
  readonly peerId: string;
  readonly handlers: TransportHandlers;
  readonly pairs: Map<string, MemoryPair>;
}

let fingerprintSeq = 0;

/** Two ends of an in-memory channel. Delivery is asynchronous and ordered, like a reliable data channel. */
class MemoryPair {
  closed = false;
  frozen = false;
  private readonly sinks = new Map<string, ChannelSink>();
  /** Stand-ins for DTLS fingerprints: unique per pair and end, as a real connection's certificates are. */
  private readonly fingerprints = new Map<string, string>();

  constructor(
    private readonly network: MemoryNetwork,
    readonly a: Endpoint,
    readonly b: Endpoint,
  ) {}

  open(): void {
    this.sinks.set(this.b.peerId, this.a.handlers.open(this.b.peerId, this.channel(this.a, this.b)));
    this.sinks.set(this.a.peerId, this.b.handlers.open(this.a.peerId, this.channel(this.b, this.a)));
  }

  private fingerprint(end: Endpoint): string {
    let fp = this.fingerprints.get(end.peerId);
    if (fp === undefined) {
      fp = `memory:${++fingerprintSeq}:${end.peerId}`;
      this.fingerprints.set(end.peerId, fp);
    }
    return fp;
  }

  private channel(from: Endpoint, to: Endpoint): PeerChannel {
    return {
      fingerprints: { local: this.fingerprint(from), remote: this.fingerprint(to) },
      send: (data) => {
        if (this.closed) throw new Error('channel closed');
        if (this.frozen) return;
        const copy = data.slice();
        this.network.stats.messages++;
        this.network.stats.bytes += copy.length;
        queueMicrotask(() => {
          if (!this.closed && !this.frozen) this.sinks.get(from.peerId)?.message(copy);
        });
      },
      bufferedAmount: () => 0,
      onDrain: () => undefined,
      close: () => this.close('closed by peer'),
    };
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.a.pairs.delete(this.b.peerId);
    this.b.pairs.delete(this.a.peerId);
    queueMicrotask(() => {
      this.a.handlers.closed(this.b.peerId, reason);
      this.b.handlers.closed(this.a.peerId, reason);
    });
  }
}

/**
 * An in-process network: every transport created from it links to every other one, as peers in one
 * signaling room would. For unit tests of the core and for running several peers in one process. It can
 * cut a link or freeze a peer (messages silently stop flowing) to test faults.
 */
export class MemoryNetwork {
  readonly stats = { messages: 0, bytes: 0 };
  private readonly endpoints = new Map<string, Endpoint>();

  /** A transport on this network; `identity` makes it a peer of a room with signed identities. */
  transport(options: { readonly identity?: LocalIdentity } = {}): Transport {
    let self: Endpoint | undefined;
    return {
      kind: 'memory',
      ...(options.identity ? { identity: options.identity } : {}),
      start: async (peerId, handlers) => {
        if (this.endpoints.has(peerId)) throw new Error(`peer id ${peerId} is already on this network`);
        self = { peerId, handlers, pairs: new Map() };
        const others = [...this.endpoints.values()];
        this.endpoints.set(peerId, self);
        for (const other of others) {
          const pair = new MemoryPair(this, other, self);
          other.pairs.set(peerId, pair);
          self.pairs.set(other.peerId, pair);
          pair.open();
        }
      },
      close: async () => {
        if (!self) return;
        this.endpoints.delete(self.peerId);
        for (const pair of [...self.pairs.values()]) pair.close('peer left');
        self = undefined;
      },
    };
  }

  /** Cuts the channel between two peers (both see it close). */
  disconnect(a: string, b: string): void {
    this.endpoints.get(a)?.pairs.get(b)?.close('disconnected');
  }

  /** Links two peers again after `disconnect` (a healed partition: both see the other arrive). */
  connect(a: string, b: string): void {
    const ea = this.endpoints.get(a);
    const eb = this.endpoints.get(b);
    if (!ea || !eb || a === b || ea.pairs.has(b)) return;
    const pair = new MemoryPair(this, ea, eb);
    ea.pairs.set(b, pair);
    eb.pairs.set(a, pair);
    pair.open();
  }

  /** Stops all traffic to and from a peer without closing anything: a frozen process. */
  freeze(peerId: string, frozen = true): void {
    const endpoint = this.endpoints.get(peerId);
    if (!endpoint) return;
    for (const pair of endpoint.pairs.values()) pair.frozen = frozen;
  }

  peers(): string[] {
    return [...this.endpoints.keys()].sort();
  }
}
