/**
 * SEARCH SUBJECT over a whole folder from one column (RFC 3501 §6.4.4 SUBJECT: a
 * substring of the field, case-insensitive here, see search_eval.ts): every message's
 * Subject values in SEARCH's fold form, joined into one string, each value led by NUL.
 * A search is then a few `indexOf` calls over that string instead of a test per message,
 * and the folder holds one string and two typed arrays instead of a keys object with its
 * own strings and arrays per message (about 400 bytes each, 40 MB for 100,000).
 *
 * The column is read from the folder's index a page at a time (the `subjects` field of
 * the stored keys, message_keys.ts); messages whose keys were not stored then (arrived
 * later, or not computed yet) are not in it, and the search asks them one by one. It is
 * kept in the index as one blob (`encode`), so the first search after a restart reads
 * one row instead of joining 100,000: a UID names the same message, with the same
 * Subject, for as long as the UIDVALIDITY lasts.
 *
 *   "XSC1" u32 keysVersion u32 uidValidity u32 uidNext u32 count u32 textBytes
 *   u32 uids[count] u32 starts[count + 1] text (UTF-8)          (little-endian)
 */
import { fold } from "../message/search_fold.ts";

const SEP = "\u0000";
const MAGIC = 0x31435358; // "XSC1"

export class SubjectColumn {
  private constructor(
    /** The UIDs the column holds, ascending. */
    readonly uids: Uint32Array,
    /** Where message i's values start in `text` (`starts[count]` is its length). */
    readonly starts: Uint32Array,
    readonly text: string,
    /** How many messages it holds. */
    readonly count: number,
  ) {}

  /** The column as stored (see above), for the folder whose state it describes. */
  encode(keysVersion: number, uidValidity: number, uidNext: number): Uint8Array {
    const text = new TextEncoder().encode(this.text);
    const head = 24, n = this.count;
    const out = new Uint8Array(head + 4 * (2 * n + 1) + text.length);
    const dv = new DataView(out.buffer);
    [MAGIC, keysVersion, uidValidity, uidNext, n, text.length].forEach((v, i) =>
      dv.setUint32(4 * i, v, true)
    );
    let at = head;
    for (const list of [this.uids.subarray(0, n), this.starts.subarray(0, n + 1)]) {
      for (let i = 0; i < list.length; i++, at += 4) dv.setUint32(at, list[i], true);
    }
    out.set(text, at);
    return out;
  }

  /**
   * A stored column back, with the UIDNEXT it was read at; null when it does not decode
   * or was made for another keys version or UIDVALIDITY.
   */
  static decode(
    bytes: Uint8Array,
    keysVersion: number,
    uidValidity: number,
  ): { column: SubjectColumn; uidNext: number } | null {
    if (bytes.length < 24) return null;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const word = (i: number) => dv.getUint32(4 * i, true);
    if (word(0) !== MAGIC || word(1) !== keysVersion || word(2) !== uidValidity) return null;
    const n = word(4), textBytes = word(5);
    const head = 24, textAt = head + 4 * (2 * n + 1);
    if (bytes.length !== textAt + textBytes) return null;
    const uids = new Uint32Array(n), starts = new Uint32Array(n + 1);
    for (let i = 0; i < n; i++) uids[i] = dv.getUint32(head + 4 * i, true);
    for (let i = 0; i <= n; i++) starts[i] = dv.getUint32(head + 4 * (n + i), true);
    const text = new TextDecoder().decode(bytes.subarray(textAt));
    if (starts[n] !== text.length) return null;
    return { column: new SubjectColumn(uids, starts, text, n), uidNext: word(3) };
  }

  /** Builds the column from rows in UID order (SubjectColumnBuilder: one page of them). */
  static fromRows(rows: readonly unknown[][]): SubjectColumn {
    const builder = new SubjectColumnBuilder();
    builder.add(rows);
    return builder.finish();
  }

  /** A column of what a builder collected (SubjectColumnBuilder.finish). */
  static of(uids: Uint32Array, starts: Uint32Array, text: string, count: number): SubjectColumn {
    return new SubjectColumn(uids, starts, text, count);
  }

  /** The position of `uid` in the column, or -1 (binary search from a hint). */
  positionOf(uid: number, hint: number): number {
    const u = this.uids;
    if (hint < this.count && u[hint] === uid) return hint;
    let lo = 0, hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (u[mid] < uid) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.count && u[lo] === uid ? lo : -1;
  }

  /**
   * Which messages match a folded needle, by position (1: a match). An empty needle asks
   * whether the message has a Subject field at all. Null for a needle the column cannot
   * answer (one holding its separator).
   */
  matches(needle: string): Uint8Array | null {
    if (needle.includes(SEP)) return null;
    const hits = new Uint8Array(this.count);
    const { starts, text } = this;
    if (needle === "") {
      for (let i = 0; i < this.count; i++) hits[i] = starts[i + 1] > starts[i] ? 1 : 0;
      return hits;
    }
    let at = text.indexOf(needle);
    while (at >= 0) {
      // The message holding offset `at`: the last start at or below it.
      let lo = 0, hi = this.count;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (starts[mid] <= at) lo = mid + 1;
        else hi = mid;
      }
      const i = lo - 1;
      hits[i] = 1;
      at = text.indexOf(needle, starts[i + 1]); // the next message's values
    }
    return hits;
  }
}

/**
 * Builds a column from [uid, subjects as a JSON array text] rows in UID order
 * (Folder.keysField), a page at a time: each page's rows and strings die with it (the
 * 100,000 rows of one query, held until the column was made, were 11 MB of old-space
 * garbage). Rows that do not decode, or hold a NUL, are left out (asked one by one).
 * A page's values are joined first and folded as one string: `fold` works within runs
 * of white space, case and NFC, none of which reaches across a NUL, so this is the
 * values folded one by one, without a string per value to collect afterwards.
 */
export class SubjectColumnBuilder {
  #uids = new Uint32Array(1024);
  #starts = new Uint32Array(1025);
  #n = 0;
  /** Each page's folded text (the column's text is their concatenation). */
  readonly #pieces: string[] = [];
  #length = 0;

  add(rows: readonly unknown[][]): void {
    const first = this.#n;
    if (first + rows.length >= this.#uids.length) this.#grow(first + rows.length);
    const valueCounts = new Uint32Array(rows.length);
    const parts: string[] = [];
    let n = first;
    for (const [uid, json] of rows) {
      const values = subjectsOf(json);
      if (values === null || values.some((v) => v.includes(SEP))) continue;
      this.#uids[n] = Number(uid);
      valueCounts[n++ - first] = values.length;
      for (const v of values) parts.push(v);
    }
    const text = parts.length ? SEP + fold(parts.join(SEP)) : "";
    // Message i starts at its first value's separator (or where the next one starts).
    let at = 0;
    for (let i = first; i < n; i++) {
      this.#starts[i] = this.#length + at;
      for (let k = 0; k < valueCounts[i - first]; k++) {
        const next = text.indexOf(SEP, at + 1);
        at = next < 0 ? text.length : next;
      }
    }
    this.#n = n;
    if (text.length) this.#pieces.push(text);
    this.#length += text.length;
  }

  finish(): SubjectColumn {
    const n = this.#n;
    this.#starts[n] = this.#length;
    return SubjectColumn.of(
      this.#uids.slice(0, n),
      this.#starts.slice(0, n + 1),
      this.#pieces.join(""),
      n,
    );
  }

  #grow(need: number): void {
    const size = Math.max(2 * this.#uids.length, need + 1);
    const uids = new Uint32Array(size), starts = new Uint32Array(size + 1);
    uids.set(this.#uids.subarray(0, this.#n));
    starts.set(this.#starts.subarray(0, this.#n));
    this.#uids = uids;
    this.#starts = starts;
  }
}

/** The decoded `subjects` field: a JSON array of strings, else null. */
function subjectsOf(json: unknown): string[] | null {
  if (typeof json !== "string") return null;
  // The common case, one value without escapes, needs no JSON parse.
  if (json.startsWith('["') && json.endsWith('"]') && json.indexOf('"', 2) === json.length - 2) {
    if (!json.includes("\\")) return [json.slice(2, -2)];
  }
  try {
    const a = JSON.parse(json);
    return Array.isArray(a) && a.every((v) => typeof v === "string") ? a : null;
  } catch {
    return null;
  }
}

/** Answers for the SUBJECT needles of one search: position hits per folded needle. */
export class SubjectAnswers {
  readonly #hits = new Map<string, Uint8Array | null>();
  #hint = 0;

  constructor(readonly column: SubjectColumn) {}

  /** Whether the column holds message `uid` (then decide() answers it synchronously). */
  holds(uid: number): boolean {
    const i = this.column.positionOf(uid, this.#hint);
    if (i < 0) return false;
    this.#hint = i;
    return true;
  }

  /** Whether message `uid` matches `needle`; undefined when the column does not hold it. */
  decide(uid: number, needle: string): boolean | undefined {
    let hits = this.#hits.get(needle);
    if (hits === undefined) this.#hits.set(needle, hits = this.column.matches(needle));
    if (hits === null) return undefined;
    const i = this.column.positionOf(uid, this.#hint);
    if (i < 0) return undefined;
    this.#hint = i + 1; // a search goes through the UIDs in order
    return hits[i] === 1;
  }
}
