/**
 * The file calls of a journaled delivery (journaled_delivery.ts), of the delivery
 * journal's segments (delivery_journal.ts) and of a directory's fsync (fsutil.syncDir)
 * made with libc through FFI (sys/libc.ts, the symbols read_small.ts uses too).
 *
 * Why: every async file op of the runtime (FsFile.sync(), syncData()) duplicates the
 * descriptor first (fcntl F_DUPFD_CLOEXEC, then a close(2) when done) and goes through
 * the resource table; a small delivery made three of them (the file's fsync, the new/
 * directory's fsync, its share of the journal's fdatasync), each two system calls more
 * on the event loop. Here the create, write, rename and link are plain calls on the
 * loop and the fsync a nonblocking FFI call, which runs on the same blocking pool as
 * the runtime's ops, on the descriptor itself.
 *
 * Anything unusual (no FFI, not Linux, a call that fails) goes through the runtime's
 * calls instead, which give the errors their usual form (AlreadyExists, NotFound, a
 * rename across file systems). A failed fsync is never retried on another descriptor:
 * Linux reports a write-back error once per descriptor open at the time, so a second
 * fsync could succeed over lost data; it throws, and the caller keeps what covers it
 * (the journal record stays for the next start's replay).
 */

import {
  cBytesInto,
  type Libc,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_RDONLY,
  O_WRONLY,
  systemLibc,
} from "../sys/libc.ts";
import { SharedSyncs } from "./shared_sync.ts";

/** Two reusable C-string buffers: a rename or link needs both paths at once. */
const cBuffers = [new Uint8Array(1024), new Uint8Array(1024)];

/** `path` as a NUL-terminated C string in buffer `slot`, or null when it has a NUL. */
function cString(path: string, slot: 0 | 1): Uint8Array | null {
  if (path.includes("\0")) return null;
  let buf = cBuffers[slot];
  if (path.length * 3 + 1 > buf.length) buf = cBuffers[slot] = new Uint8Array(path.length * 3 + 1);
  buf[cBytesInto(path, buf, 0)] = 0;
  return buf;
}

/** A message file being delivered: created and written, fsync'd later, then closed. */
export interface NewFile {
  /** fsync(2) of the file (its data and inode), on the blocking pool. */
  sync(): Promise<void>;
  /**
   * syncfs(2) of the file system the file is on, started after this call and shared with
   * every caller meanwhile (group commit): it makes the file and every directory entry on
   * that file system durable. False at once when not available (the runtime's file).
   */
  syncFileSystem(): Promise<boolean>;
  close(): void;
}

/**
 * syncfs(2) writes back everything dirty on the file system, other programs' data too: on
 * a file system shared with a busy writer (a backup, a log) one can take seconds, and the
 * background backlog it holds up ends by slowing the 250s (mailstore BACKGROUND_LIMIT).
 * A syncfs slower than SLOW_SYNCFS_MS sends that device back to per-file fsyncs, which
 * wait for our own bytes only, for SLOW_SYNCFS_BACKOFF_MS.
 */
const SLOW_SYNCFS_MS = 250;
const SLOW_SYNCFS_BACKOFF_MS = 30_000;
/** How long a background syncfs waits for more deliveries to share it. */
const SYNCFS_GATHER_MS = 50;
const slowUntil = new Map<bigint, number>();
const statBuf = new Uint8Array(256);

/** st_dev of `fd` (the first field of struct stat on Linux x86-64 and arm64), or null. */
function deviceOf(c: Libc, fd: number): bigint | null {
  if (c.fstat(fd, statBuf) !== 0) return null;
  return new DataView(statBuf.buffer).getBigUint64(0, true);
}

async function syncfsNow(c: Libc, dev: bigint, fd: number): Promise<void> {
  const started = performance.now();
  const rc = await c.syncfs(fd);
  const took = performance.now() - started;
  if (took > SLOW_SYNCFS_MS) slowUntil.set(dev, performance.now() + SLOW_SYNCFS_BACKOFF_MS);
  if (rc !== 0) throw new Error("syncfs(2) of the mail file system failed");
}

/**
 * Group commits of syncfs(2) by device (st_dev), each run on the descriptor of its group's
 * first caller (open until that caller's sync is done). Nobody is answered on them (the
 * journal record already made the delivery durable; they only let it be retired), so a
 * group gathers for SYNCFS_GATHER_MS: one syncfs per ~100 messages under load instead of
 * one per commit group, each writing back the inode table, bitmap and directory blocks
 * those messages share once (docs/performance.md, "the background syncfs").
 */
const fsSyncs = new SharedSyncs<bigint, { c: Libc; fd: number }>(
  (dev, { c, fd }) => syncfsNow(c, dev, fd),
  { gatherMs: SYNCFS_GATHER_MS },
);

class LibcFile implements NewFile {
  #closed = false;
  constructor(readonly c: Libc, readonly fd: number, readonly path: string) {}

  async sync(): Promise<void> {
    if (await this.c.fsync(this.fd) !== 0) throw new Error(`fsync(2) of ${this.path} failed`);
  }

  async syncFileSystem(): Promise<boolean> {
    const dev = deviceOf(this.c, this.fd);
    if (dev === null) return false;
    const slow = slowUntil.get(dev);
    if (slow !== undefined) {
      if (slow > performance.now()) return false;
      slowUntil.delete(dev);
    }
    await fsSyncs.request(dev, { c: this.c, fd: this.fd });
    return true;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.c.close(this.fd);
  }
}

/** The runtime's file, where libc is not used. */
class DenoFile implements NewFile {
  #closed = false;
  constructor(readonly file: Deno.FsFile) {}
  sync(): Promise<void> {
    return this.file.sync();
  }
  syncFileSystem(): Promise<boolean> {
    return Promise.resolve(false);
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.file.close();
  }
}

/** write(2) of all of `data` at `fd`; false when a write fails (disk full or the like). */
function writeAllLibc(c: Libc, fd: number, data: Uint8Array): boolean {
  let off = 0;
  while (off < data.length) {
    const n = Number(c.write(fd, data.subarray(off), BigInt(data.length - off)));
    if (n <= 0) return false;
    off += n;
  }
  return true;
}

/**
 * Creates `path` (it must not exist; mode 0600) and writes `data` into it, synchronously
 * (a small file: page-cache copies). Throws as Deno.openSync/writeSync do; on a failed
 * write the file is removed.
 */
export function createWritten(path: string, data: Uint8Array): NewFile {
  const c = systemLibc();
  const name = c === null ? null : cString(path, 0);
  if (c !== null && name !== null) {
    const fd = c.open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600);
    if (fd >= 0) {
      if (writeAllLibc(c, fd, data)) return new LibcFile(c, fd, path);
      // Disk full or the like: the runtime's write below says what (and may succeed).
      c.close(fd);
      Deno.removeSync(path);
    }
  }
  return new DenoFile(createWrittenSync(path, data));
}

/**
 * Writes `data` into an empty file already open at `fd` (the delivery file pool's,
 * file_pool.ts) and gives it as created by createWritten(); null when the write fails,
 * with the descriptor closed and the file removed (the caller then creates its own).
 */
export function writtenInto(fd: number, path: string, data: Uint8Array): NewFile | null {
  const c = systemLibc();
  if (c === null) return null;
  if (writeAllLibc(c, fd, data)) return new LibcFile(c, fd, path);
  c.close(fd);
  try {
    Deno.removeSync(path);
  } catch { /* the caller's own create says what is wrong, if anything */ }
  return null;
}

/** rename(2) through libc; false when not done that way (the caller uses the runtime's). */
export function renameLibc(from: string, to: string): boolean {
  const c = systemLibc();
  if (c === null) return false;
  const a = cString(from, 0), b = cString(to, 1);
  return a !== null && b !== null && c.rename(a, b) === 0;
}

/** link(2) through libc; false when not done that way (the caller uses the runtime's). */
export function linkLibc(from: string, to: string): boolean {
  const c = systemLibc();
  if (c === null) return false;
  const a = cString(from, 0), b = cString(to, 1);
  return a !== null && b !== null && c.link(a, b) === 0;
}

/**
 * fsync(2) of the directory at `path` through libc: true when done, false when libc is
 * not used or the directory could not be opened (the caller then opens it with the
 * runtime, which says why). A failed fsync throws (see above: never retried).
 */
export async function syncDirLibc(path: string): Promise<boolean> {
  const c = systemLibc();
  const name = c === null ? null : cString(path, 0);
  if (c === null || name === null) return false;
  const fd = c.open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return false;
  try {
    if (await c.fsync(fd) !== 0) throw new Error(`fsync(2) of the directory ${path} failed`);
  } finally {
    c.close(fd);
  }
  return true;
}

/** Whether these calls go through libc here (FFI allowed, Linux): tests and diagnostics. */
export function libcFiles(): boolean {
  return systemLibc() !== null;
}

/** A delivery journal segment: written in order from its start, synced, rewound. */
export interface JournalFile {
  /** Writes all of `bytes` at the current offset; throws when it cannot. */
  writeAll(bytes: Uint8Array): void;
  /** Back to offset 0. */
  rewind(): void;
  /** fsync(2): data and inode (a new segment's length). */
  sync(): Promise<void>;
  /** fdatasync(2): the records written over its zeros. */
  syncData(): Promise<void>;
  close(): void;
}

class LibcJournalFile extends LibcFile implements JournalFile {
  writeAll(bytes: Uint8Array): void {
    for (let off = 0; off < bytes.length;) {
      const n = Number(this.c.write(this.fd, bytes.subarray(off), BigInt(bytes.length - off)));
      if (n <= 0) throw new Error(`write(2) to ${this.path} failed (is the disk full?)`);
      off += n;
    }
  }
  rewind(): void {
    if (Number(this.c.lseek(this.fd, 0n, 0)) !== 0) {
      throw new Error(`lseek(2) of ${this.path} failed`);
    }
  }
  async syncData(): Promise<void> {
    if (await this.c.fdatasync(this.fd) !== 0) {
      throw new Error(`fdatasync(2) of ${this.path} failed`);
    }
  }
}

class DenoJournalFile extends DenoFile implements JournalFile {
  writeAll(bytes: Uint8Array): void {
    for (let off = 0; off < bytes.length;) off += this.file.writeSync(bytes.subarray(off));
  }
  rewind(): void {
    this.file.seekSync(0, Deno.SeekMode.Start);
  }
  syncData(): Promise<void> {
    return this.file.syncData();
  }
}

/** Creates a journal segment at `path` (it must not exist; mode 0600), empty. */
export function createJournalFile(path: string): JournalFile {
  const c = systemLibc();
  const name = c === null ? null : cString(path, 0);
  if (c !== null && name !== null) {
    const fd = c.open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600);
    if (fd >= 0) return new LibcJournalFile(c, fd, path);
  }
  return new DenoJournalFile(Deno.openSync(path, { write: true, createNew: true, mode: 0o600 }));
}

/**
 * Creates `path` (it must not exist; mode 0600) and writes all of `bytes` synchronously;
 * a failed write removes the file and throws the write's error.
 */
export function createWrittenSync(path: string, bytes: Uint8Array): Deno.FsFile {
  const file = Deno.openSync(path, { write: true, createNew: true, mode: 0o600 });
  try {
    let off = 0;
    while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
  } catch (e) {
    file.close();
    try {
      Deno.removeSync(path);
    } catch { /* the write's error is the one to report */ }
    throw e;
  }
  return file;
}
