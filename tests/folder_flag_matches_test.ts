/**
 * MessageTable.flagRuns (SEARCH UNSEEN, SEEN, DELETED... over the whole view) gives the
 * positions flagsAt() message by message would: on the current snapshot (the letter-set
 * numbers read directly), with a message removed and not yet compacted, and on an older
 * snapshot after compaction (message by message, expunged ones left out).
 */
import { deepStrictEqual } from "node:assert/strict";
import { MessageTable, newEntry } from "../src/store/folder/messages.ts";

function filled(n: number): MessageTable {
  const table = new MessageTable();
  for (let uid = 1; uid <= n; uid++) {
    const base = `${1700000000 + uid}.M${uid}P42.example.org`;
    const flags = uid % 10 === 0 ? "S" : uid % 7 === 0 ? "FS" : uid % 11 === 0 ? "T" : "";
    table.insert(newEntry({
      uid,
      base,
      sub: "cur",
      name: `${base}:2,${flags}`,
      flags,
      size: 100,
      internalDate: 0,
      modseq: 1,
    }));
  }
  return table;
}

function oneByOne(t: MessageTable, uids: Uint32Array, n: number, letter: string, set: boolean) {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const flags = t.flagsAt(uids, i);
    if (flags !== undefined && flags.includes(letter) === set) out.push(i);
  }
  return out;
}

function same(t: MessageTable, uids: Uint32Array, n: number): void {
  for (const letter of ["S", "F", "T", "D"]) {
    for (const set of [true, false]) {
      deepStrictEqual(
        t.flagRuns(uids, n, letter, set).positions(),
        oneByOne(t, uids, n, letter, set),
      );
    }
  }
}

Deno.test("flagRuns: the positions flagsAt gives, current and older snapshots", () => {
  const t = filled(500);
  const { uids, count } = t.snapshot();
  same(t, uids, count);
  same(t, uids, 123); // a view that has not seen the last messages yet
  // Removed, not yet compacted: the snapshot is still the current one.
  t.remove(t.entryAt(uids, 20)!);
  t.remove(t.entryAt(uids, 69)!);
  same(t, uids, count);
  // Compacted: the old snapshot is read message by message, the removed ones left out.
  t.rebuildUids();
  same(t, uids, count);
  const seen = t.flagRuns(uids, count, "S", true).positions(); // both had \Seen
  deepStrictEqual([seen.includes(20), seen.includes(69), seen.includes(9)], [false, false, true]);
  const now = t.snapshot();
  same(t, now.uids, now.count);
});
