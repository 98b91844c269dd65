import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { MailStore, SPECIAL_FOLDERS } from "../src/store/mailstore.ts";
import { Folder } from "../src/store/folder/folder.ts";
import { decodeMutf7, encodeMutf7 } from "../src/store/mutf7.ts";
import { dirToFolder, folderToDir, parseFileName } from "../src/store/maildir_names.ts";
import { SYNC_WRITE_LIMIT, syncDir, writeNewFileDurable } from "../src/store/fsutil.ts";

const enc = new TextEncoder();
const msg = (n: number) => enc.encode(`Subject: m${n}\r\n\r\nbody ${n}\r\n.dot line\r\n`);

async function withStore(fn: (store: MailStore, root: string) => Promise<void>) {
  const base = await Deno.makeTempDir({ prefix: "extremail-md-" });
  try {
    const store = new MailStore(base, 2);
    const root = store.userRoot({ name: "Joe", domain: "example.com", dir: "" });
    await store.ensureMailbox(root);
    await fn(store, root);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

Deno.test("mailbox location follows SPEC §5 hashing, DIR stays inside DirBase", () => {
  const store = new MailStore("/srv/mail", 2);
  const md5 = createHash("md5").update("joe").digest("hex");
  assertEquals(
    store.userRoot({ name: "Joe", domain: "Example.com", dir: "" }),
    `/srv/mail/domains/example.com/${md5.slice(0, 2)}/${md5.slice(2, 4)}/joe`,
  );
  assertEquals(
    new MailStore("/srv/mail", 0).userRoot({ name: "a", domain: "b.c", dir: "" }),
    "/srv/mail/domains/b.c/a",
  );
  assertEquals(store.userRoot({ name: "a", domain: "b.c", dir: "x/y" }), "/srv/mail/x/y");
});

Deno.test("modified UTF-7 round trip and folder directory names", () => {
  for (const s of ["Entwürfe", "日本語", "a&b", "plain", "Ünï/cödé"]) {
    assertEquals(decodeMutf7(encodeMutf7(s)), s);
  }
  assertEquals(encodeMutf7("Entwürfe"), "Entw&APw-rfe");
  assertEquals(folderToDir("INBOX"), "");
  assertEquals(folderToDir("Work/2024"), ".Work.2024");
  assertEquals(folderToDir("v1.2"), ".v1&AC4-2");
  assertEquals(dirToFolder(".v1&AC4-2"), "v1.2");
  assertEquals(dirToFolder(".Work.2024"), "Work/2024");
  for (const bad of ["a//b", "/x", "a\nb"]) {
    let threw = false;
    try {
      folderToDir(bad);
    } catch {
      threw = true;
    }
    assert(threw, bad);
  }
});

Deno.test("new mailboxes have the special-use folders", async () => {
  await withStore(async (store, root) => {
    assertEquals(await store.listFolders(root), ["INBOX", ...[...SPECIAL_FOLDERS].sort()]);
  });
});

Deno.test("delivery is byte-exact, UIDs are assigned once and survive a new process", async () => {
  await withStore(async (store, root) => {
    for (let i = 1; i <= 3; i++) await store.deliver([{ root }], msg(i));
    const inbox = (await store.openFolder(root, "INBOX"))!;
    const uids = [...inbox.messages.keys()];
    assertEquals(uids, [1, 2, 3]);
    const first = inbox.messages.get(1)!;
    assertEquals(
      new TextDecoder().decode(await inbox.read(first)),
      new TextDecoder().decode(msg(1)),
    );
    assertEquals(first.size, msg(1).length);
    // A second process (new Folder object) sees the same UIDs and UIDVALIDITY.
    const again = new Folder(inbox.path);
    await again.refresh();
    assertEquals([...again.messages.keys()], uids);
    assertEquals(again.uidValidity, inbox.uidValidity);
    await store.deliver([{ root }], msg(4));
    await again.refresh();
    assertEquals(again.uidNext, 5);
  });
});

Deno.test("flags live in file names; keywords are stored in dovecot-keywords", async () => {
  await withStore(async (store, root) => {
    await store.deliver([{ root }], msg(1));
    const inbox = (await store.openFolder(root, "INBOX"))!;
    assertEquals(await inbox.claimRecent(), [1]);
    assertEquals(await inbox.claimRecent(), [], "only one session sees \\Recent");
    const letters = await inbox.lettersFor(["\\Seen", "\\Flagged", "$Label1", "$Forwarded"]);
    assertEquals(letters, "FSab");
    assert(await inbox.setFlags(1, letters));
    const entry = inbox.messages.get(1)!;
    assert(entry.name.endsWith(":2,FSab"), entry.name);
    assertEquals(inbox.flagNames(entry).sort(), ["$Forwarded", "$Label1", "\\Flagged", "\\Seen"]);
    const other = new Folder(inbox.path);
    await other.refresh();
    assertEquals(other.flagNames(other.messages.get(1)!).sort(), inbox.flagNames(entry).sort());
  });
});

Deno.test("expunge removes files; UIDs are never reused", async () => {
  await withStore(async (store, root) => {
    for (let i = 1; i <= 3; i++) await store.deliver([{ root }], msg(i));
    const inbox = (await store.openFolder(root, "INBOX"))!;
    assertEquals(await inbox.expunge([3]), [3]);
    await store.deliver([{ root }], msg(5));
    await inbox.refresh();
    assertEquals([...inbox.messages.keys()], [1, 2, 4]);
    const fresh = new Folder(inbox.path);
    await fresh.refresh();
    assertEquals([...fresh.messages.keys()], [1, 2, 4]);
  });
});

Deno.test("one delivery to several recipients writes the data once (hard links)", async () => {
  await withStore(async (store, root) => {
    const root2 = store.userRoot({ name: "ann", domain: "example.com", dir: "" });
    await store.ensureMailbox(root2);
    const stored = await store.deliver([{ root }, { root: root2 }, { root }], msg(7));
    assertEquals(stored.length, 2, "duplicate target collapses");
    const a = (await store.openFolder(root, "INBOX"))!;
    const b = (await store.openFolder(root2, "INBOX"))!;
    const fa = a.filePath(a.messages.get(1)!), fb = b.filePath(b.messages.get(1)!);
    assertEquals((await Deno.stat(fa)).ino, (await Deno.stat(fb)).ino);
    assertEquals((await Deno.readDir(join(root, "tmp"))[Symbol.asyncIterator]().next()).done, true);
  });
});

Deno.test("concurrent deliveries all land, each exactly once", async () => {
  await withStore(async (store, root) => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.deliver([{ root }], msg(i))));
    const inbox = (await store.openFolder(root, "INBOX"))!;
    assertEquals(inbox.messages.size, 50);
    const bodies = new Set<string>();
    for (const m of inbox.messages.values()) {
      bodies.add(new TextDecoder().decode(await inbox.read(m)));
    }
    assertEquals(bodies.size, 50);
    assertEquals(
      await store.usage(root),
      [...inbox.messages.values()].reduce((s, m) => s + m.size, 0),
    );
  });
});

Deno.test("folders: create, rename with children, rename INBOX, delete", async () => {
  await withStore(async (store, root) => {
    await store.createFolder(root, "Work");
    await store.createFolder(root, "Work/2024");
    await assertRejects(() => store.createFolder(root, "Work"));
    await store.renameFolder(root, "Work", "Jobs");
    const names = await store.listFolders(root);
    assert(names.includes("Jobs") && names.includes("Jobs/2024") && !names.includes("Work"));
    await store.deliver([{ root }], msg(1));
    await store.renameFolder(root, "INBOX", "Old");
    assertEquals((await store.openFolder(root, "INBOX"))!.messages.size, 0);
    assertEquals((await store.openFolder(root, "Old"))!.messages.size, 1);
    await store.deleteFolder(root, "Jobs/2024");
    assertEquals(await store.openFolder(root, "Jobs/2024"), null);
    const appended = await store.append(root, "Jobs", msg(9), { flags: "S", internalDate: 1e12 });
    const jobs = (await store.openFolder(root, "Jobs"))!;
    const entry = jobs.messages.get(appended.uid)!;
    assertEquals(entry.flags, "S");
    assertEquals(await jobs.internalDate(entry), 1e12);
  });
});

Deno.test("a lost uid list gives a new UIDVALIDITY", async () => {
  await withStore(async (store, root) => {
    await store.deliver([{ root }], msg(1));
    const inbox = (await store.openFolder(root, "INBOX"))!;
    const before = inbox.uidValidity;
    await Deno.remove(join(inbox.path, "extremail-uidlist"));
    const fresh = new Folder(inbox.path);
    await fresh.refresh();
    assert(fresh.uidValidity > before);
    assertEquals([...fresh.messages.keys()], [1]);
  });
});

Deno.test("file names carry size; directory syncs are shared", async () => {
  const p = parseFileName("1700000000.M1P2Q3.host,S=1234:2,SF");
  assertEquals(p, { base: "1700000000.M1P2Q3.host,S=1234", flags: "FS", size: 1234 });
  const dir = await Deno.makeTempDir();
  await Promise.all(Array.from({ length: 20 }, () => syncDir(dir)));
  await Deno.remove(dir);
});

for (const size of ["small", "large"] as const) {
  // Small files are created and written synchronously, large ones on the pool.
  const body = (n: number) =>
    size === "small" ? msg(n) : new Uint8Array(SYNC_WRITE_LIMIT + 4096).fill(48 + n);
  Deno.test(`a new ${size} file is written whole with mode 0600, never over another`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const path = join(dir, "m1");
      const when = new Date(1_700_000_000_000);
      await writeNewFileDurable(path, body(1), when);
      assertEquals(await Deno.readFile(path), body(1));
      const info = await Deno.stat(path);
      assertEquals(info.mode! & 0o777, 0o600);
      assertEquals(info.mtime?.getTime(), when.getTime());
      // The name is taken: refused, and the file already there is left as it was.
      await assertRejects(() => writeNewFileDurable(path, body(2)), Deno.errors.AlreadyExists);
      assertEquals(await Deno.readFile(path), body(1));
      // A directory that does not exist: refused, nothing left behind.
      await assertRejects(() => writeNewFileDurable(join(dir, "no", "m2"), body(2)));
      assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["m1"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
