import { describe, expect, it } from 'vitest';
import { MeshCounters, type StatsSources } from '../../shared/mesh/stats.js';

const sources: StatsSources = {
  peerId: 'p',
  activeActivations: () => 0,
  heldHandoffs: () => ({ entries: 0, bytes: 0 }),
  heldReplicas: () => ({ held: 0, bytes: 0, evicted: 0 }),
  traffic: () => ({}),
  transport: () => ({}),
};

/** Spins until the latency clock has moved `ms` (the clock is the thing under test: no fake timers). */
function spin(counters: MeshCounters, ms: number): void {
  const until = counters.now() + ms;
  while (counters.now() < until) {
    // busy wait
  }
}

describe('call latency', () => {
  it('a call answered by an inbound message ends when that message arrived', () => {
    const counters = new MeshCounters();
    const started = counters.now();
    spin(counters, 30);
    counters.arrived(() => {
      // The handler of the message itself is slow: that time is not the call's.
      spin(counters, 60);
      counters.callSettled(null, started);
    });
    const { latencyMs } = counters.snapshot(sources);
    expect(latencyMs.count).toBe(1);
    expect(latencyMs.p50).toBeGreaterThanOrEqual(25);
    expect(latencyMs.p50).toBeLessThan(60);
  });

  it('a call started while a message is handled reads the clock when it ends', () => {
    const counters = new MeshCounters();
    counters.arrived(() => {
      const started = counters.now();
      spin(counters, 30);
      counters.callSettled({ code: 'TIMEOUT' }, started);
    });
    const stats = counters.snapshot(sources);
    expect(stats.latencyMs.p50).toBeGreaterThanOrEqual(25);
    expect(stats.errors).toEqual({ TIMEOUT: 1 });
  });

  it('outside a message, and after a nested one, the clock is read again', () => {
    const counters = new MeshCounters();
    const started = counters.now();
    counters.arrived(() => {
      counters.arrived(() => undefined);
      spin(counters, 30);
      // The outer message's arrival still applies after the inner one ended.
      counters.callSettled(null, started);
    });
    spin(counters, 30);
    counters.callSettled(null, started);
    const { latencyBuckets } = counters.snapshot(sources);
    const bucketOf = (ms: number): number => latencyBuckets.boundsUs.findIndex((b) => b >= ms * 1000);
    // One ended at the outer arrival (about 0 ms), one after 60 ms of spinning.
    const late = latencyBuckets.counts.slice(bucketOf(50)).reduce((a, b) => a + b, 0);
    const early = latencyBuckets.counts.slice(0, bucketOf(20)).reduce((a, b) => a + b, 0);
    expect(late).toBe(1);
    expect(early).toBe(1);
  });
});
