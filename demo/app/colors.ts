import { hashString } from '../../shared/index.js';

/** A peer's colour: derived from its id alone, so every tab, list, map and log entry agrees on it. */
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

/** 12 hue families, 30° apart in OKLCH, whose hues are perceptually even (unlike HSL's wide greens). */
export const HUES = 12;
/** OKLCH lightness levels: a second axis, so two peers of the same hue family still differ. */
const LIGHTNESS = [0.52, 0.64, 0.76] as const;
const CHROMA = 0.17;
const cache = new Map<string, PeerColor>();

/**
 * The palette slot of a peer id: murmur3 of the id picks one of 12 hues x 3 lightness levels. Slots keep
 * a minimum distance between colours: two peers either share a slot or differ visibly.
 */
export function colorSlot(peerId: string): { hue: number; light: number } {
  const h = hashString(peerId, 0x5eed) >>> 0;
  return { hue: h % HUES, light: Math.floor(h / HUES) % LIGHTNESS.length };
}

/** A peer's colour, from its id alone. Chroma is reduced where needed to fit in sRGB. */
export function peerColor(peerId: string): PeerColor {
  const cached = cache.get(peerId);
  if (cached) return cached;
  const slot = colorSlot(peerId);
  const hue = 25 + slot.hue * (360 / HUES);
  const light = LIGHTNESS[slot.light] ?? 0.64;
  const rgb = oklchToSrgb(light, CHROMA, hue);
  const color: PeerColor = {
    hex: toHex(rgb),
    rgb,
    ink: toHex(oklchToSrgb(0.45, 0.15, hue)),
    tint: toHex(oklchToSrgb(0.965, 0.025, hue)),
  };
  cache.set(peerId, color);
  return color;
}

const toHex = (rgb: readonly number[]): string => `#${rgb.map((c) => c.toString(16).padStart(2, '0')).join('')}`;

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

const gamma = (x: number): number => (x <= 0.0031308 ? 12.92 * x : 1.055 * x ** (1 / 2.4) - 0.055);
