#!/usr/bin/env node
// `rtc-mesh-peer`: the headless peer (server/peer-cli.ts) as an installed command.
import { main } from '../peer-cli.js';

await main(process.argv.slice(2));
