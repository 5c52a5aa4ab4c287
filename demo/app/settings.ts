/** The page's settings, from its URL. */

/** The capabilities the demo's actors use; a tab offers all three unless `?caps=` says otherwise. */
export const CAPABILITIES = ['game', 'chat', 'payment'] as const;

/** The stores a tab can keep its durable actors in: `?store=indexeddb`; absent, memory only. */
export const STORES = ['indexeddb'] as const;
export type StoreChoice = (typeof STORES)[number];

export interface Settings {
  /** `?room=`, default 'demo'. */
  readonly room: string;
  /** `?signal=`, default the page's own origin (where `npm start` serves signaling). */
  readonly signalUrl: string;
  /** `?peer=`: a fixed peer id, kept across reloads; absent: a random one. */
  readonly peerId: string | undefined;
  /** `?caps=game,chat`: what the tab offers at first. */
  readonly capabilities: readonly string[];
  /** `?token=`: the signaling token, when the server requires one (`npm start -- --token`). */
  readonly token: string | undefined;
  /**
   * `?store=indexeddb`: durable actors (GameActor) keep their state in this browser's IndexedDB, shared by
   * its tabs of the room and kept after they all close; absent, only in the memory of the peers.
   */
  readonly store: StoreChoice | undefined;
  /** `?store=` named no store the demo knows (the tab runs without one and says so). */
  readonly unknownStore: string | undefined;
}

/** The IndexedDB database of a room's actors: one per room, as the same id in two rooms is two actors. */
export const demoDatabase = (room: string): string => `rtc-mesh-demo:${room}`;

/** The page's URL with `?store=` set to `store` (or removed): where the "state kept in" picker goes. */
export function urlWithStore(href: string, store: StoreChoice | undefined): string {
  const url = new URL(href);
  if (store === undefined) url.searchParams.delete('store');
  else url.searchParams.set('store', store);
  return url.href;
}

export function readSettings(location: { readonly search: string; readonly origin: string }): Settings {
  const params = new URLSearchParams(location.search);
  const caps = params.get('caps');
  const store = params.get('store')?.trim().toLowerCase() || undefined;
  return {
    room: params.get('room')?.trim() || 'demo',
    signalUrl: params.get('signal')?.trim() || location.origin,
    peerId: params.get('peer')?.trim() || undefined,
    capabilities:
      caps === null
        ? [...CAPABILITIES]
        : caps
            .split(',')
            .map((c) => c.trim())
            .filter(Boolean),
    token: params.get('token')?.trim() || undefined,
    store: STORES.find((known) => known === store),
    unknownStore: store && !STORES.some((known) => known === store) ? store : undefined,
  };
}
