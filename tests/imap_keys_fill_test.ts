/**
 * The key fill through the reader workers by UID (keys_files.ts: a run's batches found by
 * binary search, each batch's entries made when it is sent) and the subject column read
 * from the index a page at a time (sort_index.ts, subject_column.ts SubjectColumnBuilder):
 * what issue 17's change of their memory must keep. imap_keys_test.ts has the rest.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { MailStore } from "../src/store/mailstore.ts";
import { fileNameFor, newBaseName } from "../src/store/maildir_names.ts";
import { indexKeysText, KEYS_VERSION } from "../src/imap/message_keys.ts";
import { FolderKeys } from "../src/imap/sort_index.ts";
import { SubjectColumn } from "../src/imap/subject_column.ts";
import { fold } from "../src/message/search_fold.ts";

const enc = new TextEncoder();

/** Message i of a test folder: its Subject names it ("S17E" folded). */
const mail = (i: number) =>
  enc.encode(
    `From: Ann <ann@example.org>\r\nSubject: s${i}e\r\nMessage-ID: <m${i}@x>\r\n` +
      `Date: Tue, 2 Jan 2024 10:00:00 +0000\r\n\r\n${"x".repeat(20 + (i % 50))}\r\n`,
  );

/** A store with `n` messages dropped into INBOX by other software (no keys stored). */
async function withFolder(
  n: number,
  fn: (store: MailStore, root: string) => Promise<void>,
): Promise<void> {
  const base = await Deno.makeTempDir({ prefix: "extremail-keysfill-" });
  const store = new MailStore(base, 0, { messageKeys: indexKeysText });
  try {
    const root = store.userRoot({ name: "ann", domain: "example.com", dir: "" });
    await store.ensureMailbox(root);
    for (let i = 0; i < n; i++) {
      const b = newBaseName(100 + i);
      await Deno.writeFile(join(root, "cur", fileNameFor(b, "S")), mail(i));
    }
    await fn(store, root);
  } finally {
    await store.close();
    await Deno.remove(base, { recursive: true });
  }
}

/** The Subject a test message's file holds, folded as the keys hold it ("S17E"). */
function subjectIn(path: string): string {
  const m = new TextDecoder().decode(Deno.readFileSync(path)).match(/Subject: (s\d+e)/);
  return m![1].toUpperCase();
}

/** Counts file reads on this thread (the reader workers' do not show here). */
async function countingReads<T>(fn: () => Promise<T>): Promise<{ value: T; reads: number }> {
  const orig = Deno.readFile, origOpen = Deno.open;
  let reads = 0;
  Deno.readFile = (path, opts) => (reads++, orig(path, opts));
  Deno.open = (path, opts) => (reads++, origOpen(path, opts));
  try {
    return { value: await fn(), reads };
  } finally {
    Deno.readFile = orig;
    Deno.open = origOpen;
  }
}

/** Positions asked during the warm-up: in the first, a middle and the last batch of 64. */
const ASKED = [3, 64 * 5 + 1, 699, 128];

Deno.test("key fill: waiters in several batches of a warm-up, keys kept on entries after load()", async () => {
  await withFolder(700, async (store, root) => {
    const folder = (await store.openFolder(root, "INBOX"))!;
    const entries = [...folder.messages.values()];
    const subjects = entries.map((e) => subjectIn(folder.filePath(e)));
    const keys = new FolderKeys(folder);
    await keys.load(); // nothing stored yet; from now on computed keys stay on the entries
    const { value: got, reads } = await countingReads(async () => {
      const warming = keys.warm();
      // Once the run is under way (the first batch's keys kept), messages of the first, a
      // middle and the last batch: each waits for its batch rather than reading its file.
      while (!folder.keysGet(entries[0].base)) await new Promise((r) => setTimeout(r, 1));
      const asked = await Promise.all(ASKED.map((i) => keys.get(entries[i])));
      await warming;
      return asked;
    });
    equal(reads, 0);
    deepStrictEqual(got.map((k) => k.subject), ASKED.map((i) => subjects[i]));
    // The worker's texts were decoded onto the (re-made) entries: no index lookup needed.
    for (const [i, e] of [...folder.messages.values()].entries()) {
      equal(keys.peek(e)?.subject, subjects[i]);
    }
    for (const e of entries) ok(folder.keysGet(e.base));
  });
});

Deno.test("key fill: SORT's getAll of many entries through the workers, in order", async () => {
  await withFolder(450, async (store, root) => {
    const folder = (await store.openFolder(root, "INBOX"))!;
    const entries = [...folder.messages.values()].reverse(); // not in UID order
    const subjects = entries.map((e) => subjectIn(folder.filePath(e)));
    const keys = new FolderKeys(folder);
    const { value: all, reads } = await countingReads(() => keys.getAll(entries));
    equal(reads, 0);
    deepStrictEqual(all.map((k) => k?.subject), subjects);
  });
});

Deno.test("key fill: a run that fails lets its waiters go (they read their files)", async () => {
  await withFolder(450, async (store, root) => {
    const folder = (await store.openFolder(root, "INBOX"))!;
    const entries = [...folder.messages.values()];
    const last = entries[entries.length - 1];
    const keys = new FolderKeys(folder);
    const asked: { keys?: Promise<{ subject: string }> } = {};
    // The first batch's end fails (as a failing index would): the run stops with batches
    // not read, one of which a command waits for.
    folder.writeKeys = () => {
      asked.keys ??= keys.get(last);
      throw new Error("index gone");
    };
    const failed = await keys.warm().then(() => null, (e: Error) => e.message);
    equal(failed, "index gone");
    ok(asked.keys);
    equal((await asked.keys).subject, subjectIn(folder.filePath(last)));
  });
});

Deno.test("subject column: read from the index a page at a time, same as one query", async () => {
  // More messages than one page of the column's query (COLUMN_PAGE, 2,000).
  const n = 2_100;
  await withFolder(n, async (store, root) => {
    const folder = (await store.openFolder(root, "INBOX"))!;
    const keys = new FolderKeys(folder);
    await keys.warm();
    let pages = 0;
    const keysField = folder.keysField.bind(folder);
    folder.keysField = (prefix, path, after, limit) => {
      pages++;
      return keysField(prefix, path, after, limit);
    };
    const column = keys.subjects()!;
    ok(pages >= 2, `${pages} pages`);
    const whole = SubjectColumn.fromRows(keysField(`[${KEYS_VERSION},`, "$[3]", 0, 1e9)!);
    equal(whole.count, n);
    equal(column.count, n);
    deepStrictEqual([...column.uids], [...whole.uids]);
    deepStrictEqual([...column.starts], [...whole.starts]);
    equal(column.text, whole.text);
    // Around the page boundary: each message's own subject, found at its own position.
    const entries = [...folder.messages.values()];
    for (const i of [0, 1999, 2000, 2001, n - 1]) {
      const hits = column.matches(fold(subjectIn(folder.filePath(entries[i]))))!;
      deepStrictEqual([...hits.keys()].filter((p) => hits[p] === 1), [i]);
      equal(column.uids[i], entries[i].uid);
    }
  });
});

Deno.test("key texts written in chunks: every one stored, a rewrite replaces", async () => {
  await withFolder(1, async (store, root) => {
    const folder = (await store.openFolder(root, "INBOX"))!;
    const n = 2 * 32 + 7; // two whole chunks (index_sql.ts ROWS_CHUNK) and one by one
    for (let i = 0; i < n; i++) folder.keysPut(`base-${i}`, `text ${i}`);
    folder.writeKeys();
    folder.keysPut("base-3", "text 3 again");
    folder.keysPut("base-70", "text 70 again");
    folder.writeKeys();
    for (let i = 0; i < n; i++) {
      equal(folder.keysGet(`base-${i}`), i === 3 || i === 70 ? `text ${i} again` : `text ${i}`);
    }
  });
});
