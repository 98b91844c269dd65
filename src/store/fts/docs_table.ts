/**
 * Which UIDs a full-text index file holds (db.ts), kept as bitmaps: `docs` has one row per
 * run of 4,096 UIDs, a blob of 512 bytes with bit (uid % 4096) set for each message
 * indexed; `skipped` lists the UIDs left to the scanning search (over the size limit).
 * 100,000 messages are 25 rows instead of 100,000, read at a restart in one query and
 * decoded straight into the ascending array the searching side keeps (coverage.ts); an
 * indexing batch of consecutive UIDs rewrites one or two rows.
 *
 * Format 1 had one `docs (uid, state)` row per message; `migrateDocsV1` turns those into
 * the bitmaps in place (the FTS table itself is unchanged), so an index built before is
 * kept, not rebuilt.
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";

const CHUNK_BITS = 12;
const CHUNK_UIDS = 1 << CHUNK_BITS;
const CHUNK_BYTES = CHUNK_UIDS / 8;

export const DOCS_SCHEMA = `
CREATE TABLE IF NOT EXISTS docs (chunk INTEGER PRIMARY KEY, bits BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS skipped (uid INTEGER PRIMARY KEY);
`;

/** The docs and skipped tables of one open index file; changes go into the caller's transaction. */
export class DocsTable {
  readonly #q: Record<string, StatementSync>;
  /** Chunks read or changed in the current transaction (flush() writes the changed ones). */
  readonly #chunks = new Map<number, { bits: Uint8Array; dirty: boolean }>();

  constructor(db: DatabaseSync) {
    const p = (sql: string) => db.prepare(sql);
    this.#q = {
      all: p("SELECT chunk, bits FROM docs ORDER BY chunk"),
      get: p("SELECT bits FROM docs WHERE chunk = ?"),
      put: p("INSERT OR REPLACE INTO docs (chunk, bits) VALUES (?, ?)"),
      drop: p("DELETE FROM docs WHERE chunk = ?"),
      skipped: p("SELECT uid FROM skipped ORDER BY uid"),
      isSkipped: p("SELECT 1 AS x FROM skipped WHERE uid = ?"),
      skip: p("INSERT OR IGNORE INTO skipped (uid) VALUES (?)"),
      unskip: p("DELETE FROM skipped WHERE uid = ?"),
    };
  }

  /** Every indexed UID, ascending, and the skipped ones. */
  all(): { indexed: Uint32Array; skipped: number[] } {
    const rows = this.#q.all.all();
    let count = 0;
    for (const r of rows) count += popCount(r.bits as Uint8Array);
    const indexed = new Uint32Array(count);
    let n = 0;
    for (const r of rows) {
      const bits = r.bits as Uint8Array, base = Number(r.chunk) * CHUNK_UIDS;
      for (let i = 0; i < bits.length; i++) {
        for (let b = bits[i], k = 0; b !== 0; b >>= 1, k++) {
          if (b & 1) indexed[n++] = base + i * 8 + k;
        }
      }
    }
    const skipped = this.#q.skipped.all().map((r) => Number(r.uid));
    return { indexed, skipped };
  }

  /** "indexed", "skipped" or null (not held). */
  state(uid: number): "indexed" | "skipped" | null {
    const bits = this.#chunk(uid >>> CHUNK_BITS).bits;
    const bit = uid & (CHUNK_UIDS - 1);
    if (bits[bit >> 3] & (1 << (bit & 7))) return "indexed";
    return this.#q.isSkipped.get(uid) ? "skipped" : null;
  }

  markIndexed(uid: number, on: boolean): void {
    const c = this.#chunk(uid >>> CHUNK_BITS);
    const bit = uid & (CHUNK_UIDS - 1);
    if (on) c.bits[bit >> 3] |= 1 << (bit & 7);
    else c.bits[bit >> 3] &= ~(1 << (bit & 7));
    c.dirty = true;
  }

  markSkipped(uid: number, on: boolean): void {
    (on ? this.#q.skip : this.#q.unskip).run(uid);
  }

  /** Writes the chunks changed since the last flush (inside the caller's transaction). */
  flush(): void {
    for (const [chunk, c] of this.#chunks) {
      if (!c.dirty) continue;
      if (popCount(c.bits) === 0) this.#q.drop.run(chunk);
      else this.#q.put.run(chunk, c.bits);
      c.dirty = false;
    }
    this.#chunks.clear();
  }

  /** Forgets chunks read (the transaction was rolled back). */
  discard(): void {
    this.#chunks.clear();
  }

  #chunk(chunk: number): { bits: Uint8Array; dirty: boolean } {
    let c = this.#chunks.get(chunk);
    if (!c) {
      const row = this.#q.get.get(chunk);
      const bits = new Uint8Array(CHUNK_BYTES);
      if (row) bits.set(row.bits as Uint8Array);
      c = { bits, dirty: false };
      this.#chunks.set(chunk, c);
    }
    return c;
  }
}

function popCount(bits: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < bits.length; i++) {
    for (let b = bits[i]; b !== 0; b &= b - 1) n++;
  }
  return n;
}

/**
 * Format 1 to 2, in one transaction: the `docs (uid, state)` rows (state 1 indexed, 2
 * skipped) become the bitmaps and the skipped list, and the file says `format`.
 */
export function migrateDocsV1(db: DatabaseSync, format: number): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    // Another process may have migrated it between our read of the format and the lock.
    const now = db.prepare("SELECT v FROM meta WHERE k = 'format'").get()?.v;
    if (now !== 1) {
      db.exec("COMMIT");
      return;
    }
    db.exec("ALTER TABLE docs RENAME TO docs_v1");
    db.exec(DOCS_SCHEMA);
    const table = new DocsTable(db);
    for (const r of db.prepare("SELECT uid, state FROM docs_v1").iterate()) {
      const uid = Number(r.uid);
      if (r.state === 1) table.markIndexed(uid, true);
      else table.markSkipped(uid, true);
    }
    table.flush();
    db.exec("DROP TABLE docs_v1");
    db.prepare("UPDATE meta SET v = ? WHERE k = 'format'").run(format);
    db.exec("COMMIT");
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}
