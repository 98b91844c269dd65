/**
 * Reads a connection until the server closes it (or `ms` pass), for tests of what a
 * client gets after it stopped sending (half-closed clients, plain and TLS).
 */

/** Everything read until the end (UTF-8); closes the connection either way. */
export async function readToEnd(conn: Deno.Conn, ms = 10_000): Promise<string> {
  const dec = new TextDecoder();
  const buf = new Uint8Array(64 * 1024);
  const deadline = setTimeout(() => conn.close(), ms);
  let all = "";
  try {
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      all += dec.decode(buf.subarray(0, n), { stream: true });
    }
  } finally {
    clearTimeout(deadline);
    try {
      conn.close();
    } catch { /* closed by the deadline */ }
  }
  return all + dec.decode();
}
