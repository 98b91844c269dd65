/**
 * flag_runs.ts (SEARCH of one flag as runs of positions): the same positions as one
 * message at a time, whichever way the runs are found (searching for each letter-set
 * number, or a test per position).
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { flagRuns, RunList } from "../src/store/folder/flag_runs.ts";

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
