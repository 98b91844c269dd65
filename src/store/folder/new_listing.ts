/**
 * The message files of a big new/ as one buffer of names and their ends, rather than
 * 90,000 `DirEntry` objects and two maps of names (moves.ts). The mover worker lists new/
 * itself and hands this over; the event loop reads a name by its position. Listed on the
 * event loop, `Deno.readDirSync`'s entries and the maps held for the seconds of the moves
 * were 51 MB of promoted garbage per first SELECT of a 100,000-message INBOX, which V8's
 * memory reducer later freed in pauses of 63-198 ms (docs/performance.md, branch
 * reducer). A listing's position is the file's position in every reply about the moves.
 */
import { baseOf, fileNameFor, parseFileName } from "../maildir_names.ts";

export interface NewListing {
  count: number;
  /** The names' UTF-8 bytes; name `i` ends at `nameEnd[i]`, starts where `i - 1` ends. */
  names: Uint8Array;
  nameEnd: Uint32Array;
  /** Some name has bytes beyond ASCII. */
  wide: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The message files of new/ as scan.ts counts them (no dot files, no line breaks), one
 * per base name (the first listed), in directory order; `list` the same names as strings.
 */
export function listNew(folderPath: string): { listing: NewListing; list: string[] } {
  const seen = new Set<string>(), list: string[] = [];
  for (const e of Deno.readDirSync(`${folderPath}/new`)) {
    if (!e.isFile || e.name.startsWith(".") || e.name.includes("\n") || e.name.includes("\r")) {
      continue;
    }
    const base = baseOf(e.name);
    if (seen.has(base)) continue; // one file per message
    seen.add(base);
    list.push(e.name);
  }
  return { listing: encodeListing(list), list };
}

/** The listing of `list`, names in its order. */
export function encodeListing(list: readonly string[]): NewListing {
  let names = new Uint8Array(Math.max(64, list.length * 48));
  const nameEnd = new Uint32Array(list.length);
  let used = 0, wide = false;
  for (let i = 0; i < list.length; i++) {
    const name = list[i];
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (used + name.length * 3 > names.length) {
      const grown = new Uint8Array(Math.max(names.length * 2, used + name.length * 3));
      grown.set(names.subarray(0, used));
      names = grown;
    }
    let ascii = true;
    for (let k = 0; k < name.length; k++) {
      if (name.charCodeAt(k) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      for (let k = 0; k < name.length; k++) names[used + k] = name.charCodeAt(k);
      used += name.length;
    } else {
      wide = true;
      used += encoder.encodeInto(name, names.subarray(used)).written;
    }
    nameEnd[i] = used;
  }
  return { count: list.length, names: names.slice(0, used), nameEnd, wide };
}

/** The name in new/ at position `i`. */
export function nameAt(l: NewListing, i: number): string {
  const part = l.names.subarray(i ? l.nameEnd[i - 1] : 0, l.nameEnd[i]);
  if (l.wide) return decoder.decode(part);
  return String.fromCharCode.apply(null, part as unknown as number[]);
}

/** The name in cur/ a file of new/ named `name` moves to (its flags kept, sorted). */
export function targetOf(name: string): string {
  return fileNameFor(baseOf(name), parseFileName(name).flags);
}

/** The buffers of a listing, to transfer rather than copy them. */
export function listingBuffers(l: NewListing): ArrayBuffer[] {
  return [l.names.buffer, l.nameEnd.buffer] as ArrayBuffer[];
}
