/**
 * Reading a small message file whole, synchronously, into a buffer the caller owns (POP3
 * RETR and IMAP FETCH BODY[] build their reply around the message, without a copy).
 *
 * Why not only Deno.openSync: the three runtime calls (open, read, close, each through
 * the resource table and an FsFile object) cost POP3 RETR and IMAP FETCH 4-6 µs more CPU
 * per message under the bench:peers load than the same three system calls made directly
 * with libc through FFI (measured in one server alternating the two every 100 ms). So the
 * read is made through libc when FFI is allowed on Linux, as quickack.ts does; anything
 * unusual there (no FFI, an error, a short read) falls back to the Deno calls, which give
 * the errors their usual form.
 */

import {
  cBytesInto,
  type Libc,
  O_CLOEXEC,
  O_DIRECTORY,
  O_PATH,
  O_RDONLY,
  systemLibc,
} from "../sys/libc.ts";
import { Entry, type MessageEntry } from "./folder/entry.ts";

/**
 * Messages up to this size may be read synchronously: for a file in the page cache that
 * costs a few microseconds against tens for an async read's thread hop. Larger ones use
 * the async path, so one big read never stalls the other sessions.
 */
export const SYNC_READ_LIMIT = 128 * 1024;

/** The path as a NUL-terminated C string, in a buffer reused by every call. */
let cPath = new Uint8Array(1024);

/**
 * A message's base name still as the UTF-8 bytes its folder keeps (Entry.baseRaw):
 * `bytes[from, to)`. The C path is written from them without a string per message.
 */
export interface RawName {
  readonly baseRaw: Uint8Array | null;
  readonly baseRawFrom: number;
  readonly baseRawTo: number;
  readonly base: string;
}

function toCString(path: string | RawName, curFlags: string | null = null): Uint8Array | null {
  const raw = typeof path === "string" ? null : path.baseRaw;
  if (typeof path !== "string" && raw === null) path = path.base;
  // A NUL inside would end the C string early: another file would be opened.
  if (curFlags !== null && curFlags.includes("\0")) return null;
  let end: number;
  if (typeof path === "string") {
    if (path.includes("\0")) return null;
    const length = path.length + (curFlags === null ? 0 : 3 + curFlags.length);
    if (length * 3 + 1 > cPath.length) cPath = new Uint8Array(length * 3 + 1);
    end = cBytesInto(path, cPath, 0);
  } else {
    const from = path.baseRawFrom, to = path.baseRawTo;
    const length = to - from + (curFlags === null ? 0 : 3 + curFlags.length * 3);
    if (length + 1 > cPath.length) cPath = new Uint8Array(length + 1);
    end = 0;
    for (let i = from; i < to; i++) {
      const b = raw![i];
      if (b === 0) return null;
      cPath[end++] = b;
    }
  }
  if (curFlags !== null) {
    end = cBytesInto(":2,", cPath, end);
    end = cBytesInto(curFlags, cPath, end);
  }
  cPath[end] = 0;
  return cPath;
}

/** readSmallInto() through libc: true when exactly `size` octets were read. */
function readWithLibc(c: Libc, path: string, size: number, buf: Uint8Array, at: number): boolean {
  const name = toCString(path);
  if (name === null) return false;
  return readOpened(c, c.open(name, O_RDONLY | O_CLOEXEC, 0), size, buf, at);
}

/** Reads and closes `fd` (nothing when negative: the open failed). */
function readOpened(c: Libc, fd: number, size: number, buf: Uint8Array, at: number): boolean {
  if (fd < 0) return false;
  try {
    // One read with one octet of room more: a regular file's read is short only at its
    // end, so exactly `size` means the file has that size. The count as a BigInt: the
    // optimized (fast) FFI call of a usize parameter takes only a BigInt, and a number
    // there deoptimized this function on every call once it was optimized, leaving it
    // and its callers in the slower tier with the FFI's slow calls (docs/performance.md,
    // "POP3 RETR: main-thread CPU per RETR").
    return Number(c.read(fd, buf.subarray(at, at + size + 1), BigInt(size + 1))) === size;
  } finally {
    c.close(fd);
  }
}

/**
 * Reads the file at `path` into `buf` at `at` when it has exactly `size` octets (at most
 * SYNC_READ_LIMIT): needs `size + 1` octets free there, the one more telling a file that
 * grew. False, with nothing usable read, when the file is not there (renamed by a flag
 * change meanwhile: the caller follows the rename) or not `size` long; other errors are
 * thrown.
 */
export function readSmallInto(path: string, size: number, buf: Uint8Array, at: number): boolean {
  if (size > SYNC_READ_LIMIT || buf.length < at + size + 1) return false;
  const libc = systemLibc();
  if (libc !== null && readWithLibc(libc, path, size, buf, at)) return true;
  // Not read through libc (or not that size): the runtime's calls say why, if anything.
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
  let got = 0;
  try {
    // A second read only if the first was cut short.
    do {
      const n = file.readSync(buf.subarray(at + got, at + size + 1));
      if (n === null || n === 0) break;
      got += n;
    } while (got < size);
  } finally {
    file.close();
  }
  return got === size;
}

/**
 * Descriptors of message directories (O_PATH), by folder path: [cur/, new/], -1 where not
 * opened yet. A message is then opened with openat() relative to its directory, one path
 * component for the kernel to resolve instead of the ten or so of a full path under
 * DirBase (the path walk was 6 % of a POP3 RETR's CPU in perf). At most MAX_HELD_FOLDERS
 * folders (two descriptors each) are held; the oldest is closed first.
 *
 * A held descriptor keeps naming the directory it was opened on even if the folder is
 * renamed or deleted meanwhile; any openat() that fails therefore drops the folder's
 * descriptors and reads by full path, which decides (Maildir names are unique, so a file
 * of one folder is never found in another's directory under the same name).
 */
const heldDirs = new Map<string, Int32Array>();
const MAX_HELD_FOLDERS = 64;

function dirFd(c: Libc, folderPath: string, sub: string): number {
  const slot = sub === "cur" ? 0 : sub === "new" ? 1 : -1;
  if (slot < 0) return -1;
  let fds = heldDirs.get(folderPath);
  if (fds !== undefined && fds[slot] >= 0) return fds[slot];
  const name = toCString(folderPath + "/" + sub);
  if (name === null) return -1;
  const fd = c.open(name, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (fds === undefined) {
    if (heldDirs.size >= MAX_HELD_FOLDERS) dropFolder(c, heldDirs.keys().next().value!);
    fds = new Int32Array([-1, -1]);
    heldDirs.set(folderPath, fds);
  }
  fds[slot] = fd;
  return fd;
}

function dropFolder(c: Libc, folderPath: string): void {
  const fds = heldDirs.get(folderPath);
  if (fds === undefined) return;
  heldDirs.delete(folderPath);
  for (const fd of fds) if (fd >= 0) c.close(fd);
}

/**
 * readSmallInto() of the message file `name` in the directory `sub` ("cur" or "new") of
 * the folder at `folderPath`: the same answers, the file opened relative to a held
 * descriptor of its directory where libc is used. With `curFlags` the file name is
 * `name:2,curFlags` (a Maildir name in cur/ made of its base name and flags), written
 * out in parts instead of as one more string per message; `name` may be an entry whose
 * base name is still the folder's bytes (RawName), copied as they are.
 */
export function readMessageInto(
  folderPath: string,
  sub: string,
  name: string | RawName,
  size: number,
  buf: Uint8Array,
  at: number,
  curFlags: string | null = null,
): boolean {
  if (size > SYNC_READ_LIMIT || buf.length < at + size + 1) return false;
  const libc = systemLibc();
  if (libc !== null) {
    const dir = dirFd(libc, folderPath, sub);
    const cName = dir >= 0 ? toCString(name, curFlags) : null;
    if (cName !== null) {
      if (readOpened(libc, libc.openat(dir, cName, O_RDONLY | O_CLOEXEC, 0), size, buf, at)) {
        return true;
      }
      // Renamed meanwhile, or the directory is no longer the folder's: the full path says.
      dropFolder(libc, folderPath);
    }
  }
  const base = typeof name === "string" ? name : name.base;
  const fileName = curFlags === null ? base : `${base}:2,${curFlags}`;
  return readSmallInto(`${folderPath}/${sub}/${fileName}`, size, buf, at);
}

/** Closes the held directory descriptors (tests; a server that stops). */
export function releaseMessageDirs(): void {
  const libc = systemLibc();
  if (!libc) return;
  for (const folderPath of [...heldDirs.keys()]) dropFolder(libc, folderPath);
}

/** Directory descriptors held now (tests). */
export function heldDirCount(): number {
  let n = 0;
  for (const fds of heldDirs.values()) for (const fd of fds) if (fd >= 0) n++;
  return n;
}

/** Whether reads go through libc here (FFI allowed, Linux): for tests and diagnostics. */
export function libcReads(): boolean {
  return systemLibc() !== null;
}

/**
 * A small message's file read whole when it has exactly `size` octets: a buffer of its
 * own, or null as readSmallInto() gives false.
 */
export function readSmallSync(path: string, size: number): Uint8Array | null {
  if (size > SYNC_READ_LIMIT) return null;
  const buf = new Uint8Array(size + 1);
  return readSmallInto(path, size, buf, 0) ? buf.subarray(0, size) : null;
}

/**
 * readMessageInto() of a message whose file is at `folderPath/sub/name` (the plain
 * layout; the caller checked), by its entry: an odd name as it is, else the canonical
 * name in its parts (base, and ":2,flags" in cur/), the base from the folder's bytes
 * while it is not decoded. entry.name would make a new string for every message sent.
 * POP3 RETR and IMAP FETCH both read this way.
 */
export function readEntryNameInto(
  folderPath: string,
  entry: MessageEntry,
  buf: Uint8Array,
  at: number,
): boolean {
  const sub = entry.sub;
  const odd = entry instanceof Entry ? entry.oddName : entry.name;
  if (odd !== null) return readMessageInto(folderPath, sub, odd, entry.size, buf, at);
  const flags = sub === "cur" ? entry.flags : null;
  const base = entry instanceof Entry ? entry : entry.base; // its bytes, not a new string
  return readMessageInto(folderPath, sub, base, entry.size, buf, at, flags);
}
