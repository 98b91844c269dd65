/**
 * Reconciling a folder with its directories after changes this process did not make
 * (other Maildir software): files added get UIDs, files gone are expunged, renamed
 * files (flags changed) get a new mod-sequence. The directories are read only when
 * DirMarks says they may have changed.
 */
import { join } from "node:path";
import { eachParallel } from "../fsutil.ts";
import { baseOf, parseFileName } from "../maildir_names.ts";
import { mtimeOf, type ScanPlan, type Sub, SUBS } from "./dirs.ts";
import { entryPath, type MessageEntry, newEntry, rowOf, storedName } from "./messages.ts";
import { assignUids, clearMessages, type FolderState, insertEntry, removeEntry } from "./state.ts";

/** A message file as found: its directory and exact name. */
interface Found {
  sub: Sub;
  name: string;
}

/** A known message whose file is now under another name. */
interface Renamed extends Found {
  e: MessageEntry;
  flags: string;
}

/**
 * Brings the messages up to date with the directories: one stat each when nothing
 * changed. `force` reads them whatever their mtimes say. True when anything changed.
 */
export async function checkDirs(st: FolderState, force: boolean): Promise<boolean> {
  const plan = await st.dirs.scanPlan(force, (sub) => st.table.filesIn(sub));
  return plan ? await scanDirs(st, plan) : false;
}

async function readDir(folderPath: string, sub: Sub, into: Map<string, Found>): Promise<void> {
  for await (const e of Deno.readDir(join(folderPath, sub))) {
    if (!e.isFile || e.name.startsWith(".") || /[\n\r]/.test(e.name)) continue;
    const base = baseOf(e.name);
    // The same message in new/ and cur/ (caught mid-move): cur/ wins.
    if (sub === "new" && into.get(base)?.sub === "cur") continue;
    into.set(base, { sub, name: e.name });
  }
}

/** Reads directories and reconciles the messages (and the index) with what is there. */
async function scanDirs(st: FolderState, plan: ScanPlan): Promise<boolean> {
  const { table, modseqs, index } = st;
  const marks = plan.marks;
  let subs = plan.subs;
  let restarted = false;
  let list = await st.uids.sync();
  if (!list || list.uidValidity !== st.uids.validity) {
    // The UID list was lost or replaced: every message gets a UID again.
    if (!list) list = await st.uids.create();
    st.uids.adopt(list);
    clearMessages(st);
    modseqs.restartIndex();
    subs = [...SUBS];
    restarted = true;
  }
  const want = new Set(subs);
  const onDisk = new Map<string, Found>();
  for (const sub of SUBS) if (want.has(sub)) await readDir(st.path, sub, onDisk);
  if (!want.has("cur")) {
    // A message no longer in new/ may have moved to cur/: look there too.
    for (const uid of table.inNew) {
      if (onDisk.has(table.byUid.get(uid)!.base)) continue;
      marks.cur = { mtime: await mtimeOf(join(st.path, "cur")), checkedAt: Date.now() };
      await readDir(st.path, "cur", onDisk);
      want.add("cur");
      break;
    }
  }
  const { gone, renamed } = compareKnown(st, want, onDisk, list.byBase);
  const flagsChanged = renamed.some((r) => r.flags !== r.e.flags);
  let modseq = 0;
  if (gone.length || onDisk.size || flagsChanged) modseq = await modseqs.next();
  const added = await newEntries(st, onDisk, modseq);
  for (const e of gone) removeEntry(st, e);
  for (const r of renamed) {
    if (r.flags === r.e.flags) {
      table.update(r.e, { sub: r.sub, name: r.name });
      continue;
    }
    table.update(r.e, { sub: r.sub, name: r.name, flags: r.flags, modseq });
    modseqs.logChange(r.e.uid, modseq);
  }
  for (const e of added) insertEntry(st, e);
  if (gone.length) table.rebuildUids();
  for (const sub of want) st.dirs.settle(sub, marks[sub]);
  index.tx((ix) => {
    for (const e of gone) ix.remove(e.uid, e.base, modseq);
    for (const r of renamed) {
      ix.setFlags(r.e.uid, r.e.sub, storedName(r.e), r.e.flags, r.e.modseq);
    }
    for (const e of added) ix.put(rowOf(e));
    st.dirs.saveTo(ix);
    ix.setMeta({ highestmodseq: modseqs.highest });
  });
  if ([...added, ...renamed.map((r) => r.e)].some((e) => st.keywords.hasUnknown(e.flags))) {
    await st.keywords.load();
  }
  return restarted || gone.length > 0 || renamed.length > 0 || added.length > 0;
}

/**
 * Known messages whose files are gone or renamed. What is left in `onDisk` afterwards
 * are new files.
 */
function compareKnown(
  st: FolderState,
  want: ReadonlySet<Sub>,
  onDisk: Map<string, Found>,
  uidOfBase: ReadonlyMap<string, number>,
): { gone: MessageEntry[]; renamed: Renamed[] } {
  const { byUid, inNew } = st.table;
  // Only messages in a directory that was read can be missing from it: with cur/ scanned
  // alone, the messages in new/ are not gone (a foreign file in cur/ must not drop them).
  const candidates = want.has("cur")
    ? [...byUid.values()].filter((e) => want.has(e.sub))
    : [...inNew].map((u) => byUid.get(u)!);
  const gone: MessageEntry[] = [];
  const renamed: Renamed[] = [];
  const found = (e: MessageEntry, f: Found) => {
    onDisk.delete(e.base);
    if (f.name !== e.name || f.sub !== e.sub) {
      renamed.push({ e, sub: f.sub, name: f.name, flags: parseFileName(f.name).flags });
    }
  };
  for (const e of candidates) {
    const f = onDisk.get(e.base);
    if (f) found(e, f);
    else gone.push(e);
  }
  // Files of known messages that moved into a directory we scanned alone.
  for (const [base, f] of onDisk) {
    const uid = uidOfBase.get(base);
    const e = uid === undefined ? undefined : byUid.get(uid);
    if (e && e.base === base) found(e, f);
  }
  return { gone, renamed };
}

/** Entries for new files, with UIDs, sorted by UID; sizes from the name (",S=") or the file. */
async function newEntries(
  st: FolderState,
  onDisk: ReadonlyMap<string, Found>,
  modseq: number,
): Promise<MessageEntry[]> {
  const assigned = await assignUids(st, [...onDisk.keys()]);
  const added: MessageEntry[] = [];
  for (const [base, f] of onDisk) {
    const parsed = parseFileName(f.name);
    added.push(newEntry({
      uid: assigned.get(base)!,
      base,
      sub: f.sub,
      name: f.name,
      flags: parsed.flags,
      size: parsed.size ?? -1,
      internalDate: null,
      modseq,
      extra: undefined,
    }));
  }
  await eachParallel(added.filter((e) => e.size < 0), async (e) => {
    try {
      e.size = (await Deno.stat(entryPath(st.path, e))).size;
    } catch {
      e.size = 0; // gone again: the next scan removes it
    }
  });
  return added.sort((a, b) => a.uid - b.uid);
}
