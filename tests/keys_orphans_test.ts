/**
 * IndexLink.keysDropOrphans: stored keys whose message row is gone (a message deleted by
 * other software) are dropped once there are more stored keys than rows, counted a page
 * per turn (more than one page here), and the keys of messages still there stay.
 */
import { strictEqual } from "node:assert/strict";
import { IndexLink } from "../src/store/folder/index_link.ts";

const ROWS = 9000; // more than two pages of the count

function filled(dir: string, extraKeys: string[]): IndexLink {
  const link = new IndexLink(dir);
  link.open();
  link.tx((ix) => {
    for (let uid = 1; uid <= ROWS; uid++) {
      const base = `1700000000.M${uid}P1.example.org`;
      ix.put({
        uid,
        base,
        sub: "cur",
        name: null,
        flags: "",
        size: 10,
        internalDate: null,
        modseq: 1,
      });
      ix.keysPut(base, `k${uid}`);
    }
    for (const base of extraKeys) ix.keysPut(base, "orphan");
  });
  return link;
}

Deno.test("keysDropOrphans: keys without a message row go, the others stay", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Orphans sorting before, among and after the others' base names.
    const orphans = ["0.gone", "1700000000.M4500P1.example.org.gone", "zz.gone"];
    const link = filled(dir, orphans);
    await link.keysDropOrphans();
    for (const base of orphans) strictEqual(link.keysGet(base), undefined);
    strictEqual(link.keysGet("1700000000.M1P1.example.org"), "k1");
    strictEqual(link.keysGet(`1700000000.M${ROWS}P1.example.org`), `k${ROWS}`);
    link.close({ mtime: 0, checkedAt: 0 }, { mtime: 0, checkedAt: 0 }, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("keysDropOrphans: as many keys as rows, nothing is deleted", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const link = filled(dir, []);
    await link.keysDropOrphans();
    strictEqual(link.keysGet("1700000000.M77P1.example.org"), "k77");
    link.close({ mtime: 0, checkedAt: 0 }, { mtime: 0, checkedAt: 0 }, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
