// Its own module so that RedisStore (rtc-mesh/stores) can use it without loading the signaling server.

/** The URL as it may appear in logs and errors: without its password. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}
