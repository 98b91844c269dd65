/**
 * STATUS (RFC 3501 §6.3.10, RFC 9051 §6.3.11) with SIZE (RFC 8438), DELETED (RFC 9051)
 * and HIGHESTMODSEQ (RFC 7162 §3.1.7), shared with LIST-STATUS (RFC 5819). The counts
 * are kept by the folder as it changes, so STATUS costs the same in any mailbox size.
 */
import type { Folder } from "../store/folder/folder.ts";
import { bad, mailboxName, no, wireName } from "./args.ts";
import { AUTHED, type CommandSpec } from "./command_table.ts";
import type { Token } from "./parser.ts";
import type { Session } from "./session.ts";
import { mailboxId } from "./objectid.ts";
import { unclaimedCount } from "./recent.ts";
import { storeCall } from "./store_calls.ts";

const ITEMS = [
  "MESSAGES",
  "RECENT",
  "UIDNEXT",
  "UIDVALIDITY",
  "UNSEEN",
  "SIZE",
  "DELETED",
  "HIGHESTMODSEQ",
  // RFC 8474 §4: "MAILBOXID (id)".
  "MAILBOXID",
];

export function statusItems(tokens: Token[]): string[] {
  if (tokens.length === 0) throw bad("STATUS needs at least one item");
  return tokens.map((t) => {
    const v = t.kind === "atom" ? t.value.toUpperCase() : "";
    if (!ITEMS.includes(v)) throw bad(`Unknown STATUS item ${v.slice(0, 30)}`);
    return v;
  });
}

export async function statusResponse(
  s: Session,
  name: string,
  folder: Folder,
  items: string[],
): Promise<string> {
  // RFC 7162 §3.1: STATUS (HIGHESTMODSEQ) is a CONDSTORE enabling command.
  if (items.includes("HIGHESTMODSEQ")) s.enableCondstore();
  let recent = unclaimedCount(
    folder.path,
    folder.recentCount,
    (uid) => folder.messages.get(uid)?.sub,
  );
  // This session's own \Recent messages were moved to cur/ when it selected them.
  if (s.view && s.view.folder === folder) recent = Math.max(recent, s.view.recent.size);
  const values: Record<string, number> = {
    MESSAGES: folder.messages.size,
    RECENT: recent,
    UIDNEXT: folder.uidNext,
    UIDVALIDITY: folder.uidValidity,
    UNSEEN: folder.unseenCount,
    SIZE: folder.totalSize(),
    DELETED: folder.deletedCount,
    HIGHESTMODSEQ: folder.highestModseq,
  };
  const id = items.includes("MAILBOXID") ? await mailboxId(folder.path) : "";
  const parts = items.map((i) => i === "MAILBOXID" ? `MAILBOXID (${id})` : `${i} ${values[i]}`);
  return `* STATUS ${wireName(s, name)} (${parts.join(" ")})\r\n`;
}

/** Opens a folder by client name, or NO [NONEXISTENT]. */
export async function openFolderOrFail(
  s: Session,
  name: string,
  claimed?: number[],
): Promise<Folder> {
  const folder = await storeCall(() => s.ctx.store.openFolder(s.root, name, claimed));
  if (!folder) throw no(`Mailbox doesn't exist: ${name.slice(0, 100)}`, "NONEXISTENT");
  return folder;
}

const statusCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const name = mailboxName(args.astring("mailbox name"), s.utf8);
    const items = statusItems(args.list("status items"));
    args.end();
    const folder = await openFolderOrFail(s, name);
    s.out.text(await statusResponse(s, name, folder, items));
    return { text: "STATUS completed" };
  },
};

export const STATUS_COMMANDS: Record<string, CommandSpec> = {
  STATUS: statusCommand,
};
