/**
 * A first SELECT of a folder whose new/ holds more messages than a function call takes
 * arguments (about 125,000 in V8): the UIDs it claims as \Recent were once spread into
 * push(), which threw "Maximum call stack size exceeded" and failed the SELECT.
 */
import { equal } from "node:assert/strict";
import { join } from "node:path";
import { OpenFolders } from "../src/store/open_folders.ts";
import { newBaseName } from "../src/store/maildir_names.ts";

const COUNT = 140_000;

Deno.test("first SELECT of 140,000 new messages claims every one as \\Recent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "extremail-big-select-" });
  const folders = new OpenFolders();
  try {
    for (const sub of ["new", "cur", "tmp"]) await Deno.mkdir(join(dir, sub));
    const data = new TextEncoder().encode("Subject: m\r\n\r\nbody\r\n");
    for (let i = 0; i < COUNT; i++) {
      Deno.writeFileSync(join(dir, "new", newBaseName(data.length)), data);
    }
    const claimed: number[] = [];
    const folder = await folders.open(dir, claimed);
    equal(folder?.messageCount, COUNT);
    equal(claimed.length, COUNT);
    equal(new Set(claimed).size, COUNT);
  } finally {
    await folders.drop(() => true);
    await Deno.remove(dir, { recursive: true });
  }
});
