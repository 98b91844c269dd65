/**
 * search_line.ts (the SEARCH line of one flag written from the letter-set column): the
 * octets of "* SEARCH" and the matches joined one by one, through the WebAssembly pass and
 * through JavaScript alike: no match, one, numbers across their digit counts and up to
 * 2^32 - 1, counted-up and divided steps, each width of the column, a number naming no
 * set, positions past the column, and the reply buffer's size.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { FlagIds } from "../src/store/folder/flag_runs.ts";
import { passAvailable, searchLineInto, warmSearchLine } from "../src/imap/search_line.ts";

/** A little deterministic generator (no flaky inputs). */
function random(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
}

interface Case {
  col: FlagIds;
  want: boolean[];
  values: Uint32Array | null;
  add: number;
  n: number;
  /** What `matches(i)` answers (positions asked of the caller). */
  asked?: (i: number) => boolean;
  tail?: string;
}

/** The line as one number at a time would make it. */
function expected(c: Case): string {
  const nums: number[] = [];
  for (let i = 0; i < c.n; i++) {
    const id = i < c.col.end ? c.col.ids[i] : -1;
    const hit = id >= 0 && id < c.want.length ? c.want[id] : c.asked!(i);
    if (hit) nums.push((c.values === null ? i : c.values[i]) + c.add);
  }
  return `* SEARCH${nums.map((v) => ` ${v}`).join("")}${c.tail ?? "\r\n"}`;
}

/**
 * The line searchLineInto writes: the buffer alloc() gives is exactly the size asked
 * for, asked once, and the octets written fit it.
 */
function written(c: Case, wasm: boolean): string {
  const asked: number[] = [];
  const bufs: Uint8Array[] = [];
  const n = searchLineInto(
    "* SEARCH",
    c.col,
    c.want,
    c.values,
    c.add,
    c.n,
    (i) => {
      asked.push(i);
      return c.asked!(i);
    },
    c.tail ?? "\r\n",
    (size) => {
      bufs.push(new Uint8Array(size).fill(0xff));
      return bufs[0];
    },
    wasm,
  );
  strictEqual(bufs.length, 1);
  strictEqual(n <= bufs[0].length, true);
  // Positions in the column whose number names a set are never asked of the caller.
  for (const i of asked) {
    strictEqual(i >= c.col.end || c.col.ids[i] >= c.want.length, true, `asked ${i}`);
  }
  return new TextDecoder().decode(bufs[0].subarray(0, n));
}

function check(c: Case, label = "") {
  const want = expected(c);
  strictEqual(written(c, true), want, `wasm ${label}`);
  strictEqual(written(c, false), want, `js ${label}`);
}

const col = (ids: Uint8Array | Uint16Array | Uint32Array, end = ids.length): FlagIds => ({
  sets: [],
  ids,
  end,
});

Deno.test("searchLineInto: the WebAssembly pass loads, and the warm-up runs it", () => {
  strictEqual(passAvailable(), true);
  warmSearchLine();
  // What the warm-up left in the module's memory does not show in the next line.
  check({ col: col(new Uint8Array([1, 0, 1])), want: [false, true], values: null, add: 1, n: 3 });
});

Deno.test("searchLineInto: an empty mailbox, no match, one match", () => {
  const none = () => false;
  check({ col: col(new Uint8Array(0)), want: [true], values: null, add: 1, n: 0, asked: none });
  check({ col: col(new Uint8Array(5)), want: [false], values: null, add: 1, n: 5, asked: none });
  check({ col: col(new Uint8Array([0, 1, 0])), want: [false, true], values: null, add: 1, n: 3 });
  strictEqual(
    written({ col: col(new Uint8Array(0)), want: [], values: null, add: 1, n: 0 }, true),
    "* SEARCH\r\n",
  );
  strictEqual(
    written(
      { col: col(new Uint8Array([1])), want: [false, true], values: null, add: 0, n: 1 },
      true,
    ),
    "* SEARCH 0\r\n",
  );
  // The tail as given (a response code after the numbers).
  check({
    col: col(new Uint8Array([0, 0])),
    want: [true],
    values: null,
    add: 1,
    n: 2,
    tail: " (MODSEQ 7)\r\n",
  });
});

Deno.test("searchLineInto: sequence numbers across digit counts, counted up", () => {
  // Every message, every other, every 16th and 17th (the last step counted up, the first
  // divided), up to 100,010: 9 -> 10 ... 99,999 -> 100,000 are crossed by counting.
  for (const step of [1, 2, 16, 17]) {
    const ids = new Uint8Array(100_010);
    for (let i = 0; i < ids.length; i += step) ids[i] = 1;
    check(
      { col: col(ids), want: [false, true], values: null, add: 1, n: ids.length },
      `step ${step}`,
    );
  }
});

Deno.test("searchLineInto: UIDs near digit counts' edges and up to 2^32 - 1", () => {
  const uids = new Uint32Array([
    0,
    1,
    8,
    9,
    10,
    11,
    26,
    27,
    44,
    98,
    99,
    100,
    101,
    999_998,
    999_999,
    1_000_000,
    1_000_015,
    1_000_032,
    2_147_483_646,
    2_147_483_647,
    2_147_483_648,
    2_147_483_649,
    2_147_483_665,
    4_294_967_294,
    4_294_967_295,
  ]);
  const all = new Uint16Array(uids.length);
  check({ col: col(all), want: [true], values: uids, add: 0, n: uids.length }, "all");
  // Every other one: the steps between them differ.
  const odd = new Uint16Array(uids.length).map((_, i) => i % 2);
  check({ col: col(odd), want: [false, true], values: uids, add: 0, n: uids.length }, "odd");
  check({ col: col(odd), want: [true, false], values: uids, add: 0, n: uids.length }, "even");
});

Deno.test("searchLineInto: each width of the column, random sets and wanted sets", () => {
  const rnd = random(11);
  for (
    const make of [
      (n: number) => new Uint8Array(n),
      (n: number) => new Uint16Array(n),
      (n: number) => new Uint32Array(n),
    ]
  ) {
    for (const sets of [1, 2, 3, 7, 300]) {
      const n = 5000;
      const ids = make(n);
      for (let i = 0; i < n; i++) {
        ids[i] = Math.floor(rnd() * sets) % (ids.BYTES_PER_ELEMENT === 1 ? 256 : 1 << 16);
      }
      const want = Array.from({ length: sets }, () => rnd() < 0.5);
      let uid = 0;
      const uids = new Uint32Array(n).map(() => (uid += 1 + Math.floor(rnd() * rnd() * 60)));
      const label = `width ${ids.BYTES_PER_ELEMENT}, ${sets} sets`;
      check({ col: col(ids), want, values: null, add: 1, n }, label);
      check({ col: col(ids), want, values: uids, add: 0, n }, `${label}, UIDs`);
    }
  }
});

Deno.test("searchLineInto: a number naming no set, and positions past the column, are asked", () => {
  const ids = new Uint8Array([0, 1, 0, 1, 9, 0, 1, 0, 1, 1]);
  const asked = (i: number) => i % 3 === 0;
  for (const end of [ids.length, 7, 4, 0]) {
    for (const values of [null, new Uint32Array([3, 4, 5, 9, 10, 11, 40, 41, 42, 43])]) {
      check({
        col: col(ids, end),
        want: [false, true],
        values,
        add: values ? 0 : 1,
        n: ids.length,
        asked,
      }, `end ${end}`);
    }
  }
  // Wider numbers go into the pass as one octet each when there are few sets: one past
  // 255 must still name no set.
  for (
    const wide of [
      new Uint16Array([0, 1, 300, 1, 255, 0]),
      new Uint32Array([1, 256, 0, 257, 1, 70_000]),
    ]
  ) {
    check(
      {
        col: col(wide),
        want: [false, true],
        values: null,
        add: 1,
        n: wide.length,
        asked: () => true,
      },
      `${wide.BYTES_PER_ELEMENT} octets`,
    );
  }
  // The pass stops at the number past the sets: the rest goes by the column where it can.
  const seen: number[] = [];
  searchLineInto(
    "* SEARCH",
    col(ids),
    [false, true],
    null,
    1,
    ids.length,
    (i) => {
      seen.push(i);
      return false;
    },
    "\r\n",
    (size) => new Uint8Array(size),
  );
  deepStrictEqual(seen, [4]);
});

Deno.test("searchLineInto: a small search after a large one writes only its own numbers", () => {
  // The module's memory grown for the large one keeps its octets; the next writes over them.
  const big = new Uint8Array(200_000);
  check({ col: col(big), want: [true], values: null, add: 1, n: big.length }, "large");
  check(
    { col: col(new Uint8Array([1, 0, 1])), want: [false, true], values: null, add: 1, n: 3 },
    "small",
  );
  check({
    col: col(new Uint8Array(0)),
    want: [true],
    values: null,
    add: 1,
    n: 2,
    asked: () => true,
  });
});
