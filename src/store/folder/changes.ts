/**
 * Changes sessions make to messages already in a folder: flags (renaming files in
 * cur/), \Recent claims (moving files from new/ to cur/) and expunges. Each runs inside
 * DirMarks.own, so the directory mtimes it moves need no scan, and writes the index in
 * one transaction. Other software may rename or remove a file at the same time: such a
 * message is left to the next scan.
 */
import { join } from "node:path";
import { eachParallel, syncDir, yieldToEventLoop } from "../fsutil.ts";
import { fileNameFor, sortFlags } from "../maildir_names.ts";
import { type Sub, SUBS } from "./dirs.ts";
import { type EntryChanges, entryPath, type MessageEntry } from "./messages.ts";
import type { FolderIndex } from "./index_db.ts";
import { VANISHED_KEEP } from "./modseq.ts";
import { type FolderState, removeEntry } from "./state.ts";

/** What Folder.updateFlags did. */
export interface FlagUpdate {
  /** Messages whose flags changed, with their new mod-sequence. */
  changed: MessageEntry[];
  /** UIDs left alone because they changed after UNCHANGEDSINCE (RFC 7162 MODIFIED). */
  modified: number[];
  /** UIDs not (or no longer) in the folder. */
  missing: number[];
}

/**
 * Renames a message's file into cur/ under `name` and updates its entry; false when the
 * file is gone (other software removed or renamed it meanwhile). Synchronous: a rename is
 * one short metadata call, and the asynchronous form costs several times more of the
 * event loop's time per file than the call itself (100,000 \Recent claims: seconds);
 * callers run it in slices (inSlices) so the loop is never held for long.
 */
function moveIntoCur(
  st: FolderState,
  e: MessageEntry,
  name: string,
  changes: EntryChanges = {},
): boolean {
  try {
    Deno.renameSync(entryPath(st.path, e), `${st.path}/cur/${name}`);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  st.table.update(e, { ...changes, sub: "cur", name });
  return true;
}

/** Longest run of synchronous file calls before other work gets the event loop. */
const SLICE_MS = 8;
/**
 * Longest the event loop is held across calls. A STORE of 50,000 calls updateFlags per
 * batch of 256 (commands_store.ts STORE_BATCH), each under SLICE_MS, with only promise
 * hops between them: with a slice clock per call it never yielded and held the loop for
 * its whole 0.8-0.9 s (every other session waited; SPEC §7). Not SLICE_MS: each yield
 * costs 2-3 ms of idle time (nested zero timeouts are clamped, fsutil.ts
 * yieldToEventLoop), which every 8 ms made that STORE 25% slower.
 */
const HOLD_MS = 50;
/** When some call last gave the event loop back. */
let lastYield = 0;

/** Runs `work` on each item, yielding to the event loop every SLICE_MS (HOLD_MS across calls). */
export async function inSlices<T>(items: readonly T[], work: (item: T) => void): Promise<void> {
  let sliceStart = performance.now();
  for (let i = 0; i < items.length; i++) {
    work(items[i]);
    if ((i & 31) !== 31) continue;
    const now = performance.now();
    if (now - sliceStart > SLICE_MS || now - lastYield > HOLD_MS) {
      await yieldToEventLoop();
      sliceStart = lastYield = performance.now();
    }
  }
}

/**
 * The index rows of messages just renamed to their canonical names (distinct UIDs), many
 * per statement: one `run()` per row left 64 bytes of old-space garbage each, 3 MB for a
 * STORE of 50,000 (index_sql.ts ROWS_CHUNK).
 */
function writeFlags(ix: FolderIndex, entries: readonly MessageEntry[]): void {
  ix.setFlagsMany(entries.length, (k, p, at) => {
    const e = entries[k];
    p[at] = e.sub === "cur" ? 1 : 0;
    p[at + 1] = null;
    p[at + 2] = e.flags;
    p[at + 3] = e.modseq;
    p[at + 4] = e.uid;
  });
}

/** Moves messages from new/ to cur/; returns the UIDs this caller saw as \Recent. */
export async function claimRecent(st: FolderState): Promise<number[]> {
  if (st.table.recentCount === 0) return [];
  const byUid = st.table.byUid;
  const entries = st.table.inNewUids().map((u) => byUid.get(u)!);
  const claimed: MessageEntry[] = [];
  await st.dirs.own(["new", "cur"], () =>
    inSlices(entries, (m) => {
      if (moveIntoCur(st, m, fileNameFor(m.base, m.flags))) claimed.push(m);
    }));
  st.index.tx((ix) => {
    writeFlags(ix, claimed);
    st.dirs.saveTo(ix);
  });
  // A first SELECT already reported these (their files stayed in new/, scan.ts endMoves).
  const already = st.moving.claimedInNew;
  const uids = claimed.map((m) => m.uid).filter((uid) => !already.delete(uid));
  return uids.sort((a, b) => a - b);
}

/** See Folder.updateFlags. */
export async function updateFlags(
  st: FolderState,
  uids: Iterable<number>,
  compute: (entry: MessageEntry) => string | null,
  opts: { unchangedSince?: number },
): Promise<FlagUpdate> {
  const result: FlagUpdate = { changed: [], modified: [], missing: [] };
  const todo: { e: MessageEntry; flags: string; name: string }[] = [];
  const seen = new Set<number>();
  for (const uid of uids) {
    if (seen.has(uid)) continue; // the same message twice counts once
    seen.add(uid);
    const e = st.table.byUid.get(uid);
    if (!e) {
      result.missing.push(uid);
      continue;
    }
    if (opts.unchangedSince !== undefined && e.modseq > opts.unchangedSince) {
      result.modified.push(uid);
      continue;
    }
    const next = compute(e);
    if (next === null) continue;
    const flags = sortFlags(next);
    if (flags === e.flags) continue;
    todo.push({ e, flags, name: fileNameFor(e.base, flags) });
  }
  if (todo.length === 0) return result;
  const modseq = await st.modseqs.next();
  const subs: Sub[] = todo.some((t) => t.e.sub === "new") ? ["new", "cur"] : ["cur"];
  await st.dirs.own(subs, () =>
    inSlices(todo, (t) => {
      if (!moveIntoCur(st, t.e, t.name, { flags: t.flags, modseq })) {
        result.missing.push(t.e.uid); // gone meanwhile (other software)
        return;
      }
      st.modseqs.logChange(t.e.uid, modseq);
      result.changed.push(t.e);
    }));
  st.index.tx((ix) => {
    writeFlags(ix, result.changed);
    st.dirs.saveTo(ix);
    ix.setMeta({ highestmodseq: st.modseqs.highest });
  });
  return result;
}

/** Removes messages durably; returns the UIDs actually removed. */
export async function expunge(st: FolderState, uids: readonly number[]): Promise<number[]> {
  const doomed = [...new Set(uids)].map((u) => st.table.byUid.get(u)).filter((m) =>
    m !== undefined
  ) as MessageEntry[];
  if (doomed.length === 0) return [];
  const subs = SUBS.filter((s) => doomed.some((m) => m.sub === s));
  await st.dirs.own(subs, () =>
    eachParallel(doomed, async (m) => {
      try {
        await Deno.remove(entryPath(st.path, m));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }));
  const modseq = await st.modseqs.next();
  for (const m of doomed) removeEntry(st, m);
  st.table.rebuildUids();
  await Promise.all(subs.map((s) => syncDir(join(st.path, s))));
  const prune = st.modseqs.noteExpunged(doomed.length);
  st.index.tx((ix) => {
    for (const m of doomed) ix.remove(m.uid, m.base, modseq);
    st.dirs.saveTo(ix);
    ix.setMeta({ highestmodseq: st.modseqs.highest });
    const floor = prune ? ix.pruneVanished(VANISHED_KEEP) : null;
    if (floor !== null) st.modseqs.raiseVanishedFloor(floor);
  });
  return doomed.map((m) => m.uid).sort((a, b) => a - b);
}
