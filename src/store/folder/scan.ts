/**
 * Reconciling a folder with its directories after changes this process did not make
 * (other Maildir software): files added get UIDs, files gone are expunged, renamed
 * files (flags changed) get a new mod-sequence. The directories are read only when
 * DirMarks says they may have changed.
 */
import { join } from "node:path";
import { eachParallel, yieldToEventLoop } from "../fsutil.ts";
import { log } from "../../log.ts";
import { baseOf, isMessageFile, parseFileName } from "../maildir_names.ts";
import { mtimeOf, type ScanPlan, type Sub, SUBS } from "./dirs.ts";
import { entryPath, type MessageEntry, newEntry, rowOf, storedName } from "./messages.ts";
import { prestartDirWorker } from "./dir_check.ts";
import { moveHere, moveNewOnWorker, type NewMoves } from "./moves.ts";
import { nameAt, type NewListing, targetOf } from "./new_listing.ts";
import {
  type AddedFiles,
  type Found,
  foundIn,
  insertAdded,
  type OnDisk,
  prepareAdded,
  putAdded,
  sizeAtOneOf,
} from "./scan_added.ts";
import type { FolderIndex } from "./index_db.ts";
import type { BaseUidMap } from "./base_uids.ts";
import {
  assignUidsSorted,
  clearMessages,
  type FolderState,
  insertEntry,
  removeEntry,
} from "./state.ts";

/** A known message whose file is now under another name. */
interface Renamed extends Found {
  e: MessageEntry;
  flags: string;
}

/**
 * Brings the messages up to date with the directories: one stat each when nothing
 * changed. `force` reads them whatever their mtimes say. True when anything changed.
 * `claimed`: the caller claims \Recent right after (SELECT); a first read of a big new/
 * moves its files to cur/ on the way (moves.ts), and their UIDs are pushed there. Then
 * `answer` is called as soon as the messages are in place, as moved, while the worker
 * still moves the files (90,000 renames were most of a first SELECT's time): the caller
 * may reply, and readers find a file not moved yet under its name in new/ (st.moving).
 * The check itself returns once the moves are over.
 */
export async function checkDirs(
  st: FolderState,
  force: boolean,
  claimed?: number[],
  answer?: () => void,
): Promise<boolean> {
  const plan = await st.dirs.scanPlan(force, (sub) => st.table.filesIn(sub));
  return plan ? await scanDirs(st, plan, claimed, answer) : false;
}

/**
 * Answers (see checkDirs) and waits for the worker's moves (moves.ts); entries of files
 * that did not move go back to new/ under their name (in memory and in the index) and
 * the next check reads the directories again. The caller was told of every file as
 * claimed: one that did not move (a rename failed twice; a file gone is expunged by the
 * next scan) is kept as claimed (st.moving.claimedInNew), not \Recent for a later session.
 */
async function endMoves(
  st: FolderState,
  moves: NewMoves,
  listing: NewListing,
  uidAt: Uint32Array,
  claimed: number[],
  answer?: () => void,
): Promise<void> {
  const ofNew = uidAt.filter((uid) => uid !== 0).sort();
  for (let k = 0; k < ofNew.length; k++) claimed.push(ofNew[k]);
  st.moving.set(listing);
  try {
    answer?.();
    await yieldToEventLoop(); // the answer goes out before the rows are written
    st.index.runDeferred();
    // cur/ is now big: its verification (verify.ts) comes in 30 s; its worker's blocking
    // start is paid here, beside the rows, rather than in a later client's command.
    prestartDirWorker();
    const moved = await movedFiles(st.path, moves, listing);
    const back: MessageEntry[] = [];
    for (let i = 0; i < listing.count; i++) {
      if (moved[i] === 1 || uidAt[i] === 0) continue;
      const e = st.table.byUid.get(uidAt[i]);
      const name = nameAt(listing, i);
      if (e && e.sub === "cur" && e.name === targetOf(name)) {
        st.table.update(e, { sub: "new", name });
        st.moving.claimedInNew.add(e.uid); // the caller already has it as \Recent
        back.push(e);
      }
    }
    if (back.length) {
      st.dirs.invalidate();
      st.index.tx((ix) => {
        for (const e of back) ix.setFlags(e.uid, e.sub, storedName(e), e.flags, e.modseq);
      });
    }
    await moves.finish();
    st.index.tx((ix) => st.dirs.saveTo(ix));
  } finally {
    st.moving.clear();
  }
}

/** A scan that failed after its moves began: waits for them and ends their marks' change. */
async function abandonMoves(moves: NewMoves): Promise<void> {
  await moves.reply.catch(() => {});
  await moves.finish().catch(() => {});
}

/**
 * Which files of the listing the moves put in cur/ (1 by position). The worker stops at
 * its first failed rename (ENOSPC, EROFS: the rest would fail too); what it left is tried
 * once more here, file by file, so one file that cannot move does not keep all after it
 * in new/.
 */
async function movedFiles(dir: string, moves: NewMoves, listing: NewListing): Promise<Uint8Array> {
  const reply = await moves.reply;
  const moved = reply.done;
  if (reply.error === null) return moved;
  const left: number[] = [];
  for (let i = 0; i < listing.count; i++) if (moved[i] !== 1) left.push(i);
  if (left.length === 0) return moved;
  const retry = await moveHere(dir, listing, left);
  let notMoved = 0;
  for (const i of left) {
    if (retry.done[i] === 1) moved[i] = 1;
    else notMoved++; // failed again, or gone (removed meanwhile)
  }
  log("store").warn(
    `moving new/ to cur/ in ${dir}: ${reply.error}; tried again file by file: ` +
      (retry.error === null
        ? "moved"
        : `${notMoved} not moved (first: ${retry.error}); they stay in new/ until a later ` +
          `SELECT moves them: check the file system of ${dir} (space, permissions)`),
  );
  return moved;
}

/**
 * Reads a directory's message files into `into`. `blocking`: in one call (a first
 * SELECT's read of cur/, which holds the event loop for its moves anyway: entry by entry
 * it cost a thread hop each).
 */
async function readDir(
  folderPath: string,
  sub: Sub,
  into: OnDisk,
  blocking = false,
): Promise<void> {
  const dir = join(folderPath, sub);
  for await (const e of blocking ? Deno.readDirSync(dir) : Deno.readDir(dir)) {
    if (!isMessageFile(e)) continue;
    const base = baseOf(e.name);
    // The same message in new/ and cur/ (caught mid-move): cur/ wins. (A number, a file
    // of new/ moving, is never there when new/ is read.)
    const had = into.get(base);
    if (sub === "new" && typeof had === "object" && had.sub === "cur") continue;
    into.set(base, { sub, name: e.name });
  }
}

/** Reads directories and reconciles the messages (and the index) with what is there. */
async function scanDirs(
  st: FolderState,
  plan: ScanPlan,
  claimed?: number[],
  answer?: () => void,
): Promise<boolean> {
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
  const onDisk: OnDisk = new Map();
  // A SELECT of a folder read for the first time: a big new/ is read and moved to cur/ on
  // a worker (moves.ts); its files are taken as they will be once moved.
  const moves = claimed && want.has("new") && table.count === 0 ? await moveNewOnWorker(st) : null;
  try {
    // cur/ is read while the worker lists new/.
    for (const sub of SUBS) {
      if (want.has(sub) && !(sub === "new" && moves)) await readDir(st.path, sub, onDisk, !!moves);
    }
    const listing = moves ? await moves.listed : null;
    for (let i = 0; i < (listing?.count ?? 0); i++) {
      // Most names in new/ have no flags part: the name is the base.
      const name = nameAt(listing!, i), base = name.includes(":") ? baseOf(name) : name;
      const f = onDisk.get(base);
      if (f === undefined) onDisk.set(base, i); // its position (OnDisk)
      // Read in cur/ already moved there by the worker (a message in both beforehand is
      // not listed: new_listing.ts): cur/ wins (readDir), and it is moving.
      else if (typeof f === "object") f.moveAt ??= i;
    }
    if (!want.has("cur")) {
      // A message no longer in new/ may have moved to cur/: look there too.
      for (const uid of table.inNewUids()) {
        if (onDisk.has(table.byUid.get(uid)!.base)) continue;
        marks.cur = { mtime: await mtimeOf(join(st.path, "cur")), checkedAt: Date.now() };
        await readDir(st.path, "cur", onDisk);
        want.add("cur");
        break;
      }
    }
    const { gone, renamed } = compareKnown(st, want, onDisk, list.byBase, listing);
    const flagsChanged = renamed.some((r) => r.flags !== r.e.flags);
    let modseq = 0;
    if (gone.length || onDisk.size || flagsChanged) modseq = await modseqs.next();
    const uidAt = new Uint32Array(listing?.count ?? 0);
    // A first read while new/ moves: straight into the table's columns (scan_added.ts).
    const prepared: AddedFiles | null = listing
      ? await prepareAdded(st, onDisk, listing, uidAt)
      : null;
    const added = listing ? [] : await newEntries(st, onDisk, modseq);
    let addedUids: Uint32Array | null = null;
    for (const e of gone) removeEntry(st, e);
    for (const r of renamed) {
      if (r.flags === r.e.flags) {
        table.update(r.e, { sub: r.sub, name: r.name });
        continue;
      }
      table.update(r.e, { sub: r.sub, name: r.name, flags: r.flags, modseq });
      modseqs.logChange(r.e.uid, modseq);
    }
    if (gone.length) table.rebuildUids();
    for (const sub of want) st.dirs.settle(sub, marks[sub]);
    // Rows as the files will be (endMoves corrects the rest); while files move, written
    // after the answer (100,000 rows are a third of the loop's work): the index runs them
    // before anything else reads or writes it.
    const write = (ix: FolderIndex) => {
      for (const e of gone) ix.remove(e.uid, e.base, modseq);
      for (const r of renamed) {
        ix.setFlags(r.e.uid, r.e.sub, storedName(r.e), r.e.flags, r.e.modseq);
      }
      for (const e of added) ix.put(rowOf(e));
      if (prepared) putAdded(ix, prepared, modseq);
      st.dirs.saveTo(ix);
      ix.setMeta({ highestmodseq: modseqs.highest });
    };
    if (moves) index.defer(write);
    else index.tx(write);
    for (const e of added) insertEntry(st, e);
    if (prepared) addedUids = insertAdded(st, prepared, modseq);
    if (
      prepared?.unknownKeywords ||
      [...added, ...renamed.map((r) => r.e)].some((e) => st.keywords.hasUnknown(e.flags))
    ) {
      await st.keywords.load();
    }
    if (moves) await endMoves(st, moves, listing!, uidAt, claimed!, answer);
    const addedCount = added.length + (addedUids?.length ?? 0);
    return restarted || gone.length > 0 || renamed.length > 0 || addedCount > 0;
  } catch (e) {
    // The moves run on: the mutex is held until they end, and the marks' change they
    // began is finished (a scan meanwhile would race with the renames).
    if (moves) await abandonMoves(moves);
    throw e;
  }
}

/**
 * Known messages whose files are gone or renamed. What is left in `onDisk` afterwards
 * are new files.
 */
function compareKnown(
  st: FolderState,
  want: ReadonlySet<Sub>,
  onDisk: OnDisk,
  uidOfBase: BaseUidMap,
  listing: NewListing | null,
): { gone: MessageEntry[]; renamed: Renamed[] } {
  const byUid = st.table.byUid;
  // Only messages in a directory that was read can be missing from it: with cur/ scanned
  // alone, the messages in new/ are not gone (a foreign file in cur/ must not drop them).
  const candidates = want.has("cur")
    ? [...byUid.values()].filter((e) => want.has(e.sub))
    : st.table.inNewUids().map((u) => byUid.get(u)!);
  const gone: MessageEntry[] = [];
  const renamed: Renamed[] = [];
  const found = (e: MessageEntry, v: Found | number) => {
    const f = foundIn(v, listing);
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
  // Files of known messages that moved into a directory we scanned alone (none when the
  // UID list names no message: a first read, where this loop over 100,000 files made an
  // entry array each, promoted). No file left, no lookup: a BaseUids hashes the names it
  // took as a block on its first one.
  if (onDisk.size === 0 || uidOfBase.size === 0) return { gone, renamed };
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
  onDisk: ReadonlyMap<string, Found | number>,
  modseq: number,
): Promise<MessageEntry[]> {
  // In name order, as the new UIDs are given: the entries come in UID order.
  const bases = [...onDisk.keys()];
  const uids = await assignUidsSorted(st, bases);
  const added: MessageEntry[] = [];
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i], f = foundIn(onDisk.get(base)!, null); // no listing here
    const parsed = parseFileName(f.name);
    added.push(newEntry({
      uid: uids[i],
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
    e.size = await sizeAtOneOf([entryPath(st.path, e)]);
  });
  // In UID order unless the UID list had UIDs for some names (an import): then sorted.
  for (let i = 1; i < added.length; i++) {
    if (added[i - 1].uid > added[i].uid) return inUidOrder(added);
  }
  return added;
}

/**
 * `added` sorted by UID. A first read made entries in directory order, cur/ before new/,
 * while UIDs follow the names across both: a comparison sort of 100,000 entries cost 170
 * ms of a first SELECT. Their UIDs are distinct and mostly dense: each is put in its slot.
 */
function inUidOrder(added: MessageEntry[]): MessageEntry[] {
  let min = Infinity, max = -Infinity;
  for (const e of added) {
    if (e.uid < min) min = e.uid;
    if (e.uid > max) max = e.uid;
  }
  const bySort = () => added.sort((a, b) => a.uid - b.uid);
  if (max - min >= 4 * added.length) return bySort();
  const slots = new Array<MessageEntry | undefined>(max - min + 1);
  for (const e of added) {
    if (slots[e.uid - min] !== undefined) return bySort(); // not distinct after all
    slots[e.uid - min] = e;
  }
  const out: MessageEntry[] = [];
  for (const e of slots) if (e !== undefined) out.push(e);
  return out;
}
