/**
 * A proxied IMAP or POP3 session (SPEC §12): once the front node authenticated the user
 * and the home node took the session over, bytes go both ways as they come, unparsed,
 * so IDLE, COMPRESS (the home node compresses; we carry its bytes) and every later
 * extension pass through. Back-pressure holds end to end: a chunk is read from one side
 * only after the other side took the previous one. When either side ends, both close.
 */
import type { Connection } from "../net/connection.ts";

async function pump(from: Connection, to: Connection): Promise<void> {
  for (;;) {
    const pending = from.peekInput();
    if (pending.length > 0) {
      const chunk = pending.slice();
      from.consumeInput(chunk.length);
      await to.write(chunk);
      if (to.closed) return;
      continue;
    }
    if (from.closed && from.bufferedInput === 0) return;
    if (!(await from.waitForInput())) return;
  }
}

/** Carries `client` <-> `home` until one of them ends; resolves when both are closed. */
export async function pipeSessions(client: Connection, home: Connection): Promise<void> {
  await Promise.race([pump(client, home), pump(home, client)]);
  client.close();
  home.close();
}
