/**
 * One soak peer: hosts Counter and Echo actors and drives mixed load at every peer (itself included) until
 * told to stop on stdin ("stop") or by SIGTERM; then waits for its calls to settle and prints one JSON line.
 */
import { createInterface } from 'node:readline';
import { Mesh, type Actor, type MeshError } from '../../client/node.js';

class Counter implements Actor {
  count = 0;
  handleCall(payload: unknown): unknown {
    const { seq } = payload as { seq: number };
    return { seq, count: ++this.count };
  }
  handleCast(): void {
    this.count++;
  }
  snapshot(): unknown {
    return this.count;
  }
  restore(state: unknown): void {
    if (typeof state === 'number') this.count = state;
  }
}

class Echo implements Actor {
  async handleCall(payload: unknown): Promise<unknown> {
    if ((payload as { slow?: boolean }).slow) await new Promise((r) => setTimeout(r, 5));
    return payload;
  }
}

const [signal, room, durationArg] = process.argv.slice(2);
if (!signal || !room) throw new Error('usage: peer.ts <signal-url> <room> [durationMs]');
const mesh = await Mesh.start({
  signal,
  room,
  bindAddress: '127.0.0.1',
  capabilities: ['game'],
  actors: { Counter, Echo },
  callTimeoutMs: 5000,
});
process.stdout.write(`${JSON.stringify({ event: 'ready', peerId: mesh.peerId })}\n`);

const stats = { made: 0, answered: 0, wrong: 0, hung: 0, casts: 0, failed: {} as Record<string, number> };
const countFailure = (code: string): void => {
  stats.failed[code] = (stats.failed[code] ?? 0) + 1;
};
const inflight = new Set<Promise<void>>();
let running = true;
let seq = 0;

function one(): Promise<void> {
  const n = ++seq;
  const kind = n % 10;
  stats.made++;
  if (kind === 9) {
    stats.casts++;
    return mesh.cast({ actor: 'Counter', id: `c${n % 500}`, capability: 'game' }).then(
      () => undefined,
      (error: MeshError) => countFailure(`cast:${error.code}`),
    );
  }
  const big = kind === 8 && n % 50 === 8;
  const payload = kind < 6 ? { seq: n } : { seq: n, slow: kind === 7, blob: big ? 'x'.repeat(200_000) : 'y' };
  const actor = kind < 6 ? 'Counter' : 'Echo';
  return mesh.call({ actor, id: `${actor}-${n % 2000}`, capability: 'game', payload }).then(
    ({ result }) => {
      stats.answered++;
      const echoed = result as { seq?: unknown; blob?: unknown; count?: unknown };
      const blobOk = actor === 'Counter' || echoed.blob === (payload as { blob?: string }).blob;
      if (echoed.seq !== n || !blobOk || (actor === 'Counter' && !(typeof echoed.count === 'number' && echoed.count >= 1))) stats.wrong++;
    },
    (error: MeshError) => countFailure(error.code),
  );
}

async function drive(): Promise<void> {
  while (running) {
    while (running && inflight.size < 64) {
      const p = one().finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.race(inflight);
  }
}

async function finish(): Promise<void> {
  if (!running) return;
  running = false;
  // Every call settles within its 5 s timeout; anything still pending after 7 s is hung.
  const grace = new Promise<'late'>((r) => setTimeout(() => r('late'), 7000));
  const settled = await Promise.race([Promise.all(inflight).then(() => 'ok' as const), grace]);
  if (settled === 'late') stats.hung = inflight.size;
  process.stdout.write(`${JSON.stringify({ event: 'result', peerId: mesh.peerId, ...stats, meshStats: mesh.stats().errors })}\n`);
  await mesh.stop();
  process.exit(0);
}

process.stdout.on('error', () => undefined); // the driver may be gone already
process.on('SIGTERM', () => void finish());
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'stop') void finish();
});
if (durationArg) setTimeout(() => void finish(), Number(durationArg));
void drive();
