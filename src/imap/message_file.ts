/**
 * Reading a large message's file in parts (SPEC §7: FETCH of large messages streams from
 * the file; header-only items read only the header): its header, whether it needs
 * CRLF conversion, and ranges of it in chunks as the client takes them.
 */
import { headerEnd } from "../message/header.ts";
import { hasBareLf } from "../message/line_endings.ts";
import type { Folder, MessageEntry } from "../store/folder/folder.ts";
import { readEntryNameInto, readSmallInto, SYNC_READ_LIMIT } from "../store/read_small.ts";

/** Octets read per chunk. */
const CHUNK = 64 * 1024;
/** A header (with the first body line) longer than this is not read on its own. */
export const MAX_HEAD = 1 << 20;
const LF = 10, CR = 13;

// The synchronous read of a small message whole lives with the store (POP3 uses it too).
export { readSmallInto, readSmallSync, SYNC_READ_LIMIT } from "../store/read_small.ts";

/**
 * Folders whose filePath() is folder.path/sub/name (checked once per folder on a
 * message): their files are read relative to a held descriptor of the directory.
 */
const plainLayout = new WeakMap<Folder, boolean>();

function isPlainLayout(folder: Folder, entry: MessageEntry): boolean {
  let plain = plainLayout.get(folder);
  if (plain === undefined) {
    plain = folder.filePath(entry) === `${folder.path}/${entry.sub}/${entry.name}`;
    plainLayout.set(folder, plain);
  }
  return plain;
}

/** readSmallInto() of a message's file, by folder and entry (read_small.ts's openat). */
export function readEntryInto(
  folder: Folder,
  entry: MessageEntry,
  buf: Uint8Array,
  at: number,
): boolean {
  if (!isPlainLayout(folder, entry)) {
    return readSmallInto(folder.filePath(entry), entry.size, buf, at);
  }
  return readEntryNameInto(folder.path, entry, buf, at);
}

/** readSmallSync() of a message's file, by folder and entry. */
export function readEntrySync(folder: Folder, entry: MessageEntry): Uint8Array | null {
  const size = entry.size;
  if (size > SYNC_READ_LIMIT) return null;
  const buf = new Uint8Array(size + 1);
  return readEntryInto(folder, entry, buf, 0) ? buf.subarray(0, size) : null;
}

/** The first octets of a message file: its header and the first body line. */
export interface MessageHead {
  /** The octets read: the header with its empty line, and the first body line. */
  bytes: Uint8Array;
  /** Where the body starts (the header's length, empty line included). */
  bodyStart: number;
}

/**
 * Reads the header and the first body line; null when they are longer than MAX_HEAD
 * (the caller then reads the whole message instead).
 */
export async function readHead(file: Deno.FsFile): Promise<MessageHead | null> {
  let bytes = new Uint8Array(0);
  await file.seek(0, Deno.SeekMode.Start);
  for (;;) {
    const chunk = new Uint8Array(CHUNK);
    const n = await file.read(chunk);
    const eof = n === null || n === 0;
    if (!eof) {
      const next = new Uint8Array(bytes.length + n);
      next.set(bytes);
      next.set(chunk.subarray(0, n), bytes.length);
      bytes = next;
    }
    // Judged on complete lines only, unless the file ended.
    const complete = eof ? bytes.length : bytes.lastIndexOf(LF) + 1;
    const bodyStart = headerEnd(bytes, 0, complete);
    if (bodyStart < complete || eof) {
      const lineEnd = bytes.indexOf(LF, bodyStart);
      if (lineEnd >= 0) return { bytes: bytes.subarray(0, lineEnd + 1), bodyStart };
      if (eof) return { bytes, bodyStart };
    }
    if (bytes.length > MAX_HEAD) return null;
  }
}

/**
 * Whether the file uses bare LF line endings, judged as parseMessage does (hasBareLf:
 * the header lines, the first body line and the last line), from its head and its end.
 */
export async function fileHasBareLf(
  file: Deno.FsFile,
  head: MessageHead,
  size: number,
): Promise<boolean> {
  if (hasBareLf(head.bytes, head.bodyStart)) return true;
  if (head.bytes.length >= size) return false;
  // The last line: the last LF of the file and the octet before it.
  const tail = new Uint8Array(Math.min(size, CHUNK));
  await file.seek(size - tail.length, Deno.SeekMode.Start);
  let got = 0;
  while (got < tail.length) {
    const n = await file.read(tail.subarray(got));
    if (n === null || n === 0) break;
    got += n;
  }
  const last = tail.subarray(0, got).lastIndexOf(LF);
  if (last < 0) return false;
  if (last > 0) return tail[last - 1] !== CR;
  return size - tail.length === 0 ? true : await octetAt(file, size - tail.length - 1) !== CR;
}

async function octetAt(file: Deno.FsFile, at: number): Promise<number> {
  const one = new Uint8Array(1);
  await file.seek(at, Deno.SeekMode.Start);
  const n = await file.read(one);
  return n === 1 ? one[0] : -1;
}

/**
 * Octets [start, end) of the file, handed to `write` a chunk at a time; each chunk is a
 * fresh buffer (a socket keeps what it was given until it is sent). `write` awaiting the
 * client's reading is what keeps a never-reading client from costing memory; it returns
 * false to stop early (the connection is gone).
 */
export async function sendRange(
  file: Deno.FsFile,
  start: number,
  end: number,
  write: (chunk: Uint8Array) => Promise<boolean>,
): Promise<void> {
  await file.seek(start, Deno.SeekMode.Start);
  for (let left = end - start; left > 0;) {
    const chunk = new Uint8Array(Math.min(CHUNK, left));
    let got = 0;
    while (got < chunk.length) {
      const n = await file.read(chunk.subarray(got));
      if (n === null || n === 0) throw new Error(`message file ended ${left - got} octets early`);
      got += n;
    }
    left -= got;
    if (!(await write(chunk))) return;
  }
}
