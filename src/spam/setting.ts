/**
 * The `SpamFilter` setting (SPEC §9): `"rspamd:<url>"`, the URL of rspamd's HTTP worker.
 * Kept apart from the client so that configuration checks need no HTTP code.
 */

/** `"rspamd:http://127.0.0.1:11333"` -> the URL; null when the value is not of that form. */
export function parseFilterSetting(value: string): URL | null {
  const m = /^rspamd:(https?:\/\/.+)$/i.exec(value.trim());
  if (!m) return null;
  try {
    const url = new URL(m[1]);
    if (url.username || url.password || url.search || url.hash) return null;
    return url;
  } catch {
    return null;
  }
}
