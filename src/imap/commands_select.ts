/**
 * Selecting and leaving a mailbox (RFC 3501 §6.3.1-6.3.2, §6.4.1-6.4.3; RFC 9051
 * §6.3.2-6.3.3, §6.4.1-6.4.3; UNSELECT RFC 3691; UID EXPUNGE RFC 4315 §2.1):
 * SELECT, EXAMINE, UNSELECT, CLOSE, CHECK, EXPUNGE.
 */
import { inRanges, mailboxName, parseSequenceSet, resolveRanges, wireName } from "./args.ts";
import { AUTHED, defineCommand, SELECTED } from "./command_table.ts";
import type { Session } from "./session.ts";
import { openFolderOrFail } from "./status.ts";
import { MailboxView } from "./view.ts";

function deselect(s: Session): void {
  s.view?.close();
  s.view = null;
  if (s.state === "selected") s.state = "auth";
}

async function select(s: Session, raw: string, readOnly: boolean) {
  const name = mailboxName(raw, s.utf8);
  if (s.view) {
    deselect(s);
    // RFC 9051 §6.3.2 (and RFC 7162 §3.2.11): the previous mailbox is closed.
    if (s.rev2) s.out.text("* OK [CLOSED] Previous mailbox closed\r\n");
  }
  const folder = await openFolderOrFail(s, name);
  const view = new MailboxView(s.ctx.store, folder, name, readOnly);
  await view.open();
  s.view = view;
  s.state = "selected";
  let out = view.flagsResponses();
  out += `* ${view.exists} EXISTS\r\n`;
  if (!s.rev2) {
    out += `* ${view.recent.size} RECENT\r\n`;
    // RFC 3501 §6.3.1: the first unseen message, when there is one.
    for (let i = 0; i < view.uids.length; i++) {
      const m = view.entry(view.uids[i]);
      if (m && !m.flags.includes("S")) {
        out += `* OK [UNSEEN ${i + 1}] First unseen\r\n`;
        break;
      }
    }
  }
  out += `* OK [UIDVALIDITY ${folder.uidValidity}] UIDs valid\r\n`;
  out += `* OK [UIDNEXT ${folder.uidNext}] Predicted next UID\r\n`;
  if (s.rev2) out += `* LIST () "/" ${wireName(s, name)}\r\n`;
  s.out.text(out);
  return {
    text: `${readOnly ? "EXAMINE" : "SELECT"} completed`,
    code: readOnly ? "READ-ONLY" : "READ-WRITE",
  };
}

defineCommand("SELECT", {
  states: AUTHED,
  async run(s, { args }) {
    const raw = args.astring("mailbox name");
    // RFC 4466 select parameters (CONDSTORE, QRESYNC) are not offered.
    if (args.more) args.list("select parameters");
    args.end();
    return await select(s, raw, false);
  },
});

defineCommand("EXAMINE", {
  states: AUTHED,
  async run(s, { args }) {
    const raw = args.astring("mailbox name");
    if (args.more) args.list("select parameters");
    args.end();
    return await select(s, raw, true);
  },
});

defineCommand("UNSELECT", {
  states: SELECTED,
  run(s, { args }) {
    args.end();
    deselect(s);
    return Promise.resolve({ text: "UNSELECT completed" });
  },
});

/** Removes \Deleted messages (all, or those in `uidSet`); returns the UIDs removed. */
export async function expungeDeleted(s: Session, uidFilter?: (uid: number) => boolean) {
  const view = s.requireWritable();
  const doomed: number[] = [];
  for (const uid of view.uids) {
    const m = view.entry(uid);
    if (m && m.flags.includes("T") && (!uidFilter || uidFilter(uid))) doomed.push(uid);
  }
  if (doomed.length === 0) return [];
  const removed = await view.folder.expunge(doomed);
  s.ctx.store.invalidateUsage(view.folder.path);
  view.notifyOthers();
  return removed;
}

// RFC 3501 §6.4.2: CLOSE expunges silently (not in EXAMINE) and deselects.
defineCommand("CLOSE", {
  states: SELECTED,
  async run(s, { args }) {
    args.end();
    if (!s.view!.readOnly) await expungeDeleted(s);
    deselect(s);
    return { text: "CLOSE completed" };
  },
});

// RFC 3501 §6.4.1: our writes are durable when made; CHECK is a poll.
defineCommand("CHECK", {
  states: SELECTED,
  async run(s, { args }) {
    args.end();
    await s.sendUpdates(true, true);
    return { text: "CHECK completed" };
  },
});

defineCommand("EXPUNGE", {
  states: SELECTED,
  uid: true,
  async run(s, { args, uid }) {
    let filter: ((u: number) => boolean) | undefined;
    if (uid) {
      const ranges = resolveRanges(parseSequenceSet(args.atom("UID set")), s.view!.lastUid);
      filter = (u) => inRanges(ranges, u);
    }
    args.end();
    await expungeDeleted(s, filter);
    return { text: "EXPUNGE completed" };
  },
});
