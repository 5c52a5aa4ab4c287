/** Reads a V8 .cpuprofile (node --cpu-prof) and ranks functions and files by self time. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number; readonly columnNumber: number };
}

/** Maps a generated position (0-based) to original source, for bundled code with a source map. */
export type Resolver = (url: string, line: number, column: number) => { source: string; line: number } | null;
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface SelfTime {
  readonly name: string;
  readonly where: string;
  readonly ms: number;
  /** Share of busy time (idle excluded). */
  readonly share: number;
}

export interface ProfileSummary {
  readonly busyMs: number;
  readonly idleMs: number;
  readonly gcMs: number;
  readonly functions: SelfTime[];
  readonly areas: SelfTime[];
}

function shortUrl(url: string): string {
  let u = url.replace(/^file:\/\//, '');
  for (const marker of [REPO_DIR, '../../../../']) {
    const i = u.indexOf(marker);
    if (i >= 0) u = u.slice(i + marker.length);
  }
  u = u.replace(/^.*node_modules\//, 'node_modules/');
  return u || '(native)';
}

/** Coarse area of the code base a function belongs to. */
function area(url: string, name: string): string {
  const u = shortUrl(url);
  if (name === '(garbage collector)') return '(garbage collector)';
  if (name === '(program)') return '(program: native, not attributed)';
  if (u.startsWith('node_modules/'))
    return u
      .split('/')
      .slice(0, u.startsWith('node_modules/@') ? 3 : 2)
      .join('/');
  if (u.startsWith('node:')) return 'node: internals';
  if (u === '(native)') return '(native / builtins)';
  return u;
}

export async function summarizeProfile(file: string, top = 25, resolve?: Resolver): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // Sample i lasts until sample i + 1 (as DevTools counts it).
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const fn = new Map<string, { name: string; where: string; ms: number }>();
  const areas = new Map<string, number>();
  let idleMs = 0;
  let gcMs = 0;
  let busyMs = 0;
  for (const [id, ms] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, columnNumber } = node.callFrame;
    let { url, lineNumber } = node.callFrame;
    const original = resolve && url ? resolve(url, lineNumber, columnNumber) : null;
    if (original) {
      url = original.source;
      lineNumber = original.line - 1;
    }
    if (functionName === '(idle)') {
      idleMs += ms;
      continue;
    }
    busyMs += ms;
    if (functionName === '(garbage collector)') gcMs += ms;
    const name = functionName || '(anonymous)';
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${name} ${where}`;
    const entry = fn.get(key) ?? { name, where, ms: 0 };
    entry.ms += ms;
    fn.set(key, entry);
    const a = area(url, functionName);
    areas.set(a, (areas.get(a) ?? 0) + ms);
  }
  const rank = <T extends { ms: number }>(xs: T[]): T[] => xs.sort((a, b) => b.ms - a.ms);
  return {
    busyMs,
    idleMs,
    gcMs,
    functions: rank([...fn.values()])
      .slice(0, top)
      .map((f) => ({ ...f, share: f.ms / busyMs })),
    areas: rank([...areas].map(([name, ms]) => ({ name, where: '', ms })))
      .slice(0, 15)
      .map((a) => ({ ...a, share: a.ms / busyMs })),
  };
}

export function formatSummary(title: string, s: ProfileSummary): string {
  const lines = [
    `### ${title}`,
    `busy ${s.busyMs.toFixed(0)} ms (GC ${s.gcMs.toFixed(0)} ms), idle ${s.idleMs.toFixed(0)} ms`,
    '',
    'self time by function:',
    ...s.functions.map((f) => `  ${(f.share * 100).toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(6)} ms  ${f.name}  ${f.where}`),
    '',
    'self time by area:',
    ...s.areas.map((a) => `  ${(a.share * 100).toFixed(1).padStart(5)}%  ${a.ms.toFixed(0).padStart(6)} ms  ${a.name}`),
  ];
  return lines.join('\n');
}
