/**
 * Delivery files made ahead of need (`<DirBase>/tmppool/`): a journaled delivery
 * (journaled_delivery.ts) takes an empty file that is already open, writes the message
 * into it and renames it into new/, instead of creating its tmp/ file with open(O_CREAT)
 * on the event loop. Why: on ext4 without a journal a create walks every inode freed in
 * the last minute in its block group (`recently_deleted`), 9-13 µs on a quiet file system
 * and 215-390 µs after deletions; it was ~10 % of the event loop under one-message SMTP
 * connections, and moving each open to the blocking pool did not pay (a hop per message,
 * creates racing in one directory: docs/performance.md, "Stop 36, branch smtpconn").
 *
 * - Where: one pool per DirBase, not one per Maildir: every mailbox is under DirBase
 *   (SPEC §5; DIR= may not leave it) and so, unless a mount point lies in between, on its
 *   file system, where rename(2) and link(2) work; a pool per tmp/ would hold files for
 *   every mailbox that might receive mail (unbounded) or guess which ones will. The cost
 *   written down: a pooled message's inode is allocated near the pool's directory rather
 *   than near its Maildir. A rename that fails over to a copy (EXDEV: a mailbox on
 *   another file system) disables the pool for the process, and deliveries create their
 *   tmp/ files as before. The directory is reserved (admin DIR= may not name it).
 * - Who: one thread (file_pool_worker.ts) at a lower priority (SPEC §7: the loop first),
 *   started at open (its blocking start stalls no session then) and kept for the life of
 *   the store: stopped when idle, its start (22-48 ms) would fall on a delivery and hold
 *   every session; kept, it costs ~10 MB of the daemon's RSS (its isolate). Descriptors
 *   are numbers of the one process table, so the thread's files are the event loop's. The files are spread over
 *   SUBDIRS subdirectories, DIR_FILES consecutive files each: a create holds its
 *   directory's lock (i_rwsem) for its whole inode search, and a rename out of that
 *   directory would wait for it; with the ring between LOW_WATER and CAPACITY full, the
 *   file taken and the file made are always in different directories.
 * - Hand-over without a hop: a ring of CAPACITY slots (descriptor, sequence number) in a
 *   SharedArrayBuffer. take() reads a slot and moves the head; no message, no promise.
 *   Below LOW_WATER it sets the want flag and wakes the thread (one futex wake per
 *   refill), which fills the ring up to CAPACITY again, publishing each file as it is
 *   made.
 * - Empty (a burst faster than the thread, a thread that failed): take() gives null and
 *   the delivery creates its tmp/ file itself, as before. It never waits.
 * - Durability is the delivery's, unchanged: the journal record and its group commit
 *   come before the rename as with a tmp/ file, and the background syncs after it.
 * - Crash clean-up: open() removes every file left in the directory (a killed process's
 *   pool) before the thread starts, and the daemon opens it before it serves; a journal
 *   record's src may name a pool file, which the replay (before that) removes too.
 *   close() stops the thread, then closes and removes the files not taken. A pool file
 *   is in no Maildir, so it is seen in a mailbox only once a delivery renamed it there.
 */
import { join, resolve } from "node:path";
import { log } from "../log.ts";
import { type Libc, systemLibc } from "../sys/libc.ts";
import { startWorker } from "../workers.ts";

/** Files the ring holds (a power of two: slot = index & (CAPACITY - 1)). */
export const CAPACITY = 128;
/** Below this many ready files the thread is woken to refill. */
export const LOW_WATER = 64;
/** Subdirectories the files rotate through, DIR_FILES consecutive files each. */
export const SUBDIRS = 5;
export const DIR_FILES = 32;
/** Control words (Int32): the consumer's and the producer's counts, the flags. */
export const HEAD = 0, TAIL = 1, WANT = 2, STOP = 3;
/** Where the slots start (in Int32s); each slot: descriptor, then sequence number. */
export const SLOTS = 4;
export const FD = 0, SEQ = 1;
/** How long close() waits for the thread to finish a create. */
const STOP_WAIT_MS = 2000;

/** The one message the thread is sent. */
export interface PoolInit {
  control: SharedArrayBuffer;
  dir: string;
  /** Unique to this pool: names of another process's pool are never reused. */
  prefix: string;
}

/** What the thread tells the event loop. */
export type PoolNote = { failed: string } | { createFailed: string } | { stopped: true };

/** The pool's directory under DirBase. */
export function filePoolDir(dirBase: string): string {
  return join(resolve(dirBase), "tmppool");
}

/** The path of pool file number `seq`. */
export function poolFileName(dir: string, prefix: string, seq: number): string {
  return `${dir}/${Math.floor(seq / DIR_FILES) % SUBDIRS}/${prefix}${seq}`;
}

/** An empty file taken from the pool: open for writing, named `path`. */
export interface PooledFile {
  fd: number;
  path: string;
}

export interface FilePoolOptions {
  /** The thread's module (tests give one that cannot start). */
  workerUrl?: string;
}

export class FilePool {
  readonly dir: string;
  /** Files an earlier process left, removed by open(). */
  leftovers = 0;
  /** Files handed out, and takes that found the pool empty (logged at close). */
  taken = 0;
  missed = 0;
  readonly #prefix = `${Deno.pid}.${Date.now().toString(36)}.`;
  readonly #control = new SharedArrayBuffer((SLOTS + CAPACITY * 2) * 4);
  readonly #ctl = new Int32Array(this.#control);
  readonly #slots = new Int32Array(this.#control, SLOTS * 4);
  readonly #c: Libc | null = systemLibc();
  #worker: Worker | null = null;
  #disabled = false;
  #stopped: (() => void) | null = null;

  private constructor(dirBase: string) {
    this.dir = filePoolDir(dirBase);
  }

  /**
   * Removes what an earlier process left in the pool's directory and starts the thread
   * (before the daemon serves). A pool that cannot run (no FFI, a thread that cannot
   * start) hands out nothing: deliveries create their files as before.
   */
  static async open(dirBase: string, options: FilePoolOptions = {}): Promise<FilePool> {
    const pool = new FilePool(dirBase);
    await pool.#clean();
    if (pool.#c === null) pool.#disabled = true;
    else pool.#start(options.workerUrl ?? new URL("./file_pool_worker.ts", import.meta.url).href);
    return pool;
  }

  async #clean(): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o700 });
    for await (const e of Deno.readDir(this.dir)) {
      const path = join(this.dir, e.name);
      if (!e.isDirectory) {
        await Deno.remove(path).catch(() => {});
        this.leftovers++;
        continue;
      }
      for await (const f of Deno.readDir(path)) {
        await Deno.remove(join(path, f.name), { recursive: true }).catch(() => {});
        this.leftovers++;
      }
    }
    for (let i = 0; i < SUBDIRS; i++) {
      await Deno.mkdir(join(this.dir, String(i)), { recursive: true, mode: 0o700 });
    }
  }

  #start(url: string): void {
    const fail = (why: string) => {
      log("store").warn(`delivery file pool unavailable (${why}); files are created per delivery`);
      this.#disabled = true;
      this.#worker?.terminate();
      this.#worker = null;
      this.#stopped?.();
    };
    try {
      this.#worker = startWorker<PoolNote>(url, {
        message: (n) => {
          if ("failed" in n) fail(n.failed);
          else if ("createFailed" in n) {
            log("store").warn(`delivery file pool: ${n.createFailed} could not be created`);
          } else this.#stopped?.();
        },
        error: fail,
      });
    } catch (e) {
      fail((e as Error)?.message ?? String(e));
      return;
    }
    this.#worker.postMessage(
      { control: this.#control, dir: this.dir, prefix: this.#prefix } satisfies PoolInit,
    );
  }

  /** Files ready now. */
  get ready(): number {
    return (Atomics.load(this.#ctl, TAIL) - this.#ctl[HEAD]) | 0;
  }

  /** Whether take() may still give files (false once disabled or failed). */
  get available(): boolean {
    return !this.#disabled;
  }

  /** An empty file, or null when none is ready (the caller creates its own). */
  take(): PooledFile | null {
    if (this.#disabled) return null;
    const ctl = this.#ctl;
    const left = this.ready;
    if (left <= LOW_WATER && Atomics.compareExchange(ctl, WANT, 0, 1) === 0) {
      Atomics.notify(ctl, WANT, 1);
    }
    if (left === 0) {
      this.missed++;
      return null;
    }
    this.taken++;
    return this.#pop();
  }

  /** The file at the head of a ring that is not empty. */
  #pop(): PooledFile {
    const head = this.#ctl[HEAD];
    const slot = (head & (CAPACITY - 1)) * 2;
    const file = {
      fd: this.#slots[slot + FD],
      path: poolFileName(this.dir, this.#prefix, this.#slots[slot + SEQ]),
    };
    // Read before the head moves: from then on the thread may fill the slot again.
    Atomics.store(this.#ctl, HEAD, (head + 1) | 0);
    return file;
  }

  /**
   * No more files from this pool (a pooled file could not be renamed into a mailbox:
   * another file system); those already made are removed at close().
   */
  disable(why: string): void {
    if (this.#disabled) return;
    this.#disabled = true;
    log("store").warn(`delivery file pool disabled (${why}); files are created per delivery`);
  }

  /** Stops the thread, then closes and removes every file not taken. */
  async close(): Promise<void> {
    if (this.taken + this.missed > 0) {
      log("store").info(
        `delivery file pool: ${this.taken} file(s) used, ${this.missed} delivery(ies) found it empty`,
      );
    }
    this.#disabled = true;
    const worker = this.#worker;
    if (worker) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stopped = new Promise<void>((resolve) => {
        this.#stopped = resolve;
        timer = setTimeout(resolve, STOP_WAIT_MS);
      });
      Atomics.store(this.#ctl, STOP, 1);
      Atomics.notify(this.#ctl, STOP);
      Atomics.store(this.#ctl, WANT, 1);
      Atomics.notify(this.#ctl, WANT);
      await stopped;
      clearTimeout(timer);
      worker.terminate();
      this.#worker = null;
    }
    while (this.ready > 0) {
      const file = this.#pop();
      this.#c?.close(file.fd);
      try {
        Deno.removeSync(file.path);
      } catch { /* gone: the next start's clean-up would find nothing either */ }
    }
  }
}
