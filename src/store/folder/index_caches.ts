/**
 * The connection of a folder's index (index_db.ts) with its prepared statements, and the
 * tables in it that the layers above keep by base name: parsed message structures
 * (src/imap/msgcache.ts, the `cache` table) and SORT/SEARCH key texts (message_keys.ts,
 * the `keys` table, and the subject column's blob). FolderIndex extends it with the
 * folder's own rows, meta and summary. Split from index_db.ts: these caches only speed the
 * layers above up, the rows and meta are the folder's state.
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { AS_ARRAYS, ROWS_CHUNK, SQL } from "./index_sql.ts";

/** Writes row `k`'s values into `into` from `at` on (as many as the statement's row has). */
export type RowValues = (k: number, into: SQLInputValue[], at: number) => void;

/** Cached parse results of one message (by base name: its bytes never change). */
export interface CacheRow {
  size: number;
  crlf: boolean;
  /** MessageStructure as JSON. */
  structure: string | null;
  envelope: string | null;
  envelopeUtf8: string | null;
  body: string | null;
  bodyUtf8: string | null;
  bodyStructure: string | null;
  bodyStructureUtf8: string | null;
}

export class IndexCaches {
  protected readonly db: DatabaseSync;
  readonly #q: Partial<Record<keyof typeof SQL, StatementSync>> = {};

  protected constructor(db: DatabaseSync) {
    this.db = db;
  }

  /** The prepared statement `k` (prepared on first use). */
  protected stmt(k: keyof typeof SQL): StatementSync {
    let q = this.#q[k];
    if (q === undefined) {
      q = this.#q[k] = this.db.prepare(SQL[k]);
      if (AS_ARRAYS.has(k)) {
        (q as unknown as { setReturnArrays(on: boolean): void }).setReturnArrays(true);
      }
    }
    return q;
  }

  /**
   * Runs `n` rows of `width` values: `many` (ROWS_CHUNK rows) per full chunk, `one` for
   * the rest; `values` is asked for rows 0 to n-1 in order, once each. One array of values
   * is filled again for each chunk, so the rows make no garbage beyond their own values.
   */
  protected runChunked(
    one: keyof typeof SQL,
    many: keyof typeof SQL,
    width: number,
    n: number,
    values: RowValues,
  ): void {
    const p = new Array<SQLInputValue>(width * ROWS_CHUNK);
    let k = 0;
    if (n >= ROWS_CHUNK) {
      const q = this.stmt(many);
      for (; k + ROWS_CHUNK <= n; k += ROWS_CHUNK) {
        for (let j = 0; j < ROWS_CHUNK; j++) values(k + j, p, j * width);
        q.run(...p);
      }
    }
    p.length = width;
    for (; k < n; k++) {
      values(k, p, 0);
      this.stmt(one).run(...p);
    }
  }

  /**
   * A blob derived from the stored keys by a layer above (the IMAP subject column),
   * kept until the rows are reset (another UIDVALIDITY): its UIDs name the same messages.
   */
  keysBlob(): Uint8Array | null {
    const r = this.stmt("keysBlobGet").get() as { v: Uint8Array } | undefined;
    return r?.v instanceof Uint8Array ? r.v : null;
  }

  putKeysBlob(bytes: Uint8Array): void {
    this.stmt("keysBlobPut").run(bytes);
  }

  cacheGet(base: string): CacheRow | undefined {
    const r = this.stmt("cacheGet").get(base) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    const s = (v: unknown) => (v === null || v === undefined ? null : String(v));
    return {
      size: Number(r.size),
      crlf: Number(r.crlf) === 1,
      structure: s(r.structure),
      envelope: s(r.envelope),
      envelopeUtf8: s(r.envelope_utf8),
      body: s(r.body),
      bodyUtf8: s(r.body_utf8),
      bodyStructure: s(r.bodystructure),
      bodyStructureUtf8: s(r.bodystructure_utf8),
    };
  }

  cachePut(base: string, c: CacheRow): void {
    this.stmt("cachePut").run(
      base,
      c.size,
      c.crlf ? 1 : 0,
      c.structure,
      c.envelope,
      c.envelopeUtf8,
      c.body,
      c.bodyUtf8,
      c.bodyStructure,
      c.bodyStructureUtf8,
    );
  }

  /** Stored key texts by UID, for the messages after `after`, at most `limit`. */
  keysByUid(after: number, limit: number): [number, string][] {
    return (this.stmt("keysByUid").all(after, limit) as unknown as unknown[][]).map((r) => [
      Number(r[0]),
      String(r[1]),
    ]);
  }

  /**
   * One field of the stored keys whose text starts with `prefix` (their version), for
   * messages after UID `after`, at most `limit`: [uid, the field as JSON text][] in UID
   * order (a search over 100,000 subjects reads no other column).
   */
  keysField(prefix: string, path: string, after: number, limit: number): unknown[][] {
    return this.stmt("keysField").all(path, after, prefix.length, prefix, limit) as unknown as (
      unknown[][]
    );
  }

  /** UIDs from `from` on whose keys are not stored in the version `prefix` starts, at most `limit`. */
  keysMissing(from: number, prefix: string, limit: number): Uint32Array {
    const rows = this.stmt("keysMissing").all(from, prefix.length, prefix, limit) as unknown as [
      number,
    ][];
    return Uint32Array.from(rows, (r) => Number(r[0]));
  }

  /**
   * How many stored keys follow base name `after` (at most `limit`), and the last one's
   * base name (null when none).
   */
  keysPage(after: string, limit: number): { n: number; last: string | null } {
    const r = this.stmt("keysPage").get(after, limit) as { n: number; last: string | null };
    return { n: Number(r.n), last: r.last === null ? null : String(r.last) };
  }

  /** How many message rows follow UID `after` (at most `limit`), and the last one's UID. */
  msgPage(after: number, limit: number): { n: number; last: number } {
    const r = this.stmt("msgPage").get(after, limit) as { n: number; last: number | null };
    return { n: Number(r.n), last: Number(r.last ?? after) };
  }

  /** Deletes stored keys whose message is not in the folder (deleted by other software). */
  keysDropOrphans(): void {
    this.stmt("keysOrphans").run();
  }

  keysGet(base: string): string | undefined {
    const r = this.stmt("keysGet").get(base) as { v: string } | undefined;
    return r === undefined ? undefined : String(r.v);
  }

  keysPut(base: string, text: string): void {
    this.stmt("keysPut").run(base, text);
  }

  /** Writes many key texts: ROWS_CHUNK per statement, the rest one by one. */
  keysPutAll(keys: Map<string, string>): void {
    // runChunked asks for the rows in order, once each: the map's own order.
    const rows = keys.entries();
    this.runChunked("keysPut", "keysPutChunk", 2, keys.size, (_k, p, at) => {
      const [base, text] = rows.next().value!;
      p[at] = base;
      p[at + 1] = text;
    });
  }
}
