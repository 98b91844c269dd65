/**
 * src/store/folder/new_listing.ts, the mover worker's listing of new/ as one string: the
 * files scan.ts counts (no dot files, no directories, one per base name), every name read
 * back by position as it was (ASCII and UTF-8), and the name in cur/ each moves to.
 */
import { deepStrictEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { encodeListing, listNew, nameAt, targetOf } from "../src/store/folder/new_listing.ts";
import { MovesInFlight } from "../src/store/folder/moves.ts";

Deno.test("new listing: the message files of new/, read back by position", async () => {
  const dir = await Deno.makeTempDir({ prefix: "extremail-listing-" });
  try {
    await Deno.mkdir(join(dir, "new"));
    const files = ["1.M1P1.h,S=4", "2.M2P1.h,S=4:2,SF", "3.Mé3P1.h", "4.M4P1.h:2,"];
    for (const f of [...files, ".hidden"]) {
      Deno.writeFileSync(join(dir, "new", f), new Uint8Array(4));
    }
    await Deno.mkdir(join(dir, "new", "5.M5P1.h")); // not a file
    const { listing, list } = listNew(dir);
    deepStrictEqual([...list].sort(), [...files].sort());
    equal(listing.count, files.length);
    deepStrictEqual(list.map((_, i) => nameAt(listing, i)), list);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("new listing: ASCII names, targets, and the look-up of a name by base", () => {
  const names = ["1.M1P1.h,S=4", "2.M2P1.h,S=4:2,FS", "3.M3P1.h:2,"];
  const l = encodeListing(names);
  deepStrictEqual(names.map((_, i) => nameAt(l, i)), names);
  deepStrictEqual(names.map(targetOf), ["1.M1P1.h,S=4:2,", "2.M2P1.h,S=4:2,FS", "3.M3P1.h:2,"]);
  const moving = new MovesInFlight();
  equal(moving.nameInNew("2.M2P1.h,S=4"), undefined);
  moving.set(l);
  equal(moving.nameInNew("2.M2P1.h,S=4"), "2.M2P1.h,S=4:2,FS");
  equal(moving.nameInNew("3.M3P1.h"), "3.M3P1.h:2,");
  equal(moving.nameInNew("9.M9P1.h"), undefined);
  moving.clear();
  equal(moving.nameInNew("3.M3P1.h"), undefined);
});
