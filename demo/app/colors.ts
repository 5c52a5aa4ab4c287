/**
 * Peer colours. A colour derived from the id alone lets two peers land on nearly the same colour; here a tab
 * hands out distinct colours instead, each new peer taking the free one farthest from those on screen.
 */
import { hashString } from '../../shared/index.js';

export interface PeerColor {
  /** '#rrggbb', exactly what the shard map paints. */
  readonly hex: string;
  readonly rgb: readonly [number, number, number];
  /** A darker shade of the same hue, for text on white. */
  readonly ink: string;
  /** A pale tint of the same hue, for backgrounds behind dark text. */
  readonly tint: string;
}

/** The colour of shards nobody owns (no peer has the capability). */
export const UNOWNED_HEX = '#e4e7ec';

/**
 * Rows of 6 hues 60° apart in OKLCH (whose hues are perceptually even, unlike HSL's wide greens): up to 6
 * peers are all 60° apart or more; later ones get a darker, then a lighter row with hues between those, then
 * a darker copy of the first.
 */
const HUES = 6;
const ROWS = [
  { light: 0.62, chroma: 0.17, offset: 25 },
  { light: 0.47, chroma: 0.14, offset: 55 },
  { light: 0.77, chroma: 0.13, offset: 55 },
  { light: 0.5, chroma: 0.13, offset: 25 },
] as const;

interface Slot {
  readonly index: number;
  readonly row: number;
  /** Degrees. */
  readonly hue: number;
  /** OKLab coordinates of `color`, for distances. */
  readonly lab: readonly [number, number, number];
  readonly color: PeerColor;
}

// Built at load time: the helpers it calls are function declarations further down, hoisted.
const SLOTS: readonly Slot[] = ROWS.flatMap((row, r) =>
  Array.from({ length: HUES }, (_, i): Slot => {
    const hue = (row.offset + i * (360 / HUES)) % 360;
    const rgb = oklchToSrgb(row.light, row.chroma, hue);
    return {
      index: r * HUES + i,
      row: r,
      hue,
      lab: srgbToOklab(rgb),
      color: { hex: toHex(rgb), rgb, ink: toHex(oklchToSrgb(0.45, 0.15, hue)), tint: toHex(oklchToSrgb(0.965, 0.025, hue)) },
    };
  }),
);

/**
 * This tab's colour for each peer. A peer keeps its colour for as long as the tab is open: repainting the
 * map in new colours on a join would look like shards moving. A new peer takes the unused colour whose
 * nearest colour among the peers present is farthest away (perceptual OKLab distance), from the first row
 * with one left; ties go to the hue its id hashes to, so a tab's own colour (it sees itself first) is the
 * same on every reload with `?peer=`. Two tabs agree on a colour when they saw the peers arrive in the
 * same order; several peers seen at once are taken in id order.
 */
export class PeerPalette {
  private readonly slots = new Map<string, Slot>();
  private present: ReadonlySet<string> = new Set();

  /** The peers in the view now: new ones get colours, and they are the ones a newcomer keeps away from. */
  see(peerIds: Iterable<string>): void {
    this.present = new Set(peerIds);
    for (const id of [...this.present].sort()) this.slotOf(id);
  }

  colorOf(peerId: string): PeerColor {
    return this.slotOf(peerId).color;
  }

  private slotOf(peerId: string): Slot {
    const known = this.slots.get(peerId);
    if (known) return known;
    const slot = this.pick(peerId);
    this.slots.set(peerId, slot);
    return slot;
  }

  private pick(peerId: string): Slot {
    const used = new Set([...this.slots.values()].map((s) => s.index));
    const around = [...this.slots].filter(([id]) => this.present.has(id)).map(([, s]) => s);
    // Colours of peers that left stay theirs (the log still shows them) until every colour has been used once.
    let free = SLOTS.filter((s) => !used.has(s.index));
    if (free.length === 0) free = SLOTS.filter((s) => !around.includes(s));
    if (free.length === 0) free = [...SLOTS];
    const row = Math.min(...free.map((s) => s.row));
    const preferred = (hashString(peerId, 0x5eed) >>> 0) % 360;
    let best: Slot | undefined;
    let bestGap = -1;
    let bestPull = Infinity;
    for (const slot of free) {
      if (slot.row !== row) continue;
      const gap = around.length === 0 ? 0 : Math.min(...around.map((s) => distance(s.lab, slot.lab)));
      const pull = hueDistance(slot.hue, preferred);
      if (gap > bestGap + 1e-9 || (Math.abs(gap - bestGap) <= 1e-9 && pull < bestPull)) {
        best = slot;
        bestGap = gap;
        bestPull = pull;
      }
    }
    return best ?? SLOTS[0]!;
  }
}

function hueDistance(a: number, b: number): number {
  return Math.min(Math.abs(a - b), 360 - Math.abs(a - b));
}

function distance(a: readonly number[], b: readonly number[]): number {
  return Math.hypot(...a.map((v, i) => v - (b[i] ?? 0)));
}

function toHex(rgb: readonly number[]): string {
  return `#${rgb.map((c) => c.toString(16).padStart(2, '0')).join('')}`;
}

/** OKLCH -> 8-bit sRGB, lowering chroma until the colour is inside the sRGB gamut. */
function oklchToSrgb(l: number, chroma: number, hueDeg: number): [number, number, number] {
  const rad = (hueDeg * Math.PI) / 180;
  for (let c = chroma; ; c -= 0.005) {
    const linear = oklabToLinearSrgb(l, Math.max(0, c) * Math.cos(rad), Math.max(0, c) * Math.sin(rad));
    if (c <= 0 || linear.every((v) => v >= -1e-4 && v <= 1 + 1e-4)) {
      return linear.map((v) => Math.round(255 * gamma(Math.min(1, Math.max(0, v))))) as [number, number, number];
    }
  }
}

function oklabToLinearSrgb(L: number, a: number, b: number): [number, number, number] {
  const l = (L + 0.3963377774 * a + 0.2158037573 * b) ** 3;
  const m = (L - 0.1055613458 * a - 0.0638541728 * b) ** 3;
  const s = (L - 0.0894841775 * a - 1.291485548 * b) ** 3;
  return [
    4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s,
    -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s,
    -0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s,
  ];
}

/** 8-bit sRGB -> OKLab, measured on the rounded colour the page really shows. */
function srgbToOklab(rgb: readonly number[]): [number, number, number] {
  const [r = 0, g = 0, b = 0] = rgb.map((c) => linear(c / 255));
  const l = Math.cbrt(0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b);
  const m = Math.cbrt(0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b);
  const s = Math.cbrt(0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b);
  return [
    0.2104542553 * l + 0.793617785 * m - 0.0040720468 * s,
    1.9779984951 * l - 2.428592205 * m + 0.4505937099 * s,
    0.0259040371 * l + 0.7827717662 * m - 0.808825553 * s,
  ];
}

function gamma(x: number): number {
  return x <= 0.0031308 ? 12.92 * x : 1.055 * x ** (1 / 2.4) - 0.055;
}
function linear(x: number): number {
  return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
}
