import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { SubjectAnswers, SubjectColumn, SubjectColumnBuilder } from "../src/imap/subject_column.ts";
import { fold } from "../src/message/search_fold.ts";

const rows = (list: [number, string[] | string][]) =>
  list.map(([uid, v]) => [uid, typeof v === "string" ? v : JSON.stringify(v)]);

/** The positions of a hit array that are set. */
const set = (hits: Uint8Array | null) => [...hits!.keys()].filter((i) => hits![i] === 1);

Deno.test("subject column: matches per message, folded, never across values or messages", () => {
  const column = SubjectColumn.fromRows(rows([
    [3, ["Quarterly  Figures"]],
    [5, []], // no Subject field
    [7, ["first", "second\tvalue"]],
    [8, ['ÉTÉ "quoted" \\ back']],
    [9, "not json"], // left out: asked one by one
    [10, ["a\u0000b"]], // holds the separator: left out
    [12, [""]], // an empty Subject field
  ]));
  equal(column.count, 5);
  deepStrictEqual([...column.uids], [3, 5, 7, 8, 12]);
  deepStrictEqual(set(column.matches(fold("quarterly figures"))), [0]);
  deepStrictEqual(set(column.matches("second value")), [2]);
  deepStrictEqual(set(column.matches("firstsecond")), []); // values stay apart
  deepStrictEqual(set(column.matches("figuresfirst")), []); // messages stay apart
  deepStrictEqual(set(column.matches(fold('été "QUOTED" \\'))), [3]);
  deepStrictEqual(set(column.matches("e")), [0, 2, 3]);
  deepStrictEqual(set(column.matches("")), [0, 2, 3, 4]); // the field is there
  equal(column.matches("a\u0000b"), null);
});

Deno.test("subject column: answers by UID in order, undefined for what it does not hold", () => {
  const column = SubjectColumn.fromRows(rows([[1, ["alpha"]], [2, ["beta"]], [4, ["alphabet"]]]));
  const answers = new SubjectAnswers(column);
  ok(answers.holds(1));
  equal(answers.decide(1, "alpha"), true);
  equal(answers.decide(2, "alpha"), false);
  equal(answers.holds(3), false);
  equal(answers.decide(3, "alpha"), undefined);
  equal(answers.decide(4, "alpha"), true);
  equal(answers.decide(1, "bet"), false); // out of order still works
});

Deno.test("subject column: kept in the index as a blob for its keys version and UIDVALIDITY", () => {
  const column = SubjectColumn.fromRows(rows([[1, ["Ünïcode ☃"]], [2, []], [3, ["x", "y"]]]));
  const blob = column.encode(2, 777, 4);
  const back = SubjectColumn.decode(blob, 2, 777);
  ok(back);
  equal(back.uidNext, 4);
  equal(back.column.text, column.text);
  deepStrictEqual([...back.column.uids], [...column.uids]);
  deepStrictEqual([...back.column.starts], [...column.starts]);
  deepStrictEqual(set(back.column.matches("☃")), [0]);
  equal(SubjectColumn.decode(blob, 3, 777), null); // another keys version
  equal(SubjectColumn.decode(blob, 2, 778), null); // another UIDVALIDITY
  equal(SubjectColumn.decode(blob.subarray(0, blob.length - 1), 2, 777), null);
});

Deno.test("subject column: built page by page, the same as from all rows at once", () => {
  const all = rows([
    [1, []], // no Subject: the first page starts with an empty message
    [2, ["Été  One"]],
    [4, ["two", "Deux"]],
    [5, "not json"],
    [6, []], // a page of messages without values
    [7, []],
    [9, ["ÇA"]],
    [11, []], // the last message without values
  ]);
  const whole = SubjectColumn.fromRows(all);
  for (const cuts of [[1], [2, 4], [4, 6], [1, 2, 3, 4, 5, 6, 7], [7]]) {
    const builder = new SubjectColumnBuilder();
    let from = 0;
    for (const to of [...cuts, all.length]) {
      builder.add(all.slice(from, to));
      from = to;
    }
    const paged = builder.finish();
    equal(paged.text, whole.text, `cut at ${cuts}`);
    deepStrictEqual([...paged.uids], [...whole.uids]);
    deepStrictEqual([...paged.starts], [...whole.starts]);
    deepStrictEqual(set(paged.matches("un")), set(whole.matches("un")));
    deepStrictEqual(set(paged.matches("")), [1, 2, 5]); // UIDs 2, 4, 9
  }
});
