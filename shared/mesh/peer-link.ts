/** What the peer links keep per peer, and what they need from the mesh (links.ts). */
import type { MeshError, ProtocolError } from '../errors.js';
import type { IdentityClaims } from '../identity/token.js';
import type { Membership, PeerInfo } from '../placement/membership.js';
import type { FrameLink } from '../wire/frame-link.js';
import type { Frame, HelloFrame } from '../wire/frames.js';
import type { PeerChannel } from '../wire/transport.js';
import type { MeshConfig } from './config.js';
import type { HelloContext } from './hello.js';

/** The frames the links hand on: everything that is not about the link itself. */
export type AppFrame = Extract<
  Frame,
  { t: 'call' | 'cast' | 'reply' | 'error' | 'handoff' | 'released' | 'replica' | 'replica-ack' | 'replica-drop' }
>;

/** One open channel to a peer and what we know of that peer. */
export interface PeerLink {
  readonly peer: string;
  readonly link: FrameLink;
  readonly channel: PeerChannel;
  /** Set once it is admitted (its hello accepted and, in signed rooms, its `admitted` in): from then on it is in the view (until it leaves). */
  info: PeerInfo | null;
  /** What its token grants, in a room with signed identities. */
  claims: IdentityClaims | null;
  /**
   * In a room with signed identities, a peer enters the view once both sides admitted each other: we checked
   * its hello (`accepted`) and it sent `admitted` (`admittedUs`). `checking`: its hello is being checked.
   */
  checking: boolean;
  accepted: { readonly hello: HelloFrame; readonly claims: IdentityClaims | null } | null;
  admittedUs: boolean;
  /** A token renewal that came while its hello was checked (the latest), applied on admission. */
  pendingToken: string | null;
  /** Frames of ours waiting for our own (signed) hello to go out first; null once it has. */
  outbox: Frame[] | null;
  /** Resolves once our hello is out: no peer is admitted (and so called) before it has our hello. */
  helloOut: Promise<void>;
  /** It said bye: out of the view, channel kept open for its last replies. */
  leaving: boolean;
  /** It answered our bye: it sends us no more calls or casts. */
  farewell: boolean;
  /**
   * Since when the peer owes us its part of joining: its hello (from the channel's opening), then (signed
   * rooms) its `admitted` (from when our own check passed). Past peerTimeoutMs it is refused (beat).
   */
  waitingSince: number;
  lastHeard: number;
  pings: number;
  /** Frames it had no right to send, dropped. */
  rejected: number;
  /** When we last answered a ping (answers are rate-limited: a ping flood costs us a pong now and then). */
  lastPong: number;
  /**
   * A capability change waiting for its turn (changes apply at most every CAPS_INTERVAL_MS); while the peer
   * is being admitted, the latest caps frame it sent, not yet checked (admit() checks it like any other).
   */
  pendingCaps: { readonly capabilities: readonly string[]; readonly actorTypes: readonly string[] } | null;
  capsAppliedAt: number;
  capsTimer: ReturnType<typeof setTimeout> | null;
  /** A probe after the transport suspected the peer gone: closes the link unless the peer speaks first. */
  probe: ReturnType<typeof setTimeout> | null;
}

export interface LinkParts {
  readonly config: MeshConfig;
  readonly membership: Membership;
  readonly hello: HelloContext;
  /** Our hello, with what we advertise right now (each link adds its window and proof). */
  helloFrame(): Omit<HelloFrame, 'window' | 'auth'>;
  /** A frame for the mesh from a peer whose hello was accepted. */
  frame(link: PeerLink, frame: AppFrame, bytes: number | undefined): void;
  /** Handles one inbound data-channel message (`handle`), with its arrival time as the end of the calls it answers. */
  arrived(handle: () => void): void;
  /** The peer's channel closed; it has already left the view. */
  closed(peer: string): void;
  dropped(peer: string, error: ProtocolError): void;
  refused(peer: string, error: MeshError): void;
  /** A frame `peer` had no right to send was dropped (already counted on its link). */
  rejectedFrame(peer: string, frame: string, reason: string): void;
  /** A farewell arrived or a link closed: whoever waits for the links to settle re-checks. */
  changed(): void;
}
