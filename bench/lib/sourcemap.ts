/** Just enough of source map v3 to turn a generated (line, column) into an original file:line. */
import { readFile } from 'node:fs/promises';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DIGIT = new Map([...B64].map((c, i) => [c, i]));

interface Segment {
  readonly col: number;
  readonly source: number;
  readonly line: number;
}

export class SourceMap {
  private constructor(
    private readonly sources: readonly string[],
    private readonly lines: readonly Segment[][],
  ) {}

  static async load(file: string): Promise<SourceMap> {
    const map = JSON.parse(await readFile(file, 'utf8')) as { sources: string[]; mappings: string };
    const lines: Segment[][] = [];
    let source = 0;
    let line = 0;
    for (const text of map.mappings.split(';')) {
      const segments: Segment[] = [];
      let col = 0;
      for (const seg of text.split(',')) {
        if (seg.length === 0) continue;
        const values = decodeVlq(seg);
        col += values[0] ?? 0;
        if (values.length >= 4) {
          source += values[1]!;
          line += values[2]!;
          segments.push({ col, source, line });
        }
      }
      lines.push(segments);
    }
    return new SourceMap(map.sources, lines);
  }

  /** 0-based generated position -> "source:line" (1-based line), or null. */
  lookup(line: number, column: number): { source: string; line: number } | null {
    const segments = this.lines[line];
    if (!segments || segments.length === 0) return null;
    let best: Segment | undefined;
    for (const s of segments) {
      if (s.col <= column) best = s;
      else break;
    }
    best ??= segments[0];
    if (!best) return null;
    return { source: this.sources[best.source] ?? '?', line: best.line + 1 };
  }
}

function decodeVlq(text: string): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const c of text) {
    const digit = DIGIT.get(c) ?? 0;
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
      continue;
    }
    out.push(value & 1 ? -(value >>> 1) : value >>> 1);
    value = 0;
    shift = 0;
  }
  return out;
}
