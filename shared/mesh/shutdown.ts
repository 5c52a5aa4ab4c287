import type { ActorRuntime } from '../actors/runtime.js';
import { StoppedError } from '../errors.js';
import type { Transport } from '../wire/transport.js';
import type { Calls } from './calls.js';
import type { Handoff } from './handoff.js';
import type { Inbound } from './inbound.js';
import type { PeerLinks } from './links.js';
import type { Waiters } from './waiters.js';

export interface ShutdownParts {
  readonly drainTimeoutMs: number;
  readonly transport: Transport | undefined;
  readonly links: PeerLinks;
  readonly runtime: ActorRuntime;
  readonly inbound: Inbound;
  readonly handoff: Handoff;
  readonly calls: Calls;
  /** Woken whenever a condition below may have changed. */
  readonly settling: Waiters;
  /** Advertise no capability, so every peer moves our shards away. */
  withdraw(): void;
  /** From now on nothing runs here. */
  close(): void;
  /** Settles once durable actors' last saves have (each bounded by the store timeout). */
  stored(): Promise<void>;
}

/** Bounds the wait for the last frames to reach the channels when the drain deadline has already passed. */
const FLUSH_GRACE_MS = 250;

/**
 * A graceful leave: withdraw our capabilities and wait (event-driven, bounded by drainTimeoutMs) until our
 * activations have finished their message in progress and handed their state over and calls in progress are
 * answered; say bye and wait for every peer's farewell, after which no call can still be on its way to us
 * (channels are ordered); then deactivate the rest, fail our own pending calls with STOPPED, let the last
 * frames reach the channels and close everything.
 */
export async function drainAndClose(parts: ShutdownParts): Promise<void> {
  const { links, runtime, inbound, handoff, settling } = parts;
  const deadline = Date.now() + parts.drainTimeoutMs;
  if (parts.drainTimeoutMs > 0 && parts.transport && links.size > 0) {
    parts.withdraw();
    await settling.until(() => links.size === 0 || (runtime.size === 0 && !handoff.busy() && inbound.inProgress === 0), deadline);
  }
  links.sayBye('stop');
  await settling.until(() => links.size === 0 || (links.allFarewelled() && inbound.inProgress === 0), deadline);
  parts.close();
  parts.calls.failAll(new StoppedError());
  handoff.close();
  runtime.stopAll();
  // Write-behind state and the final saves of the actors just stopped reach the store before we say done.
  await parts.stored();
  // A frozen peer cannot hold us here: its channel may never drain.
  await Promise.race([links.flushed(), settling.next(Math.max(0, deadline - Date.now()) + FLUSH_GRACE_MS)]);
  // The race's loser may be the bounded wait: end it, or its timer keeps the process alive for the rest of the drain deadline.
  settling.wake();
  links.closeAll();
  await parts.transport?.close();
}
