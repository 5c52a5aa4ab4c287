/** The page's settings, from its URL. */

/** The capabilities the demo's actors use; a tab offers all three unless `?caps=` says otherwise. */
export const CAPABILITIES = ['game', 'chat', 'payment'] as const;

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
}

export function readSettings(location: { readonly search: string; readonly origin: string }): Settings {
  const params = new URLSearchParams(location.search);
  const caps = params.get('caps');
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
  };
}
