/**
 * A SEARCH response (RFC 3501 §7.2.5: "* SEARCH" and a space before each number) written
 * from runs of positions (store/folder/flag_runs.ts) straight into the reply's buffer.
 *
 * Within a run of consecutive numbers each is the one before with its last digit counted
 * up: SEARCH UNSEEN with 90,000 hits in 10,000 runs divides 10,000 numbers into digits
 * instead of 90,000 (wire.ts numberLine), in code a few searches do not give V8 time to
 * optimize. (A process-wide " 1 2 3 ..." text copied by slices was tried: building it
 * made the first search of a process slower, and the copies of short runs cost as much.)
 */
import { writeDigits } from "./wire.ts";

/** How many decimal digits `v` (a non-negative integer) has. */
function decimalLength(v: number): number {
  let n = 1;
  for (let low = 10; v >= low; low *= 10) n++;
  return n;
}

/** The digits of one number of a run, counted up in place. */
const digits = new Uint8Array(16);

/** Counts `digits[0 .. length)` up by one; returns the new length. */
function countUp(length: number): number {
  let k = length - 1;
  while (k >= 0 && digits[k] === 0x39) digits[k--] = 0x30;
  if (k >= 0) {
    digits[k]++;
    return length;
  }
  digits[0] = 0x31; // 9...9 + 1: one digit more
  digits[length] = 0x30;
  return length + 1;
}

/** Gaps between runs up to this are counted over rather than divided into digits anew. */
const COUNT_OVER = 8;

/**
 * `head`, then " n" for the number of each position of the runs (`pairs[0 .. 2 * count)`
 * as [start, end) of positions): `values[i] + add`, or `i + add` when `values` is null
 * (sequence numbers); then `tail`. `values` must be strictly increasing; head and tail
 * are ASCII. Written into the buffer `alloc(n)` gives for at most n octets; returns the
 * octets written.
 */
export function numberRunsInto(
  head: string,
  pairs: Int32Array,
  count: number,
  values: ArrayLike<number> | null,
  add: number,
  tail: string,
  alloc: (n: number) => Uint8Array,
): number {
  // Room for every number as long as the largest, the last (values increase): no pass
  // over the runs to size the buffer exactly.
  let numbers = 0;
  for (let r = 0; r < count; r++) numbers += pairs[2 * r + 1] - pairs[2 * r];
  const last = count === 0 ? 0 : pairs[2 * count - 1] - 1;
  const top = (values === null ? last : values[last]) + add;
  const out = alloc(head.length + numbers * (1 + decimalLength(top)) + tail.length);
  let at = 0;
  for (let k = 0; k < head.length; k++) out[at++] = head.charCodeAt(k);
  // `digits` hold `next` (-1: nothing yet) after each run of consecutive numbers: the next
  // run's first is counted up to from there when it is near (SEARCH UNSEEN where every
  // tenth message is seen: runs of 9, one number apart), instead of 10,000 divisions.
  let next = -1, length = 0;
  for (let r = 0; r < count; r++) {
    const a = pairs[2 * r], b = pairs[2 * r + 1];
    const low = (values === null ? a : values[a]) + add;
    const high = (values === null ? b - 1 : values[b - 1]) + add;
    // Values increase: the span alone tells whether they are consecutive.
    if (high - low !== b - 1 - a) {
      for (let i = a; i < b; i++) {
        out[at++] = 0x20;
        at = writeDigits(out, at, (values === null ? i : values[i]) + add);
      }
      next = -1;
      continue;
    }
    if (next >= 0 && low >= next && low - next <= COUNT_OVER) {
      for (; next < low; next++) length = countUp(length);
    } else length = writeDigits(digits, 0, low);
    for (let n = b - a; n > 0; n--) {
      out[at++] = 0x20;
      for (let k = 0; k < length; k++) out[at++] = digits[k];
      length = countUp(length);
    }
    next = high + 1;
  }
  for (let k = 0; k < tail.length; k++) out[at++] = tail.charCodeAt(k);
  return at;
}
