/**
 * The full-text index file of one folder (`extremail-fts.sqlite` beside the folder index):
 * an FTS5 table with the trigram tokenizer (case_sensitive 1: the text is folded before,
 * columns.ts) whose rowid is the message's UID, contentless (the text is not stored
 * twice, only its trigrams with their positions), and which UIDs it holds and which were
 * left to the scanning path (over MAX_INDEXED_BYTES): docs_table.ts.
 *
 * A cache like the folder index: rebuilt when missing, unreadable, of an unknown format or
 * of another UIDVALIDITY; format 1 (one docs row per message) is migrated in place (a UID names one message only within one UIDVALIDITY, RFC 3501
 * §2.3.1.1). Each batch is one SQLite transaction in WAL mode that writes `docs` and the
 * FTS table together, so after a crash the file holds some earlier committed state: the
 * messages it lost are simply not in `docs` and are found by scanning until indexed
 * again. Commits are not fsync'd (synchronous=NORMAL): losing the last ones costs only
 * their re-indexing. Used only by the worker (worker.ts).
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { removeDatabaseFiles } from "../fsutil.ts";
import { ftsColumns } from "./columns.ts";
import { DOCS_SCHEMA, DocsTable, migrateDocsV1 } from "./docs_table.ts";

export const FTS_FILE = "extremail-fts.sqlite";
/**
 * 1: fts(h, b, s) trigram case_sensitive 1, contentless with deletes; docs(uid, state).
 * 2: the same fts table; docs as bitmaps, skipped (docs_table.ts).
 */
export const FTS_FORMAT = 2;
/** Larger messages are not indexed: SEARCH reads them as before. */
export const MAX_INDEXED_BYTES = 16 << 20;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
${DOCS_SCHEMA}
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(h, b, s,
  tokenize = 'trigram case_sensitive 1', content = '', contentless_delete = 1);
`;

/** A message to index: its UID and where its file is now. */
export interface IndexItem {
  uid: number;
  path: string;
}

/** What a batch did: UIDs indexed, left to scanning (too large), whose files were gone. */
export interface IndexOutcome {
  indexed: number[];
  skipped: number[];
  missing: number[];
  /** Octets of message files read. */
  bytes: number;
}

/**
 * The UIDs of a json_group_array() (null when there were no rows), ascending: JSON.parse
 * is native (100,000 numbers in 2-3 ms even on the first call after a restart, where a
 * split or a loop over the text still runs in the interpreter); sorted natively in case.
 */
export function uidList(json: unknown): Uint32Array {
  if (typeof json !== "string" || json === "") return new Uint32Array(0);
  return Uint32Array.from(JSON.parse(json) as number[]).sort();
}

/**
 * The UIDs indexed in the file at `path`, opened read-only (benchmarks and tests watching
 * the indexing); empty when it cannot be read.
 */
export function indexedUids(path: string): Uint32Array {
  try {
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      return new DocsTable(db).all().indexed;
    } finally {
      db.close();
    }
  } catch {
    return new Uint32Array(0);
  }
}

export class FtsDb {
  readonly #db: DatabaseSync;
  readonly #q: Record<string, StatementSync>;
  readonly #docs: DocsTable;

  private constructor(
    db: DatabaseSync,
    /**
     * Names this file from its making to its removal: what a reader learned of the file
     * (which UIDs it holds) is true only of the same instance.
     */
    readonly instance: string,
  ) {
    this.#db = db;
    this.#docs = new DocsTable(db);
    const p = (sql: string) => db.prepare(sql);
    this.#q = {
      put: p("INSERT INTO fts (rowid, h, b, s) VALUES (?, ?, ?, ?)"),
      del: p("DELETE FROM fts WHERE rowid = ?"),
      // UIDs as one JSON text: a tenth of the time of 100,000 row objects.
      match: p(
        "SELECT json_group_array(rowid) AS uids FROM " +
          "(SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rowid)",
      ),
    };
  }

  /**
   * Opens (or makes) the index at `path` for a folder of `uidValidity`; one of another
   * format or UIDVALIDITY, or one SQLite cannot read, is replaced by an empty one.
   */
  static open(path: string, uidValidity: number): FtsDb {
    try {
      const db = FtsDb.#openFile(path);
      const meta = new Map<string, unknown>();
      for (const r of db.prepare("SELECT k, v FROM meta").all()) meta.set(String(r.k), r.v);
      const instance = meta.get("instance");
      const format = meta.get("format");
      if (
        (format === FTS_FORMAT || format === 1) && meta.get("uidvalidity") === uidValidity &&
        typeof instance === "string"
      ) {
        if (format === 1) migrateDocsV1(db, FTS_FORMAT);
        return new FtsDb(db, instance);
      }
      db.close();
    } catch { /* unreadable: made again below */ }
    removeDatabaseFiles(path);
    const db = FtsDb.#openFile(path);
    const set = db.prepare("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)");
    const instance = crypto.randomUUID();
    set.run("format", FTS_FORMAT);
    set.run("uidvalidity", uidValidity);
    set.run("instance", instance);
    return new FtsDb(db, instance);
  }

  static #openFile(path: string): DatabaseSync {
    const db = new DatabaseSync(path);
    try {
      db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
      db.exec(SCHEMA);
      return db;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** The UIDs held: indexed, and left to scanning. */
  docs(): { indexed: Uint32Array; skipped: number[] } {
    return this.#docs.all();
  }

  /** Reads and indexes the files of `items`, in one transaction. */
  index(items: IndexItem[]): IndexOutcome {
    const out: IndexOutcome = { indexed: [], skipped: [], missing: [], bytes: 0 };
    const rows: [number, ReturnType<typeof ftsColumns> | null][] = [];
    // Files are read and parsed before the transaction begins, so readers wait less.
    for (const it of items) {
      try {
        const file = Deno.openSync(it.path, { read: true });
        try {
          const size = file.statSync().size;
          if (size > MAX_INDEXED_BYTES) {
            rows.push([it.uid, null]);
            continue;
          }
          const bytes = Deno.readFileSync(it.path);
          out.bytes += bytes.length;
          rows.push([it.uid, ftsColumns(bytes)]);
        } finally {
          file.close();
        }
      } catch {
        // Gone (expunged, or renamed by a flag change since the path was taken): the
        // caller tries again later with the file's new name.
        out.missing.push(it.uid);
      }
    }
    this.#db.exec("BEGIN");
    try {
      for (const [uid, cols] of rows) {
        // Held already (a request repeated, or sent by a reader of an older state): said so.
        const held = this.#docs.state(uid);
        if (held) {
          (held === "indexed" ? out.indexed : out.skipped).push(uid);
          continue;
        }
        if (cols) {
          this.#docs.markIndexed(uid, true);
          this.#q.put.run(uid, cols.h, cols.b, cols.s);
          out.indexed.push(uid);
        } else {
          this.#docs.markSkipped(uid, true);
          out.skipped.push(uid);
        }
      }
      this.#docs.flush();
      this.#db.exec("COMMIT");
    } catch (e) {
      this.#docs.discard();
      this.#db.exec("ROLLBACK");
      throw e;
    }
    return out;
  }

  /** Forgets messages (expunged), in one transaction. */
  remove(uids: number[]): void {
    this.#db.exec("BEGIN");
    try {
      for (const uid of uids) {
        const held = this.#docs.state(uid);
        if (held === "indexed") {
          this.#docs.markIndexed(uid, false);
          this.#q.del.run(uid);
        } else if (held === "skipped") {
          this.#docs.markSkipped(uid, false);
        }
      }
      this.#docs.flush();
      this.#db.exec("COMMIT");
    } catch (e) {
      this.#docs.discard();
      this.#db.exec("ROLLBACK");
      throw e;
    }
  }

  /** UIDs of the indexed messages that match an FTS5 expression (columns.ts), ascending. */
  query(match: string): Uint32Array {
    return uidList(this.#q.match.get(match)?.uids);
  }

  close(): void {
    try {
      this.#db.close();
    } catch { /* closed already */ }
  }
}
