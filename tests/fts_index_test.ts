/**
 * The full-text index kept for a folder (src/store/fts/fts.ts with its worker): built on
 * first lookup in the background (a query waits for the first batch, no more), messages
 * it does not hold yet left to scanning, the worker started ahead and kept, new
 * messages and expunges caught up, kept across a restart, made again when its file is
 * gone or damaged. Then through the daemon: SEARCH BODY/TEXT answers from the index
 * equal the scanning answers, after EXPUNGE, after a restart and after a crash.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { MailStore } from "../src/store/mailstore.ts";
import type { Folder } from "../src/store/folder/folder.ts";
import { FullTextIndex } from "../src/store/fts/fts.ts";
import { FTS_FILE, indexedUids as readIndexed } from "../src/store/fts/db.ts";
import { FtsWorker, ftsWorkerModule } from "../src/store/fts/worker_client.ts";
import { DocsTable } from "../src/store/fts/docs_table.ts";
import { ImapClient, message, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";

const USER = "fts@example.com", PASS = "fts-secret";

function body(i: number): string {
  return i % 3 === 0
    ? `Line one\r\nthe Needle-${i} in a haystack, Grüße\r\n`
    : `plain text ${i}\r\n`;
}

/** Per UID: what the index decides for BODY "needle" (undefined: the message is scanned). */
async function decisions(
  fullText: FullTextIndex,
  folder: Folder,
): Promise<(boolean | undefined)[]> {
  const a = await fullText.lookup(folder, "BODY", "needle");
  ok(a, "the index answers a needle of 6 characters");
  return [...folder.messages.keys()].map((uid) => a.decide(uid));
}

function indexedUids(folderPath: string): number[] {
  return [...readIndexed(join(folderPath, FTS_FILE))];
}

Deno.test("fts: built in the background, caught up, kept across restarts, rebuilt", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fts-store-" });
  let fullText = new FullTextIndex();
  let store = new MailStore(dir, 0, { fullText });
  try {
    const root = join(dir, "u");
    await store.ensureMailbox(root);
    for (let i = 1; i <= 30; i++) {
      await store.append(root, "INBOX", message({ body: body(i) }));
    }
    let folder = (await store.openFolder(root, "INBOX"))!;
    const expected = [...folder.messages.keys()].map((uid) => uid % 3 === 0);
    // First lookup: the catch-up's first batch (all 30 messages) is queried, nothing scanned.
    deepStrictEqual(await decisions(fullText, folder), expected);
    equal(fullText.stats.messages, 30);

    // A delivery, caught up, is in the next answer. (Not asserted without the catch-up: a
    // query waits for a batch only when the catch-up it starts has one, which depends on
    // when the folder sees the new file; the suite once met the other order.)
    const { uid } = await store.append(root, "INBOX", message({ body: "a needle" }));
    await fullText.settle(folder);
    const a = await fullText.lookup(folder, "BODY", "needle");
    equal(a!.decide(uid), true);
    // Asked again with nothing indexed since: the same answer, no query.
    equal(await fullText.lookup(folder, "BODY", "needle"), a);
    // Another delivery: a batch indexed since the last query, so it is asked again.
    const late = await store.append(root, "INBOX", message({ body: "another needle" }));
    await fullText.settle(folder);
    const b = await fullText.lookup(folder, "BODY", "needle");
    ok(b !== a, "a batch indexed since: asked again");
    equal(b!.decide(late.uid), true);

    // Expunged messages leave the index.
    await folder.expunge([3, 4, uid, late.uid]);
    store.notify(folder.path);
    await fullText.settle(folder);
    const left = [...folder.messages.keys()];
    deepStrictEqual(indexedUids(folder.path), left);

    // A restart reads which messages are indexed and indexes nothing again.
    await store.close();
    fullText = new FullTextIndex();
    store = new MailStore(dir, 0, { fullText });
    folder = (await store.openFolder(root, "INBOX"))!;
    deepStrictEqual(await decisions(fullText, folder), left.map((u) => u % 3 === 0));
    await fullText.settle(folder);
    equal(fullText.stats.messages, 0);

    // A damaged file is made again, its messages indexed again (here in the first batch).
    await store.close();
    for (const s of ["-wal", "-shm"]) {
      await Deno.remove(join(folder.path, FTS_FILE + s)).catch(() => {});
    }
    await Deno.writeTextFile(join(folder.path, FTS_FILE), "garbage ".repeat(1000));
    fullText = new FullTextIndex();
    store = new MailStore(dir, 0, { fullText });
    folder = (await store.openFolder(root, "INBOX"))!;
    deepStrictEqual(await decisions(fullText, folder), left.map((u) => u % 3 === 0));
    equal(fullText.stats.messages, left.length);
    await fullText.settle(folder);
    deepStrictEqual(await decisions(fullText, folder), left.map((u) => u % 3 === 0));

    // The file replaced while open (a folder deleted and made again under the same name):
    // what this process knew of the old one is not used for the new one.
    for (const s of ["", "-wal", "-shm"]) {
      await Deno.remove(join(folder.path, FTS_FILE + s)).catch(() => {});
    }
    // (An answer remembered from before stays true: same UIDVALIDITY, same messages; the
    // next query the worker answers from the other file finds out.)
    equal(await fullText.lookup(folder, "BODY", "haystack"), null);
    deepStrictEqual(await decisions(fullText, folder), left.map((u) => u % 3 === 0));
    equal(fullText.stats.messages, 2 * left.length, "indexed again into the new file");
    await fullText.settle(folder);
    deepStrictEqual(await decisions(fullText, folder), left.map((u) => u % 3 === 0));
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fts: a query waits for the catch-up's first batch, not the rest (scanned)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fts-batch-" });
  const fullText = new FullTextIndex();
  const store = new MailStore(dir, 0, { fullText });
  try {
    const root = join(dir, "u");
    await store.ensureMailbox(root);
    // A batch is 128 messages or 2 MiB: two of these fill the first one.
    const line = "x".repeat(76) + "\r\n";
    const big = line.repeat(Math.ceil(1.1 * 1048576 / line.length));
    for (let i = 1; i <= 3; i++) {
      await store.append(root, "INBOX", message({ body: `${big}needle ${i}\r\n` }));
    }
    const folder = (await store.openFolder(root, "INBOX"))!;
    deepStrictEqual(await decisions(fullText, folder), [true, true, undefined]);
    await fullText.settle(folder);
    deepStrictEqual(await decisions(fullText, folder), [true, true, true]);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fts: the worker started ahead serves the first request; idle, it closes its files and stays", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fts-prestart-" });
  const worker = new FtsWorker(ftsWorkerModule, 20);
  const path = join(dir, FTS_FILE);
  /** Descriptors of this process (the worker is a thread of it) open on the index file. */
  const openOnIndex = () =>
    [...Deno.readDirSync("/proc/self/fd")].filter((e) => {
      try {
        return Deno.readLinkSync(`/proc/self/fd/${e.name}`).startsWith(path);
      } catch {
        return false;
      }
    }).length;
  try {
    ok(worker.prestart());
    const thread = worker.running;
    ok(thread);
    await worker.call({ op: "docs", path, uidValidity: 7 });
    equal(worker.running, thread, "the thread started ahead answered");
    ok(openOnIndex() > 0, "the index file is open");
    for (let i = 0; i < 300 && openOnIndex() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    equal(openOnIndex(), 0, "idle: the index file closed");
    equal(worker.running, thread, "the thread kept");
  } finally {
    await worker.close();
    await Deno.remove(dir, { recursive: true });
  }
  equal(worker.running, null, "close() ends it");
});

/** Thread ids of the daemon's worker threads (Deno names them "worker-<n>"). */
function workerThreads(pid: number): string[] {
  return [...Deno.readDirSync(`/proc/${pid}/task`)].filter((t) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/comm`).startsWith("worker-");
    } catch {
      return false; // ended meanwhile
    }
  }).map((t) => t.name);
}

Deno.test("fts: the daemon starts the index worker before any session; the first SEARCH BODY uses it", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  for (let i = 1; i <= 6; i++) {
    await seed.store.append(root, "INBOX", message({ body: body(i) }));
  }
  await seed.store.close();
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    const atStart = workerThreads(srv.pid());
    // The full-text index's, the big directories' verification's (store/mailstore.ts),
    // POP3's second event loop (pop3/loop.ts) and the delivery file pool's
    // (store/file_pool.ts).
    equal(atStart.length, 4, "four worker threads before any session");
    const c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    await c.cmd("SELECT INBOX");
    deepStrictEqual(uidsOf((await c.cmd('UID SEARCH BODY "needle"')).lines), [3, 6]);
    deepStrictEqual(workerThreads(srv.pid()), atStart, "the SEARCH started no thread");
    c.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});

/** The UIDs of an untagged SEARCH reply. */
function uidsOf(lines: string[]): number[] {
  const line = lines.find((l) => l.startsWith("* SEARCH")) ?? "";
  return line.split(" ").slice(2).map(Number);
}

Deno.test("fts: SEARCH BODY/TEXT through the daemon, before and after the index, restart, crash", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  for (let i = 1; i <= 40; i++) {
    const subject = i % 4 === 0 ? "Quarterly Résumé" : `note ${i}`;
    await seed.store.append(root, "INBOX", message({ subject, body: body(i) }));
  }
  await seed.store.close();
  const srv = await startTestServer({ dirBase: seed.dirBase });
  const inbox = join(root, FTS_FILE);
  const searches: [string, number[]][] = [
    ['UID SEARCH BODY "needle"', range(40).filter((i) => i % 3 === 0)],
    ['UID SEARCH BODY "NEEDLE-12 IN"', [12]],
    ['UID SEARCH TEXT "résumé subject"', []],
    ['UID SEARCH TEXT "quarterly résumé"', range(40).filter((i) => i % 4 === 0)],
    ['UID SEARCH CHARSET UTF-8 BODY "grüße"', range(40).filter((i) => i % 3 === 0)],
    ['UID SEARCH NOT BODY "plain text"', range(40).filter((i) => i % 3 === 0)],
    ['UID SEARCH BODY "needle" BODY "haystack" UID 1:20', [3, 6, 9, 12, 15, 18]],
  ];
  const check = async (c: ImapClient, label: string) => {
    for (const [command, want] of searches) {
      deepStrictEqual(uidsOf((await c.cmd(command)).lines), want, `${label}: ${command}`);
    }
  };
  try {
    let c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    await c.cmd("SELECT INBOX");
    await check(c, "first search (scanning)");
    await until(() => indexedUids(root).length === 40);
    await check(c, "indexed");
    // Messages present but not yet indexed are still found.
    await c.cmd("STORE 1:6 +FLAGS (\\Deleted)");
    await c.cmd("EXPUNGE");
    const appended = new TextDecoder().decode(message({ body: "late needle arrives" }));
    await c.cmd(`APPEND INBOX {${appended.length}+}\r\n${appended}`);
    searches.forEach((s) => s[1] = s[1].filter((u) => u > 6));
    searches[0][1].push(41);
    searches[5][1].push(41);
    await check(c, "after EXPUNGE and APPEND");
    await until(() => indexedUids(root).length === 35 && indexedUids(root).includes(41));
    c.close();
    await srv.stop();
    await srv.restart();
    c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    await c.cmd("SELECT INBOX");
    await check(c, "after a restart");
    // A crash: the index's last state stays consistent; what it lacks is scanned.
    await srv.kill();
    const db = new DatabaseSync(inbox);
    const docs = new DocsTable(db);
    db.exec("BEGIN");
    for (let uid = 31; uid <= 41; uid++) docs.markIndexed(uid, false);
    docs.flush();
    db.exec("DELETE FROM fts WHERE rowid > 30; COMMIT");
    db.close();
    await srv.restart();
    c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    await c.cmd("SELECT INBOX");
    await check(c, "after a crash, partly indexed");
    await until(() => indexedUids(root).length === 35);
    await check(c, "caught up again");
    c.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (cond()) return;
    } catch { /* the file is not there yet */ }
    if (Date.now() > end) throw new Error("timed out waiting for the index");
    await new Promise((r) => setTimeout(r, 50));
  }
}
