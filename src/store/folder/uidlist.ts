/**
 * The per-folder UID list (`extremail-uidlist`): UIDVALIDITY, UIDNEXT, the UID of every
 * message base name, and the mod-sequence ceiling (RFC 7162: no mod-sequence above it
 * was ever handed out, so after a crash or a lost index the folder restarts above it).
 * Append-only between compactions, so assigning UIDs to a few new messages in a
 * 100,000-message folder writes a few lines, not the file.
 *
 *   extremail-uidlist 1 V<uidvalidity> N<uidnext> [M<modseq ceiling>]
 *   <uid> <base>
 *   M <modseq ceiling>
 *
 * It is the durable authority on UIDs (the folder index, extremail-index.sqlite, is a
 * cache that can be rebuilt from it and the Maildir). Other processes may append under
 * the lock; `UidListCache` re-reads only what changed (file identity, appended tail).
 */
import { join } from "node:path";
import { syncDir, writeAll, writeFileAtomic } from "../fsutil.ts";
import { isUtf8 } from "node:buffer";
import { type BaseUidMap, BaseUids } from "./base_uids.ts";

const encoder = new TextEncoder();

export const UIDLIST = "extremail-uidlist";

export interface UidList {
  uidValidity: number;
  uidNext: number;
  /** The UID of each base name (a BaseUids when read from the file). */
  byBase: BaseUidMap;
  /** Lines in the file, to decide when compaction pays. */
  lines: number;
  /** Highest mod-sequence that may have been handed out (0: none reserved yet). */
  modseqCeiling: number;
}

const HEADER = /^extremail-uidlist 1 V(\d+) N(\d+)(?: M(\d+))?/;
const decoder = new TextDecoder();
/** `bytes[from, to)` as a number, as Number() reads the text (digits without a string). */
function numberAt(bytes: Uint8Array, from: number, to: number): number {
  let n = 0;
  if (to - from > 15 || to === from) return Number(decoder.decode(bytes.subarray(from, to)));
  for (let k = from; k < to; k++) {
    const d = bytes[k] - 0x30;
    if (d < 0 || d > 9) return Number(decoder.decode(bytes.subarray(from, to)));
    n = n * 10 + d;
  }
  return n;
}

/** A base as the whole file's decoding read it: a byte order mark inside it is kept. */
const baseDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * The lines of `bytes[from, ...)` into `list`: "<uid> <base>" and "M <ceiling>". For a
 * BaseUids the bytes are copied once and each base taken where it is (no string per
 * line: a 100,000-line list was 100,000 lines and as many bases); valid UTF-8 stores as
 * its text would, so only a list with invalid bytes is read as text, line by line, as
 * the text decoder reads it.
 */
function parseLines(bytes: Uint8Array, list: UidList, from: number, complete: boolean): void {
  // A complete text ends with a newline: every line has one. Otherwise the torn last
  // line (crash mid-append) is ignored: its message simply gets a new UID, which no
  // client has seen yet.
  const last = bytes.lastIndexOf(0x0a) + 1;
  const into = list.byBase instanceof BaseUids && isUtf8(bytes.subarray(from, last))
    ? list.byBase
    : null;
  const shift = into && last > from ? into.block(bytes, from, last) : 0;
  let lines = complete || last === bytes.length ? 0 : 1;
  // The first space at or after the line's start, kept while later lines lie before it:
  // searched afresh per line, a damaged list of lines without one was read in quadratic
  // time (each search ran to the next space, or to the end of the file).
  let nextSpace = -1;
  for (let at = from; at < last; lines++) {
    const line = at, end = bytes.indexOf(0x0a, at);
    at = end + 1;
    if (nextSpace < line) {
      nextSpace = bytes.indexOf(0x20, line);
      if (nextSpace < 0) nextSpace = bytes.length;
    }
    const space = nextSpace;
    if (space <= line || space >= end) continue;
    if (bytes[line] === 0x4d && space === line + 1) { // "M <ceiling>"
      const m = numberAt(bytes, space + 1, end);
      if (Number.isSafeInteger(m) && m > list.modseqCeiling) list.modseqCeiling = m;
      continue;
    }
    const uid = numberAt(bytes, line, space);
    if (!Number.isSafeInteger(uid) || uid <= 0) continue;
    if (into) into.addAt(space + 1 + shift, end + shift, uid);
    else list.byBase.set(baseDecoder.decode(bytes.subarray(space + 1, end)), uid);
    if (uid >= list.uidNext) list.uidNext = uid + 1;
  }
  list.lines += lines;
}

function parseUidList(bytes: Uint8Array): UidList | null {
  const nl = bytes.indexOf(0x0a);
  // The header as the text decoder reads it (a byte order mark dropped).
  const header = HEADER.exec(decoder.decode(nl < 0 ? bytes : bytes.subarray(0, nl)));
  if (!header || nl < 0) return null; // unreadable: treated as lost, a new UIDVALIDITY follows
  const list: UidList = {
    uidValidity: Number(header[1]),
    uidNext: Number(header[2]),
    byBase: new BaseUids(),
    lines: 1,
    modseqCeiling: header[3] ? Number(header[3]) : 0,
  };
  parseLines(bytes, list, nl + 1, bytes[bytes.length - 1] === 0x0a);
  return list;
}

export async function readUidList(folderPath: string): Promise<UidList | null> {
  const bytes = await Deno.readFile(join(folderPath, UIDLIST)).catch((e) => {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  });
  return bytes === null ? null : parseUidList(bytes);
}

/** Appends new assignments and makes them durable before any client sees them. */
export async function appendUidList(
  folderPath: string,
  list: UidList,
  added: { uid: number; base: string }[],
): Promise<void> {
  const body = added.map((a) => `${a.uid} ${a.base}\n`).join("");
  await appendDurably(join(folderPath, UIDLIST), body);
  list.lines += added.length;
}

/** Appends `body`; the file's state after it, and the octets appended. */
async function appendDurably(
  path: string,
  body: string | Uint8Array,
): Promise<{ st: Deno.FileInfo; octets: number }> {
  const file = await Deno.open(path, { append: true, create: false });
  try {
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    await writeAll(file, bytes);
    await file.sync();
    return { st: await file.stat(), octets: bytes.length };
  } finally {
    file.close();
  }
}

/** Rewrites the whole list (new folder, lost list, or too many dead lines). */
export async function writeUidList(folderPath: string, list: UidList): Promise<void> {
  const rows = [...list.byBase].sort((a, b) => a[1] - b[1]).map(([base, uid]) =>
    `${uid} ${base}\n`
  );
  const ceiling = list.modseqCeiling > 0 ? ` M${list.modseqCeiling}` : "";
  const text = `extremail-uidlist 1 V${list.uidValidity} N${list.uidNext}${ceiling}\n${
    rows.join("")
  }`;
  await writeFileAtomic(join(folderPath, UIDLIST), text);
  list.lines = rows.length + 1;
}

/** Cross-process lock on the folder's UID list (flock), for other tools on DirBase. */
export async function withUidListLock<T>(folderPath: string, work: () => Promise<T>): Promise<T> {
  const lock = await Deno.open(join(folderPath, `${UIDLIST}.lock`), {
    read: true,
    write: true,
    create: true,
  });
  try {
    await lock.lock(true);
    return await work();
  } finally {
    lock.close(); // closing releases the flock
  }
}

export interface FileId {
  ino: number | null;
  size: number;
  mtime: number;
}

const sameId = (a: FileId | null, b: Deno.FileInfo) =>
  a !== null && a.ino === b.ino && a.size === b.size && a.mtime === (b.mtime?.getTime() ?? 0);

/**
 * The folder's parsed UID list, kept in memory and brought up to date cheaply: the file
 * is re-read only when its identity (inode, size, mtime) changed, and when it only grew
 * (another process appended), only the new tail is read. Call `sync` and the writers under
 * withUidListLock.
 */
export class UidListCache {
  list: UidList | null = null;
  #id: FileId | null = null;
  /** Bytes of the file parsed so far (up to the end of its last complete line). */
  #parsed = 0;
  /** The file ends without a newline (torn append): the next append starts a new line. */
  #torn = false;

  constructor(readonly folderPath: string) {}

  get path(): string {
    return join(this.folderPath, UIDLIST);
  }

  /** The identity of the file the parsed list matches, or null when unknown. */
  identity(): FileId | null {
    return this.list && this.#id ? { ...this.#id } : null;
  }

  /**
   * The list parsed now with blocking reads (a caller that cannot wait: it is read once,
   * after a start from the folder summary); null when there is none.
   */
  readSync(): UidList | null {
    let bytes: Uint8Array, st: Deno.FileInfo;
    try {
      st = Deno.statSync(this.path);
      bytes = Deno.readFileSync(this.path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
    this.#take(bytes, st);
    return this.list;
  }

  #take(bytes: Uint8Array, st: Deno.FileInfo): void {
    this.list = parseUidList(bytes);
    const last = bytes.lastIndexOf(10) + 1;
    this.#parsed = last;
    this.#torn = last < bytes.length;
    this.#id = { ino: st.ino, size: bytes.length, mtime: st.mtime?.getTime() ?? 0 };
    if (bytes.length !== st.size) this.#id = null; // changed while read: re-read next time
  }

  /** Re-reads what changed on disk; null when the list does not exist or is unreadable. */
  async sync(): Promise<UidList | null> {
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(this.path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      this.list = null;
      this.#id = null;
      return null;
    }
    if (this.list && sameId(this.#id, st)) return this.list;
    if (this.list && this.#id && this.#id.ino === st.ino && st.size > this.#parsed) {
      // Appended by someone else: parse the tail only.
      const file = await Deno.open(this.path, { read: true });
      try {
        await file.seek(this.#parsed, Deno.SeekMode.Start);
        const buf = new Uint8Array(st.size - this.#parsed);
        let off = 0;
        while (off < buf.length) {
          const n = await file.read(buf.subarray(off));
          if (n === null) break;
          off += n;
        }
        const end = buf.subarray(0, off).lastIndexOf(0x0a) + 1;
        parseLines(buf.subarray(0, end), this.list, 0, true);
        this.#parsed += end;
        this.#torn = end < off;
      } finally {
        file.close();
      }
      this.#id = { ino: st.ino, size: st.size, mtime: st.mtime?.getTime() ?? 0 };
      return this.list;
    }
    const bytes = await Deno.readFile(this.path).catch((e) => {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    });
    if (bytes === null) return this.sync();
    this.#take(bytes, st);
    return this.list;
  }

  /** Appends lines durably (UID assignments, a new ceiling) and keeps the cache current. */
  async append(added: { uid: number; base: string }[], ceiling?: number): Promise<void> {
    let body = "";
    for (const a of added) body += `${a.uid} ${a.base}\n`;
    await this.#appendLines(body, added.length, ceiling);
  }

  /**
   * Appends UIDs `firstUid`, `firstUid + 1`, ... of `bases` and puts them in the list,
   * written as bytes: a first
   * SELECT's 100,000 lines joined as a string were a line and a rope node each, then a
   * flat copy to encode (13-18 MB of promoted garbage in the heap sample).
   */
  async appendConsecutive(firstUid: number, bases: readonly string[]): Promise<void> {
    const torn = this.#torn ? 1 : 0;
    let size = torn;
    // At most 3 bytes per UTF-16 unit; 11 for the UID, its space and the line end.
    for (const base of bases) size += base.length * 3 + 12;
    const out = new Uint8Array(size);
    let at = 0;
    if (torn) out[at++] = 0x0a;
    // Where each name is, to take them into a BaseUids from `out` (no search, no parse).
    const starts = new Uint32Array(bases.length), ends = new Uint32Array(bases.length);
    for (let i = 0; i < bases.length; i++) {
      const uid = String(firstUid + i), base = bases[i];
      for (let k = 0; k < uid.length; k++) out[at++] = uid.charCodeAt(k);
      out[at++] = 0x20;
      starts[i] = at;
      let ascii = true;
      for (let k = 0; k < base.length; k++) {
        const c = base.charCodeAt(k);
        if (c > 0x7f) {
          ascii = false;
          break;
        }
        out[at + k] = c;
      }
      at += ascii ? base.length : encoder.encodeInto(base, out.subarray(at)).written;
      ends[i] = at;
      out[at++] = 0x0a;
    }
    await this.#appendLines(out.subarray(0, at), bases.length, undefined, true);
    // The names into the list once written: where they are in `out`, for a BaseUids.
    const byBase = this.list!.byBase;
    if (byBase instanceof BaseUids) {
      const shift = byBase.block(out, torn, at);
      for (let i = 0; i < bases.length; i++) {
        byBase.addAt(starts[i] + shift, ends[i] + shift, firstUid + i);
      }
    } else for (let i = 0; i < bases.length; i++) byBase.set(bases[i], firstUid + i);
  }

  async #appendLines(
    lines: string | Uint8Array,
    count: number,
    ceiling?: number,
    tornWritten = false,
  ): Promise<void> {
    const list = this.list!;
    let body = lines;
    if (typeof body === "string") {
      if (this.#torn && !tornWritten) body = "\n" + body;
      if (ceiling !== undefined) body += `M ${ceiling}\n`;
    }
    // The octets as written: a first SELECT's 100,000 lines were encoded a second time
    // only to count them (30 ms).
    const { st, octets } = await appendDurably(this.path, body);
    list.lines += count + (ceiling !== undefined ? 1 : 0);
    if (ceiling !== undefined && ceiling > list.modseqCeiling) list.modseqCeiling = ceiling;
    this.#torn = false;
    const grewByUs = this.#id !== null && st.size === this.#id.size + octets;
    this.#parsed = grewByUs ? st.size : this.#parsed;
    this.#id = grewByUs ? { ino: st.ino, size: st.size, mtime: st.mtime?.getTime() ?? 0 } : null;
  }

  /** Rewrites the list (new folder, lost list, compaction). */
  async write(list: UidList): Promise<void> {
    await writeUidList(this.folderPath, list);
    this.list = list;
    // Called under the lock: nobody else wrote since, so the file is what we wrote.
    const st = await Deno.stat(this.path);
    this.#id = { ino: st.ino, size: st.size, mtime: st.mtime?.getTime() ?? 0 };
    this.#parsed = st.size;
    this.#torn = false;
  }
}

export { syncDir };
