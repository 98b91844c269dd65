/**
 * The parts one folder's state is made of, shared by its operations (scan.ts,
 * add.ts, changes.ts) and put together by Folder (folder.ts), which runs
 * every change under its mutex. Each part keeps its own data private; the helpers below
 * are the changes that must keep two parts in step.
 */
import { DirMarks } from "./dirs.ts";
import type { DirMark, IndexMeta } from "./index_db.ts";
import { decodeSummary, encodeSummary, newSummaryGen } from "./summary.ts";
import { IndexLink } from "./index_link.ts";
import { KeywordTable } from "./keywords.ts";
import { type MessageEntry, MessageTable } from "./messages.ts";
import { ModSeqs } from "./modseq.ts";
import { MovesInFlight } from "./moves.ts";
import { FolderUids } from "./uids.ts";
import { UidListCache } from "./uidlist.ts";

export interface FolderState {
  readonly path: string;
  readonly table: MessageTable;
  readonly dirs: DirMarks;
  readonly uids: FolderUids;
  readonly modseqs: ModSeqs;
  readonly index: IndexLink;
  readonly keywords: KeywordTable;
  readonly moving: MovesInFlight;
}

export function newFolderState(path: string): FolderState {
  const uids = new FolderUids(path, new UidListCache(path));
  const index = new IndexLink(path);
  return {
    path,
    table: new MessageTable(),
    dirs: new DirMarks(path),
    uids,
    modseqs: new ModSeqs(uids, index),
    index,
    keywords: new KeywordTable(path),
    moving: new MovesInFlight(),
  };
}

/**
 * First use: keywords, the UID list (created when missing) and the index. The index's
 * messages count when it belongs to the list's UIDVALIDITY; else it starts over and
 * the first directory check reads everything. After a clean close the summary in the
 * index stands in for the rows and the UID list until they are needed (summary.ts).
 * `withIndex` false: a closed folder, which works from memory only.
 */
export async function loadFolderState(st: FolderState, withIndex: boolean): Promise<void> {
  await st.keywords.load();
  const opened = withIndex ? st.index.open() : { meta: null, summary: null };
  if (opened.meta && opened.summary && startFromSummary(st, opened.meta, opened.summary)) {
    return;
  }
  const list = (await st.uids.sync()) ?? await st.uids.create();
  st.uids.load(list);
  const meta = opened.meta?.uidValidity === list.uidValidity ? opened.meta : null;
  clearMessages(st);
  st.modseqs.load(meta);
  if (!meta) return;
  st.dirs.load(meta.newDir, meta.curDir);
  st.table.loadRows((after, n) => st.index.rowsAfter(after, n));
  st.uids.cover(st.table.lastUid());
}

const sameMark = (a: DirMark, b: DirMark) => a.mtime === b.mtime && a.checkedAt === b.checkedAt;

/** The summary start, when everything the summary was written against is unchanged. */
function startFromSummary(st: FolderState, meta: IndexMeta, bytes: Uint8Array): boolean {
  const s = decodeSummary(bytes);
  if (
    !s || !meta.clean || s.gen !== meta.summaryGen || s.uidValidity !== meta.uidValidity ||
    s.highestModseq !== meta.highestModseq || !sameMark(s.newDir, meta.newDir) ||
    !sameMark(s.curDir, meta.curDir)
  ) return false;
  const file = st.uids.fileNow();
  if (!file || file.ino !== s.list.ino || file.size !== s.list.size) return false;
  if (file.mtime !== s.list.mtime) return false;
  st.uids.loadSummary(s, file);
  clearMessages(st);
  st.modseqs.load(meta);
  st.dirs.load(meta.newDir, meta.curDir);
  st.table.loadLazy(s, {
    page: (after, limit) => st.index.rowsAfter(after, limit),
    lost: () => st.dirs.reset(),
  });
  st.uids.cover(st.table.lastUid());
  return true;
}

/** The summary written at a clean close (summary.ts), or null when it cannot be trusted. */
export function summaryOf(st: FolderState): { bytes: Uint8Array; gen: number } | null {
  const list = st.uids.listIdentity();
  const flags = st.table.flagColumn();
  if (!list || !flags) return null;
  const { uids, count } = st.table.lazySnapshot(); // runs never needed stay runs
  const gen = newSummaryGen();
  const bytes = encodeSummary({
    gen,
    uidValidity: st.uids.validity,
    uidNext: st.uids.next,
    modseqCeiling: st.uids.modseqCeiling,
    highestModseq: st.modseqs.highest,
    newDir: st.dirs.mark("new"),
    curDir: st.dirs.mark("cur"),
    list,
    unseen: st.table.unseen,
    deleted: st.table.deleted,
    bytes: st.table.bytes,
    firstUnseen: st.table.firstUnseen(),
    uids,
    count,
    inNew: st.table.recentUids(),
    flags,
  });
  return { bytes, gen };
}

/** Forgets every message, and what the directories held (a new load or UIDVALIDITY). */
export function clearMessages(st: FolderState): void {
  st.table.clear();
  st.dirs.reset();
  st.moving.claimedInNew.clear(); // UIDs of the list replaced
}

/** Adds an entry whose UID is above every other. */
export function insertEntry(st: FolderState, e: MessageEntry): void {
  st.table.insert(e);
  st.uids.cover(e.uid);
}

/** Removes an entry (the caller rebuilds the UID snapshot). */
export function removeEntry(st: FolderState, e: MessageEntry): void {
  st.table.remove(e);
  st.index.forgetDate(e.uid);
}

/** UIDs for new base names, by name (see FolderUids.assign). */
export async function assignUids(st: FolderState, bases: string[]): Promise<Map<string, number>> {
  const sorted = [...bases];
  const uids = await assignUidsSorted(st, sorted);
  return new Map(sorted.map((b, i) => [b, uids[i]]));
}

/** UIDs for new base names: `bases` sorted in place, `uids[i]` of `bases[i]`. */
export async function assignUidsSorted(st: FolderState, bases: string[]): Promise<Uint32Array> {
  const { uids, listLost } = await st.uids.assign(bases, st.table);
  // A new UIDVALIDITY: the next check re-reads the whole folder.
  if (listLost) st.dirs.invalidate();
  return uids;
}
