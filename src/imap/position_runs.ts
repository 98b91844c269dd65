/**
 * Which messages of a mailbox a sequence set or UID set selects (RFC 3501 §9
 * sequence-set), as runs of 0-based positions: a whole-mailbox FETCH or STORE needs no
 * list of a hundred thousand pairs. Pure: the view (view.ts) passes its size and UIDs.
 */
import { lowerBound } from "../store/folder/table_positions.ts";
import { bad, type Range, resolveRanges } from "./args.ts";

/**
 * The positions `ranges` select among `n` messages, as [from, to] (inclusive), ascending
 * and merged. By UID, `uids()` gives the ascending UIDs (asked only then: a view holding
 * runs of UIDs makes an array for it) and `lastUid` is what "*" means.
 */
export function positionRuns(
  ranges: Range[],
  byUid: boolean,
  n: number,
  lastUid: number,
  uids: () => Uint32Array,
): [number, number][] {
  if (!byUid) {
    // RFC 3501 §9 seq-number: a number past EXISTS is a client error.
    // A range ending in "*" stays valid in an empty mailbox (clients re-sync with 1:*).
    for (const r of ranges) {
      if (r.to !== Infinity && (r.to > n || r.from > n)) {
        throw bad("Invalid message sequence number");
      }
    }
  }
  if (n === 0) return [];
  const out: [number, number][] = [];
  if (!byUid) {
    for (const r of resolveRanges(ranges, n)) {
      const from = Math.max(1, r.from) - 1, to = Math.min(n, r.to) - 1;
      if (from <= to) out.push([from, to]);
    }
  } else {
    const buf = uids();
    for (const r of resolveRanges(ranges, lastUid)) {
      const from = lowerBound(buf, n, r.from);
      const to = lowerBound(buf, n, r.to + 1) - 1;
      if (from <= to) out.push([from, to]);
    }
  }
  if (out.length < 2) return out;
  out.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [out[0]];
  for (const r of out.slice(1)) {
    const last = merged[merged.length - 1];
    if (r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push(r);
  }
  return merged;
}
