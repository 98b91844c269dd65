/**
 * A folder's connection to its index (index_db.ts). The index only speeds things
 * up: the Maildir and the UID list are the truth. So a failing index is dropped (the
 * folder goes on from memory) and rebuilt at the next open, and what is learnt lazily
 * (internal dates, parsed structures) is written in batches, not one write per message.
 */
import { log } from "../../log.ts";
import { yieldToEventLoop } from "../fsutil.ts";
import {
  type CacheRow,
  type DirMark,
  FolderIndex,
  type IndexMeta,
  type RawRow,
} from "./index_db.ts";

/** Lazily learnt dates and parsed structures are written to the index in batches. */
const FLUSH_MS = 250;
const FLUSH_AT = 2000;
/**
 * Key texts are larger (a few hundred bytes each) and come in long runs when a folder's
 * keys are computed in the background: written in smaller batches, so one write never
 * holds the event loop for long.
 */
const KEYS_FLUSH_AT = 100;
/**
 * Rows the orphan check counts per turn: 4,000 stored keys measured 3-8 ms in a restarted
 * daemon (pages not in memory yet), so half that.
 */
const ORPHAN_PAGE = 2000;

export class IndexLink {
  readonly #path: string;
  #index: FolderIndex | null = null;
  #pendingDates = new Map<number, number>();
  #pendingCache = new Map<string, () => CacheRow>();
  #pendingKeys = new Map<string, string>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** Transactions put off (defer), run before any other use of the index. */
  #deferred: ((ix: FolderIndex) => void)[] = [];

  constructor(folderPath: string) {
    this.#path = folderPath;
  }

  /**
   * Opens the index: its meta (null when it has none) and the summary of its last clean
   * close, if no write came after it (summary.ts; the next write voids it). The rows are
   * read with rowsAfter().
   */
  open(): { meta: IndexMeta | null; summary: Uint8Array | null } {
    try {
      const opened = FolderIndex.open(this.#path);
      this.#index = opened.index;
      const summary = opened.meta ? opened.index.summary() : null;
      return { meta: opened.meta, summary };
    } catch (e) {
      this.#failed(e);
    }
    return { meta: null, summary: null };
  }

  /** Message rows after UID `after` (a page), or null without a (working) index. */
  rowsAfter(after: number, limit: number): RawRow[] | null {
    return this.#query(null, (ix) => ix.rowsAfter(after, limit));
  }

  /**
   * A transaction put off until the index is next used (any read or write runs it first,
   * so nothing ever reads the index without it) or runDeferred(): a first SELECT answers
   * before its 100,000 rows are written (scan.ts).
   */
  defer(work: (ix: FolderIndex) => void): void {
    if (this.#index) this.#deferred.push(work);
  }

  /** Runs the deferred transactions now (one commit). */
  runDeferred(): void {
    if (this.#deferred.length === 0) return;
    const work = this.#deferred;
    this.#deferred = [];
    this.tx((ix) => {
      for (const w of work) w(ix);
    });
  }

  /** One index transaction; a failing index is dropped (and rebuilt at the next open). */
  tx(work: (ix: FolderIndex) => void): void {
    this.runDeferred();
    const ix = this.#index;
    if (!ix) return;
    try {
      ix.tx(() => work(ix));
    } catch (e) {
      this.#failed(e);
    }
  }

  /** Durably unclean, so a restart does not trust a HIGHESTMODSEQ clients went past. */
  markUnclean(highestModseq: number): void {
    this.#query(undefined, (ix) => ix.setClean(false, highestModseq));
  }

  /** UIDs expunged after `since`, or null without an index. */
  vanishedSince(since: number): number[] | null {
    return this.#query(null, (ix) => ix.vanishedSince(since));
  }

  cacheGet(base: string): CacheRow | undefined {
    const pending = this.#pendingCache.get(base);
    if (pending) return pending();
    return this.#query(undefined, (ix) => ix.cacheGet(base));
  }

  /** The recorded save date of a message, if any (RFC 8514, Folder.saveDate). */
  savedAt(uid: number): number | undefined {
    return this.#query(undefined, (ix) => ix.saved(uid));
  }

  /** `row` is called when the batch is written, so several updates cost one serialization. */
  cachePut(base: string, row: () => CacheRow): void {
    if (!this.#index) return;
    this.#pendingCache.set(base, row);
    this.#scheduleFlush();
  }

  /**
   * Stored keys by UID (index_db.ts keysByUid), a page at a time; keys not written yet
   * are left to keysGet.
   */
  keysByUid(after: number, limit: number): { rows: [number, string][]; done: boolean } {
    if (!this.#index) return { rows: [], done: true };
    if (after === 0) this.#flush(); // a reader from the start sees every key put so far
    return this.#query({ rows: [], done: true }, (ix) => {
      const rows = ix.keysByUid(after, limit);
      return { rows, done: rows.length < limit };
    });
  }

  /**
   * A field of the stored key texts of one version, a page by UID (index_db.ts keysField,
   * pending keys written first), or null without a (working) index.
   */
  keysField(prefix: string, path: string, after: number, limit: number): unknown[][] | null {
    if (!this.#index) return null;
    this.#flush();
    return this.#query(null, (ix) => ix.keysField(prefix, path, after, limit));
  }

  /** UIDs from `from` on without stored keys of that version (at most `limit`); null without an index. */
  keysMissing(from: number, prefix: string, limit: number): Uint32Array | null {
    if (!this.#index) return null;
    this.#flush();
    return this.#query(null, (ix) => ix.keysMissing(from, prefix, limit));
  }

  /**
   * Below which UID every message had keys of `version` stored, as a layer above recorded
   * it (setKeysDoneBelow); 0 when unknown. Gone with the rows (another UIDVALIDITY).
   */
  keysDoneBelow(version: number): number {
    return this.#query(0, (ix) => {
      const at = ix.metaGet("keys_done_below");
      return at !== undefined && ix.metaGet("keys_done_version") === version ? at : 0;
    });
  }

  setKeysDoneBelow(version: number, uid: number): void {
    this.tx((ix) => ix.setMeta({ keys_done_below: uid, keys_done_version: version }));
  }

  /** The keys blob (index_db.ts keysBlob), or null. */
  keysBlob(): Uint8Array | null {
    return this.#query(null, (ix) => ix.keysBlob());
  }

  putKeysBlob(bytes: Uint8Array): void {
    this.tx((ix) => ix.putKeysBlob(bytes));
  }

  /**
   * Drops stored keys of messages no longer in the folder (pending ones written first)
   * when there are more stored keys than message rows. Both are counted a page per turn
   * of the event loop: the two count(*) of 100,000 rows were 30-50 ms in one piece right
   * after a restart's SELECT (the keys' pages are most of it). Rows written between pages
   * may skew the counts by a few: the delete that follows is exact either way, and
   * orphans it misses are found at the next load.
   */
  async keysDropOrphans(): Promise<void> {
    this.#flush();
    let keys = 0, rows = 0;
    for (let after = "";;) {
      const page = this.#query(null, (ix) => ix.keysPage(after, ORPHAN_PAGE));
      if (page === null) return;
      keys += page.n;
      if (page.n < ORPHAN_PAGE || page.last === null) break;
      after = page.last;
      await yieldToEventLoop();
    }
    for (let after = 0; rows < keys;) {
      const page = this.#query(null, (ix) => ix.msgPage(after, ORPHAN_PAGE));
      if (page === null) return;
      rows += page.n;
      if (page.n < ORPHAN_PAGE) break;
      after = page.last;
      await yieldToEventLoop();
    }
    if (keys > rows && this.#index) this.tx((ix) => ix.keysDropOrphans());
  }

  /** One message's stored key text (pending first). */
  keysGet(base: string): string | undefined {
    const pending = this.#pendingKeys.get(base);
    if (pending !== undefined) return pending;
    return this.#query(undefined, (ix) => ix.keysGet(base));
  }

  keysPut(base: string, text: string): void {
    if (!this.#index) return;
    this.#pendingKeys.set(base, text);
    this.#scheduleFlush();
  }

  /**
   * Writes the pending keys now (and the rest pending with them): a bulk fill's batch, so
   * its strings and map entries die in the turn that made them instead of waiting for the
   * next batch (100,000 of them reached the old space, 12 MB: docs/performance.md).
   */
  writeKeys(): void {
    if (this.#pendingKeys.size > 0) this.#flush();
  }

  noteDate(uid: number, date: number): void {
    this.#pendingDates.set(uid, date);
    this.#scheduleFlush();
  }

  /** The message left: its pending date must not be written. */
  forgetDate(uid: number): void {
    this.#pendingDates.delete(uid);
  }

  /**
   * Writes what is pending, the directory marks and a clean mark with the final
   * HIGHESTMODSEQ, and closes the index.
   */
  close(
    newDir: DirMark,
    curDir: DirMark,
    highestModseq: number,
    summary: { bytes: Uint8Array; gen: number } | null = null,
  ): void {
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.runDeferred();
    this.#flush();
    const ix = this.#index;
    if (ix) {
      try {
        ix.setClean(true, highestModseq, () => {
          ix.setDirs(newDir, curDir);
          if (summary) ix.putSummary(summary.bytes, summary.gen);
        });
      } catch (e) {
        log("store").warn(`closing the index of ${this.#path}: ${(e as Error)?.message ?? e}`);
      }
      ix.close();
    }
    this.#index = null;
  }

  #scheduleFlush(): void {
    const pending = this.#pendingDates.size + this.#pendingCache.size + this.#pendingKeys.size;
    if (pending >= FLUSH_AT || this.#pendingKeys.size >= KEYS_FLUSH_AT) {
      this.#flush();
      return;
    }
    if (this.#flushTimer === undefined) {
      const timer = setTimeout(() => {
        this.#flushTimer = undefined;
        this.#flush();
      }, FLUSH_MS);
      Deno.unrefTimer(timer);
      this.#flushTimer = timer;
    }
  }

  #flush(): void {
    const keys = this.#pendingKeys;
    if (this.#pendingDates.size === 0 && this.#pendingCache.size === 0 && keys.size === 0) return;
    const dates = this.#pendingDates, cache = this.#pendingCache;
    this.#pendingDates = new Map();
    this.#pendingCache = new Map();
    this.#pendingKeys = new Map();
    this.tx((ix) => {
      for (const [uid, date] of dates) ix.setDate(uid, date);
      for (const [base, row] of cache) ix.cachePut(base, row());
      ix.keysPutAll(keys);
    });
  }

  /**
   * A read (or single write) of the index: `fallback` without a (working) index; a
   * failing index is dropped (and rebuilt at the next open).
   */
  #query<T>(fallback: T, read: (ix: FolderIndex) => T): T {
    this.runDeferred();
    if (!this.#index) return fallback;
    try {
      return read(this.#index);
    } catch (e) {
      this.#failed(e);
      return fallback;
    }
  }

  #failed(e: unknown): void {
    this.#deferred = [];
    log("store").warn(
      `index of ${this.#path} failed (${(e as Error)?.message ?? e}); rebuilt at next open`,
    );
    this.#index?.close();
    this.#index = null;
    FolderIndex.discard(this.#path);
  }
}
