/**
 * A SEARCH response (RFC 3501 §7.2.5: "* SEARCH" and a space before each number) written
 * from runs of positions (store/folder/flag_runs.ts) straight into the reply's buffer.
 *
 * Consecutive numbers are copied as one slice of the ladder, the text " 1 2 3 ... top"
 * built once per process: SEARCH UNSEEN with 90,000 hits in 10,000 runs is 10,000 copies
 * instead of 90,000 numbers written digit by digit (wire.ts numberLine), in code that a
 * few searches do not give V8 time to optimize. The ladder grows to the largest number
 * asked for, up to LADDER_MAX (6.9 MB); larger numbers are written digit by digit.
 */

/** The largest number the ladder may hold. */
const LADDER_MAX = 1_000_000;

/** Slices at least this long are copied by TypedArray set(), shorter ones by a loop. */
const LONG_SLICE = 512;

let ladder = new Uint8Array(0);
let ladderTop = 0;

/** Where " v" starts in the ladder (1 <= v). */
function ladderAt(v: number): number {
  let at = 0, low = 1, digits = 1;
  while (v >= low * 10) {
    at += 9 * low * (digits + 1);
    low *= 10;
    digits++;
  }
  return at + (v - low) * (digits + 1);
}

/**
 * Grows the ladder to hold `top` at least (rounded up a little, so it grows a few times at
 * most). The numbers follow each other: each is the last one's digits, the last digit
 * counted up (no division per digit: this runs in the first big search of a process).
 */
function ensureLadder(top: number): void {
  if (top <= ladderTop || ladderTop >= LADDER_MAX) return;
  const upTo = Math.min(LADDER_MAX, Math.max(top + (top >> 4), 1024));
  const grown = new Uint8Array(ladderAt(upTo + 1));
  grown.set(ladder);
  let at = ladder.length;
  const digits = new Uint8Array(8);
  let length = writeDigits(digits, 0, ladderTop + 1);
  for (let v = ladderTop + 1; v <= upTo; v++) {
    grown[at++] = 0x20;
    for (let k = 0; k < length; k++) grown[at++] = digits[k];
    let k = length - 1;
    while (k >= 0 && digits[k] === 0x39) digits[k--] = 0x30;
    if (k >= 0) digits[k]++;
    else {
      // 9...9 + 1: one more digit.
      digits[0] = 0x31;
      digits[length++] = 0x30;
    }
  }
  ladder = grown;
  ladderTop = upTo;
}

/** Writes `v` (a non-negative integer) in decimal at `at`; returns the end. */
function writeDigits(out: Uint8Array, at: number, v: number): number {
  const first = at;
  do {
    out[at++] = 0x30 + v % 10;
    v = Math.floor(v / 10);
  } while (v > 0);
  for (let a = first, b = at - 1; a < b; a++, b--) {
    const t = out[a];
    out[a] = out[b];
    out[b] = t;
  }
  return at;
}

/** How many decimal digits `v` (a non-negative integer) has. */
function decimalLength(v: number): number {
  let n = 1;
  for (let low = 10; v >= low; low *= 10) n++;
  return n;
}

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
  ensureLadder(top);
  let at = 0;
  for (let k = 0; k < head.length; k++) out[at++] = head.charCodeAt(k);
  for (let r = 0; r < count; r++) {
    const a = pairs[2 * r], b = pairs[2 * r + 1];
    const low = (values === null ? a : values[a]) + add;
    const high = (values === null ? b - 1 : values[b - 1]) + add;
    // Values increase: the span alone tells whether they are consecutive.
    if (high - low === b - 1 - a && low >= 1 && high <= ladderTop) {
      const from = ladderAt(low), to = ladderAt(high + 1);
      // A short run by a loop: set() of a subarray is a call into the runtime (about a
      // microsecond each, measured: 10,000 runs cost more than their digits).
      if (to - from >= LONG_SLICE) {
        out.set(ladder.subarray(from, to), at);
        at += to - from;
      } else for (let k = from; k < to; k++) out[at++] = ladder[k];
      continue;
    }
    for (let i = a; i < b; i++) {
      out[at++] = 0x20;
      at = writeDigits(out, at, (values === null ? i : values[i]) + add);
    }
  }
  for (let k = 0; k < tail.length; k++) out[at++] = tail.charCodeAt(k);
  return at;
}
