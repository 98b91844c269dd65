/**
 * flag_runs.ts (SEARCH of one flag as runs of positions) and number_runs.ts (the SEARCH
 * line written from runs): the same positions and the same octets as one message, one
 * number at a time, whichever way the runs are found (searching for each letter-set
 * number, or a test per position) and however the numbers fall on the ladder.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { flagRuns, RunList } from "../src/store/folder/flag_runs.ts";
import { numberRunsInto } from "../src/imap/number_runs.ts";
import { numberLine } from "../src/imap/wire.ts";

/** A little deterministic generator (no flaky inputs). */
function random(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
}

function oneByOne(
  sets: string[],
  ids: ArrayLike<number>,
  end: number,
  letter: string,
  set: boolean,
) {
  const out: number[] = [];
  for (let i = 0; i < end; i++) {
    const s = sets[ids[i]];
    if (s === undefined) break;
    if (s.includes(letter) === set) out.push(i);
  }
  return out;
}

const SETS = ["", "S", "FS", "T", "DS", "F", "ST", "a", "Sa", "b", "FT", "DFS"];

Deno.test("flagRuns: the positions a test per message gives, both ways", () => {
  const rnd = random(7);
  for (const setCount of [1, 2, 3, 8, 9, 12]) {
    for (const runny of [0.02, 0.5, 0.95]) {
      const ids = new Uint16Array(3000);
      let id = 0;
      for (let i = 0; i < ids.length; i++) {
        if (rnd() > runny) id = Math.floor(rnd() * setCount);
        ids[i] = id;
      }
      const sets = SETS.slice(0, setCount);
      for (const end of [0, 1, 1777, 3000]) {
        for (const letter of ["S", "F", "D", "a"]) {
          for (const set of [true, false]) {
            for (const checked of [true, false]) {
              const out = new RunList();
              strictEqual(flagRuns(sets, ids, end, letter, set, checked, out), end);
              deepStrictEqual(out.positions(), oneByOne(sets, ids, end, letter, set));
              // Runs are in order, non-empty, and never touch (they would have been joined).
              for (let r = 0; r < out.count; r++) {
                const [a, b] = [out.pairs[2 * r], out.pairs[2 * r + 1]];
                strictEqual(a < b && (r === 0 || out.pairs[2 * r - 1] < a), true);
              }
            }
          }
        }
      }
    }
  }
});

Deno.test("flagRuns: an unchecked number that names no set stops the runs there", () => {
  const ids = new Uint16Array([0, 0, 1, 0, 5, 0, 1]);
  const out = new RunList();
  strictEqual(flagRuns(["", "S"], ids, ids.length, "S", false, false, out), 4);
  deepStrictEqual(out.positions(), [0, 1, 3]);
});

function decoded(
  pairs: number[],
  values: ArrayLike<number> | null,
  add: number,
  tail = "\r\n",
): string {
  let room = 0;
  const runs = new Int32Array(pairs);
  const buf: Uint8Array[] = [];
  const n = numberRunsInto("* SEARCH", runs, pairs.length / 2, values, add, tail, (size) => {
    room = size;
    buf.push(new Uint8Array(size));
    return buf[0];
  });
  strictEqual(buf.length, 1);
  strictEqual(n <= room, true);
  return new TextDecoder().decode(buf[0].subarray(0, n));
}

function expected(pairs: number[], values: ArrayLike<number> | null, add: number): string {
  const nums: number[] = [];
  for (let r = 0; r < pairs.length; r += 2) {
    for (let i = pairs[r]; i < pairs[r + 1]; i++) nums.push(values === null ? i : values[i]);
  }
  return new TextDecoder().decode(numberLine("* SEARCH", nums, add, "\r\n"));
}

Deno.test("numberRunsInto: the line numberLine writes, sequence numbers and UIDs", () => {
  // Sequence numbers across the digit counts' edges.
  for (
    const pairs of [[], [0, 1], [0, 9], [8, 11], [0, 5, 6, 120], [95, 105, 998, 1003], [
      9998,
      10002,
      99_990,
      100_011,
    ]]
  ) {
    strictEqual(decoded(pairs, null, 1), expected(pairs, null, 1));
  }
  // UIDs: consecutive stretches and gaps inside one run, zero, and past the ladder's top.
  const uids = new Uint32Array([
    0,
    1,
    2,
    3,
    7,
    8,
    9,
    10,
    11,
    40,
    41,
    999_998,
    999_999,
    1_000_000,
    1_000_001,
    1_000_002,
    4_294_967_295,
  ]);
  const all = [0, uids.length];
  strictEqual(decoded(all, uids, 0), expected(all, uids, 0));
  strictEqual(decoded([1, 4, 5, 9, 11, 14], uids, 0), expected([1, 4, 5, 9, 11, 14], uids, 0));
  strictEqual(decoded([0, 1], null, 0), "* SEARCH 0\r\n");
  strictEqual(decoded([], null, 1, " (MODSEQ 7)\r\n"), "* SEARCH (MODSEQ 7)\r\n");
});

Deno.test("numberRunsInto: the next run counted up to over small gaps, across digit counts", () => {
  // Runs one to nine numbers apart, across 9 -> 10, 99 -> 100, 9999 -> 10000: the digits
  // are counted over the gap, not written anew (COUNT_OVER); a larger gap writes them.
  for (let gap = 1; gap <= 10; gap++) {
    const pairs: number[] = [];
    for (let start = 0; start < 10_050; start += 3 + gap) pairs.push(start, start + 3);
    strictEqual(decoded(pairs, null, 1), expected(pairs, null, 1), `gap ${gap}`);
  }
  // UIDs: the gaps between runs are the values', not the positions'.
  const uids = new Uint32Array([5, 6, 7, 9, 10, 11, 98, 99, 100, 101, 104, 105, 106]);
  const pairs = [0, 3, 3, 6, 6, 8, 8, 10, 10, 13];
  strictEqual(decoded(pairs, uids, 0), expected(pairs, uids, 0));
  // Where a run is not consecutive the digits are written anew for the next.
  const mixed = new Uint32Array([1, 2, 4, 5, 6, 7, 30, 31]);
  const split = [0, 3, 3, 6, 6, 8];
  strictEqual(decoded(split, mixed, 0), expected(split, mixed, 0));
});
