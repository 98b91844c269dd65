/**
 * A one-flag search over a folder's letter-set column (SEARCH UNSEEN, SEEN, DELETED...) as
 * runs of consecutive matching positions rather than one number per match: the matches of
 * ESEARCH, SAVE and a search's other callers (a plain SEARCH writes its line from the
 * column itself, imap/search_line.ts).
 *
 * Why runs: in code a process runs a handful of times (not optimized yet) every step per
 * message counts: a test and an array push per message. The run bounds are found with
 * typed-array indexOf (native code) per letter-set number, so the work follows the number
 * of runs, not of messages, when the folder has few letter sets (a folder that only
 * received mail has two: "" and "S").
 */

/**
 * The letter sets of a snapshot's messages and each one's number among them, for its
 * first `end` positions (MessageTable.flagIds). A summary's numbers are not checked as it
 * is decoded: one past the sets (a damaged summary) names none.
 */
export interface FlagIds {
  sets: readonly string[];
  ids: Uint8Array | Uint16Array | Uint32Array;
  end: number;
}

/** Pairs [start, end) of positions, in order, touching pairs joined. */
export class RunList {
  #pairs = new Int32Array(64);
  /** How many pairs: `pairs[0 .. 2 * count)`. */
  count = 0;

  get pairs(): Int32Array {
    return this.#pairs;
  }

  /** Adds [start, end) after every run so far (joined to the last when they touch). */
  add(start: number, end: number): void {
    const c = this.count;
    if (c > 0 && this.#pairs[2 * c - 1] === start) {
      this.#pairs[2 * c - 1] = end;
      return;
    }
    if (2 * c + 2 > this.#pairs.length) {
      const grown = new Int32Array(this.#pairs.length * 2);
      grown.set(this.#pairs);
      this.#pairs = grown;
    }
    this.#pairs[2 * c] = start;
    this.#pairs[2 * c + 1] = end;
    this.count = c + 1;
  }

  /** Every position of every run, in order. */
  positions(): number[] {
    const out: number[] = [];
    for (let r = 0; r < this.count; r++) {
      for (let i = this.#pairs[2 * r], end = this.#pairs[2 * r + 1]; i < end; i++) out.push(i);
    }
    return out;
  }
}

/** Above this many distinct letter sets, positions are tested one by one. */
const MAX_STREAMS = 8;

/**
 * Adds to `out` the runs of positions in [0, end) whose letter set `sets[ids[i]]` holds
 * `letter` (`set`) or lacks it (!`set`). Returns where it stopped: `end`, or the first
 * position whose number names no set (a damaged summary: the caller reads the rest
 * message by message). `checked`: every id below `end` is known to name a set, so the
 * runs may be found by searching for the ids (an unknown id would be taken for a match).
 */
export function flagRuns(
  sets: readonly string[],
  ids: Uint8Array | Uint16Array | Uint32Array,
  end: number,
  letter: string,
  set: boolean,
  checked: boolean,
  out: RunList,
): number {
  const want = sets.map((s) => s.includes(letter) === set);
  if (checked && sets.length <= MAX_STREAMS) {
    const hits: number[] = [], misses: number[] = [];
    want.forEach((w, id) => (w ? hits : misses).push(id));
    const within = ids.subarray(0, end);
    const hitAt = new Int32Array(hits.length).fill(-2);
    const missAt = new Int32Array(misses.length).fill(-2);
    for (let p = 0; p < end;) {
      const start = nextOf(within, hits, hitAt, p);
      if (start < 0) break;
      const stop = nextOf(within, misses, missAt, start);
      out.add(start, stop < 0 ? end : stop);
      if (stop < 0) break;
      p = stop + 1;
    }
    return end;
  }
  let start = -1;
  for (let i = 0; i < end; i++) {
    const w = want[ids[i]];
    if (w === true) {
      if (start < 0) start = i;
      continue;
    }
    if (start >= 0) out.add(start, i);
    start = -1;
    if (w === undefined) return i;
  }
  if (start >= 0) out.add(start, end);
  return end;
}

/**
 * The first position from `p` on holding one of `wanted` ids, or -1. `at[k]` caches where
 * `wanted[k]` was last found (-1: nowhere after; -2: not searched yet), searched again
 * only once `p` has passed it.
 */
function nextOf(
  ids: Uint8Array | Uint16Array | Uint32Array,
  wanted: number[],
  at: Int32Array,
  p: number,
): number {
  let first = -1;
  for (let k = 0; k < wanted.length; k++) {
    let a = at[k];
    if (a !== -1 && a < p) at[k] = a = ids.indexOf(wanted[k], p);
    if (a >= 0 && (first < 0 || a < first)) first = a;
  }
  return first;
}
