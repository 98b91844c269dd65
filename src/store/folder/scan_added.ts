/**
 * A first SELECT's new files (scan.ts, while a worker moves new/ to cur/) put straight
 * into the folder's table (columns.ts): UIDs, sizes and flags in typed arrays and the
 * names the scan found, then one push per message, rather than an entry object per
 * message held from the UID assignment to the answer. Made in one pass of 100,000, those
 * entries outgrew V8's young generation and were promoted: 15-20 MB of the garbage V8's
 * memory reducer later collected in a long pause (docs/performance.md, branch reducer).
 */
import { join } from "node:path";
import { eachParallel } from "../fsutil.ts";
import { parseFileName } from "../maildir_names.ts";
import type { Sub } from "./dirs.ts";
import { canonicalName } from "./entry.ts";
import type { FolderIndex } from "./index_db.ts";
import { nameAt, type NewListing, targetOf } from "./new_listing.ts";
import { assignUidsSorted, type FolderState } from "./state.ts";

/** A message file as found: its directory and exact name. */
export interface Found {
  sub: Sub;
  name: string;
  /** A file of new/ with this base is being moved (moves.ts): its listing position. */
  moveAt?: number;
}

/**
 * The files a scan found by base name: a file of a big new/ being moved (moves.ts) is its
 * listing position, a number, rather than a `Found` and its target name made for each of
 * 90,000 files and held across the UID list's fsync (promoted garbage, freed later in a
 * pause of V8's memory reducer: docs/performance.md); foundIn() makes them when needed.
 */
export type OnDisk = Map<string, Found | number>;

/** The file of `v` (an OnDisk value); a listing position is the file in cur/ it moves to. */
export function foundIn(v: Found | number, listing: NewListing | null): Found {
  if (typeof v !== "number") return v;
  const name = nameAt(listing!, v);
  // Most names in new/ have no flags part: the target made from the base.
  return { sub: "cur", name: name.includes(":") ? targetOf(name) : `${name}:2,`, moveAt: v };
}

/** New files with their UIDs, sizes and flags, to insert once the scan's changes are made. */
export interface AddedFiles {
  /**
   * Base names in name order; `uids[i]` is the UID of `bases[i]`, `found[i]` its file (see
   * OnDisk: a number is a file being moved to its canonical name in cur/).
   */
  bases: string[];
  found: (Found | number)[];
  uids: Uint32Array;
  sizes: Float64Array;
  flags: string[];
  /** Some flags name a keyword the folder's keyword file does not have. */
  unknownKeywords: boolean;
}

/**
 * UIDs (durably, the UID list) and sizes (from the name's ",S=", else the file's) of the
 * new files in `onDisk`; the UID of each file of `moving` goes in `uidAt` by position.
 */
export async function prepareAdded(
  st: FolderState,
  onDisk: ReadonlyMap<string, Found | number>,
  moving: NewListing,
  uidAt: Uint32Array,
): Promise<AddedFiles> {
  const bases = [...onDisk.keys()];
  const uids = await assignUidsSorted(st, bases);
  const n = bases.length, sizes = new Float64Array(n), flags = new Array<string>(n);
  const found = new Array<Found | number>(n);
  const unsized: number[] = [];
  let unknownKeywords = false;
  for (let i = 0; i < n; i++) {
    const v = found[i] = onDisk.get(bases[i])!;
    const f = foundIn(v, moving); // made and dropped here: dies young
    const parsed = parseFileName(f.name);
    flags[i] = parsed.flags;
    if (!unknownKeywords && st.keywords.hasUnknown(parsed.flags)) unknownKeywords = true;
    if (parsed.size === null) unsized.push(i);
    else sizes[i] = parsed.size;
    if (f.moveAt !== undefined) uidAt[f.moveAt] = uids[i];
  }
  await eachParallel(unsized, async (i) => {
    const f = foundIn(found[i], moving);
    // A file being moved is at one of its two names.
    const paths = [join(st.path, f.sub, f.name)];
    if (f.moveAt !== undefined) paths.push(`${st.path}/new/${nameAt(moving, f.moveAt)}`);
    sizes[i] = await sizeAtOneOf(paths);
  });
  return { bases, found, uids, sizes, flags, unknownKeywords };
}

/**
 * The size of a file found a moment ago at one of `paths`, each tried twice in turn (a
 * rename may land between two stats); 0 when it is gone (the next scan removes it).
 */
export async function sizeAtOneOf(paths: readonly string[]): Promise<number> {
  for (const path of [...paths, ...paths]) {
    try {
      return (await Deno.stat(path)).size;
    } catch { /* try the other name, or once more */ }
  }
  return 0;
}

/**
 * Inserts the prepared files into the table in UID order, all with mod-sequence `modseq`;
 * their UIDs in that order. The table holds no message above them (a first read).
 */
export function insertAdded(st: FolderState, a: AddedFiles, modseq: number): Uint32Array {
  const n = a.bases.length;
  let order: Uint32Array | null = null;
  for (let i = 1; i < n; i++) {
    if (a.uids[i - 1] > a.uids[i]) {
      // The UID list had UIDs for some names (an import): by UID.
      order = new Uint32Array(n).map((_, k) => k).sort((x, y) => a.uids[x] - a.uids[y]);
      break;
    }
  }
  const inserted = new Uint32Array(n);
  for (let k = 0; k < n; k++) {
    const i = order ? order[k] : k;
    const base = a.bases[i], v = a.found[i], flags = a.flags[i];
    st.table.insertFile(
      a.uids[i],
      base,
      inNew(v),
      flags,
      a.sizes[i],
      null,
      modseq,
      oddName(v, base, flags),
    );
    st.uids.cover(a.uids[i]);
    inserted[k] = a.uids[i];
  }
  return inserted;
}

/** Whether the file of an OnDisk value is in new/ (one being moved goes to cur/). */
function inNew(v: Found | number): boolean {
  return typeof v === "object" && v.sub === "new";
}

/**
 * A file's name when it is not the canonical one for its directory and flags, else null;
 * a file being moved goes to its canonical name in cur/ (targetOf): null, with no name made.
 */
function oddName(v: Found | number, base: string, flags: string): string | null {
  if (typeof v === "number") return null;
  return v.name === canonicalName(v.sub, base, flags) ? null : v.name;
}

/**
 * The index rows of the files insertAdded put in the table (FolderIndex.putMany, many
 * per statement), from the prepared arrays as inserted. Read back from the table, each
 * row was an entry (its base decoded again) and a row object, and a `run()` of its own:
 * 6 MB of old-space garbage after a first SELECT's answer (docs/performance.md). A later
 * change to one of these messages writes the index after this (the index runs deferred
 * work before any other), so the rows need not be read from the table.
 */
export function putAdded(ix: FolderIndex, a: AddedFiles, modseq: number): void {
  ix.putMany(a.bases.length, (i, p, at) => {
    const base = a.bases[i], v = a.found[i], flags = a.flags[i];
    p[at] = a.uids[i];
    p[at + 1] = base;
    p[at + 2] = inNew(v) ? 0 : 1;
    p[at + 3] = oddName(v, base, flags);
    p[at + 4] = flags;
    p[at + 5] = a.sizes[i];
    p[at + 6] = null; // the internal date, learnt later (IndexLink.noteDate)
    p[at + 7] = modseq;
  });
}
