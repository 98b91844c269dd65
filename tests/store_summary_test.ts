/**
 * The folder summary (src/store/folder/summary.ts): after a clean close the next open
 * answers from it without reading the UID list or the message rows, which are read on
 * first use and equal what a full load gives; it is never trusted when the UID list or
 * the index changed after it was written (another process, an older version), and it
 * is voided by the first write after it.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { MailStore } from "../src/store/mailstore.ts";
import type { Folder } from "../src/store/folder/folder.ts";
import { INDEX_FILE } from "../src/store/folder/index_db.ts";
import { UIDLIST } from "../src/store/folder/uidlist.ts";
import { decodeSummary, encodeSummary } from "../src/store/folder/summary.ts";
import { arrayOf } from "../src/store/folder/uid_runs.ts";
import { MailboxView } from "../src/imap/view.ts";

const enc = new TextEncoder();

type Row = [number, string, string, number];
const rowsOf = (f: Folder): Row[] =>
  [...f.messages.values()].map((m) => [m.uid, m.base, m.flags, m.modseq]);

interface Seen {
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  count: number;
  unseen: number;
  recent: number;
  firstUnseen: number;
  uids: number[];
}

const counters = (f: Folder): Seen => {
  const snap = f.uidSnapshot();
  return {
    uidValidity: f.uidValidity,
    uidNext: f.uidNext,
    highestModseq: f.highestModseq,
    count: f.messageCount,
    unseen: f.unseenCount,
    recent: f.recentCount,
    firstUnseen: f.firstUnseenUid(),
    uids: [...arrayOf(snap.uids).subarray(0, snap.count)],
  };
};

/** Counts whole reads of the UID list while `work` runs. */
async function countListReads(work: () => Promise<void>): Promise<number> {
  const orig = Deno.readFile;
  let n = 0;
  Deno.readFile = ((path: string | URL, opts?: Deno.ReadFileOptions) => {
    if (String(path).endsWith(UIDLIST)) n++;
    return orig(path, opts);
  }) as typeof Deno.readFile;
  try {
    await work();
  } finally {
    Deno.readFile = orig;
  }
  return n;
}

/**
 * A folder with 30 messages (some seen, some still \Recent), its directories aged so the
 * scan's result is settled, closed cleanly. Returns what it showed before the close.
 */
async function prepared(base: string): Promise<{ root: string; seen: Seen; rows: Row[] }> {
  const store = new MailStore(base, 0);
  const root = store.userRoot({ name: "ann", domain: "example.com", dir: "" });
  await store.ensureMailbox(root);
  for (let i = 0; i < 30; i++) {
    await store.deliver([{ root }], enc.encode(`Subject: m${i}\r\n\r\nbody ${i}\r\n`));
  }
  const f = (await store.openFolder(root, "INBOX"))!;
  await f.claimRecent();
  for (let i = 0; i < 5; i++) {
    await store.deliver([{ root }], enc.encode(`Subject: late ${i}\r\n\r\nbody\r\n`));
  }
  await f.updateFlags([1, 2, 4], () => "S");
  const past = new Date(Date.now() - 3_600_000);
  for (const sub of ["new", "cur"]) await Deno.utime(join(root, sub), past, past);
  await f.refresh(true);
  const seen = counters(f), rows = rowsOf(f);
  await store.close();
  return { root, seen, rows };
}

async function reopen(base: string, root: string): Promise<[Folder, MailStore]> {
  const store = new MailStore(base, 0);
  return [(await store.openFolder(root, "INBOX"))!, store];
}

Deno.test("summary: a clean restart answers from it, rows read on first use are the same", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-sum-" });
  try {
    const { root, seen, rows } = await prepared(base);
    equal(seen.unseen, 32);
    equal(seen.recent, 5);
    equal(seen.firstUnseen, 3);
    let folder: Folder | undefined, store: MailStore | undefined;
    const reads = await countListReads(async () => {
      [folder, store] = await reopen(base, root);
      deepStrictEqual(counters(folder), seen);
    });
    equal(reads, 0, "the UID list is not read for a summary start");
    // The flag letters come from the summary's column before any row is read.
    const flagsOf = (f: Folder) => {
      const { uids, count } = f.uidSnapshot();
      return Array.from({ length: count }, (_, i) => f.flagsAt(uids, i));
    };
    deepStrictEqual(flagsOf(folder!), rows.map((r) => r[2]));
    deepStrictEqual(rowsOf(folder!), rows);
    ok(folder!.hasBase(rows[0][1]), "the UID list is read when a caller needs it");
    // Read, not written: the summary stays valid until the first write to the index,
    // which voids it in its own commit.
    const gen = () => {
      const db = new DatabaseSync(join(root, INDEX_FILE));
      try {
        return Number(
          (db.prepare("SELECT v FROM meta WHERE k = 'summary_gen'").get() as {
            v: number;
          }).v,
        );
      } finally {
        db.close();
      }
    };
    ok(gen() > 0, "still valid while nothing was written");
    // A change, then a clean close: the next start has a new summary and shows the change.
    await folder!.updateFlags([5], () => "FS");
    equal(gen(), 0, "voided by the change's commit");
    const after = counters(folder!), afterRows = rowsOf(folder!);
    await store!.close();
    const [again, store2] = await reopen(base, root);
    deepStrictEqual(counters(again), after);
    deepStrictEqual(flagsOf(again), afterRows.map((r) => r[2]));
    equal(flagsOf(again)[4], "FS");
    deepStrictEqual(rowsOf(again), afterRows);
    await store2.close();
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("summary: a NOOP's sync after a summary start reads no row", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-sum-" });
  try {
    const { root } = await prepared(base);
    // Its \Recent messages taken (that reads the rows), then a clean close: as a restart
    // of a folder whose new/ is empty starts.
    const [first, firstStore] = await reopen(base, root);
    equal((await first.claimRecent()).length, 5);
    const past = new Date(Date.now() - 3_600_000);
    for (const sub of ["new", "cur"]) await Deno.utime(join(root, sub), past, past);
    await first.refresh(true);
    await firstStore.close();
    const [folder, store] = await reopen(base, root);
    ok(folder.rowsDeferred, "a summary start");
    const view = new MailboxView(store, folder, "INBOX", false);
    await view.open([]);
    // NOOP (RFC 3501 §6.1.2): a forced sync with nothing changed reports nothing.
    const sync = { expunge: true, force: true, rev1: true, flags: () => "" };
    equal(await view.sync(sync), "");
    ok(folder.rowsDeferred, "the rows stay in the index until a message is looked at");
    // A change by another session: its FETCH needs the message, and the rows are read.
    await folder.updateFlags([folder.uidSnapshot().uids[1]], () => "FS");
    ok((await view.sync(sync)).includes("* 2 FETCH"));
    ok(!folder.rowsDeferred);
    view.close();
    await store.close();
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("summary: a process that stops without closing after a change leaves it void", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-sum-" });
  try {
    const { root } = await prepared(base);
    const [folder, store] = await reopen(base, root);
    await folder.updateFlags([5], () => "FS");
    const rows = rowsOf(folder);
    // `store` is never closed (a crash): another process opens the folder meanwhile.
    let again: Folder | undefined, other: MailStore | undefined;
    const reads = await countListReads(async () => {
      [again, other] = await reopen(base, root);
    });
    ok(reads > 0, "no summary start: the UID list is read");
    deepStrictEqual(rowsOf(again!), rows);
    equal(again!.messages.get(5)!.flags, "FS");
    await other!.close();
    await store.close();
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("summary: not trusted when the UID list changed after it", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-sum-" });
  try {
    const { root, seen, rows } = await prepared(base);
    // Another process reserved a UID (as an import does): the list's identity changes.
    await Deno.writeTextFile(join(root, UIDLIST), `${seen.uidNext + 10} reserved.base\n`, {
      append: true,
    });
    let folder: Folder | undefined, store: MailStore | undefined;
    const reads = await countListReads(async () => {
      [folder, store] = await reopen(base, root);
    });
    ok(reads > 0, "the UID list is read");
    equal(folder!.uidNext, seen.uidNext + 11);
    deepStrictEqual(rowsOf(folder!), rows);
    await store!.close();
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("summary: an index changed by a version that keeps none is read row by row", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-sum-" });
  try {
    const { root, seen } = await prepared(base);
    // What an older version does to the index: flags of message 3 changed (\Seen) with a
    // new HIGHESTMODSEQ, the summary table (unknown to it) left as it was.
    const db = new DatabaseSync(join(root, INDEX_FILE));
    db.prepare("UPDATE msg SET flags = 'S', modseq = ? WHERE uid = 3").run(seen.highestModseq + 1);
    db.prepare("UPDATE meta SET v = ? WHERE k = 'highestmodseq'").run(seen.highestModseq + 1);
    db.close();
    const [folder, store] = await reopen(base, root);
    equal(folder.unseenCount, seen.unseen - 1);
    equal(folder.firstUnseenUid(), 5);
    equal(folder.highestModseq, seen.highestModseq + 1);
    await store.close();
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("summary: a damaged summary is ignored", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-sum-" });
  try {
    const { root, seen, rows } = await prepared(base);
    const db = new DatabaseSync(join(root, INDEX_FILE));
    db.prepare("UPDATE summary SET v = ?").run(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    db.close();
    const [folder, store] = await reopen(base, root);
    deepStrictEqual(counters(folder), seen);
    deepStrictEqual(rowsOf(folder), rows);
    await store.close();
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("summary: an index of the previous version (no summary table) is read row by row", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-sum-" });
  try {
    const { root, seen, rows } = await prepared(base);
    const db = new DatabaseSync(join(root, INDEX_FILE));
    db.exec("DROP TABLE summary");
    db.close();
    let folder: Folder | undefined, store: MailStore | undefined;
    const reads = await countListReads(async () => {
      [folder, store] = await reopen(base, root);
    });
    ok(reads > 0, "the UID list is read: no summary to start from");
    deepStrictEqual(counters(folder!), seen);
    deepStrictEqual(rowsOf(folder!), rows);
    // Closed by this version: the next start has a summary again.
    await store!.close();
    let again: Folder | undefined, store2: MailStore | undefined;
    const reads2 = await countListReads(async () => {
      [again, store2] = await reopen(base, root);
    });
    equal(reads2, 0);
    deepStrictEqual(rowsOf(again!), rows);
    await store2!.close();
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("summary: encoding round trip; truncated bytes are refused", () => {
  const uids = new Uint32Array(70_000);
  for (let i = 0; i < uids.length; i++) {
    uids[i] = 3 * i + 1 + (i > 500 ? 4_000_000_000 - 300_000 : 0);
  }
  const s = {
    gen: 12345,
    uidValidity: 1700000000,
    uidNext: 4_000_000_000,
    modseqCeiling: 5000,
    highestModseq: 4321,
    newDir: { mtime: 1, checkedAt: 2 },
    curDir: { mtime: 3, checkedAt: 4 },
    list: { ino: 77, size: 1234, mtime: 5 },
    unseen: 10,
    deleted: 2,
    bytes: 99,
    firstUnseen: 4,
    uids,
    count: 60_000,
    inNew: new Uint32Array([7, 10, 13]),
    flags: { sets: ["", "S", "FSa"], ids: new Uint16Array(60_000).map((_, i) => i % 3) },
  };
  const bytes = encodeSummary(s);
  // Stored in SQLite and read back at any byte offset.
  const shifted = new Uint8Array(bytes.length + 1).subarray(1);
  shifted.set(bytes);
  const back = decodeSummary(shifted)!;
  equal(back.count, 60_000);
  deepStrictEqual([...arrayOf(back.uids).subarray(0, back.count)], [...uids.subarray(0, 60_000)]);
  deepStrictEqual([...back.inNew], [7, 10, 13]);
  deepStrictEqual(back.list, s.list);
  equal(back.firstUnseen, 4);
  equal(back.gen, 12345);
  deepStrictEqual(back.flags.sets, ["", "S", "FSa"]);
  deepStrictEqual([...back.flags.ids], [...s.flags.ids]);
  equal(decodeSummary(bytes.subarray(0, bytes.length - 4)), null);
  // Aligned, the arrays are views on the bytes (no copy): the same values.
  const aligned = decodeSummary(bytes)!;
  deepStrictEqual([...arrayOf(aligned.uids).subarray(0, aligned.count)], [
    ...uids.subarray(0, 60_000),
  ]);
  deepStrictEqual([...aligned.flags.ids], [...s.flags.ids]);
  deepStrictEqual([...aligned.inNew], [7, 10, 13]);
});

Deno.test("summary: runs of consecutive UIDs and one-byte flag ids, both ways", () => {
  const base = {
    gen: 7,
    uidValidity: 1700000000,
    uidNext: 200_001,
    modseqCeiling: 50,
    highestModseq: 40,
    newDir: { mtime: 1, checkedAt: 2 },
    curDir: { mtime: 3, checkedAt: 4 },
    list: { ino: 77, size: 1234, mtime: 5 },
    unseen: 1,
    deleted: 0,
    bytes: 9,
    firstUnseen: 2,
    inNew: new Uint32Array([99_999]),
  };
  // 100,000 UIDs in three runs (two gaps left by expunges), two letter sets: the form a
  // folder that only received mail has.
  const uids = new Uint32Array(100_000).map((_, i) =>
    i + 1 + (i >= 500 ? 3 : 0) + (i >= 900 ? 1 : 0)
  );
  const ids = new Uint16Array(100_000).map((_, i) => i % 10 === 0 ? 1 : 0);
  const small = encodeSummary({
    ...base,
    uids,
    count: uids.length,
    flags: { sets: ["", "S"], ids },
  });
  ok(small.length < 101_000, `${small.length} bytes`);
  const back = decodeSummary(small)!;
  deepStrictEqual([...arrayOf(back.uids).subarray(0, back.count)], [...uids]);
  deepStrictEqual([...back.flags.ids], [...ids]);
  deepStrictEqual([...back.inNew], [99_999]);
  // More than 256 letter sets: two bytes each; UIDs that form no runs: as they are.
  const sparse = new Uint32Array(1000).map((_, i) => 2 * i + 1);
  const sets = Array.from({ length: 300 }, (_, i) => `S${String.fromCharCode(97 + i % 26)}${i}`);
  const wide = new Uint16Array(1000).map((_, i) => i % 300);
  const bytes = encodeSummary({ ...base, uids: sparse, count: 1000, flags: { sets, ids: wide } });
  const again = decodeSummary(bytes)!;
  deepStrictEqual([...arrayOf(again.uids).subarray(0, again.count)], [...sparse]);
  deepStrictEqual([...again.flags.ids], [...wide]);
  // A count the bytes do not hold is refused.
  const dv = new DataView(small.buffer, small.byteOffset);
  dv.setUint32(8, 99_999, true);
  equal(decodeSummary(small), null);
});
