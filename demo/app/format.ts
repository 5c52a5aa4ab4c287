/** How numbers, times and ids read on the page. */

export const shortId = (peerId: string): string => (peerId.length > 8 ? peerId.slice(0, 8) : peerId);

export const plural = (n: number, word: string): string => `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;

export const count = (n: number): string => n.toLocaleString('en');

/** Wall-clock time of an event, to the millisecond. */
export function clock(date = new Date()): string {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** A latency: '–' for none yet, µs below a millisecond. */
export const formatMs = (ms: number | null): string =>
  ms === null ? '–' : ms < 1 ? `${Math.round(ms * 1000)} µs` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
