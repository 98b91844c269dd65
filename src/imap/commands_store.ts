/**
 * Changing and copying messages (RFC 3501 §6.4.6-6.4.7, RFC 9051 §6.4.6-6.4.8):
 * STORE with +FLAGS/-FLAGS/FLAGS[.SILENT], keywords and UNCHANGEDSINCE (RFC 7162
 * §3.1.3), COPY with COPYUID (RFC 4315 §3), MOVE (RFC 6851), each with its UID form.
 */
import { FlagError, type MessageEntry } from "../store/folder/folder.ts";
import { FolderNameError } from "../store/maildir_names.ts";
import { bad, flagsArg, formatSet, ImapError, mailboxName, no, parseSequenceSet } from "./args.ts";
import { type CommandSpec, SELECTED } from "./command_table.ts";
import { parseModSeq } from "./condstore.ts";
import { markRecent } from "./recent.ts";
import { learnFromCopy } from "./spam_learn.ts";
import type { Session } from "./session.ts";
import { requireTarget } from "./store_calls.ts";

/** Messages changed per batch (one folder update, one new mod-sequence each). */
const STORE_BATCH = 256;
const NO_UIDS: ReadonlySet<number> = new Set();

const storeCommand: CommandSpec = {
  states: SELECTED,
  uid: true,
  noExpunge: true,
  async run(s, { args, uid }) {
    const view = s.requireWritable();
    const ranges = parseSequenceSet(args.atom("sequence set"));
    let unchangedSince: number | undefined;
    if (args.peek()?.kind === "list") {
      // RFC 7162 §3.1.3: STORE (UNCHANGEDSINCE n), a CONDSTORE enabling command.
      const mods = args.list("STORE modifiers");
      for (let i = 0; i < mods.length; i++) {
        const t = mods[i];
        const name = t.kind === "atom" ? t.value.toUpperCase() : "";
        if (name === "UNCHANGEDSINCE" && unchangedSince === undefined) {
          unchangedSince = parseModSeq(mods[++i]);
        } else throw bad(`Invalid STORE modifier ${name.slice(0, 30) || "(list)"}`);
      }
      if (unchangedSince === undefined) throw bad("Empty STORE modifier list");
    }
    const item = args.atom("data item").toUpperCase();
    const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(item);
    if (!m) throw bad(`Invalid STORE data item ${item.slice(0, 30)}`);
    const rest = args.rest();
    if (rest.length === 0) throw bad("Missing flags");
    // Flags come as one list, or (leniently, as RFC 3501 §9 allows) as bare atoms.
    const names = rest.flatMap((t) => flagsArg(t));
    if (unchangedSince !== undefined) s.enableCondstore();
    const folder = view.folder;
    let letters: string;
    try {
      letters = await folder.lettersFor(names);
    } catch (e) {
      if (e instanceof FlagError) throw no(e.message, "LIMIT");
      throw e;
    }
    // A keyword new to the mailbox is announced before any FETCH shows it (RFC 3501 §7.2.6).
    s.out.text(view.announceKeywords());
    const silent = m[2] !== undefined;
    const compute = (e: MessageEntry): string => {
      if (m[1] === "+") return e.flags + letters;
      if (m[1] === "-") return [...e.flags].filter((c) => !letters.includes(c)).join("");
      return letters;
    };
    const modified: number[] = [];
    let changed = false;
    for (const [first, last] of view.runs(ranges, uid)) {
      for (let start = first; start <= last; start += STORE_BATCH) {
        const end = Math.min(last, start + STORE_BATCH - 1);
        const uids = view.uids.slice(start, end + 1);
        const r = await folder.updateFlags(uids, compute, { unchangedSince });
        // The sets only when they are read (a STORE of 50,000 made 200 of each).
        const failed = r.modified.length ? new Set(r.modified) : NO_UIDS;
        const done = s.condstore ? new Set(r.changed.map((e) => e.uid)) : NO_UIDS;
        for (const e of r.changed) view.noteFlags(e.uid, e.modseq);
        if (r.changed.length) changed = true;
        let out = "";
        for (let i = start; i <= end; i++) {
          const u = view.uids[i];
          if (failed.has(u)) {
            modified.push(uid ? u : i + 1);
            continue;
          }
          // .SILENT reports nothing here unless CONDSTORE's new mod-sequence: no entry
          // made per message then (50,000 of them were promoted garbage).
          if (silent && !(s.condstore && done.has(u))) continue;
          const e = view.entry(u);
          if (!e) continue; // expunged by another session (RFC 2180 §4.2)
          const ms = s.condstore ? ` MODSEQ (${e.modseq})` : "";
          if (!silent) {
            const ids = uid || s.condstore ? ` UID ${u}` : "";
            out += `* ${i + 1} FETCH (FLAGS (${s.flagText(u, e)})${ids}${ms})\r\n`;
          } else if (s.condstore && done.has(u)) {
            // RFC 7162 §3.1.3: the new mod-sequence is reported even with .SILENT.
            out += `* ${i + 1} FETCH (UID ${u}${ms})\r\n`;
          }
        }
        s.out.text(out);
        await s.out.maybeFlush();
      }
    }
    if (changed) view.notifyOthers();
    if (modified.length > 0) {
      modified.sort((a, b) => a - b);
      return { text: "Conditional STORE failed", code: `MODIFIED ${formatSet(modified)}` };
    }
    return { text: "STORE completed" };
  },
};

async function copyOrMove(s: Session, args: import("./args.ts").Args, uid: boolean, move: boolean) {
  const view = move ? s.requireWritable() : s.view!;
  const ranges = parseSequenceSet(args.atom("sequence set"));
  const name = mailboxName(args.astring("mailbox name"), s.utf8);
  args.end();
  const store = s.ctx.store;
  await requireTarget(s, name);
  const picked = view.select(ranges, uid).map(([, u]) => u).filter((u) => view.entry(u));
  if (picked.length === 0) {
    return { text: `${move ? "MOVE" : "COPY"} completed (no messages)` };
  }
  const sameFolder = store.folderPath(s.root, name) === view.folder.path;
  if (!move || sameFolder) await checkQuota(s, picked.reduce((n, u) => n + view.entry(u)!.size, 0));
  let result;
  try {
    result = await store.copyMessages(view.folder, picked, s.root, name, {
      move: move && !sameFolder,
    });
  } catch (e) {
    if (e instanceof FlagError) throw no(e.message, "LIMIT");
    if (e instanceof FolderNameError) throw no(e.message, "TRYCREATE");
    throw e;
  }
  const { uidValidity, pairs } = result;
  markRecent(store.folderPath(s.root, name), pairs.map((p) => p[1]));
  // SPEC §9 SpamLearn: into or out of Junk teaches rspamd, after this reply (not awaited).
  learnFromCopy(s, view.name, name, pairs.map((p) => p[1]));
  if (move && sameFolder) {
    // Moving into the same mailbox: copies were made; now remove the originals.
    await view.folder.expunge(pairs.map((p) => p[0]));
    store.notify(view.folder.path);
  }
  const code = pairs.length
    ? `COPYUID ${uidValidity} ${formatSet(pairs.map((p) => p[0]))} ${
      formatSet(pairs.map((p) => p[1]))
    }`
    : undefined;
  if (move) {
    // RFC 6851 §4.3: COPYUID goes in an untagged OK before the EXPUNGEs.
    if (code) s.out.text(`* OK [${code}] Moved\r\n`);
    return { text: "MOVE completed" };
  }
  return { text: "COPY completed", code };
}

/** SPEC §5 quota: refuse when the mailbox would grow past the user's QUOTA. */
export async function checkQuota(s: Session, adding: number): Promise<void> {
  const user = s.user && s.ctx.directory.getUser(s.user.name, s.user.domain);
  const quota = user?.quota ?? 0;
  if (quota <= 0) return;
  const used = await s.ctx.store.usage(s.root);
  if (used + adding > quota) throw new ImapError("NO", "Quota exceeded", "OVERQUOTA");
}

const copyCommand: CommandSpec = {
  states: SELECTED,
  uid: true,
  run: (s, { args, uid }) => copyOrMove(s, args, uid, false),
};

const moveCommand: CommandSpec = {
  states: SELECTED,
  uid: true,
  run: (s, { args, uid }) => copyOrMove(s, args, uid, true),
};

export const STORE_COMMANDS: Record<string, CommandSpec> = {
  STORE: storeCommand,
  COPY: copyCommand,
  MOVE: moveCommand,
};
