/**
 * A restart's UIDs as the summary's runs (src/store/folder/uid_runs.ts): the lookups
 * by position and by UID agree with an array of them; a restart's SELECT, NOOP and
 * SEARCH UNSEEN make no array of the UIDs; a session holding the runs reports an
 * expunge, a new message and another session's flag change with the right numbers,
 * whether the rows were read meanwhile or not; what a restart shows after EXPUNGE,
 * APPEND and a flag change is what the folder showed before it closed.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { MailStore } from "../src/store/mailstore.ts";
import type { Folder } from "../src/store/folder/folder.ts";
import { lowerBound } from "../src/store/folder/table_positions.ts";
import { UidRuns } from "../src/store/folder/uid_runs.ts";
import { MailboxView, type SyncOptions } from "../src/imap/view.ts";

const enc = new TextEncoder();
const SYNC: SyncOptions = { expunge: true, force: true, rev1: true, flags: (_, m) => m.flags };

Deno.test("uid runs: lookups agree with the array; damaged runs are refused", () => {
  const pairs = new Uint32Array([3, 4, 10, 1, 12, 5, 4_000_000_000, 2]);
  const runs = UidRuns.of(pairs, 12)!;
  const uids = [3, 4, 5, 6, 10, 12, 13, 14, 15, 16, 4_000_000_000, 4_000_000_001];
  for (let i = 0; i < uids.length; i++) equal(runs.uidAt(i), uids[i]);
  const arr = Uint32Array.from(uids);
  for (const n of [0, 1, 5, 12]) {
    for (const v of [0, 1, 3, 6, 7, 9, 10, 11, 12, 16, 17, 3_999_999_999, 4_000_000_001, 5e9]) {
      equal(runs.lowerBound(n, v), lowerBound(arr, n, v), `lowerBound(${n}, ${v})`);
    }
  }
  ok(runs.sameAs(arr, 12));
  ok(!runs.sameAs(Uint32Array.from([...uids.slice(0, 11), 4_000_000_002]), 12));
  ok(!runs.sameAs(arr, 11));
  ok(!runs.filled);
  deepStrictEqual([...runs.array()], uids);
  ok(runs.filled);
  // Lengths that do not add up, an empty run, an odd number of words: not runs.
  equal(UidRuns.of(pairs, 13), null);
  equal(UidRuns.of(new Uint32Array([1, 0, 5, 2]), 2), null);
  equal(UidRuns.of(new Uint32Array([1, 2, 5]), 2), null);
  // Adopted: an array known to hold the same UIDs is taken as it is.
  const other = UidRuns.of(pairs, 12)!, same = Uint32Array.from(uids);
  other.adopt(same);
  equal(other.array(), same);
});

/**
 * A folder of 40 messages, 3 of them expunged (so its UIDs are 3 runs), some \Seen, its
 * \Recent taken, closed cleanly: a restart starts from its summary.
 */
async function prepared(base: string): Promise<string> {
  const store = new MailStore(base, 0);
  const root = store.userRoot({ name: "ann", domain: "example.com", dir: "" });
  await store.ensureMailbox(root);
  for (let i = 0; i < 40; i++) {
    await store.deliver([{ root }], enc.encode(`Subject: m${i}\r\n\r\nbody ${i}\r\n`));
  }
  const f = (await store.openFolder(root, "INBOX"))!;
  await f.claimRecent();
  await f.expunge([5, 6, 20]);
  await f.updateFlags([1, 2, 3, 4, 7, 30], () => "S");
  await age(root, f);
  await store.close();
  return root;
}

/** Directories older than their marks, so a start trusts them (no scan). */
async function age(root: string, f: Folder): Promise<void> {
  const past = new Date(Date.now() - 3_600_000);
  for (const sub of ["new", "cur"]) await Deno.utime(join(root, sub), past, past);
  await f.refresh(true);
}

const EXPECTED = [1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
  .concat(Array.from({ length: 20 }, (_, i) => 21 + i));

async function reopen(base: string, root: string): Promise<[Folder, MailStore, MailboxView]> {
  const store = new MailStore(base, 0);
  const folder = (await store.openFolder(root, "INBOX"))!;
  const view = new MailboxView(store, folder, "INBOX", false);
  await view.open([]);
  return [folder, store, view];
}

const runsOf = (f: Folder) => f.lazyUidSnapshot().uids;

Deno.test("uid runs: a restart's SELECT, NOOP and SEARCH UNSEEN make no array of the UIDs", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-runs-" });
  try {
    const root = await prepared(base);
    const [folder, store, view] = await reopen(base, root);
    const runs = runsOf(folder);
    ok(runs instanceof UidRuns && !runs.filled, "the summary's runs");
    // SELECT: EXISTS, UNSEEN (the first unseen's number), UIDNEXT; then NOOP.
    equal(view.exists, 37);
    equal(view.lastUid, 40);
    equal(view.seqOf(folder.firstUnseenUid()), 6); // UID 8
    equal(view.seqOf(6), 0); // expunged before the restart
    equal(folder.uidNext, 41);
    equal(await view.sync(SYNC), "");
    // SEARCH UNSEEN answers by position, from the summary's flag column.
    const unseen = view.flagRuns(view.exists, "S", false).positions();
    const seen = [1, 2, 3, 4, 7, 30];
    deepStrictEqual(unseen, [...EXPECTED.keys()].filter((i) => !seen.includes(EXPECTED[i])));
    equal(view.flagsAt(4), "S");
    ok(view.present(36));
    ok(!runs.filled, "no array made");
    ok(folder.rowsDeferred, "no row read");
    // A command that needs the UIDs one by one (UID SEARCH, FETCH) gets them; made by
    // the view, they are still the table's current snapshot (read by position: no row).
    deepStrictEqual([...view.uids], EXPECTED);
    ok(runs.filled);
    ok(view.present(36));
    equal(view.flagsAt(4), "S");
    ok(folder.rowsDeferred, "still no row read");
    view.close();
    await store.close();
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

for (const rowsFirst of [false, true]) {
  const how = rowsFirst ? "rows read first" : "rows not read";
  Deno.test(`uid runs: a session holding them reports expunges, new mail, flags (${how})`, async () => {
    const base = await Deno.makeTempDir({ prefix: "extremail-runs-" });
    try {
      const root = await prepared(base);
      const [folder, store, view] = await reopen(base, root);
      ok(runsOf(folder) instanceof UidRuns);
      if (rowsFirst) {
        // A FETCH of a message reads the rows: the runs take the rows' UIDs as theirs.
        equal(view.entryAt(5)?.uid, 8);
        ok(!folder.rowsDeferred);
      }
      // Another session: flags of UID 9 (number 7), expunge of UID 10 (number 8).
      await folder.updateFlags([9], () => "FS");
      let out = await view.sync(SYNC);
      ok(out.includes("* 7 FETCH (UID 9 FLAGS (FS))"), out);
      await folder.expunge([10]);
      out = await view.sync(SYNC);
      equal(out, "* 8 EXPUNGE\r\n");
      const left = EXPECTED.filter((u) => u !== 10);
      deepStrictEqual([...view.uids], left);
      // New mail.
      await store.deliver([{ root }], enc.encode("Subject: late\r\n\r\nbody\r\n"));
      out = await view.sync(SYNC);
      ok(out.includes("* 37 EXISTS"), out);
      deepStrictEqual([...view.uids], [...left, 41]);
      equal(view.seqOf(41), 37);
      equal(view.entryAt(36)?.uid, 41);
      // A restart after all that shows the same.
      const seen = { uids: [...view.uids], next: folder.uidNext, validity: folder.uidValidity };
      const highest = folder.highestModseq, unseen = folder.unseenCount;
      view.close();
      await age(root, folder);
      await store.close();
      const [again, store2, view2] = await reopen(base, root);
      ok(again.rowsDeferred, "a summary start");
      equal(view2.exists, 37);
      equal(view2.lastUid, 41);
      equal(again.uidNext, seen.next);
      equal(again.uidValidity, seen.validity);
      equal(again.highestModseq, highest);
      equal(again.unseenCount, unseen);
      equal(view2.flagsAt(6), "FS");
      deepStrictEqual([...view2.uids], seen.uids);
      view2.close();
      await store2.close();
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  });
}

Deno.test("uid runs: a restart that never needed them writes them again as they were", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-runs-" });
  try {
    const root = await prepared(base);
    for (let k = 0; k < 2; k++) {
      const [folder, store, view] = await reopen(base, root);
      const runs = runsOf(folder);
      ok(runs instanceof UidRuns && !runs.filled, `start ${k}: runs`);
      view.close();
      await store.close();
    }
    const [folder, store, view] = await reopen(base, root);
    deepStrictEqual([...view.uids], EXPECTED);
    equal(folder.uidNext, 41);
    view.close();
    await store.close();
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
