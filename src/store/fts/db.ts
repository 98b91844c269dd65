/**
 * The full-text index file of one folder (`extremail-fts.sqlite` beside the folder index):
 * an FTS5 table with the trigram tokenizer (case_sensitive 1: the text is folded before,
 * columns.ts) whose rowid is the message's UID, contentless (the text is not stored
 * twice, only its trigrams with their positions), and `docs`: which UIDs it holds, and
 * which were left to the scanning path (over MAX_INDEXED_BYTES).
 *
 * A cache like the folder index: rebuilt when missing, unreadable, of another format or
 * of another UIDVALIDITY (a UID names one message only within one UIDVALIDITY, RFC 3501
 * §2.3.1.1). Each batch is one SQLite transaction in WAL mode that writes `docs` and the
 * FTS table together, so after a crash the file holds some earlier committed state: the
 * messages it lost are simply not in `docs` and are found by scanning until indexed
 * again. Commits are not fsync'd (synchronous=NORMAL): losing the last ones costs only
 * their re-indexing. Used only by the worker (worker.ts).
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { ftsColumns } from "./columns.ts";

export const FTS_FILE = "extremail-fts.sqlite";
/** 1: fts(h, b, s) trigram case_sensitive 1, contentless with deletes; docs(uid, state). */
export const FTS_FORMAT = 1;
/** Larger messages are not indexed: SEARCH reads them as before. */
export const MAX_INDEXED_BYTES = 16 << 20;

const INDEXED = 1, SKIPPED = 2;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS docs (uid INTEGER PRIMARY KEY, state INTEGER NOT NULL);
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

function removeFiles(path: string): void {
  for (const suffix of ["", "-wal", "-shm", "-journal"]) {
    try {
      Deno.removeSync(path + suffix);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}

/** The numbers of a group_concat() (null when there were no rows). */
function numbers(list: unknown): number[] {
  return typeof list === "string" && list !== "" ? list.split(",").map(Number) : [];
}

export class FtsDb {
  readonly #db: DatabaseSync;
  readonly #q: Record<string, StatementSync>;

  private constructor(
    db: DatabaseSync,
    /**
     * Names this file from its making to its removal: what a reader learned of the file
     * (which UIDs it holds) is true only of the same instance.
     */
    readonly instance: string,
  ) {
    this.#db = db;
    const p = (sql: string) => db.prepare(sql);
    this.#q = {
      // UIDs as one text: a tenth of the time of 100,000 row objects.
      docs: p("SELECT state, group_concat(uid) AS uids FROM docs GROUP BY state"),
      has: p("SELECT state FROM docs WHERE uid = ?"),
      doc: p("INSERT INTO docs (uid, state) VALUES (?, ?)"),
      undoc: p("DELETE FROM docs WHERE uid = ?"),
      put: p("INSERT INTO fts (rowid, h, b, s) VALUES (?, ?, ?, ?)"),
      del: p("DELETE FROM fts WHERE rowid = ?"),
      match: p("SELECT group_concat(rowid) AS uids FROM fts WHERE fts MATCH ?"),
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
      if (
        meta.get("format") === FTS_FORMAT && meta.get("uidvalidity") === uidValidity &&
        typeof instance === "string"
      ) {
        return new FtsDb(db, instance);
      }
      db.close();
    } catch { /* unreadable: made again below */ }
    removeFiles(path);
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
  docs(): { indexed: number[]; skipped: number[] } {
    let indexed: number[] = [], skipped: number[] = [];
    for (const r of this.#q.docs.all()) {
      const uids = numbers(r.uids);
      if (r.state === INDEXED) indexed = uids;
      else skipped = uids;
    }
    return { indexed, skipped };
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
        const held = this.#q.has.get(uid);
        if (held) {
          (held.state === INDEXED ? out.indexed : out.skipped).push(uid);
          continue;
        }
        this.#q.doc.run(uid, cols ? INDEXED : SKIPPED);
        if (cols) this.#q.put.run(uid, cols.h, cols.b, cols.s);
        (cols ? out.indexed : out.skipped).push(uid);
      }
      this.#db.exec("COMMIT");
    } catch (e) {
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
        const r = this.#q.has.get(uid);
        if (!r) continue;
        this.#q.undoc.run(uid);
        if (r.state === INDEXED) this.#q.del.run(uid);
      }
      this.#db.exec("COMMIT");
    } catch (e) {
      this.#db.exec("ROLLBACK");
      throw e;
    }
  }

  /** UIDs of the indexed messages that match an FTS5 expression (columns.ts), ascending. */
  query(match: string): Uint32Array {
    return Uint32Array.from(numbers(this.#q.match.get(match)?.uids)).sort();
  }

  close(): void {
    try {
      this.#db.close();
    } catch { /* closed already */ }
  }
}
