/**
 * The rtc-mesh demo page: this tab joins the mesh of its room as a browser peer hosting the demo actors,
 * and shows the mesh from its point of view. Each panel is a module of app/ over one shared model.
 */
import { IndexedDBStore, Mesh } from '../client/index.js';
import { actors } from './actors.js';
import { installDebugApi } from './app/debug-api.js';
import { createLog, logMeshEvents } from './app/event-log.js';
import { setupHeader, showBanner, showRoom, showSignaling } from './app/header.js';
import { setupHostedPanel } from './app/hosted-panel.js';
import { setupMapPanel } from './app/map-panel.js';
import { DemoModel } from './app/model.js';
import { setupPeersPanel } from './app/peers-panel.js';
import { setupPlayersPanel } from './app/players-panel.js';
import { demoDatabase, readSettings } from './app/settings.js';
import { setupStatsPanel } from './app/stats-panel.js';

const HOSTED_POLL_MS = 600;

async function boot(): Promise<void> {
  const settings = readSettings(location);
  const log = createLog();
  showRoom(settings.room);
  // `?store=indexeddb`: GameActor is durable, so each player's score is saved here before its call answers.
  const store = settings.store === 'indexeddb' ? new IndexedDBStore({ database: demoDatabase(settings.room) }) : undefined;
  let mesh: Mesh;
  try {
    mesh = await Mesh.start({
      signal: settings.signalUrl,
      room: settings.room,
      capabilities: settings.capabilities,
      actors,
      ...(store !== undefined ? { store } : {}),
      ...(settings.peerId !== undefined ? { peerId: settings.peerId, ...reclaim(settings.room, settings.peerId) } : {}),
      ...(settings.token !== undefined ? { token: settings.token } : {}),
      onSignalingState: (state, detail) => showSignaling(log, state, detail),
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    document.body.dataset['state'] = 'error';
    window.rtcMeshError = message;
    showBanner(`Could not join the mesh at ${settings.signalUrl}: ${message}`);
    log('error', `could not join: ${message}`);
    void store?.close();
    return;
  }

  const model = new DemoModel(mesh, settings.room, store);
  setupHeader(model, log);
  setupPeersPanel(model);
  const map = setupMapPanel(model);
  setupPlayersPanel(model);
  setupHostedPanel(model);
  const stopStats = setupStatsPanel(model);
  logMeshEvents(model, log);
  if (settings.unknownStore !== undefined)
    log('error', `no store called "${settings.unknownStore}" (try ?store=indexeddb): state is kept in memory only`);
  installDebugApi(model, map);
  model.changed('peers', 'map', 'players', 'hosted');

  // Remote calls change the state of actors hosted here without any event: poll it.
  const poll = setInterval(() => model.pollHosted(), HOSTED_POLL_MS);
  mesh.on('stopped', () => {
    document.body.dataset['state'] = 'stopped';
    showSignaling(log, 'closed');
    clearInterval(poll);
    stopStats();
  });
  document.body.dataset['state'] = 'ready';
  // Leave the mesh with the page (the last saves land first); a page restored from the back/forward cache
  // joins afresh.
  window.addEventListener('pagehide', () => void mesh.stop().finally(() => store?.close()));
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) location.reload();
  });
}

/**
 * A fixed peer id (`?peer=`) survives a reload only with its reclaim secret: the server keeps the id for its
 * previous session a few minutes, and gives it to whoever shows the secret. The tab keeps it for itself.
 */
function reclaim(room: string, peerId: string): { reclaimSecret?: string; onReclaimSecret: (secret: string) => void } {
  const key = `rtc-mesh:secret:${room}:${peerId}`;
  const stored = sessionStorage.getItem(key);
  return { ...(stored ? { reclaimSecret: stored } : {}), onReclaimSecret: (secret) => sessionStorage.setItem(key, secret) };
}

void boot();
