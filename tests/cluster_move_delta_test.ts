/**
 * USER MOVE's second pass (src/cluster/move_delta.ts): what changed at the old home after
 * the first pass travels as differences: new messages whole, flag changes and expunges by
 * UID, applied at the new home without undoing what the user did there meanwhile.
 */
import { join } from "node:path";
import { assert, assertEquals } from "./helpers/assert.ts";
import { MailStore } from "../src/store/mailstore.ts";
import { type ImportItem, TargetFolder } from "../src/import/target.ts";
import { applyDelta, type CurrentMessage, folderDelta } from "../src/cluster/move_delta.ts";
import { jsonLines } from "../src/cluster/move.ts";

const msg = (base: string, uid: number | null, flags: string[]): CurrentMessage => ({
  path: `/x/cur/${base}:2,`,
  base,
  uid,
  flags,
});

Deno.test("second pass: new messages whole, flag differences, expunges by UID", () => {
  const before = {
    uids: { uidValidity: 7, nextUid: 4 },
    messages: new Map([
      ["a", { uid: 1, flags: ["\\Seen"] }],
      ["b", { uid: 2, flags: ["\\Flagged", "work"] }],
      ["c", { uid: 3, flags: [] }],
      ["d", { uid: null, flags: [] }],
    ]),
  };
  const now = [
    msg("a", 1, ["\\Seen"]), // unchanged: nothing
    msg("b", 2, ["work", "\\Answered"]), // \Flagged removed, \Answered added
    msg("d", 5, []), // had no UID in the first pass: sent again (recognised by content)
    msg("e", 6, ["\\Seen"]), // new
  ]; // c expunged
  const d = folderDelta(before, { uidValidity: 7, nextUid: 7 }, now);
  assertEquals(d.send.map((m) => m.base), ["d", "e"]);
  assertEquals(d.flagChanges, [{ uid: 2, add: ["\\Answered"], remove: ["\\Flagged"] }]);
  assertEquals(d.expunged, [3]);

  // UIDVALIDITY changed at the old home: UIDs mean nothing; everything goes whole.
  const reset = folderDelta(before, { uidValidity: 8, nextUid: 3 }, now);
  assertEquals(reset.send.length, 4);
  assertEquals(reset.flagChanges, []);
  assertEquals(reset.expunged, []);
  // A folder the first pass did not see: everything whole.
  assertEquals(folderDelta(undefined, { uidValidity: 7, nextUid: 7 }, now).send.length, 4);
});

const enc = new TextEncoder();
const item = (n: number, flags: string[]): ImportItem => ({
  data: enc.encode(`Subject: message ${n}\r\n\r\nbody ${n}\r\n`),
  flags,
  internalDate: null,
  sourceUid: n,
});

Deno.test("the new home applies differences durably and keeps its own changes", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-move-delta-" });
  try {
    const store = new MailStore(base, 2);
    const root = store.userRoot({ name: "joe", domain: "example.com", dir: "" });
    await store.ensureMailbox(root);
    const source = { uidValidity: 777, nextUid: 4 };
    // The first pass.
    const t = await TargetFolder.open(store, root, "INBOX", false);
    await t.add([item(1, ["\\Flagged"]), item(2, ["work"]), item(3, [])], source);
    await t.finish(source);
    // At the new home the user answered message 1 meanwhile.
    const folder = (await store.openFolder(root, "INBOX"))!;
    await folder.refresh(true);
    const m1 = folder.messages.get(1)!;
    const answered = await folder.lettersFor([...folder.flagNames(m1), "\\Answered"]);
    await folder.updateFlags([1], () => answered);

    const n = await applyDelta(store, root, "INBOX", source, [
      { uid: 1, add: ["\\Seen"], remove: ["\\Flagged"] },
      { uid: 2, add: ["later"], remove: [] },
      { uid: 9, add: ["\\Seen"], remove: [] }, // gone at the new home: ignored
    ], [3]);
    assertEquals(n, 3);

    // A second store reads what is on disk (as after a restart).
    const again = new MailStore(base, 2);
    const f = (await again.openFolder(root, "INBOX"))!;
    await f.refresh(true);
    assertEquals([...f.messages.keys()], [1, 2]);
    assertEquals(f.flagNames(f.messages.get(1)!).sort(), ["\\Answered", "\\Seen"]);
    assertEquals(f.flagNames(f.messages.get(2)!).sort(), ["later", "work"]);
    const files = ["new", "cur"].flatMap((sub) => [...Deno.readDirSync(join(f.path, sub))]);
    assertEquals(files.length, 2, "message 3's file removed");

    // The folder's UIDs are no longer the source's: nothing applied.
    assertEquals(
      await applyDelta(store, root, "INBOX", { uidValidity: 1, nextUid: 4 }, [], [1]),
      null,
    );
    await folder.refresh(true);
    assertEquals([...folder.messages.keys()], [1, 2]);
    assert(folder.uidValidity === 777);
    await again.close();
    await store.close();
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("second pass: long difference lists go as several lines that fit the line limit", () => {
  const uids = Array.from({ length: 5000 }, (_, i) => 100_000 + i);
  const lines = jsonLines("EXPUNGE", uids);
  assert(lines.length > 1);
  const back: number[] = [];
  for (const line of lines) {
    assert(line.length < 4096, `${line.length} octets`);
    assert(line.startsWith("EXPUNGE [") && line.endsWith("]\r\n"));
    back.push(...JSON.parse(line.slice(8)));
  }
  assertEquals(back, uids);
  assertEquals(jsonLines("FLAGS", []), []);
});
