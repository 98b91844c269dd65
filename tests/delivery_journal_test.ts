import { assert, assertEquals } from "./helpers/assert.ts";
import { join } from "node:path";
import {
  decodeRecords,
  DeliveryJournal,
  encodeRecord,
  IDLE_DROP_MS,
  journalDir,
  SEGMENT_BYTES,
} from "../src/store/delivery_journal.ts";
import { replayJournal } from "../src/store/journal_recovery.ts";
import { MailStore } from "../src/store/mailstore.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const msg = (n: number) => enc.encode(`Subject: m${n}\r\n\r\nbody ${n}\r\n`);

async function withStore(
  fn: (store: MailStore, root: string, base: string, journal: DeliveryJournal) => Promise<void>,
) {
  const base = await Deno.makeTempDir({ prefix: "extremail-journal-" });
  try {
    const journal = await DeliveryJournal.open(base);
    const store = new MailStore(base, 0, {}, journal);
    const root = store.userRoot({ name: "joe", domain: "example.com", dir: "" });
    await store.ensureMailbox(root);
    try {
      await fn(store, root, base, journal);
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

/** A Maildir root with new/, cur/, tmp/ (what ensureMailbox makes, for the replay tests). */
async function maildir(base: string): Promise<string> {
  const root = join(base, "domains", "example.com", "joe");
  for (const sub of ["new", "cur", "tmp"]) {
    await Deno.mkdir(join(root, sub), { recursive: true });
  }
  return root;
}

Deno.test("journal records round-trip; a record cut short or with a wrong CRC ends the segment", () => {
  const a = encodeRecord({ src: "/m/tmp/a", dests: ["/m/new/a"] }, msg(1));
  const b = encodeRecord({ src: "/m/tmp/b", dests: ["/m/new/b", "/n/new/b"] }, msg(2));
  const both = new Uint8Array([...a, ...b]);
  const whole = decodeRecords(both);
  assertEquals(whole.torn, false);
  assertEquals(whole.records.map((r) => r.header.dests), [["/m/new/a"], ["/m/new/b", "/n/new/b"]]);
  assertEquals(dec.decode(whole.records[1].data), dec.decode(msg(2)));

  const cut = decodeRecords(both.subarray(0, both.length - 3));
  assertEquals(cut.torn, true);
  assertEquals(cut.records.length, 1);

  const flipped = both.slice();
  flipped[flipped.length - 2] ^= 0x40; // a byte of b's message
  const bad = decodeRecords(flipped);
  assertEquals(bad.torn, true);
  assertEquals(bad.records.map((r) => r.header.src), ["/m/tmp/a"]);

  // Zeros after the last record: the segment's zero-filled rest, a clean end.
  const zeros = decodeRecords(new Uint8Array([...a, ...new Uint8Array(64)]));
  assertEquals(zeros.records.length, 1);
  assertEquals(zeros.torn, false);
  // A record's start over the zeros, the rest not written: torn.
  const started = decodeRecords(
    new Uint8Array([...a, ...b.subarray(0, 20), ...new Uint8Array(64)]),
  );
  assertEquals(started.records.length, 1);
  assertEquals(started.torn, true);
});

Deno.test("a journaled delivery is in new/ when it resolves, and its record goes once synced", async () => {
  await withStore(async (store, root, base, journal) => {
    const [stored] = await store.deliver([{ root }], msg(1));
    // Answered before the file's own fsync: its record is still live (the journal path).
    assertEquals(journal.live, 1);
    assertEquals(
      dec.decode(await Deno.readFile(join(root, "new", stored.base))),
      dec.decode(msg(1)),
    );
    assertEquals(await names(join(root, "tmp")), []);
    // Many at once share syncs; all arrive.
    const many = await Promise.all(
      Array.from({ length: 40 }, (_, i) => store.deliver([{ root }], msg(i + 2))),
    );
    assertEquals(many.length, 40);
    assertEquals((await names(join(root, "new"))).length, 41);
    await store.close(); // waits for the background syncs
    assertEquals(journal.live, 0);
    assertEquals(await names(journalDir(base)), []);
  });
});

Deno.test("a journaled delivery whose file cannot be made fails and leaves no live record", async () => {
  await withStore(async (store, root, _base, journal) => {
    // The record is appended before the file is created (its fdatasync overlaps the
    // creation): a failed creation must retire it, or a later replay would deliver it.
    await Deno.remove(join(root, "tmp"));
    let failed = false;
    await store.deliver([{ root }], msg(9)).catch(() => failed = true);
    assert(failed, "the delivery reported the missing tmp/");
    assertEquals(journal.live, 0);
    assertEquals(await names(join(root, "new")), []);
    await Deno.mkdir(join(root, "tmp"));
    const [stored] = await store.deliver([{ root }], msg(10));
    assertEquals(
      dec.decode(await Deno.readFile(join(root, "new", stored.base))),
      dec.decode(msg(10)),
    );
  });
});

Deno.test("a journaled delivery to two mailboxes links one file into both", async () => {
  await withStore(async (store, root) => {
    const other = store.userRoot({ name: "ann", domain: "example.com", dir: "" });
    await store.ensureMailbox(other);
    const stored = await store.deliver([{ root }, { root: other }], msg(7));
    assertEquals(stored.length, 2);
    const a = await Deno.stat(join(root, "new", stored[0].base));
    const b = await Deno.stat(join(other, "new", stored[1].base));
    assertEquals(a.ino, b.ino);
    assertEquals(a.nlink, 2);
  });
});

Deno.test("replay: records whose files are missing are written, torn files rewritten, moved ones kept", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-journal-" });
  try {
    const root = await maildir(base);
    const other = await maildir(join(base, "x"));
    const dir = journalDir(base);
    await Deno.mkdir(dir);
    const rec = (name: string, n: number, roots = [root]) =>
      encodeRecord(
        { src: join(root, "tmp", name), dests: roots.map((r) => join(r, "new", name)) },
        msg(n),
      );
    // 1: never linked (crash between the journal sync and the rename): tmp/ file left.
    await Deno.writeFile(join(root, "tmp", "m1"), msg(1).subarray(0, 5));
    // 2: in new/ but torn (its data never reached the disk).
    await Deno.writeFile(join(root, "new", "m2"), new Uint8Array(msg(2).length));
    // 3: seen and moved to cur/ with flags by a reader: kept there, not duplicated.
    await Deno.writeFile(join(root, "cur", "m3:2,S"), msg(3));
    // 4: for two mailboxes, present in neither.
    // 5: torn record at the end: never acknowledged, ignored.
    const torn = rec("m5", 5).subarray(0, 30);
    await Deno.writeFile(
      join(dir, "0000000001.journal"),
      new Uint8Array([...rec("m1", 1), ...rec("m2", 2), ...rec("m3", 3)]),
    );
    await Deno.writeFile(
      join(dir, "0000000002.journal"),
      new Uint8Array([...rec("m4", 4, [root, other]), ...torn]),
    );
    const out = await replayJournal(dir);
    assertEquals(out, {
      records: 4,
      restored: 3,
      rewritten: 1,
      tornSegments: 1,
      skipped: 0,
      skippedPaths: [],
    });
    assertEquals(await names(join(root, "new")), ["m1", "m2", "m4"]);
    assertEquals(await names(join(root, "cur")), ["m3:2,S"]);
    assertEquals(await names(join(other, "new")), ["m4"]);
    assertEquals(await names(join(root, "tmp")), []);
    for (const [path, n] of [["new/m1", 1], ["new/m2", 2], ["cur/m3:2,S", 3], ["new/m4", 4]]) {
      assertEquals(
        dec.decode(await Deno.readFile(join(root, path as string))),
        dec.decode(msg(n as number)),
      );
    }
    assertEquals(dec.decode(await Deno.readFile(join(other, "new", "m4"))), dec.decode(msg(4)));
    // The replayed segments are gone; a second replay finds nothing.
    assertEquals(await names(dir), []);
    assertEquals((await replayJournal(dir)).records, 0);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("replay skips a target whose mailbox was deleted and still writes the others", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-journal-" });
  try {
    const root = await maildir(base);
    const dir = journalDir(base);
    await Deno.mkdir(dir);
    const gone = join(base, "gone");
    await Deno.writeFile(
      join(dir, "0000000001.journal"),
      encodeRecord({
        src: join(root, "tmp", "m"),
        dests: [join(gone, "new", "m"), join(root, "new", "m")],
      }, msg(9)),
    );
    const out = await replayJournal(dir);
    assertEquals(out.skippedPaths, [join(gone, "new", "m")]);
    assertEquals(out.restored, 1);
    assertEquals(await names(join(root, "new")), ["m"]);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("records not yet retired survive a process that dies; the next start replays them", async () => {
  // What a SIGKILL leaves: records appended and synced, their files never written.
  const base = await Deno.makeTempDir({ prefix: "extremail-journal-" });
  try {
    const root = await maildir(base);
    const journal = await DeliveryJournal.open(base);
    const tickets = [1, 2, 3].map((n) =>
      journal.append(
        { src: join(root, "tmp", `k${n}`), dests: [join(root, "new", `k${n}`)] },
        msg(n),
      )
    );
    await Promise.all(tickets.map((t) => t.committed));
    journal.retire(tickets[0]); // done; the others were still syncing when the process died
    assertEquals(journal.live, 2);
    assert(journal.segments === 1, "one segment still holds live records");
    await journal.close(); // leaves the segment with live records for the replay
    const out = await replayJournal(journalDir(base));
    assertEquals(out.records, 3); // the retired one is checked too (its file: written now)
    assertEquals(await names(join(root, "new")), ["k1", "k2", "k3"]);
    // A new journal in the same directory numbers its segments after any left.
    const again = await DeliveryJournal.open(base);
    const t = again.append(
      { src: join(root, "tmp", "k4"), dests: [join(root, "new", "k4")] },
      msg(4),
    );
    await t.committed;
    again.retire(t);
    await again.close();
    assertEquals(await names(journalDir(base)), []);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("the segment being written is zeroed once none of its records has been live for a while", async () => {
  await withStore(async (store, root, base, journal) => {
    await Promise.all([1, 2, 3].map((n) => store.deliver([{ root }], msg(n))));
    const [segment] = await names(journalDir(base));
    const path = join(journalDir(base), segment);
    assertEquals(decodeRecords(await Deno.readFile(path)).records.length, 3);
    // No close(): the idle timer (IDLE_DROP_MS) zeroes the records; generous bound.
    const until = Date.now() + IDLE_DROP_MS + 10_000;
    while (
      decodeRecords(await Deno.readFile(path)).records.length > 0 && Date.now() < until
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const after = decodeRecords(await Deno.readFile(path));
    assertEquals(after, { records: [], torn: false });
    assertEquals(journal.live, 0);
    // The zeros are written before their fdatasync returns: until then a delivery would
    // start a new segment (slow syncs on a loaded machine made this test fail).
    await journal.recycled();
    // The same segment is written again from its start.
    await store.deliver([{ root }], msg(4));
    assertEquals(await names(journalDir(base)), [segment]);
    const again = decodeRecords(await Deno.readFile(path));
    assertEquals(again.records.length, 1);
    assertEquals(dec.decode(again.records[0].data), dec.decode(msg(4)));
    assertEquals((await Deno.stat(path)).size, SEGMENT_BYTES);
  });
});

Deno.test("records appended in one turn are written by one commit at its end, together, in order", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-journal-" });
  try {
    const root = await maildir(base);
    const journal = await DeliveryJournal.open(base);
    const rec = (n: number) =>
      journal.append(
        { src: join(root, "tmp", `g${n}`), dests: [join(root, "new", `g${n}`)] },
        msg(n),
      );
    // No commit running: the first record's sync starts at the end of the turn, so the
    // records of the same turn (sessions whose input came together) share it. (Records
    // appended while a commit runs share the next one: tests/shared_sync_test.ts.)
    const first = rec(1);
    const group = [2, 3, 4].map(rec);
    const [segment] = [...Deno.readDirSync(journalDir(base))].map((e) => e.name);
    const path = join(journalDir(base), segment);
    assertEquals(
      decodeRecords(Deno.readFileSync(path)).records.length,
      0,
      "nothing is written within the turn",
    );
    await Promise.all([first, ...group].map((t) => t.committed));
    const { records, torn } = decodeRecords(await Deno.readFile(path));
    assertEquals(torn, false);
    assertEquals(
      records.map((r) => dec.decode(r.data)),
      [1, 2, 3, 4].map((n) => dec.decode(msg(n))),
    );
    // Replayed after a crash like records written one at a time.
    await journal.close();
    const out = await replayJournal(journalDir(base));
    assertEquals(out.records, 4);
    assertEquals(await names(join(root, "new")), ["g1", "g2", "g3", "g4"]);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
