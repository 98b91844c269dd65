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
