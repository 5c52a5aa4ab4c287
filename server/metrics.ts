/**
 * Prometheus text for a Node peer: `serveMetrics(mesh, { port })` exposes GET /metrics with the same
 * figures as `mesh.stats()`. Metrics are read from the mesh at scrape time, so nothing runs between scrapes.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Mesh } from '../shared/mesh.js';

export interface MetricsServer {
  readonly url: string;
  readonly registry: Registry;
  close(): Promise<void>;
}

export interface MetricsOptions {
  readonly port?: number;
  readonly host?: string;
}

/** Builds a registry whose collectors read `mesh.stats()` on every scrape. */
export function meshRegistry(mesh: Mesh): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ peer: mesh.peerId });
  const stats = (): ReturnType<Mesh['stats']> => mesh.stats();
  new Counter({
    name: 'rtc_mesh_calls_total',
    help: 'Calls made from this peer, by outcome and route',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      const s = stats();
      this.reset();
      this.inc({ outcome: 'ok' }, s.calls.ok);
      this.inc({ outcome: 'failed' }, s.calls.failed);
    },
  });
  new Counter({
    name: 'rtc_mesh_errors_total',
    help: 'Errors by code (calls, casts and refusals)',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [code, n] of Object.entries(stats().errors)) this.inc({ code }, n);
    },
  });
  new Counter({
    name: 'rtc_mesh_casts_total',
    help: 'Casts sent and received',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      const s = stats();
      this.reset();
      this.inc({ direction: 'sent' }, s.casts.sent);
      this.inc({ direction: 'received' }, s.casts.received);
    },
  });
  new Gauge({
    name: 'rtc_mesh_activations',
    help: 'Activations hosted on this peer',
    registers: [registry],
    collect() {
      this.set(stats().activations.active);
    },
  });
  new Counter({
    name: 'rtc_mesh_activations_created_total',
    help: 'Activations created on this peer',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats().activations.created);
    },
  });
  new Counter({
    name: 'rtc_mesh_deactivations_total',
    help: 'Deactivations by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(stats().deactivations)) this.inc({ reason }, n);
    },
  });
  new Counter({
    name: 'rtc_mesh_handoffs_total',
    help: 'State handoffs on rebalance',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      const h = stats().handoffs;
      this.reset();
      this.inc({ direction: 'sent' }, h.sent);
      this.inc({ direction: 'received' }, h.received);
      this.inc({ direction: 'lost' }, h.fresh);
    },
  });
  new Counter({
    name: 'rtc_mesh_replicas_total',
    help: 'Copies of actor state: sent and acknowledged as owner, promoted and evicted as backup',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      const r = stats().replicas;
      this.reset();
      this.inc({ event: 'sent' }, r.sent);
      this.inc({ event: 'acked' }, r.acked);
      this.inc({ event: 'promoted' }, r.promoted);
      this.inc({ event: 'evicted' }, r.evicted);
    },
  });
  new Gauge({
    name: 'rtc_mesh_replicas_held_bytes',
    help: 'Bytes of copies this peer holds for other owners (bounded by maxReplicaBytes)',
    registers: [registry],
    collect() {
      this.set(stats().replicas.bytes);
    },
  });
  new Gauge({
    name: 'rtc_mesh_peers',
    help: "Peers in this peer's view, itself included",
    registers: [registry],
    collect() {
      this.set(mesh.peers().length);
    },
  });
  new Counter({
    name: 'rtc_mesh_peer_bytes_total',
    help: 'Bytes exchanged with each peer',
    labelNames: ['remote', 'direction'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [remote, t] of Object.entries(stats().peers)) {
        this.inc({ remote, direction: 'in' }, t.bytesIn);
        this.inc({ remote, direction: 'out' }, t.bytesOut);
      }
    },
  });
  return registry;
}

/**
 * The Prometheus text of a mesh: the registry's metrics plus the call-latency histogram, written from the
 * mesh's own fixed buckets (cumulative, in seconds) rather than re-observed into a prom-client Histogram.
 */
export async function metricsText(mesh: Mesh, registry: Registry): Promise<string> {
  const s = mesh.stats();
  const peer = `peer="${mesh.peerId}"`;
  const lines = [
    '# HELP rtc_mesh_call_duration_seconds Call latency as seen by the caller',
    '# TYPE rtc_mesh_call_duration_seconds histogram',
  ];
  let cumulative = 0;
  s.latencyBuckets.boundsUs.forEach((bound, i) => {
    cumulative += s.latencyBuckets.counts[i] ?? 0;
    lines.push(`rtc_mesh_call_duration_seconds_bucket{le="${bound / 1e6}",${peer}} ${cumulative}`);
  });
  cumulative += s.latencyBuckets.counts[s.latencyBuckets.boundsUs.length] ?? 0;
  lines.push(`rtc_mesh_call_duration_seconds_bucket{le="+Inf",${peer}} ${cumulative}`);
  lines.push(`rtc_mesh_call_duration_seconds_sum{${peer}} ${s.latencyMs.sumMs / 1000}`);
  lines.push(`rtc_mesh_call_duration_seconds_count{${peer}} ${cumulative}`);
  return `${await registry.metrics()}\n${lines.join('\n')}\n`;
}

/** Serves GET /metrics (Prometheus text) for a mesh on its own port. */
export async function serveMetrics(mesh: Mesh, options: MetricsOptions = {}): Promise<MetricsServer> {
  const registry = meshRegistry(mesh);
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metricsText(mesh, registry).then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => res.writeHead(500).end(String(error)),
    );
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/metrics`,
    registry,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      })),
  };
}
