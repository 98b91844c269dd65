/**
 * The index's bulk writes, many rows per statement (index_sql.ts ROWS_CHUNK: node:sqlite's
 * `run()` leaves 64 bytes of old-space garbage per call): the same rows as one statement
 * per row, across a chunk's end; and a view's sync after more flag changes than the folder
 * remembers (modseq.ts RING), which compares every message by its mod-sequence column
 * without an entry each.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import type { SQLInputValue } from "node:sqlite";
import { FolderIndex } from "../src/store/folder/index_db.ts";
import { ROWS_CHUNK } from "../src/store/folder/index_sql.ts";
import { MailStore } from "../src/store/mailstore.ts";
import { newBaseName } from "../src/store/maildir_names.ts";
import { MailboxView, type SyncOptions } from "../src/imap/view.ts";

/** A message row as put() takes it. */
const row = (uid: number) => ({
  uid,
  base: `${1000 + uid}.M${uid}P1.host,S=${uid}`,
  sub: (uid % 3 ? "cur" : "new") as "cur" | "new",
  name: uid % 7 ? null : `odd-${uid}`,
  flags: uid % 2 ? "S" : "",
  size: uid,
  internalDate: uid % 5 ? null : uid * 1000,
  modseq: uid + 1,
});

Deno.test("index: putMany and setFlagsMany write what put and setFlags write", () => {
  const dirs = [Deno.makeTempDirSync(), Deno.makeTempDirSync()];
  try {
    const [one, many] = dirs.map((d) => FolderIndex.open(d).index);
    // Two full chunks and a part: both statements of each path run.
    const n = 2 * ROWS_CHUNK + 5;
    const rows = Array.from({ length: n }, (_, k) => row(k + 1));
    one.tx(() => rows.forEach((r) => one.put(r)));
    many.tx(() =>
      many.putMany(n, (k, p: SQLInputValue[], at) => {
        const r = rows[k];
        p.splice(at, 8, r.uid, r.base, r.sub === "cur" ? 1 : 0, r.name, r.flags, r.size);
        p[at + 6] = r.internalDate;
        p[at + 7] = r.modseq;
      })
    );
    const all = (ix: FolderIndex) => ix.rowsAfter(0, 1000);
    equal(all(many).length, n);
    deepStrictEqual(all(many), all(one));
    // Flags of every other message, and of a UID not in the folder (no row made for it).
    const changed = rows.filter((r) => r.uid % 2 === 0).map((r) => r.uid).concat([9999]);
    one.tx(() => changed.forEach((u) => one.setFlags(u, "cur", null, "FS", 500 + u)));
    many.tx(() =>
      many.setFlagsMany(changed.length, (k, p, at) => {
        const u = changed[k];
        [p[at], p[at + 1], p[at + 2], p[at + 3], p[at + 4]] = [1, null, "FS", 500 + u, u];
      })
    );
    equal(all(many).length, n);
    deepStrictEqual(all(many), all(one));
    const second = all(many)[1];
    deepStrictEqual([second[2], second[3], second[4], second[7]], [1, null, "FS", 502]);
    one.close();
    many.close();
  } finally {
    for (const d of dirs) Deno.removeSync(d, { recursive: true });
  }
});

const SYNC: SyncOptions = { expunge: true, rev1: false, flags: (_, m) => m.flags, force: true };

Deno.test("view: a sync after more changes than remembered reports others' changes only", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-bulk-" });
  const store = new MailStore(base, 0);
  try {
    const root = store.userRoot({ name: "ann", domain: "example.com", dir: "" });
    await store.ensureMailbox(root);
    // More than the 8,192 changes modseq.ts remembers (RING).
    const count = 8400;
    const data = new TextEncoder().encode("Subject: x\r\n\r\nbody\r\n");
    for (let i = 0; i < count; i += 400) {
      await Promise.all(Array.from({ length: 400 }, async () => {
        const name = `${newBaseName(data.length)}:2,`;
        await Deno.writeFile(join(root, "cur", name), data);
      }));
    }
    const folder = (await store.openFolder(root, "INBOX"))!;
    await folder.refresh();
    const mine = new MailboxView(store, folder, "INBOX", false);
    const theirs = new MailboxView(store, folder, "INBOX", false);
    await mine.open([]);
    await theirs.open([]);
    equal(mine.exists, count);
    // "mine" flags every message (as STORE does, noting its own changes), then one more
    // is changed by someone else.
    const uids = [...mine.uids];
    for (let i = 0; i < count; i += 256) {
      const r = await folder.updateFlags(uids.slice(i, i + 256), () => "F");
      for (const e of r.changed) mine.noteFlags(e.uid, e.modseq);
    }
    equal(folder.changedSince(0), null, "more changes than remembered");
    await folder.updateFlags([uids[10]], () => "FS");
    const own = await mine.sync(SYNC);
    deepStrictEqual(own.trim().split("\r\n"), [`* 11 FETCH (UID ${uids[10]} FLAGS (FS))`]);
    const other = (await theirs.sync(SYNC)).trim().split("\r\n");
    equal(other.length, count);
    equal(other[0], `* 1 FETCH (UID ${uids[0]} FLAGS (F))`);
    equal(other[10], `* 11 FETCH (UID ${uids[10]} FLAGS (FS))`);
    ok(other.every((l, i) => l.startsWith(`* ${i + 1} FETCH (UID ${uids[i]} FLAGS (F`)));
    // Nothing left to report.
    equal(await theirs.sync(SYNC), "");
  } finally {
    await store.close();
    await Deno.remove(base, { recursive: true });
  }
});
