/**
 * The message files of a big new/ as one string of names and their ends, rather than
 * 90,000 `DirEntry` objects and two maps of names (moves.ts). The mover worker lists new/
 * itself and hands this over; the event loop reads a name by its position. Listed on the
 * event loop, `Deno.readDirSync`'s entries and the maps held for the seconds of the moves
 * were 51 MB of promoted garbage per first SELECT of a 100,000-message INBOX, which V8's
 * memory reducer later freed in pauses of 63-198 ms (docs/performance.md, branch
 * reducer). A listing's position is the file's position in every reply about the moves.
 */
import { baseOf, fileNameFor, isMessageFile, parseFileName } from "../maildir_names.ts";

export interface NewListing {
  count: number;
  /**
   * The names one after another, in one string (copied to the event loop in one piece,
   * where a name is then a slice of it: no decoding); name `i` ends at `nameEnd[i]` (in
   * UTF-16 code units), starts where `i - 1` ends.
   */
  names: string;
  nameEnd: Uint32Array;
}

/**
 * The message files of new/ as scan.ts counts them (no dot files, no line breaks), one
 * per base name (the first listed), in directory order; `list` the same names as strings.
 * A message with a file in cur/ too (another program caught between its link and unlink,
 * or a copy left behind) is the one in cur/, as scan.ts readDir takes it on the event
 * loop: its file in new/ is left out, so it is neither moved over the one in cur/ nor
 * \Recent for this SELECT (the message was seen: RFC 3501 §2.3.2). cur/ is read after
 * new/ and before any move: a file moved meanwhile by another program is in cur/ then.
 */
export function listNew(folderPath: string): { listing: NewListing; list: string[] } {
  let list: string[] = [], flagged = false;
  for (const e of Deno.readDirSync(`${folderPath}/new`)) {
    if (!isMessageFile(e)) continue;
    if (!flagged && e.name.includes(":")) flagged = true;
    list.push(e.name);
  }
  // Two names of one directory differ, so two files of one message need a flags part.
  if (flagged) list = onePerBase(list);
  const inCur = basesIn(`${folderPath}/cur`);
  // Most names in new/ have no flags part: the name is the base.
  const twice = (name: string) => inCur.has(name.includes(":") ? baseOf(name) : name);
  if (list.some(twice)) list = list.filter((name) => !twice(name));
  return { listing: encodeListing(list), list };
}

/** Base names of the message files in `dir` (none when it is missing: the scan says so). */
function basesIn(dir: string): Set<string> {
  const bases = new Set<string>();
  try {
    for (const e of Deno.readDirSync(dir)) if (isMessageFile(e)) bases.add(baseOf(e.name));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return bases;
}

/** The first name of each base name. */
function onePerBase(list: readonly string[]): string[] {
  const seen = new Set<string>(), out: string[] = [];
  for (const name of list) {
    const base = baseOf(name);
    if (seen.has(base)) continue; // one file per message
    seen.add(base);
    out.push(name);
  }
  return out;
}

/** The listing of `list`, names in its order. */
export function encodeListing(list: readonly string[]): NewListing {
  const nameEnd = new Uint32Array(list.length);
  let end = 0;
  for (let i = 0; i < list.length; i++) nameEnd[i] = end += list[i].length;
  return { count: list.length, names: list.join(""), nameEnd };
}

/** The name in new/ at position `i`. */
export function nameAt(l: NewListing, i: number): string {
  return l.names.slice(i ? l.nameEnd[i - 1] : 0, l.nameEnd[i]);
}

/** The name in cur/ a file of new/ named `name` moves to (its flags kept, sorted). */
export function targetOf(name: string): string {
  return fileNameFor(baseOf(name), parseFileName(name).flags);
}

/** The buffer of a listing, to transfer rather than copy it. */
export function listingBuffers(l: NewListing): ArrayBuffer[] {
  return [l.nameEnd.buffer] as ArrayBuffer[];
}
