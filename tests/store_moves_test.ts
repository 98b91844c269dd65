/**
 * src/store/folder/moves.ts, the first SELECT's moves of new/ to cur/: a new/ that cannot
 * be listed once the directory marks' change began (DirMarks.begin) ends that change and
 * the worker, and fails the call, instead of leaving them open.
 */
import { equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { moveNewOnWorker } from "../src/store/folder/moves.ts";
import type { FolderState } from "../src/store/folder/state.ts";

/** Enough files for new/ to pass the worker's directory size (moves.ts BIG_NEW_DIR). */
const COUNT = 1600;

Deno.test("moves: new/ gone before it is listed: the marks' change ends, the call fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "extremail-moves-" });
  try {
    for (const sub of ["new", "cur", "tmp"]) await Deno.mkdir(join(dir, sub));
    for (let i = 0; i < COUNT; i++) {
      Deno.writeFileSync(join(dir, "new", `${1700000000 + i}.M${i}P1.test,S=4`), new Uint8Array(4));
    }
    let began = 0, finished = 0;
    const st = {
      path: dir,
      dirs: {
        begin: () => {
          began++;
          // Gone between the size check and the listing (another program renamed it).
          Deno.renameSync(join(dir, "new"), join(dir, "new.gone"));
          return Promise.resolve(() => {
            finished++;
            return Promise.resolve();
          });
        },
      },
    } as unknown as FolderState;
    await rejects(moveNewOnWorker(st), Deno.errors.NotFound);
    equal(began, 1);
    equal(finished, 1, "the change begun is finished");
    ok([...Deno.readDirSync(join(dir, "new.gone"))].length === COUNT, "nothing was moved");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
