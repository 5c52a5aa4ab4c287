/**
 * npm run soak: ~60 s, 4 Node peers in separate processes under sustained mixed load (calls, casts, slow and
 * 200 KB calls); at 1/3 one peer leaves and at 1/2 another joins. Prints calls made, answered, failed by code
 * and hung, and exits non-zero if any call hung or any answer was wrong.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createSignalingServer } from '../../server/signaling-server.js';

const seconds = Number(process.argv.find((a) => a.startsWith('--seconds='))?.slice(10) ?? 60);
const peerFile = fileURLToPath(new URL('./peer.ts', import.meta.url));
const server = await createSignalingServer({ port: 0, host: '127.0.0.1' });
const room = `soak-${Date.now()}`;

interface Result {
  peerId: string;
  made: number;
  answered: number;
  wrong: number;
  hung: number;
  casts: number;
  failed: Record<string, number>;
}
const results: Result[] = [];
const children = new Set<ChildProcess>();

function start(name: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', peerFile, server.url, room], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let msg: { event?: string } & Partial<Result>;
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      if (msg.event === 'ready') {
        console.log(`${name} ready as ${msg.peerId}`);
        resolve(child);
      }
      if (msg.event === 'result') results.push(msg as Result);
    });
    child.on('exit', (code) => {
      children.delete(child);
      if (code !== 0) reject(new Error(`${name} exited with ${code}`));
    });
  });
}

function stopPeer(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.on('exit', () => resolve());
    child.stdin?.write('stop\n');
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const began = Date.now();
const peers = await Promise.all([1, 2, 3, 4].map((n) => start(`peer${n}`)));
await sleep((seconds * 1000) / 3);
console.log(`t+${Math.round((Date.now() - began) / 1000)}s: peer1 leaves`);
await stopPeer(peers[0]!);
await sleep((seconds * 1000) / 6);
console.log(`t+${Math.round((Date.now() - began) / 1000)}s: peer5 joins`);
peers.push(await start('peer5'));
await sleep((seconds * 1000) / 2);
await Promise.all(peers.slice(1).map(stopPeer));
await server.close();

const total = { made: 0, answered: 0, wrong: 0, hung: 0, casts: 0, failed: {} as Record<string, number> };
for (const r of results) {
  total.made += r.made;
  total.answered += r.answered;
  total.wrong += r.wrong;
  total.hung += r.hung;
  total.casts += r.casts;
  for (const [code, n] of Object.entries(r.failed)) total.failed[code] = (total.failed[code] ?? 0) + n;
}
const failedCount = Object.values(total.failed).reduce((a, b) => a + b, 0);
console.log(`\nsoak: ${results.length} peers reported over ${Math.round((Date.now() - began) / 1000)} s`);
console.log(`  made      ${total.made} (${total.casts} casts)`);
console.log(`  answered  ${total.answered}`);
console.log(`  failed    ${failedCount} ${JSON.stringify(total.failed)}`);
console.log(`  hung      ${total.hung}`);
console.log(`  wrong     ${total.wrong}`);
for (const r of results) console.log(`  ${r.peerId}: made ${r.made} answered ${r.answered} failed ${JSON.stringify(r.failed)}`);
for (const child of children) child.kill('SIGKILL');
const ok = results.length === 5 && total.hung === 0 && total.wrong === 0 && total.answered > 0;
console.log(ok ? 'soak: OK' : 'soak: FAILED');
process.exit(ok ? 0 : 1);
