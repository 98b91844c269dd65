/**
 * A folder's file names for a directory check (dir_check.ts), as copies of its columns
 * (columns.ts) rather than 100,000 names: the event loop copies a few typed arrays
 * (native copies, a few milliseconds for 100,000 messages) and the check's worker makes
 * the names. Making them here was an entry and a name string per message, held across the
 * slices of a join into one 5 MB string: about 25 MB allocated on the event loop in the
 * half minute after a big change, promoted, and collected later by V8 in a long pause
 * (docs/performance.md, "100k folder: the stall after a STORE").
 */
import { decodeName, IN_NEW, REMOVED, WIDE } from "./columns.ts";
import { canonicalName } from "./entry.ts";

/** The columns the names are made from; positions as in the folder's table. */
export interface FileColumns {
  count: number;
  /** The base names' bytes; base `i` ends at `nameEnd[i]`, starts where `i - 1` ends. */
  names: Uint8Array;
  nameEnd: Uint32Array;
  bits: Uint8Array;
  flagId: Uint32Array;
  /** The flag letter sets by number. */
  sets: string[];
  /** [position, file name] of the files not named canonically (another program's). */
  odd: [number, string][];
}

/**
 * Octets copied per turn of the event loop (copyColumns). The copies are fresh memory,
 * whose first write costs a page fault per 4 KB (about 12 µs on this VM): for 100,000
 * messages the 3.5 MB in one piece held the loop 2-4 ms quiet, more under load, inside
 * the SELECT that started the check (docs/performance.md "Stop 36, branch postsel").
 */
export const COPY_SLICE = 256 * 1024;

/** Copies `from` into `to` a slice at a time, `pause` before each slice. */
async function copyArray<T extends Uint8Array | Uint32Array>(
  from: T,
  to: T,
  pause: () => Promise<void>,
): Promise<T> {
  const per = COPY_SLICE / from.BYTES_PER_ELEMENT;
  for (let at = 0; at < from.length; at += per) {
    await pause();
    (to as Uint8Array).set((from as Uint8Array).subarray(at, at + per), at);
  }
  return to;
}

/**
 * Copies of `views` (the table's own arrays, columns.ts fileColumns) for a worker, a
 * slice (COPY_SLICE octets) between each `pause`. The table may change during a pause,
 * leaving the copies mixed: the check's verdict is void then (verify.ts compares the
 * table's mutations).
 */
export async function copyColumns(
  views: FileColumns,
  pause: () => Promise<void>,
): Promise<FileColumns> {
  const { count, names, nameEnd, bits, flagId } = views;
  return {
    count,
    names: await copyArray(names, new Uint8Array(names.length), pause),
    nameEnd: await copyArray(nameEnd, new Uint32Array(nameEnd.length), pause),
    bits: await copyArray(bits, new Uint8Array(bits.length), pause),
    flagId: await copyArray(flagId, new Uint32Array(flagId.length), pause),
    sets: views.sets, // a copy already
    odd: views.odd,
  };
}

/** Which of a folder's files: those in new/ or those in cur/. */
export interface FileList {
  columns: FileColumns;
  inNew: boolean;
}

/** The buffers of a list, to transfer rather than copy them to a worker. */
export function transferables(list: FileList): ArrayBuffer[] {
  const c = list.columns;
  return [c.names.buffer, c.nameEnd.buffer, c.bits.buffer, c.flagId.buffer] as ArrayBuffer[];
}

/**
 * The exact file names of the list's messages: canonical names (entry.ts canonicalName:
 * the base in new/, base:2,letters in cur/) unless the folder recorded another.
 */
export function fileNames(list: FileList): Set<string> {
  const { count, names, nameEnd, bits, flagId, sets, odd } = list.columns;
  const oddAt = new Map(odd);
  const out = new Set<string>();
  for (let i = 0; i < count; i++) {
    const b = bits[i];
    if ((b & REMOVED) !== 0 || ((b & IN_NEW) !== 0) !== list.inNew) continue;
    const other = oddAt.get(i);
    if (other !== undefined) {
      out.add(other);
      continue;
    }
    const base = decodeName(names, i ? nameEnd[i - 1] : 0, nameEnd[i], (b & WIDE) !== 0);
    out.add(canonicalName(list.inNew ? "new" : "cur", base, sets[flagId[i]]));
  }
  return out;
}
