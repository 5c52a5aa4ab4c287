#!/usr/bin/env node
// Makes sure the system packages the test suite needs are on this machine: Debian's Chromium for the
// browser tests and redis-server for the multi-server signaling tests. Nothing is downloaded but Debian
// packages; as root it installs them, otherwise it stops with the exact command to run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const needs = [
  { what: 'Chromium', pkg: 'chromium', path: '/usr/bin/chromium' },
  { what: 'Redis', pkg: 'redis-server', path: '/usr/bin/redis-server' },
];

const missing = needs.filter((n) => !existsSync(n.path));
if (missing.length === 0) process.exit(0);

const pkgs = missing.map((n) => n.pkg);
const command = `apt-get update && apt-get install -y ${pkgs.join(' ')}`;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot || spawnSync('which', ['apt-get']).status !== 0) {
  console.error(`The tests need ${missing.map((n) => n.what).join(' and ')}. Install with:\n  sudo ${command}`);
  process.exit(1);
}
console.log(`provision: installing ${pkgs.join(', ')} from Debian's packages`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env });
const still = missing.filter((n) => !existsSync(n.path));
if (still.length > 0) {
  console.error(`provision: ${still.map((n) => n.path).join(', ')} still missing after apt-get install`);
  process.exit(1);
}
