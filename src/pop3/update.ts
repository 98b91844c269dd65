/**
 * The end of a POP3 session: QUIT's UPDATE state (RFC 1939 §6), which removes the
 * messages marked deleted, and what every session does on its way out, QUIT or not:
 * what it retrieved becomes \Seen and the maildrop lock is released.
 */
import { errLine, okLine } from "./protocol.ts";
import type { Pop3Session } from "./session.ts";

/** A session that ends without QUIT deletes nothing, but what it read is \Seen. */
export async function endMaildrop(s: Pop3Session): Promise<void> {
  const md = s.maildrop;
  if (!md) return;
  try {
    await md.markSeen();
  } catch (e) {
    s.logger.warn(`could not mark retrieved messages seen: ${e}`);
  } finally {
    md.release();
  }
}

/** RFC 1939 §6 QUIT: in TRANSACTION, enter UPDATE and remove the deleted messages. */
export async function quitSession(s: Pop3Session): Promise<void> {
  const md = s.maildrop;
  if (s.state !== "transaction" || !md) {
    s.closeWith(okLine("eXtremail POP3 server signing off"));
    return;
  }
  s.state = "update";
  let reply: string;
  try {
    const removed = await md.commit();
    reply = okLine(
      `eXtremail POP3 server signing off (${removed} deleted, ${md.visibleCount} left)`,
    );
    if (removed > 0) s.logger.info(`${s.user!.name}@${s.user!.domain}: ${removed} deleted`);
  } catch (e) {
    s.logger.error(`UPDATE failed: ${e}`);
    // RFC 1939 §6: "-ERR some deleted messages not removed".
    reply = errLine("some deleted messages not removed", "SYS/TEMP");
  }
  await endMaildrop(s);
  s.closeWith(reply);
}
