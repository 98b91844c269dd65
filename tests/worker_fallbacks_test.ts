/**
 * Every worker that does work the main thread could do falls back the same way when its
 * module cannot run (a compiled binary built without it) or its thread fails: the
 * workers.ts WorkerModule says so once, and the caller does the work itself. Here for the
 * directory check (dir_check.ts: null, verify.ts reads the directory) and the full-text
 * index (fts/worker_client.ts: FtsUnavailable, SEARCH scans); the first SELECT's moves
 * (moves.ts) are covered in store_moves_test.ts.
 */
import { join } from "node:path";
import type { Logger } from "../src/log.ts";
import { DirChecker } from "../src/store/folder/dir_check.ts";
import { FtsUnavailable, FtsWorker } from "../src/store/fts/worker_client.ts";
import { WorkerModule } from "../src/workers.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

const dir = await Deno.makeTempDir({ prefix: "extremail-worker-fallbacks-" });
const missingUrl = new URL(`file://${join(dir, "missing.js")}`).href;
/** A module that throws on its first request (an uncaught error in the thread). */
const throwing = join(dir, "throwing.js");
await Deno.writeTextFile(throwing, `self.onmessage = () => { throw new Error("boom"); };`);
const throwingUrl = new URL(`file://${throwing}`).href;

function moduleAt(url: string): { module: WorkerModule; lines: string[] } {
  const lines: string[] = [];
  const logger = { warn: (m: string) => lines.push(m) } as unknown as Logger;
  return { module: new WorkerModule(url, "test worker", "done here", logger), lines };
}

for (const [what, url] of [["missing", missingUrl], ["failing", throwingUrl]]) {
  Deno.test(`worker fallbacks: directory check with a ${what} module answers null`, async () => {
    const { module, lines } = moduleAt(url);
    const checker = new DirChecker(module);
    try {
      assertEquals(await checker.sameFiles(dir, ["a", "b"]), null);
      assertEquals(module.available, false);
      assertEquals(await checker.sameFiles(dir, ["a"]), null, "not tried again");
      assertEquals(lines.length, 1, lines.join("\n"));
    } finally {
      checker.stop();
    }
  });

  Deno.test(`worker fallbacks: full-text index with a ${what} module is unavailable`, async () => {
    const { module, lines } = moduleAt(url);
    const fts = new FtsWorker(module);
    try {
      const first = await fts.call({ op: "close", path: "", uidValidity: 0 }).then(
        () => null,
        (e) => e,
      );
      assert(first instanceof FtsUnavailable, String(first));
      assertEquals(fts.available, false);
      const again = await fts.call({ op: "close", path: "", uidValidity: 0 }).catch((e) => e);
      assert(again instanceof FtsUnavailable, "not tried again");
      assertEquals(lines.length, 1, lines.join("\n"));
    } finally {
      await fts.close();
    }
  });
}

Deno.test("worker fallbacks: the real directory check still answers", async () => {
  const checker = new DirChecker(
    moduleAt(
      new URL("../src/store/folder/dir_worker.ts", import.meta.url).href,
    ).module,
  );
  try {
    await Deno.writeTextFile(join(dir, "m1"), "x");
    assertEquals(await checker.sameFiles(dir, ["m1", "missing.js", "throwing.js"]), false);
    assertEquals(await checker.sameFiles(dir, ["m1", "throwing.js"]), true);
  } finally {
    checker.stop();
  }
});

Deno.test("worker fallbacks: cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
