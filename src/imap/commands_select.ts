/**
 * Selecting and leaving a mailbox (RFC 3501 §6.3.1-6.3.2, §6.4.1-6.4.3; RFC 9051
 * §6.3.2-6.3.3, §6.4.1-6.4.3; UNSELECT RFC 3691; UID EXPUNGE RFC 4315 §2.1):
 * SELECT, EXAMINE, UNSELECT, CLOSE, CHECK, EXPUNGE.
 */
import { inRanges, mailboxName, parseSequenceSet, resolveRanges, wireName } from "./args.ts";
import { AUTHED, type CommandSpec, SELECTED } from "./command_table.ts";
import { parseSelectParams, qresyncResponses, type SelectParams } from "./condstore.ts";
import type { Args } from "./args.ts";
import type { Session } from "./session.ts";
import { openFolderOrFail } from "./status.ts";
import { join } from "node:path";
import { existsSync } from "../store/fsutil.ts";
import { knownMailboxId, mailboxId } from "./objectid.ts";
import { warmKeys } from "./sort_index.ts";
import { MailboxView } from "./view.ts";

function deselect(s: Session): void {
  s.view?.close();
  s.view = null;
  if (s.state === "selected") s.state = "auth";
}

/**
 * The MAILBOXID (RFC 8474) of an existing folder, made while the folder loads: a folder's
 * first SELECT makes its file (objectid.ts: a write and two fsyncs), and made after the
 * load those writes let the loop run what a first load leaves for its next turn (scan.ts
 * endMoves: 100,000 index rows, 450 ms) before the reply. Null when the folder is not
 * there yet (or its name is refused): the caller asks again once it is open.
 */
async function mailboxIdEarly(s: Session, name: string): Promise<string | null> {
  try {
    const path = s.ctx.store.folderPath(s.root, name);
    const known = knownMailboxId(path); // the usual case: an id made before
    if (known !== null) return known;
    if (!existsSync(join(path, "cur"))) return null;
    return await mailboxId(path);
  } catch {
    return null;
  }
}

async function select(s: Session, raw: string, readOnly: boolean, params: SelectParams) {
  const name = mailboxName(raw, s.utf8);
  if (s.view) {
    deselect(s);
    // RFC 9051 §6.3.2 and RFC 7162 §3.2.11: the previous mailbox is closed.
    if (s.rev2 || s.qresync) s.out.text("* OK [CLOSED] Previous mailbox closed\r\n");
  }
  // RFC 7162 §3.1.8: the CONDSTORE (or QRESYNC) parameter enables CONDSTORE.
  if (params.condstore || params.qresync) s.condstore = true;
  // SELECT takes \Recent as the folder is refreshed (a first load moves new/ to cur/
  // beside its other work); EXAMINE leaves it.
  const claimed = readOnly ? undefined : [];
  const early = mailboxIdEarly(s, name);
  const folder = await openFolderOrFail(s, name, claimed);
  const id = (await early) ?? await mailboxId(folder.path);
  const view = new MailboxView(s.ctx.store, folder, name, readOnly);
  await view.open(claimed);
  s.view = view;
  // The SORT / SEARCH keys of messages that lack them are read in the background now.
  warmKeys(folder);
  s.state = "selected";
  let out = selectResponses(view, id, s.rev2);
  if (s.rev2) out += `* LIST () "/" ${wireName(s, name)}\r\n`;
  if (params.qresync) out += qresyncResponses(s, view, params.qresync);
  s.out.text(out);
  return {
    text: `${readOnly ? "EXAMINE" : "SELECT"} completed`,
    code: readOnly ? "READ-ONLY" : "READ-WRITE",
  };
}

/**
 * The untagged responses of SELECT / EXAMINE from FLAGS to MAILBOXID (RFC 3501 §6.3.1,
 * RFC 9051 §6.3.2: rev2 has no RECENT and no UNSEEN code). warmup.ts runs it at start.
 */
export function selectResponses(view: MailboxView, id: string, rev2: boolean): string {
  const folder = view.folder;
  let out = view.flagsResponses();
  out += `* ${view.exists} EXISTS\r\n`;
  if (!rev2) {
    out += `* ${view.recent.size} RECENT\r\n`;
    // RFC 3501 §6.3.1: the first unseen message, when there is one.
    const unseen = folder.unseenCount > 0 ? view.seqOf(folder.firstUnseenUid()) : 0;
    if (unseen > 0) out += `* OK [UNSEEN ${unseen}] First unseen\r\n`;
  }
  out += `* OK [UIDVALIDITY ${folder.uidValidity}] UIDs valid\r\n`;
  out += `* OK [UIDNEXT ${folder.uidNext}] Predicted next UID\r\n`;
  // RFC 7162 §3.1.2.1: sent for every SELECT/EXAMINE of a mailbox with mod-sequences.
  out += `* OK [HIGHESTMODSEQ ${view.modseq}] Highest mailbox mod-sequence\r\n`;
  // RFC 8474 §4.2: the MAILBOXID of the selected mailbox.
  out += `* OK [MAILBOXID (${id})] Mailbox id\r\n`;
  return out;
}

/** Mailbox name and RFC 4466 select parameters (CONDSTORE, QRESYNC: RFC 7162). */
function selectArgs(s: Session, args: Args): [string, SelectParams] {
  const raw = args.astring("mailbox name");
  const params = args.more
    ? parseSelectParams(s, args.list("select parameters"))
    : { condstore: false, qresync: null };
  args.end();
  return [raw, params];
}

const selectCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const [raw, params] = selectArgs(s, args);
    return await select(s, raw, false, params);
  },
};

const examineCommand: CommandSpec = {
  states: AUTHED,
  async run(s, { args }) {
    const [raw, params] = selectArgs(s, args);
    return await select(s, raw, true, params);
  },
};

const unselectCommand: CommandSpec = {
  states: SELECTED,
  run(s, { args }) {
    args.end();
    deselect(s);
    return Promise.resolve({ text: "UNSELECT completed" });
  },
};

/** Removes \Deleted messages (all, or those in `uidSet`); returns the UIDs removed. */
export async function expungeDeleted(s: Session, uidFilter?: (uid: number) => boolean) {
  const view = s.requireWritable();
  const doomed: number[] = [];
  if (view.folder.deletedCount === 0) return doomed;
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
const closeCommand: CommandSpec = {
  states: SELECTED,
  async run(s, { args }) {
    args.end();
    if (!s.view!.readOnly) await expungeDeleted(s);
    deselect(s);
    return { text: "CLOSE completed" };
  },
};

// RFC 3501 §6.4.1: our writes are durable when made; CHECK is a poll.
const checkCommand: CommandSpec = {
  states: SELECTED,
  async run(s, { args }) {
    args.end();
    await s.sendUpdates(true, true);
    return { text: "CHECK completed" };
  },
};

const expungeCommand: CommandSpec = {
  states: SELECTED,
  uid: true,
  async run(s, { args, uid }) {
    let filter: ((u: number) => boolean) | undefined;
    if (uid) {
      const ranges = resolveRanges(parseSequenceSet(args.atom("UID set")), s.view!.lastUid);
      filter = (u) => inRanges(ranges, u);
    }
    args.end();
    const removed = await expungeDeleted(s, filter);
    // RFC 7162 §3.2.7 (as Dovecot and mox do for CONDSTORE sessions): the new
    // HIGHESTMODSEQ comes with the tagged OK when messages were removed.
    if (s.condstore && removed.length > 0) {
      return { text: "EXPUNGE completed", code: `HIGHESTMODSEQ ${s.view!.folder.highestModseq}` };
    }
    return { text: "EXPUNGE completed" };
  },
};

export const SELECT_COMMANDS: Record<string, CommandSpec> = {
  SELECT: selectCommand,
  EXAMINE: examineCommand,
  UNSELECT: unselectCommand,
  CLOSE: closeCommand,
  CHECK: checkCommand,
  EXPUNGE: expungeCommand,
};
