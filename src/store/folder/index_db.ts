/**
 * The on-disk index of one Maildir folder (`extremail-index.sqlite` next to
 * `extremail-uidlist`): per message its UID, base and file name, flags, size, internal
 * date and mod-sequence (RFC 7162); the folder's HIGHESTMODSEQ; expunged UIDs with the
 * mod-sequence of their expunge (QRESYNC VANISHED); the directory mtimes the rows are
 * known to match; and a cache of each message's parsed structure and ENVELOPE /
 * BODYSTRUCTURE texts, and the keys SORT and THREAD compare (src/imap/message_keys.ts,
 * stored as that module's opaque text), so a restart neither re-reads the Maildir nor
 * re-parses messages.
 *
 * It is a cache, never trusted over the Maildir: a folder whose new/ or cur/ changed
 * since the recorded mtimes is re-read and the rows reconciled (files added or gone,
 * flags changed by other software); an index that is missing, unreadable, of another
 * format version or of another UIDVALIDITY is rebuilt from the Maildir and the UID list.
 * SQLite (WAL) makes each batch of changes one atomic commit, so a crash leaves the last
 * committed state. Commits are not fsync'd (synchronous=NORMAL) except the `clean`
 * marker: after an unclean stop the folder takes its HIGHESTMODSEQ from the UID list's
 * durable ceiling, so mod-sequences never go backwards.
 *
 * The connection's prepared statements and the tables kept by base name for the layers
 * above (parsed structures, SORT/SEARCH keys) are index_caches.ts, which FolderIndex extends.
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { removeDatabaseFiles } from "../fsutil.ts";
import { IndexCaches, type RowValues } from "./index_caches.ts";
import { SCHEMA } from "./index_sql.ts";

export type { CacheRow } from "./index_caches.ts";

export const INDEX_FILE = "extremail-index.sqlite";
/** 2: the `keys` table (sort and thread keys per base name). */
const FORMAT = 2;

export interface IndexRow {
  uid: number;
  base: string;
  sub: "new" | "cur";
  /** Exact file name (null: the canonical name for its flags). */
  name: string | null;
  flags: string;
  size: number;
  internalDate: number | null;
  modseq: number;
}

/** The directory state the rows describe (see Folder: mtime and when it was seen). */
export interface DirMark {
  mtime: number;
  checkedAt: number;
}

export interface IndexMeta {
  format: number;
  uidValidity: number;
  highestModseq: number;
  /** Closed cleanly: highestModseq is exact (else the UID list's ceiling applies). */
  clean: boolean;
  newDir: DirMark;
  curDir: DirMark;
  /** Expunges below this mod-sequence may be missing from the vanished table. */
  vanishedFloor: number;
  /** The stored summary's generation while no write came after it, else 0 (summary.ts). */
  summaryGen: number;
}

/**
 * A message row as the index returns it (an array: several times cheaper than an object
 * for 100,000 rows): uid, base, sub (1: cur), name (null: canonical), flags, size, date,
 * modseq.
 */
export type RawRow = [
  uid: number,
  base: string,
  sub: number,
  name: string | null,
  flags: string,
  size: number,
  date: number | null,
  modseq: number,
];

export class FolderIndex extends IndexCaches {
  #closed = false;
  /** The summary generation the meta names (0: none to void); see tx(). */
  #summaryGen = 0;
  /** A summary stored by the running tx() (putSummary). */
  #storedGen: number | null = null;

  private constructor(readonly path: string, db: DatabaseSync) {
    super(db);
  }

  /**
   * Opens (or creates) the index of a folder. An unreadable file or one of another
   * format is deleted and started afresh; `fresh` tells the caller to rebuild.
   */
  static open(folderPath: string): { index: FolderIndex; meta: IndexMeta | null } {
    const path = join(folderPath, INDEX_FILE);
    for (let attempt = 0;; attempt++) {
      let db: DatabaseSync | null = null;
      try {
        db = new DatabaseSync(path);
        db.exec(
          "PRAGMA busy_timeout = 2000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;" +
            "PRAGMA cache_size = -512; PRAGMA journal_size_limit = 4194304;",
        );
        db.exec(SCHEMA);
        const index = new FolderIndex(path, db);
        const meta = index.#readMeta();
        if (meta && meta.format !== FORMAT) throw new Error(`index format ${meta.format}`);
        index.#summaryGen = meta?.summaryGen ?? 0;
        return { index, meta };
      } catch (e) {
        try {
          db?.close();
        } catch { /* already broken */ }
        if (attempt > 0) throw e;
        removeDatabaseFiles(path); // corrupt or foreign: rebuilt from the Maildir
      }
    }
  }

  #readMeta(): IndexMeta | null {
    const kv = new Map<string, number>();
    for (const r of this.stmt("meta").all() as { k: string; v: number }[]) kv.set(r.k, Number(r.v));
    if (!kv.has("format") || !kv.has("uidvalidity")) return null;
    return {
      format: kv.get("format")!,
      uidValidity: kv.get("uidvalidity")!,
      highestModseq: kv.get("highestmodseq") ?? 0,
      clean: kv.get("clean") === 1,
      newDir: { mtime: kv.get("new_mtime") ?? -1, checkedAt: kv.get("new_checked") ?? 0 },
      curDir: { mtime: kv.get("cur_mtime") ?? -1, checkedAt: kv.get("cur_checked") ?? 0 },
      vanishedFloor: kv.get("vanished_floor") ?? 0,
      summaryGen: kv.get("summary_gen") ?? 0,
    };
  }

  /** Message rows after UID `after`, at most `limit`, in UID order. */
  rowsAfter(after: number, limit: number): RawRow[] {
    return this.stmt("rowsAfter").all(after, limit) as unknown as RawRow[];
  }

  /**
   * Runs `work` as one transaction (one commit). The first write after a summary was
   * stored voids it in the same commit (summary_gen 0): the summary stands for the index
   * exactly as it was written, and a crash after any later write must not leave it
   * trusted. That costs one meta row, where deleting the summary as it is read cost the
   * SELECT after a restart a write of its own (a new WAL, its fsyncs, the blob read twice).
   */
  tx(work: () => void): void {
    if (this.#closed) return;
    this.db.exec("BEGIN");
    try {
      const voided = this.#summaryGen !== 0;
      if (voided) this.stmt("setMeta").run("summary_gen", 0);
      this.#storedGen = null;
      work();
      this.db.exec("COMMIT");
      if (voided) this.#summaryGen = 0;
      if (this.#storedGen !== null) this.#summaryGen = this.#storedGen;
    } catch (e) {
      try {
        this.db.exec("ROLLBACK");
      } catch { /* the commit itself failed */ }
      throw e;
    }
  }

  /** Drops every row: the index is started again for `uidValidity` (inside tx()). */
  reset(uidValidity: number, highestModseq: number): void {
    this.db.exec(
      "DELETE FROM msg; DELETE FROM vanished; DELETE FROM meta; DELETE FROM saved;" +
        "DELETE FROM summary;",
    );
    this.setMeta({
      format: FORMAT,
      uidvalidity: uidValidity,
      highestmodseq: highestModseq,
      vanished_floor: highestModseq,
      clean: 0,
    });
  }

  /** One meta value (a number), if set. */
  metaGet(k: string): number | undefined {
    const r = this.stmt("metaGet").get(k) as { v: number } | undefined;
    return r === undefined ? undefined : Number(r.v);
  }

  setMeta(values: Record<string, number>): void {
    for (const [k, v] of Object.entries(values)) this.stmt("setMeta").run(k, v);
  }

  /**
   * The summary written at the last clean close (summary.ts) while no write came after it
   * (see tx(): its generation is still the meta's), else null. Read only: the next write
   * voids it.
   */
  summary(): Uint8Array | null {
    if (this.#summaryGen === 0) return null;
    const r = this.stmt("summaryGet").get() as { v: Uint8Array } | undefined;
    return r?.v instanceof Uint8Array ? r.v : null;
  }

  /** Stores a summary of generation `gen` (its bytes name it too), inside tx(). */
  putSummary(bytes: Uint8Array, gen: number): void {
    this.stmt("summaryPut").run(bytes);
    this.stmt("setMeta").run("summary_gen", gen);
    this.#storedGen = gen;
  }

  setDirs(newDir: DirMark, curDir: DirMark): void {
    this.setMeta({
      new_mtime: newDir.mtime,
      new_checked: newDir.checkedAt,
      cur_mtime: curDir.mtime,
      cur_checked: curDir.checkedAt,
    });
  }

  /**
   * Records whether the folder was closed cleanly, durably (one fsync), with `also` in the
   * same commit (a clean close's directory marks and summary): a folder marked unclean
   * takes its HIGHESTMODSEQ from the UID list's ceiling when it is next opened.
   */
  setClean(clean: boolean, highestModseq: number, also?: () => void): void {
    if (this.#closed) return;
    this.db.exec("PRAGMA synchronous = FULL");
    try {
      this.tx(() => {
        also?.();
        this.setMeta({ clean: clean ? 1 : 0, highestmodseq: highestModseq });
      });
    } finally {
      this.db.exec("PRAGMA synchronous = NORMAL");
    }
  }

  put(r: IndexRow): void {
    this.stmt("put").run(
      r.uid,
      r.base,
      r.sub === "cur" ? 1 : 0,
      r.name,
      r.flags,
      r.size,
      r.internalDate,
      r.modseq,
    );
  }

  /**
   * `n` rows as put() writes them, ROWS_CHUNK per statement (index_sql.ts): `values` gives
   * row `k`'s uid, base, sub (1: cur), name, flags, size, date, modseq.
   */
  putMany(n: number, values: RowValues): void {
    this.runChunked("put", "putChunk", 8, n, values);
  }

  setFlags(uid: number, sub: "new" | "cur", name: string | null, flags: string, modseq: number) {
    this.stmt("flags").run(sub === "cur" ? 1 : 0, name, flags, modseq, uid);
  }

  /**
   * setFlags() of `n` messages, ROWS_CHUNK per statement: `values` gives row `k`'s sub (1:
   * cur), name, flags, modseq, uid; each UID at most once.
   */
  setFlagsMany(n: number, values: RowValues): void {
    this.runChunked("flags", "flagsChunk", 5, n, values);
  }

  setDate(uid: number, date: number): void {
    this.stmt("date").run(date, uid);
  }

  /** Removes a message; its UID is remembered as vanished at `modseq` (QRESYNC). */
  remove(uid: number, base: string, modseq: number): void {
    this.stmt("del").run(uid);
    this.stmt("vanish").run(uid, modseq);
    this.stmt("cacheDel").run(base);
    this.stmt("keysDel").run(base);
    this.stmt("savedDel").run(uid);
  }

  /** RFC 8514 save date (ms) of a message this process stored (see Folder.saveDate). */
  setSaved(uid: number, at: number): void {
    this.stmt("savedPut").run(uid, at);
  }

  saved(uid: number): number | undefined {
    const r = this.stmt("savedGet").get(uid) as { at: number } | undefined;
    return r ? Number(r.at) : undefined;
  }

  /**
   * Keeps the newest `keep` vanished UIDs; returns the new floor (expunges at or below it
   * may be forgotten) when some were dropped, else null.
   */
  pruneVanished(keep: number): number | null {
    const row = this.db.prepare(
      "SELECT modseq FROM vanished ORDER BY modseq DESC LIMIT 1 OFFSET ?",
    ).get(keep) as { modseq: number } | undefined;
    if (!row) return null;
    const floor = Number(row.modseq);
    this.db.prepare("DELETE FROM vanished WHERE modseq <= ?").run(floor);
    this.setMeta({ vanished_floor: floor });
    return floor;
  }

  vanishedSince(modseq: number): number[] {
    return (this.stmt("vanishedSince").all(modseq) as unknown as unknown[][]).map((r) =>
      Number(r[0])
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.db.close();
    } catch { /* nothing more to do */ }
  }

  /** Deletes the index files (after an error: the next open rebuilds it). */
  static discard(folderPath: string): void {
    try {
      removeDatabaseFiles(join(folderPath, INDEX_FILE));
    } catch { /* best effort */ }
  }
}
