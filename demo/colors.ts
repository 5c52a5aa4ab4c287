import { hashString } from '../client/index.js';

/** A peer's colour: derived from its id alone, so every tab, list, map and log entry agrees on it. */
export interface PeerColor {
  /** '#rrggbb', exactly what the shard map paints. */
  readonly hex: string;
  readonly rgb: readonly [number, number, number];
  /** A pale tint of the same hue, for backgrounds behind dark text. */
  readonly tint: string;
}

/** The colour of shards nobody owns (no peer has the capability). */
export const UNOWNED_HEX = '#e4e7ec';

const LIGHTNESS = [38, 46, 54] as const;
const SATURATION = [62, 72] as const;
const cache = new Map<string, PeerColor>();

/**
 * Hue from the low bits of the id's murmur3 hash; lightness and saturation from higher bits, so two peers
 * with close hues still tend to differ. Saturated mid tones stay readable as dots on white and as map cells.
 */
export function peerColor(peerId: string): PeerColor {
  const cached = cache.get(peerId);
  if (cached) return cached;
  const h = hashString(peerId, 0x5eed) >>> 0;
  const hue = h % 360;
  const light = LIGHTNESS[(h >>> 9) % LIGHTNESS.length] ?? 46;
  const sat = SATURATION[(h >>> 12) % SATURATION.length] ?? 62;
  const rgb = hslToRgb(hue, sat / 100, light / 100);
  const color: PeerColor = {
    hex: `#${rgb.map((c) => c.toString(16).padStart(2, '0')).join('')}`,
    rgb,
    tint: `hsl(${hue} ${sat}% 94%)`,
  };
  cache.set(peerId, color);
  return color;
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number): number => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

export function hexToRgb(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
