/**
 * Durable file-system primitives shared by the directory, the Maildir store and
 * the queue. Durability is bound by fsync; these helpers make concurrent callers'
 * syncs overlap or be shared (group commit) without ever skipping one.
 */
import { setImmediate } from "node:timers";
import { dirname } from "node:path";
import { createWrittenSync, syncDirLibc } from "./libc_files.ts";
import { SharedSyncs } from "./shared_sync.ts";

/**
 * Opens a directory and fsyncs it so a rename or create inside it is durable. The open is
 * synchronous: a read-only open of a directory is a name lookup that never waits on the
 * journal, and each async file-system op costs a wake-up of a pool thread (on a VM an
 * inter-processor interrupt: about 50 us of the event loop, more than the open itself).
 */
async function fsyncDirNow(path: string): Promise<void> {
  // Through libc where it can (libc_files.ts: no duplicated descriptor per async op).
  if (await syncDirLibc(path)) return;
  const dir = Deno.openSync(path, { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

const dirSyncs = new SharedSyncs<string>((path) => fsyncDirNow(path));

/**
 * Group commit for directory entries: every caller gets a sync that *started after*
 * its call, but callers that arrive while one is in flight share the next one.
 */
export function syncDir(path: string): Promise<void> {
  return dirSyncs.request(path);
}

/**
 * Messages up to this size are created and written synchronously (page cache copies of
 * a few microseconds, no pool thread); larger ones on the pool, where the kernel's
 * throttling of a process dirtying pages fast cannot hold the event loop.
 */
export const SYNC_WRITE_LIMIT = 64 << 10;

/**
 * Creates `path` (it must not exist, mode 0600) holding `bytes`, with `when` as its
 * times if given, and fsyncs it; on failure the file is removed. The fsync is the one
 * pool round trip of a small file: its create, write and close are synchronous (each
 * async op wakes a pool thread, on this kind of VM an inter-processor interrupt and a
 * context switch, and under SMTP ingest the dispatch of one showed as ~90 us of the
 * event loop). A larger file goes as two: the create and the write as one op
 * (Deno.writeFile), then the fsync on a second descriptor opened synchronously (a
 * lookup, no journal work); fsync(2) flushes the file's data and metadata whichever
 * descriptor wrote them (the inode's dirty pages).
 */
export async function writeNewFileDurable(
  path: string,
  bytes: Uint8Array,
  when: Date | null = null,
): Promise<void> {
  let file: Deno.FsFile;
  if (bytes.length <= SYNC_WRITE_LIMIT) {
    file = createWrittenSync(path, bytes);
  } else {
    try {
      await Deno.writeFile(path, bytes, { createNew: true, mode: 0o600 });
    } catch (e) {
      // A partial file may be left when the write failed after the create (disk full).
      if (!(e instanceof Deno.errors.AlreadyExists)) await Deno.remove(path).catch(() => {});
      throw e;
    }
    try {
      file = Deno.openSync(path, { read: true });
    } catch (e) {
      await Deno.remove(path).catch(() => {});
      throw e;
    }
  }
  try {
    if (when) file.utimeSync(when, when);
    await file.sync();
  } catch (e) {
    await discard(file, path, e);
  }
  file.close();
}

/** A failed write leaves nothing behind: closes `file`, removes `path`, throws `e`. */
async function discard(file: Deno.FsFile, path: string, e: unknown): Promise<never> {
  file.close();
  await Deno.remove(path).catch(() => {});
  throw e;
}

/** Content that writes itself into a file (MessageContent: pieces in memory and in files). */
export interface SelfWriting {
  writeTo(file: Deno.FsFile): Promise<void>;
}

/** Writes `data` to `path` atomically: tmp file, fsync, rename, directory fsync. */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string | SelfWriting,
): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID()}`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
  try {
    if (typeof data === "string") await writeAll(file, new TextEncoder().encode(data));
    else if (data instanceof Uint8Array) await writeAll(file, data);
    else await data.writeTo(file);
    await file.sync();
  } catch (e) {
    await discard(file, tmp, e);
  }
  file.close();
  try {
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  await syncDir(dirname(path));
}

/** Synchronous twin of writeFileAtomic for start-up paths that cannot await. */
export function writeFileAtomicSync(path: string, data: string): void {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID()}`;
  const file = Deno.openSync(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
  try {
    const bytes = new TextEncoder().encode(data);
    let off = 0;
    while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
    file.syncSync();
  } finally {
    file.close();
  }
  Deno.renameSync(tmp, path);
  const dir = Deno.openSync(dirname(path), { read: true });
  try {
    dir.syncSync();
  } finally {
    dir.close();
  }
}

export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** A text file's content, or null when there is no such file. */
export async function readTextIfExists(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/*
 * Synchronous twins for the few metadata reads on a command's path (SELECT after a
 * restart: the folder's directories, its UID list, keyword and mailbox-id files). Such a
 * stat or small read takes microseconds; through the thread pool each cost a hop of
 * 0.2 ms on a quiet machine and several ms on a busy one.
 */

export function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** A small text file's content, or null when there is no such file. */
export function readTextIfExistsSync(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Deletes an SQLite database and its companion files (WAL, shared memory, rollback
 * journal), those that exist: a folder index or full-text index that is started afresh.
 */
export function removeDatabaseFiles(path: string): void {
  for (const suffix of ["", "-wal", "-shm", "-journal"]) {
    try {
      Deno.removeSync(path + suffix);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}

/** mkdir -p, then fsync the parent of each directory created so the tree is durable. */
export async function ensureDirDurable(path: string, mode = 0o700): Promise<void> {
  if (await exists(path)) return;
  await ensureDirDurable(dirname(path), mode);
  try {
    await Deno.mkdir(path, { mode });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    return;
  }
  await syncDir(dirname(path));
}

/** When a yield last went through a timer turn (the event loop polled its sockets). */
let lastPolledTurn = 0;

/**
 * Lets timers, I/O and other sessions run before going on (long loops yield between
 * slices). In Deno 2.9 a setImmediate callback runs before the loop polls its sockets
 * again: a loop of 5 ms slices yielding that way kept an idle client's echo waiting
 * 576 ms (SPEC §7 allows 100). A zero timeout does let the sockets through, but nested
 * zero timeouts are clamped to about 4 ms (HTML timer rules), which made a 200-page
 * read of stored keys wait most of a second. So: a zero timeout once 4 ms have passed
 * since the last one, setImmediate in between.
 */
export function yieldToEventLoop(): Promise<void> {
  if (performance.now() - lastPolledTurn < 4) {
    return new Promise((resolve) => setImmediate(resolve));
  }
  return new Promise((resolve) =>
    setTimeout(() => {
      lastPolledTurn = performance.now();
      resolve();
    }, 0)
  );
}

/** A FIFO async mutex: `await lock.run(() => work())`. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(work, work);
    this.#tail = result.catch(() => {});
    return result;
  }
}

/**
 * Hard-links `src` to `dest`; across file systems (DIR= on another mount) copies and syncs.
 * The link is made synchronously: a name change that dirties no data pages, cheaper than
 * the pool round trip an async op costs (see writeNewFileDurable).
 */
export async function linkOrCopy(src: string, dest: string): Promise<void> {
  try {
    Deno.linkSync(src, dest);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.AlreadyExists) throw e;
    await Deno.copyFile(src, dest);
    const f = await Deno.open(dest, { read: true, write: true });
    try {
      await f.sync();
    } finally {
      f.close();
    }
  }
}

/**
 * Renames `src` to `dest` (synchronously, as linkOrCopy links); across file systems
 * copies it instead. True when `src` is gone (renamed), false when it was copied and is
 * still there for the caller to remove.
 */
export async function renameOrCopy(src: string, dest: string): Promise<boolean> {
  try {
    Deno.renameSync(src, dest);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw e;
    await linkOrCopy(src, dest);
    return false;
  }
}

/** File operations run at once within one batch. */
const PARALLEL_FS = 64;

/** Runs `work` over `items`, at most PARALLEL_FS at a time. */
export async function eachParallel<T>(
  items: readonly T[],
  work: (item: T, i: number) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < items.length; i += PARALLEL_FS) {
    await Promise.all(items.slice(i, i + PARALLEL_FS).map((it, j) => work(it, i + j)));
  }
}

// The header-block readers live in header_block.ts; folder/folder.ts, queue/spool.ts and
// imap/keys_worker.ts import them from here.
export { type HeaderBlock, readHeaderBlock, readHeaderBlockSync } from "./header_block.ts";
