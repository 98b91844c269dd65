/**
 * SPEC §9 SpamLearn: a user moving mail into or out of Junk teaches rspamd, the way
 * Dovecot's IMAPSieve spam-learning scripts do:
 *
 * - copied or moved into a `\Junk` mailbox from one that is not: `/learnspam`;
 * - from a `\Junk` mailbox into one that is neither `\Junk` nor `\Trash` (deleting spam
 *   says nothing about it): `/learnham`.
 *
 * `\Junk` and `\Trash` are the special-use folders (the built-in ones and those a client
 * marked, RFC 6154). Everything here runs after the command has answered: the caller does
 * not wait, and the messages are read from the destination folder when their turn in
 * ctx.spam's queue comes.
 */
import { log } from "../log.ts";
import type { MessageBody } from "../spam/rspamd.ts";
import type { Session } from "./session.ts";
import { specialUses } from "./special_use.ts";

/** Which lesson a copy from `source` to `target` teaches, if any. */
export function learnKind(
  uses: ReadonlyMap<string, string>,
  source: string,
  target: string,
): "spam" | "ham" | null {
  const has = (name: string, attr: string) =>
    (uses.get(name) ?? "").split(" ").some((a) => a.toLowerCase() === attr);
  const fromJunk = has(source, "\\junk");
  const toJunk = has(target, "\\junk");
  if (toJunk && !fromJunk) return "spam";
  if (fromJunk && !toJunk && !has(target, "\\trash")) return "ham";
  return null;
}

/** Starts the learning for messages copied from `source` to `target` (their new UIDs). */
export function learnFromCopy(s: Session, source: string, target: string, uids: number[]): void {
  const spam = s.ctx.spam;
  const root = s.root;
  const user = s.user ? `${s.user.name}@${s.user.domain}` : "?";
  if (!spam.learning || !root || uids.length === 0 || source === target) return;
  const store = s.ctx.store;
  (async () => {
    const kind = learnKind(await specialUses(root), source, target);
    if (!kind) return;
    for (const uid of uids) {
      spam.learn({
        kind,
        label: `${user} ${target} UID ${uid}`,
        load: async (): Promise<(MessageBody & { close: () => void }) | null> => {
          const folder = await store.openFolder(root, target);
          const entry = folder?.messages.get(uid);
          if (!folder || !entry) return null;
          const file = await folder.openFile(entry);
          const size = (await file.stat()).size;
          return {
            size,
            async *chunks() {
              const buf = new Uint8Array(256 * 1024);
              for (let left = size; left > 0;) {
                const n = await file.read(buf.subarray(0, Math.min(buf.length, left)));
                if (n === null) throw new Error("message file ended early");
                left -= n;
                yield buf.slice(0, n);
              }
            },
            close: () => file.close(),
          };
        },
      });
    }
  })().catch((e) => log("imap").warn(`SpamLearn for ${user}: ${(e as Error).message}`));
}
