/**
 * The one adapter over simple-peer: everything that depends on its internals lives here and nowhere else.
 * simple-peer stays because it handles the offer/answer/ICE dance the same way in every browser and Node
 * binding; what it does not expose we reach for here, each with the reason:
 *   - `_channel`: the RTCDataChannel, for bufferedAmount and the bufferedamountlow event (backpressure);
 *     simple-peer's own stream backpressure buffers without bound instead;
 *   - `_iceCompleteTimer`: destroy() leaves it armed, holding a Node process open for ~5 s;
 *   - `_onChannelMessage`: replaced, so a message goes straight to the link. simple-peer pushes each one
 *     through a readable-stream (a Duplex we never read as a stream) on its way in; in a sequential call
 *     that cost 4-5 us on each side, a tenth of the round trip;
 *   - simple-peer rewrites `offer.sdp` in place, which node-datachannel's read-only descriptions refuse,
 *     so Node bindings get plain { type, sdp } descriptions (`plainDescriptions`).
 */
import type { SignalData } from '../shared/wire/signaling.js';
import type { RtcPlatform, SimplePeerInstance } from './rtc.js';

export interface PeerConnectionHandlers {
  /** An offer, answer or ICE candidate to relay to the remote peer. */
  signal(data: SignalData): void;
  connect(): void;
  data(data: Uint8Array): void;
  /** The connection closed or failed; nothing more will come. */
  closed(reason: string): void;
}

export interface PeerConnectionOptions {
  readonly initiator: boolean;
  readonly iceServers: readonly unknown[];
}

/** A WebRTC connection with one ordered data channel, as the transport uses it. */
export interface PeerConnection {
  readonly initiator: boolean;
  /** Applies a signal from the remote peer; false if the connection refused it. */
  signal(data: SignalData): boolean;
  send(data: Uint8Array): void;
  bufferedAmount(): number;
  onDrain(threshold: number, callback: () => void): void;
  /** Tears the connection down; idempotent, never throws, leaves no timer behind. */
  destroy(): void;
  /**
   * The DTLS fingerprints the two SDPs announced (ours, theirs); empty until the offer/answer exchange. The
   * browser or binding checks the remote certificate against the remote one, so they name this connection.
   */
  fingerprints(): { readonly local: string; readonly remote: string };
}

const FINGERPRINT = /^a=fingerprint:(\S+) (\S+)\s*$/im;

/** The `a=fingerprint` of a signal carrying an SDP, normalised ("sha-256 AB:CD:..."); null for candidates. */
export function sdpFingerprint(data: SignalData): string | null {
  const sdp = data['sdp'];
  if (typeof sdp !== 'string') return null;
  const match = FINGERPRINT.exec(sdp);
  return match ? `${match[1]!.toLowerCase()} ${match[2]!.toUpperCase()}` : null;
}

interface DataChannelLike {
  bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  addEventListener(type: 'bufferedamountlow', listener: () => void): void;
}

interface Internals {
  readonly _channel?: DataChannelLike;
  _iceCompleteTimer?: ReturnType<typeof setTimeout> | null;
  readonly destroyed?: boolean;
  _onChannelMessage?: (event: { readonly data: unknown }) => void;
}

const utf8 = new TextEncoder();

/** A data-channel message as bytes (a string, which no peer of ours sends, becomes bytes that fail to decode). */
function asBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return utf8.encode(typeof data === 'string' ? data : String(data));
}

export function openPeerConnection(
  platform: RtcPlatform,
  options: PeerConnectionOptions,
  handlers: PeerConnectionHandlers,
): PeerConnection {
  const { SimplePeer, binding, peerConfig } = platform;
  const peer: SimplePeerInstance = new SimplePeer({
    initiator: options.initiator,
    trickle: true,
    config: { iceServers: options.iceServers, ...peerConfig },
    channelConfig: { ordered: true },
    ...(binding ? { wrtc: binding } : {}),
  });
  const internals = peer as unknown as Internals;
  let done = false;
  let local = '';
  let remote = '';
  const close = (reason: string): void => {
    if (done) return;
    done = true;
    handlers.closed(reason);
  };
  peer.on('signal', (data: unknown) => {
    local = sdpFingerprint(data as SignalData) ?? local;
    handlers.signal(data as SignalData);
  });
  peer.on('connect', () => handlers.connect());
  internals._onChannelMessage = (event) => {
    if (!done && !internals.destroyed) handlers.data(asBytes(event.data));
  };
  peer.on('close', () => close('channel closed'));
  peer.on('error', () => close('channel error'));
  return {
    initiator: options.initiator,
    signal(data) {
      remote = sdpFingerprint(data) ?? remote;
      try {
        peer.signal(data);
        return true;
      } catch {
        return false;
      }
    },
    send: (data) => peer.send(data),
    fingerprints: () => ({ local, remote }),
    bufferedAmount: () => internals._channel?.bufferedAmount ?? 0,
    onDrain(threshold, callback) {
      const channel = internals._channel;
      if (!channel) return;
      channel.bufferedAmountLowThreshold = threshold;
      channel.addEventListener('bufferedamountlow', callback);
    },
    destroy() {
      done = true;
      try {
        if (!internals.destroyed) peer.destroy();
      } catch {
        // destroying a half-open connection can throw inside the binding; it is gone either way
      }
      if (internals._iceCompleteTimer) clearTimeout(internals._iceCompleteTimer);
      internals._iceCompleteTimer = null;
    },
  };
}

interface Description {
  readonly type: string;
  readonly sdp: string;
}
interface DescribingConnection {
  createOffer(): Promise<Description>;
  createAnswer(): Promise<Description>;
}

/** A binding's RTCPeerConnection whose offers and answers are plain objects simple-peer may rewrite. */
export function plainDescriptions<C extends abstract new (...args: never[]) => DescribingConnection>(Base: C): C {
  const plain = (d: Description): Description => ({ type: d.type, sdp: d.sdp });
  return new Proxy(Base, {
    construct(target, args, newTarget): object {
      const connection = Reflect.construct(target, args, newTarget) as DescribingConnection;
      const createOffer = connection.createOffer.bind(connection);
      const createAnswer = connection.createAnswer.bind(connection);
      connection.createOffer = async () => plain(await createOffer());
      connection.createAnswer = async () => plain(await createAnswer());
      return connection;
    },
  });
}
