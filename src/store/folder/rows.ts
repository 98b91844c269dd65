/**
 * A folder's message rows read from its index into columns (columns.ts), a page at a
 * time, with their UIDs: MessageTable's first load and its deferred rows after a
 * summary start.
 */
import { yieldToEventLoop } from "../fsutil.ts";
import { EntryColumns } from "./columns.ts";
import type { RawRow } from "./index_db.ts";
import type { FolderSummary } from "./summary.ts";

/** A page of index rows after a UID, in UID order (null: the index failed). */
export type RowPages = (after: number, limit: number) => RawRow[] | null;

/**
 * Rows read per page: a page's rows die young. Pages of 4,000 rows grew the young
 * generation (and the process) by 15 MB over a read of 100,000; pages of 500, 4 MB, for
 * the same time.
 */
const PAGE = 500;

/** Index rows read into columns, with their UIDs. */
export class Rows {
  readonly cols = new EntryColumns();
  uids: Uint32Array<ArrayBuffer>;

  constructor(expect = 0) {
    // Base names of this server's deliveries are about 50 bytes (maildir_names.ts).
    this.cols.reserve(expect, 56);
    this.uids = new Uint32Array(Math.max(64, expect));
  }

  /**
   * Appends the rows after UID `after` (one page). Returns the last UID read, -2 when
   * that was the last page, -1 when the index failed.
   */
  append(page: RowPages, after: number): number {
    const rows = page(after, PAGE);
    if (rows === null) return -1;
    const cols = this.cols;
    for (const r of rows) {
      const i = cols.push(r[0], r[1], r[2] !== 1, r[4], r[5], r[6], r[7], r[3]);
      if (i === this.uids.length) {
        const grown = new Uint32Array(this.uids.length * 2);
        grown.set(this.uids);
        this.uids = grown;
      }
      this.uids[i] = r[0];
    }
    return rows.length < PAGE ? -2 : rows[rows.length - 1][0];
  }
}

/** Every row, read a page at a time (null: the index failed). */
export function readRows(page: RowPages, expect = 0): Rows | null {
  const read = new Rows(expect);
  for (let after = 0;;) {
    after = read.append(page, after);
    if (after === -1) return null;
    if (after === -2) return read;
  }
}

/**
 * Rows not read yet (see MessageTable.loadLazy): the summary that stands in for them
 * and how to read them (null: they could not be, the folder is read again).
 */
export interface Deferred {
  summary: FolderSummary;
  /** A page of rows after a UID (prefetch). */
  page: RowPages;
  lost: () => void;
  prefetching?: Promise<void>;
}

/**
 * Reads deferred rows a few pages per turn of the event loop (each page a fraction of a
 * millisecond) while `wanted()`; null when the index failed or they are no longer wanted.
 */
export async function readPaced(d: Deferred, wanted: () => boolean): Promise<Rows | null> {
  const read = new Rows(d.summary.count);
  for (let after = 0;;) {
    if (!wanted()) return null;
    for (let pages = 0; pages < 8 && after >= 0; pages++) after = read.append(d.page, after);
    if (after === -1) return null;
    if (after === -2) return read;
    await yieldToEventLoop();
  }
}
