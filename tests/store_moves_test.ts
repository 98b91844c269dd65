/**
 * src/store/folder/moves.ts, the first SELECT's moves of new/ to cur/ (answered before
 * they end): a new/ that cannot be listed (by the worker) once the directory marks' change
 * began (DirMarks.begin) ends that change and fails the listing, instead of leaving it open; so
 * does a scan that fails once the moves began (cur/ cannot be read), after they end. A
 * file whose rename fails (not ENOENT) after the answer stays in new/ but is not \Recent
 * for a later session (RFC 3501 §2.3.2), and does not keep the files after it in new/;
 * the same on the worker and on the event loop (moveHere, where no worker can run).
 */
import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { DirMarks } from "../src/store/folder/dirs.ts";
import { Folder } from "../src/store/folder/folder.ts";
import { moveNewOnWorker, moveWorker } from "../src/store/folder/moves.ts";
import { WorkerModule } from "../src/workers.ts";
import { log } from "../src/log.ts";
import type { FolderState } from "../src/store/folder/state.ts";
import { fileNameFor } from "../src/store/maildir_names.ts";

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
    const moves = await moveNewOnWorker(st);
    ok(moves, "new/ is big: listed and moved on the worker");
    await rejects(moves.listed, Deno.errors.NotFound); // the worker's error, as the same kind
    await rejects(moves.reply);
    equal(began, 1);
    equal(finished, 1, "the change begun is finished");
    ok([...Deno.readDirSync(join(dir, "new.gone"))].length === COUNT, "nothing was moved");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("moves: a worker that fails before its listing: new/ is listed and moved here", async () => {
  const dir = await Deno.makeTempDir({ prefix: "extremail-moves-" });
  try {
    for (const sub of ["new", "cur", "tmp"]) await Deno.mkdir(join(dir, sub));
    for (let i = 0; i < COUNT; i++) {
      Deno.writeFileSync(join(dir, "new", `${1700000000 + i}.M${i}P1.test,S=4`), new Uint8Array(4));
    }
    let finished = 0;
    const st = {
      path: dir,
      dirs: { begin: () => Promise.resolve(() => Promise.resolve(void finished++)) },
    } as unknown as FolderState;
    const broken = new WorkerModule(
      `data:application/javascript,${encodeURIComponent("throw new Error('broken')")}`,
      "test mover",
      "moved here",
      log("store"),
    );
    const moves = await moveNewOnWorker(st, broken);
    ok(moves);
    equal((await moves.listed).count, COUNT);
    const reply = await moves.reply;
    equal(reply.error, null);
    equal(reply.done.filter((d) => d === 1).length, COUNT);
    equal([...Deno.readDirSync(join(dir, "new"))].length, 0);
    equal([...Deno.readDirSync(join(dir, "cur"))].length, COUNT);
    ok(!broken.available);
    await moves.finish();
    await moves.finish();
    equal(finished, 1, "the marks' change ends once");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("moves: a scan that fails once the moves began waits for them and ends the change", async () => {
  const dir = await Deno.makeTempDir({ prefix: "extremail-moves-" });
  const begin = DirMarks.prototype.begin;
  let began = 0, finished = 0;
  DirMarks.prototype.begin = async function (subs) {
    const finish = await begin.call(this, subs);
    began++;
    return () => finish().finally(() => finished++);
  };
  try {
    for (const sub of ["new", "tmp"]) await Deno.mkdir(join(dir, sub));
    await Deno.writeTextFile(join(dir, "cur"), "not a directory"); // the scan's read fails
    for (let i = 0; i < COUNT; i++) {
      Deno.writeFileSync(join(dir, "new", `${1700000000 + i}.M${i}P1.test,S=4`), new Uint8Array(4));
    }
    const f = new Folder(dir);
    await rejects(f.refreshAndClaim());
    equal(began, 1, "the moves began");
    equal(finished, 1, "and their change was finished");
    await f.close();
  } finally {
    DirMarks.prototype.begin = begin;
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * A first SELECT where the rename of the first file of new/ (directory order, so the
 * worker's batch stops at once) fails: a directory stands at its name in cur/ (EISDIR).
 */
async function firstSelectWithABadFile(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "extremail-moves-" });
  try {
    for (const sub of ["new", "cur", "tmp"]) await Deno.mkdir(join(dir, sub));
    const data = new TextEncoder().encode("Subject: m\r\n\r\nbody\r\n");
    for (let i = 0; i < COUNT; i++) {
      Deno.writeFileSync(join(dir, "new", `${1700000000 + i}.M${i}P1.test,S=${data.length}`), data);
    }
    const bad = [...Deno.readDirSync(join(dir, "new"))][0].name;
    const blocker = join(dir, "cur", fileNameFor(bad, ""));
    await Deno.mkdir(blocker);
    const f = new Folder(dir);
    const claimed = await f.refreshAndClaim();
    equal(claimed.length, COUNT, "every message is \\Recent for the first SELECT");
    await f.settled();
    deepStrictEqual([...Deno.readDirSync(join(dir, "new"))].map((e) => e.name), [bad]);
    const stayed = [...f.messages.values()].find((m) => m.base === bad)!;
    equal(stayed.sub, "new");
    equal((await f.read(stayed)).length, data.length, "read where it stayed");
    // Whatever blocked it is gone: the next claim moves it, but it was \Recent already.
    await Deno.remove(blocker);
    deepStrictEqual(await f.claimRecent(), [], "not \\Recent for a second session");
    equal([...Deno.readDirSync(join(dir, "new"))].length, 0);
    equal(f.recentCount, 0);
    await f.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("moves: a rename that fails after the answer, on the worker", async () => {
  ok(moveWorker.available);
  await firstSelectWithABadFile();
});

Deno.test("moves: a rename that fails after the answer, on the event loop (no worker)", async () => {
  moveWorker.fail("the test runs without it"); // as in a binary built without it
  await firstSelectWithABadFile();
  equal(moveWorker.start({ message: () => {}, error: () => {} }), null);
});
