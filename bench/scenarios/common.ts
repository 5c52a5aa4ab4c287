/** What every scenario reports: rows for the table, targets to check, raw data for the JSON. */
export interface Row {
  readonly section: string;
  readonly name: string;
  /** The figure, already formatted. */
  readonly value: string;
  /** The figure as a number, for the JSON (unit in `unit`). */
  readonly raw: number | null;
  readonly unit: string;
  /** What it is compared with, formatted ("raw 42.1k/s (same run)"), or ''. */
  readonly baseline: string;
  /** value / baseline where meaningful. */
  readonly ratio: number | null;
  readonly note?: string;
}

export interface Target {
  readonly name: string;
  readonly measured: string;
  readonly goal: string;
  readonly pass: boolean | null;
  readonly note?: string;
}

export interface ScenarioResult {
  readonly rows: Row[];
  readonly targets: Target[];
  readonly data: Record<string, unknown>;
  readonly skipped?: string;
}

export interface BenchContext {
  readonly quick: boolean;
  /** Children run as esbuild bundles under plain node instead of through tsx (--bundle). */
  readonly bundled: boolean;
  /** Node flags for every bench child (e.g. --cpu-prof). */
  readonly childNodeArgs: readonly string[];
  /** Filled by the raw scenario; later scenarios compare with it. */
  raw: RawBaseline | null;
  log(line: string): void;
}

export interface RawBaseline {
  readonly oneway: number;
  readonly reqResp: Readonly<Record<'1' | '16' | '256', number>>;
  readonly rttP50Us: number;
  readonly rttP99Us: number;
  /** The same round trip with each side reading its channel directly, as the mesh does (no simple-peer stream). */
  readonly rttDirectP50Us: number;
}

/** The median of blocks measured in turns (the upper middle one for an even count). */
export function medianOf(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN;
}

export function rate(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M/s`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k/s`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)}k/s`;
  return `${n.toFixed(0)}/s`;
}

export function us(n: number): string {
  if (n >= 1000) return `${(n / 1000).toFixed(2)} ms`;
  if (n >= 100) return `${n.toFixed(0)} us`;
  return `${n.toFixed(1)} us`;
}

export function ms(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${n.toFixed(0)} ms`;
}

export function bytes(n: number): string {
  return n >= 1024 ? `${(n / 1024).toFixed(2)} KB` : `${n.toFixed(0)} B`;
}

export function pct(n: number): string {
  return `${(n * 100).toFixed(1)}%`;
}

export function row(r: Omit<Row, 'baseline' | 'ratio'> & { baseline?: string; ratio?: number | null }): Row {
  return { baseline: '', ratio: null, ...r };
}
