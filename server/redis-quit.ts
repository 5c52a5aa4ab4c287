/** How long QUIT may take before the client is simply disconnected. */
const QUIT_TIMEOUT_MS = 2000;

/** The part of a node-redis client that closing it needs. */
interface Closable {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  quit(): Promise<unknown>;
  disconnect(): Promise<unknown>;
}

/**
 * Closes a Redis client. QUIT lets the commands already sent (last broadcasts, unsubscribes, saves) reach
 * Redis first. A client that is not connected right now (Redis down, reconnecting) would hold QUIT until Redis
 * returns, so it is disconnected instead, as is one whose QUIT takes longer than QUIT_TIMEOUT_MS.
 */
export async function quitOrDisconnect(client: Closable): Promise<void> {
  if (!client.isOpen) return;
  if (client.isReady) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const quit = client.quit().then(
      () => true,
      () => false,
    );
    const late = new Promise<false>((resolve) => (timer = setTimeout(resolve, QUIT_TIMEOUT_MS, false)));
    const quitted = await Promise.race([quit, late]);
    clearTimeout(timer);
    if (quitted) return;
  }
  if (client.isOpen) await client.disconnect().catch(() => undefined);
}
