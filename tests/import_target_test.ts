/**
 * The import's target folder (src/import/target.ts) against the store as the daemon
 * uses it: which UIDs and UIDVALIDITY imported messages get (SPEC §11, and the choice
 * documented there for folders that already have messages), recognition of messages
 * already present, and keyword letters shared with a daemon's open folder. The
 * "daemon" is a second MailStore with the folder open, as another process would have.
 */
import { join } from "node:path";
import { assert, assertEquals } from "./helpers/assert.ts";
import { MailStore } from "../src/store/mailstore.ts";
import { type ImportItem, TargetFolder } from "../src/import/target.ts";
import { readUidList, UidListCache, withUidListLock } from "../src/store/folder/uidlist.ts";

const enc = new TextEncoder();
const item = (n: number, sourceUid: number | null, flags: string[] = []): ImportItem => ({
  data: enc.encode(`Subject: message ${n}\r\n\r\nbody ${n}\r\n`),
  flags,
  internalDate: Date.UTC(2020, 0, 1) + n * 1000,
  sourceUid,
});

async function withStores(
  fn: (importer: MailStore, daemon: MailStore, root: string) => Promise<void>,
) {
  const base = await Deno.makeTempDir({ prefix: "extremail-import-target-" });
  try {
    const importer = new MailStore(base, 2);
    const daemon = new MailStore(base, 2);
    const root = importer.userRoot({ name: "joe", domain: "example.com", dir: "" });
    await importer.ensureMailbox(root);
    await fn(importer, daemon, root);
    await daemon.close();
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

/** UID -> subject, as the daemon's open folder shows them. */
async function shown(daemon: MailStore, root: string, name: string) {
  const f = (await daemon.openFolder(root, name))!;
  await f.refresh(true);
  const out: Record<number, string> = {};
  for (const m of f.messages.values()) {
    out[m.uid] = /Subject: (.*)\r/.exec(new TextDecoder().decode(await f.read(m)))![1];
  }
  return { folder: f, uids: out };
}

Deno.test("a folder that never gave out a UID takes the source's UIDVALIDITY and UIDs", async () => {
  await withStores(async (importer, daemon, root) => {
    // The daemon has opened the new, empty folder (a client selected it).
    const before = (await daemon.openFolder(root, "INBOX"))!;
    const ownValidity = before.uidValidity;
    const t = await TargetFolder.open(importer, root, "INBOX", false);
    const source = { uidValidity: 777, nextUid: 50 };
    const out = await t.add([item(1, 3), item(2, 10), item(3, null)], source);
    assertEquals(out, ["imported", "imported", "imported"]);
    const { folder, uids } = await shown(daemon, root, "INBOX");
    assert(ownValidity !== 777);
    assertEquals(folder.uidValidity, 777);
    // A file without a source entry goes above the source's next UID.
    assertEquals(uids, { 3: "message 1", 10: "message 2", 50: "message 3" });
    assertEquals(folder.uidNext, 51);
    // Internal dates and flags came along.
    const m = folder.messages.get(3)!;
    assertEquals(await folder.internalDate(m), Date.UTC(2020, 0, 1) + 1000);
  });
});

Deno.test("the same source again keeps UIDs above those given out; others get new ones", async () => {
  await withStores(async (importer, daemon, root) => {
    const source = { uidValidity: 777, nextUid: 20 };
    await (await TargetFolder.open(importer, root, "INBOX", false)).add([item(1, 5)], source);
    // A later run (a new process) with more messages from the same source.
    const again = await TargetFolder.open(importer, root, "INBOX", false);
    const out = await again.add([item(1, 5), item(2, 7), item(3, 30), item(4, 25)], {
      uidValidity: 777,
      nextUid: 40,
    });
    assertEquals(out, ["present", "imported", "imported", "imported"]);
    const { folder, uids } = await shown(daemon, root, "INBOX");
    assertEquals(folder.uidValidity, 777);
    // 7 lies below the next UID (20) already promised: new UID; 30 is kept; 25 < 30 then.
    assertEquals(uids, { 5: "message 1", 20: "message 2", 30: "message 3", 31: "message 4" });
  });
});

Deno.test("a folder with messages keeps its UIDVALIDITY; imported messages come after", async () => {
  await withStores(async (importer, daemon, root) => {
    const { uid, uidValidity } = await daemon.append(root, "INBOX", item(9, null).data, {});
    const t = await TargetFolder.open(importer, root, "INBOX", false);
    await t.add([item(1, 1), item(2, 2)], { uidValidity: 777, nextUid: 3 });
    const { folder, uids } = await shown(daemon, root, "INBOX");
    assertEquals(folder.uidValidity, uidValidity);
    assertEquals(uids, { [uid]: "message 9", [uid + 1]: "message 1", [uid + 2]: "message 2" });
  });
});

Deno.test("messages are recognised by content: copies count, dry runs write nothing", async () => {
  await withStores(async (importer, daemon, root) => {
    const dry = await TargetFolder.open(importer, root, "Archive/2019", true);
    assertEquals(await dry.add([item(1, null)], null), ["imported"]);
    assert(!(await importer.folderExists(root, "Archive/2019")), "dry run created a folder");

    const t = await TargetFolder.open(importer, root, "Archive/2019", false);
    assertEquals(await t.add([item(1, null), item(1, null), item(2, null)], null), [
      "imported",
      "imported",
      "imported",
    ]);
    const again = await TargetFolder.open(importer, root, "Archive/2019", false);
    assertEquals(await again.add([item(1, null), item(1, null), item(1, null)], null), [
      "present",
      "present",
      "imported",
    ]);
    const { uids } = await shown(daemon, root, "Archive/2019");
    assertEquals(Object.values(uids).sort(), [
      "message 1",
      "message 1",
      "message 1",
      "message 2",
    ]);
  });
});

Deno.test("keyword letters are shared with the daemon's open folder, never doubled", async () => {
  await withStores(async (importer, daemon, root) => {
    const open = (await daemon.openFolder(root, "INBOX"))!;
    const t = await TargetFolder.open(importer, root, "INBOX", false);
    await t.add([item(1, null, ["\\Seen", "Alpha", "Beta"])], null);
    // The daemon (a STORE) adds a keyword after the importer wrote the file.
    assertEquals(await open.lettersFor(["Gamma", "alpha"]), "ac");
    await t.add([item(2, null, ["Delta", "Gamma", "\\Flagged"])], null);
    const text = await Deno.readTextFile(join(open.path, "dovecot-keywords"));
    assertEquals(text, "0 Alpha\n1 Beta\n2 Gamma\n3 Delta\n");
    await open.refresh(true);
    const flags = [...open.messages.values()].map((m) => open.flagNames(m).sort());
    assertEquals(flags, [["Alpha", "Beta", "\\Seen"], ["Delta", "Gamma", "\\Flagged"]]);
  });
});

Deno.test("the daemon's UID list compaction keeps UIDs another process reserved", async () => {
  await withStores(async (_importer, daemon, root) => {
    await daemon.append(root, "INBOX", item(1, null).data, {}); // UID 1, shown
    // Many dead lines (messages long expunged), then a reservation above UID 1 for a file
    // an import is about to place, as TargetFolder makes them.
    const cache = new UidListCache(root);
    await withUidListLock(root, async () => {
      const list = (await cache.sync())!;
      const dead = Array.from({ length: 1200 }, (_, i) => ({ uid: 1, base: `dead.${i}` }));
      await cache.append([...dead, { uid: 5, base: "reserved.base" }]);
      assertEquals(list.lines > 1200, true);
    });
    // The daemon's next delivery compacts the list (1,200 of its lines are dead).
    const { uid } = await daemon.append(root, "INBOX", item(2, null).data, {});
    assertEquals(uid, 6);
    const after = (await readUidList(root))!;
    assert(after.lines < 10, `not compacted: ${after.lines} lines`);
    assertEquals(after.byBase.get("reserved.base"), 5);
    assertEquals(after.byBase.has("dead.0"), false);
    assertEquals(after.uidNext, 7);
  });
});
