/**
 * src/store/folder/uidlist.ts appendConsecutive, the UID lines of a first SELECT written
 * as bytes: read back by another reader as the same UIDs (ASCII and UTF-8 base names),
 * and after a torn last line (another writer stopped mid-line) on a line of their own.
 */
import { deepStrictEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { readUidList, UIDLIST, UidListCache, writeUidList } from "../src/store/folder/uidlist.ts";

async function listWith(bases: string[], tornTail: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "extremail-uidlist-" });
  await writeUidList(dir, {
    uidValidity: 7,
    uidNext: 3,
    byBase: new Map([["1.a", 1], ["2.b", 2]]),
    lines: 2,
    modseqCeiling: 0,
  });
  if (tornTail) await Deno.writeTextFile(join(dir, UIDLIST), tornTail, { append: true });
  const cache = new UidListCache(dir);
  await cache.sync();
  await cache.appendConsecutive(3, bases);
  return dir;
}

Deno.test("uid list: consecutive UIDs appended as bytes read back the same", async () => {
  const bases = ["1700000000.M1P1.host,S=10", "1700000001.Mé2P1.hôst,S=12", "x"];
  for (const torn of ["", "99 3.c"]) {
    const dir = await listWith(bases, torn);
    try {
      const list = (await readUidList(dir))!;
      deepStrictEqual(bases.map((b) => list.byBase.get(b)), [3, 4, 5]);
      equal(list.byBase.get("1.a"), 1);
      const text = await Deno.readTextFile(join(dir, UIDLIST));
      equal(text.endsWith(`5 x\n`), true);
      if (torn) equal(text.includes(`${torn}\n3 ${bases[0]}\n`), true, "the torn line ends first");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});
