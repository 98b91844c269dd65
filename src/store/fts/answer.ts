/**
 * The full-text index's answer to one SEARCH BODY/TEXT key (fts.ts), for the messages the
 * index held when the query ran: the matching UIDs, whether they are exact or candidates
 * to confirm, and which messages the query saw (the folder's coverage.ts with the reply
 * number of the query).
 */
import type { Coverage } from "./coverage.ts";

/** The index's answer to one BODY/TEXT key, for the messages it covered. */
export class TextAnswer {
  constructor(
    /** Matching UIDs, ascending. */
    readonly uids: Uint32Array,
    /** False: `uids` are candidates that the scanning search must confirm. */
    readonly exact: boolean,
    /** The messages the index held, with the reply that reported each. */
    readonly coverage: Coverage,
    /** Reply number of the query: batches answered after it were not seen by it. */
    readonly seq: number,
  ) {}

  /** True when the query saw the message (it was indexed before the query ran). */
  covers(uid: number): boolean {
    const mark = this.coverage.seqOf(uid);
    return mark !== undefined && mark <= this.seq;
  }

  has(uid: number): boolean {
    let lo = 0, hi = this.uids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const u = this.uids[mid];
      if (u === uid) return true;
      if (u < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /**
   * The answer for the messages of `uids` (ascending) at `at` (ascending positions; all
   * when null) into `out`: 1 matches, 0 does not, 2 the message must be scanned
   * (search_decide.ts). One walk along the three ascending lists, no search per message.
   */
  fill(uids: Uint32Array, at: readonly number[] | null, out: Uint8Array): void {
    const hits = this.uids, seq = this.seq, yes = this.exact ? 1 : 2;
    const held = this.coverage.uids, marks = this.coverage.seqs;
    let k = 0, c = 0;
    for (let j = 0; j < out.length; j++) {
      const uid = uids[at ? at[j] : j];
      while (c < held.length && held[c] < uid) c++;
      if (c >= held.length || held[c] !== uid || marks[c] > seq) {
        out[j] = 2;
        continue;
      }
      while (k < hits.length && hits[k] < uid) k++;
      out[j] = k < hits.length && hits[k] === uid ? yes : 0;
    }
  }

  /** true/false when the index decides; undefined: the message must be scanned. */
  decide(uid: number): boolean | undefined {
    if (!this.covers(uid)) return undefined;
    if (!this.has(uid)) return false;
    return this.exact ? true : undefined;
  }
}
