/**
 * One folder of the user's mailbox receiving imported messages (SPEC §11), written the
 * way the daemon writes, so an import is safe while the daemon runs:
 *
 * - Messages are stored by the store's delivery protocol (maildir_write.ts: tmp/,
 *   fsync, rename into cur/, fsync of cur/), a batch at a time with the batch's fsyncs
 *   in parallel, so the file system commits them together.
 * - UIDs are reserved before the files appear, by appending `<uid> <base>` lines to the
 *   folder's `extremail-uidlist` under its lock (flock), one fsync per batch, and the
 *   lock is held until the batch's files are in cur/. Whoever reads the folder next
 *   (the daemon, noticing the new files by their directory's mtime, or anyone later)
 *   takes those UIDs from the list: the daemon and the importer never hand out the same
 *   UID, and an IDLE client gets EXISTS.
 * - This process never opens the folder index (extremail-index.sqlite): it has one
 *   writer, the process serving the folder, whose mod-sequences must not be interleaved
 *   with another's.
 * - Keyword letters are allocated in `dovecot-keywords` under the same lock.
 *
 * Which UIDs (the choice SPEC §11 leaves open when the folder already has messages):
 * - The folder has never given out a UID (a new user's folder, or one created for the
 *   import): it takes the source's UIDVALIDITY and next UID, and each message keeps
 *   its source UID. Clients of the old server keep their caches.
 * - The folder already has the source's UIDVALIDITY (an earlier import of the same
 *   source, run again before the switch-over): source UIDs above every UID given out
 *   so far are kept.
 * - Otherwise the folder keeps its UIDVALIDITY (its clients' caches stay valid) and the
 *   imported messages get new UIDs above its own, in source order, like new mail.
 * A message whose source UID cannot be kept, or that has none, gets the next free UID;
 * UIDs stay unique and ascending in every case. The daemon's own new messages wait for
 * the lock, so they never come between a batch's reservation and its files. What is
 * left: the daemon reads directories without the lock, so a folder check that lists
 * cur/ while a batch is being renamed in sees part of it; files of the batch it finds
 * later, below one it already showed, get new UIDs (as Dovecot does with a file found
 * out of order). The rename loop takes milliseconds per batch.
 *
 * Messages already in the folder are recognised by content (SHA-256 of the stored
 * bytes, counted, so n identical copies in the source stay n): a second run adds
 * nothing. Only folder files of a size that an incoming message has are read for that.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { MailStore } from "../store/mailstore.ts";
import { nextUidValidity } from "../store/folder/uids.ts";
import {
  fileNameFor,
  FLAG_LETTERS,
  FolderNameError,
  newBaseName,
  parseFileName,
} from "../store/maildir_names.ts";
import { readKeywords, writeKeywords } from "../store/folder/keywords_file.ts";
import { Mutex, syncDir } from "../store/fsutil.ts";
import { type UidList, UidListCache, withUidListLock } from "../store/folder/uidlist.ts";
import { BaseUids } from "../store/folder/base_uids.ts";
import { StagedBatch, type WriteItem } from "./maildir_write.ts";

/** A message to import. */
export interface ImportItem {
  /** The message as it is to be stored (CRLF line endings). */
  data: Uint8Array;
  /** IMAP flags: system flags and keywords. */
  flags: readonly string[];
  /** INTERNALDATE (ms); null: the time of the import. */
  internalDate: number | null;
  /** The message's UID at the source, if the source has UIDs. */
  sourceUid: number | null;
}

/** The source folder's UIDVALIDITY and next UID, when it has them. */
export interface SourceUidState {
  uidValidity: number;
  nextUid: number;
}

export type Outcome = "imported" | "present" | Error;

/** Keyword letters a Maildir folder has (a-z). */
const MAX_KEYWORDS = 26;

function digestOf(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("base64");
}

export class TargetFolder {
  readonly path: string;
  /** Keywords that did not fit in the folder's 26 letters (reported). */
  readonly droppedKeywords = new Set<string>();
  readonly #root: string;
  readonly #dryRun: boolean;
  readonly #cache: UidListCache;
  /** Files in the folder not hashed yet, by size. */
  readonly #unhashed = new Map<number, string[]>();
  /** Content digests of the folder's messages, with their counts. */
  readonly #digests = new Map<string, number>();
  #keywords: string[] = [];
  /** Decided at the first reservation: keep source UIDs, and below which UID freely. */
  #decided = false;
  /** The source UIDVALIDITY whose UIDs are kept (0: none). */
  #preserved = 0;
  #ownedBelow = 0;
  #lastUid = 0;
  /** Batches are prepared one at a time, in call order. */
  readonly #order = new Mutex();
  /** Settles when the last batch's files were renamed into the folder (or it failed). */
  #renamed: Promise<void> = Promise.resolve();

  private constructor(store: MailStore, root: string, name: string, dryRun: boolean) {
    this.#root = root;
    this.#dryRun = dryRun;
    this.path = store.folderPath(root, name);
    this.#cache = new UidListCache(this.path);
  }

  /** The folder, created unless this is a dry run; its present messages are listed. */
  static async open(
    store: MailStore,
    root: string,
    name: string,
    dryRun: boolean,
  ): Promise<TargetFolder> {
    const t = new TargetFolder(store, root, name, dryRun);
    if (!(await store.folderExists(root, name))) {
      if (!dryRun) {
        await store.createFolder(root, name).catch((e) => {
          // Made meanwhile by a client of the daemon: just as good.
          if (!(e instanceof FolderNameError && /already exists/.test(e.message))) throw e;
        });
      }
      return t;
    }
    for (const sub of ["cur", "new"]) {
      for await (const e of Deno.readDir(join(t.path, sub))) {
        if (!e.isFile || e.name.startsWith(".")) continue;
        const path = join(t.path, sub, e.name);
        const size = parseFileName(e.name).size ?? (await Deno.stat(path)).size;
        const list = t.#unhashed.get(size);
        if (list) list.push(path);
        else t.#unhashed.set(size, [path]);
      }
    }
    return t;
  }

  /**
   * Imports a batch: messages already present are left alone; the others are written
   * to tmp/, then, under the UID list's lock, get their UIDs reserved while they are
   * fsync'd (one group commit with the list's fsync) and are renamed into the folder
   * before the lock is let go. A daemon storing a message in this folder meanwhile
   * waits for the lock, so its UID comes after the batch's files are there: no file of
   * the batch can arrive "below" a UID a client already saw. Items are taken in the
   * order given (source UID order); batches overlap (one written while the one before
   * is fsync'd) and enter the folder in the order of the calls.
   */
  add(items: readonly ImportItem[], source: SourceUidState | null): Promise<Outcome[]> {
    const sorted = this.#order.run(() => this.#sortOut(items));
    const previous = this.#renamed;
    let renamed!: () => void;
    this.#renamed = new Promise((resolve) => (renamed = resolve));
    return (async () => {
      try {
        const { outcomes, todo } = await sorted;
        if (this.#dryRun || todo.length === 0) return outcomes;
        const chosen = todo.map((i) => items[i]);
        const writes = chosen.map((it) => ({
          data: it.data,
          base: newBaseName(it.data.length),
          internalDate: it.internalDate,
        }));
        const batch = StagedBatch.write(this.#root, writes);
        await previous;
        await this.#commit(chosen, writes, batch, source).catch((e) => {
          batch.discard();
          throw e;
        });
        renamed();
        // The next batch may go on while cur/ is fsync'd (group commit).
        await syncDir(join(this.path, "cur"));
        batch.errors.forEach((e, k) => {
          if (e !== null) outcomes[todo[k]] = e;
        });
        return outcomes;
      } finally {
        renamed();
      }
    })();
  }

  /** Reserves UIDs, fsyncs and renames the batch in, all under the UID list's lock. */
  #commit(
    items: readonly ImportItem[],
    writes: readonly WriteItem[],
    batch: StagedBatch,
    source: SourceUidState | null,
  ): Promise<void> {
    return withUidListLock(this.path, async () => {
      const [letters] = await Promise.all([
        this.#reserve(items, writes.map((w) => w.base), source),
        batch.sync(),
      ]);
      batch.renameInto(this.path, writes.map((w, k) => fileNameFor(w.base, letters[k])));
    });
  }

  /** Which items are already in the folder (by content), in call order. */
  async #sortOut(items: readonly ImportItem[]): Promise<{ outcomes: Outcome[]; todo: number[] }> {
    const outcomes: Outcome[] = [];
    const todo: number[] = [];
    for (let i = 0; i < items.length; i++) {
      if (await this.#takePresent(digestOf(items[i].data), items[i].data.length)) {
        outcomes.push("present");
      } else {
        outcomes.push("imported");
        todo.push(i);
      }
    }
    return { outcomes, todo };
  }

  /**
   * After the last batch: a folder that got no message still takes the source's
   * UIDVALIDITY and next UID when it never gave out a UID (an empty folder's state is
   * what its clients cached too).
   */
  async finish(source: SourceUidState | null): Promise<void> {
    if (this.#dryRun || this.#decided || !source) return;
    await withUidListLock(this.path, async () => {
      await this.#decide(await this.#cache.sync(), source);
    });
  }

  /** Whether a message with this digest is in the folder and not yet matched. */
  async #takePresent(digest: string, size: number): Promise<boolean> {
    const paths = this.#unhashed.get(size);
    if (paths) {
      this.#unhashed.delete(size);
      for (const path of paths) {
        try {
          const d = digestOf(await Deno.readFile(path));
          this.#digests.set(d, (this.#digests.get(d) ?? 0) + 1);
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e; // renamed or expunged meanwhile
        }
      }
    }
    const n = this.#digests.get(digest) ?? 0;
    if (n === 0) return false;
    this.#digests.set(digest, n - 1);
    return true;
  }

  /**
   * With the UID list's lock held: decides how UIDs are chosen (first time), reserves
   * one per base name (one append and fsync), and returns the items' flag letters.
   */
  async #reserve(
    items: readonly ImportItem[],
    bases: readonly string[],
    source: SourceUidState | null,
  ): Promise<string[]> {
    let list = await this.#cache.sync();
    if (!this.#decided) list = await this.#decide(list, source);
    else if (!list) list = await this.#create(nextUidValidity(), 1, 0); // lost meanwhile
    const lines: { uid: number; base: string }[] = [];
    const sameSource = source !== null && source.uidValidity === this.#preserved;
    items.forEach((item, k) => {
      const s = item.sourceUid;
      const keep = sameSource && s !== null && s > this.#lastUid &&
        (s < this.#ownedBelow || s >= list.uidNext);
      const uid = keep ? s : Math.max(list.uidNext, this.#lastUid + 1);
      list.byBase.set(bases[k], uid);
      if (uid >= list.uidNext) list.uidNext = uid + 1;
      this.#lastUid = uid;
      lines.push({ uid, base: bases[k] });
    });
    if (lines.length > 0) await this.#cache.append(lines);
    return await this.#letters(items);
  }

  /** The first reservation: adopt the source's UIDs if the folder never gave one out. */
  async #decide(list: UidList | null, source: SourceUidState | null): Promise<UidList> {
    this.#decided = true;
    const fresh = list === null || (list.byBase.size === 0 && list.uidNext <= 1);
    const ceiling = list?.modseqCeiling ?? 0;
    if (fresh && source) {
      this.#preserved = source.uidValidity;
      this.#ownedBelow = source.nextUid;
      return await this.#create(source.uidValidity, source.nextUid, ceiling);
    }
    list ??= await this.#create(nextUidValidity(), 1, ceiling);
    if (source !== null && source.uidValidity === list.uidValidity) {
      this.#preserved = source.uidValidity;
    }
    return list;
  }

  async #create(uidValidity: number, uidNext: number, modseqCeiling: number): Promise<UidList> {
    // The mod-sequence ceiling is kept: mod-sequences must never go back (RFC 7162).
    const list: UidList = { uidValidity, uidNext, byBase: new BaseUids(), lines: 0, modseqCeiling };
    await this.#cache.write(list);
    return list;
  }

  /** Maildir letters per item; new keywords get letters in dovecot-keywords (locked). */
  async #letters(items: readonly ImportItem[]): Promise<string[]> {
    const find = (name: string) => {
      const lower = name.toLowerCase();
      return this.#keywords.findIndex((k) => k?.toLowerCase() === lower);
    };
    const system = new Map(Object.entries(FLAG_LETTERS).map(([f, l]) => [f.toLowerCase(), l]));
    const wanted = new Set<string>();
    for (const item of items) {
      for (const f of item.flags) if (!f.startsWith("\\") && find(f) < 0) wanted.add(f);
    }
    if (wanted.size > 0) {
      const onDisk = await readKeywords(this.path);
      if (onDisk.length >= this.#keywords.length) this.#keywords = onDisk;
      let added = false;
      for (const name of wanted) {
        if (find(name) >= 0) continue;
        if (this.#keywords.length >= MAX_KEYWORDS) {
          this.droppedKeywords.add(name);
          continue;
        }
        this.#keywords.push(name);
        added = true;
      }
      if (added) await writeKeywords(this.path, this.#keywords);
    }
    return items.map((item) => {
      let letters = "";
      for (const f of item.flags) {
        const sys = system.get(f.toLowerCase());
        if (sys) letters += sys;
        else if (!f.startsWith("\\")) {
          const idx = find(f);
          if (idx >= 0) letters += String.fromCharCode(97 + idx);
        }
      }
      return letters;
    });
  }
}
