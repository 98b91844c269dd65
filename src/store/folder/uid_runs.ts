/**
 * A folder's UIDs in order as runs of consecutive values, as its summary stores them
 * (summary.ts "XFS3"), made into an array only when something needs the UIDs one by one.
 *
 * Why: a restart's SELECT of a 100,000-message INBOX needs EXISTS, the last UID and the
 * position of the first unseen UID, all of which the runs answer. Filling 100,000 UIDs
 * into an array was 3.5-7 ms of that SELECT (about a third of it): the loop runs once
 * per process, so V8 never optimises it. The table (table_positions.ts) and a session's
 * view (imap/view.ts) hold the runs instead of an array until a command needs the
 * array (a FETCH, UID SEARCH, an expunge); a plain SEARCH UNSEEN answers by position.
 *
 * A snapshot (`Snapshot`) is either the table's array or these runs: never changed
 * below its count, so positions in it stay what a session was told.
 */

/** A folder's UIDs `[0 .. count)` in order: an array, or runs until one is needed. */
export type Snapshot = Uint32Array | UidRuns;

export class UidRuns {
  /** (first UID, length) pairs; left as they are once the array is made. */
  readonly #runs: Uint32Array;
  /** Where each run starts among the positions (made on first lookup). */
  #starts: Uint32Array | null = null;
  #array: Uint32Array<ArrayBuffer> | null = null;

  private constructor(runs: Uint32Array, readonly count: number) {
    this.#runs = runs;
  }

  /**
   * The runs of (first, length) pairs `runs`, ascending; null when their lengths do not
   * add up to `count` or one is empty (a damaged summary: the folder loads its rows).
   */
  static of(runs: Uint32Array, count: number): UidRuns | null {
    if (runs.length % 2 !== 0) return null;
    let total = 0;
    for (let r = 1; r < runs.length; r += 2) {
      if (runs[r] === 0) return null;
      total += runs[r];
    }
    return total === count ? new UidRuns(runs, count) : null;
  }

  /** The (first, length) pairs, as stored. */
  get pairs(): Uint32Array {
    return this.#runs;
  }

  /** Whether the array was made (or adopted): array() then costs nothing. */
  get filled(): boolean {
    return this.#array !== null;
  }

  /** The array once made, else null (it is not made here). */
  get arrayIfMade(): Uint32Array<ArrayBuffer> | null {
    return this.#array;
  }

  /** The UIDs as an array, made on the first call; the same array after. */
  array(): Uint32Array<ArrayBuffer> {
    if (this.#array) return this.#array;
    const runs = this.#runs, uids = new Uint32Array(this.count);
    for (let r = 0, at = 0; r < runs.length; r += 2) {
      const first = runs[r], end = at + runs[r + 1];
      for (let uid = first; at < end; at++, uid++) uids[at] = uid;
    }
    return this.#array = uids;
  }

  /**
   * Takes `uids`, which the caller knows holds these UIDs in `[0 .. count)` (the rows
   * the summary stood in for, read: see sameAs), as the array: no fill, and holders of
   * these runs then share the table's array (positions stay valid for its reads).
   */
  adopt(uids: Uint32Array<ArrayBuffer>): void {
    this.#array ??= uids;
  }

  /**
   * Whether strictly ascending `uids` hold these UIDs in `[0 .. count)`: for ascending
   * distinct integers, a run's first and last in place leave no room for another value
   * between them, so one look at each end of each run is enough.
   */
  sameAs(uids: Uint32Array, n: number): boolean {
    if (n !== this.count) return false;
    const runs = this.#runs;
    for (let r = 0, at = 0; r < runs.length; r += 2) {
      const first = runs[r], length = runs[r + 1];
      if (uids[at] !== first || uids[at + length - 1] !== first + length - 1) return false;
      at += length;
    }
    return true;
  }

  #startsOf(): Uint32Array {
    if (this.#starts) return this.#starts;
    const runs = this.#runs, starts = new Uint32Array(runs.length / 2);
    for (let r = 0, at = 0; r < starts.length; r++) {
      starts[r] = at;
      at += runs[2 * r + 1];
    }
    return this.#starts = starts;
  }

  /** The UID at position `i` (< count). */
  uidAt(i: number): number {
    if (this.#array) return this.#array[i];
    const starts = this.#startsOf();
    let lo = 0, hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid] <= i) lo = mid;
      else hi = mid - 1;
    }
    return this.#runs[2 * lo] + (i - starts[lo]);
  }

  /**
   * The position of the first UID >= `uid` among the first `n` (`n` when none), as
   * lowerBound() over the array gives it.
   */
  lowerBound(n: number, uid: number): number {
    const runs = this.#runs, starts = this.#startsOf();
    // The first run whose last UID is >= uid.
    let lo = 0, hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (runs[2 * mid] + runs[2 * mid + 1] - 1 < uid) lo = mid + 1;
      else hi = mid;
    }
    if (lo === starts.length) return n;
    const at = starts[lo] + Math.max(0, uid - runs[2 * lo]);
    return Math.min(at, n);
  }
}

/** The UID at position `i` of a snapshot. */
export function uidAt(uids: Snapshot, i: number): number {
  return uids instanceof UidRuns ? uids.uidAt(i) : uids[i];
}

/** A snapshot as an array (runs are made into one). */
export function arrayOf(uids: Uint32Array<ArrayBuffer> | UidRuns): Uint32Array<ArrayBuffer>;
export function arrayOf(uids: Snapshot): Uint32Array;
export function arrayOf(uids: Snapshot): Uint32Array {
  return uids instanceof UidRuns ? uids.array() : uids;
}
