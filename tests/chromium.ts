/**
 * How every browser run of this repository (Playwright tests, the package consumer test, the bench) starts
 * Debian's Chromium: never a downloaded browser, and the flags that a headless root run on a machine with no
 * outside network needs.
 */
export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Plain host candidates instead of mDNS names: Node peers (libdatachannel) cannot resolve `*.local`, and
  // about one first connection in eight then only comes up after the 15 s retry.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];
