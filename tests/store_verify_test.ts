/**
 * The background verification of big directories (src/store/folder/verify.ts): a foreign
 * file hidden behind an mtime we recorded as ours is found and adopted; a directory
 * that matches our entries gets a settled mark (no more verification until our next
 * change); a change of ours while it runs voids its verdict; the worker that reads the
 * directory is kept from one check to the next.
 */
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { Mutex } from "../src/store/fsutil.ts";
import { fileNameFor, newBaseName } from "../src/store/maildir_names.ts";
import { checkDirs } from "../src/store/folder/scan.ts";
import { loadFolderState, newFolderState, summaryOf } from "../src/store/folder/state.ts";
import { verifyDir } from "../src/store/folder/verify.ts";
import { sameFiles, stopIdleDirWorker } from "../src/store/folder/dir_check.ts";
import { fileNames } from "../src/store/folder/file_list.ts";

const enc = new TextEncoder();

async function fileInCur(root: string, n: number): Promise<void> {
  const data = enc.encode(`Subject: m${n}\r\n\r\nbody ${n}\r\n`);
  const base = newBaseName(data.length);
  await Deno.writeFile(join(root, "tmp", base), data);
  await Deno.rename(join(root, "tmp", base), join(root, "cur", fileNameFor(base, "S")));
}

async function folderWith(count: number) {
  const root = await Deno.makeTempDir({ prefix: "extremail-verify-" });
  for (const sub of ["cur", "new", "tmp"]) await Deno.mkdir(join(root, sub));
  for (let i = 0; i < count; i++) await fileInCur(root, i);
  const past = new Date(Date.now() - 3_600_000);
  await Deno.utime(join(root, "cur"), past, past);
  const st = newFolderState(root);
  await loadFolderState(st, true);
  await checkDirs(st, true);
  return { root, st, mutex: new Mutex() };
}

Deno.test("verify: a foreign file hidden behind our mtime is found", async () => {
  const { root, st, mutex } = await folderWith(20);
  try {
    equal(st.table.count, 20);
    const mark = st.dirs.mark("cur");
    await fileInCur(root, 99);
    // Same tick as a change of ours: the directory's mtime is still the one we recorded.
    await Deno.utime(join(root, "cur"), new Date(mark.mtime), new Date(mark.mtime));
    let rescans = 0;
    await verifyDir(st, mutex, "cur", async () => {
      rescans++;
      await checkDirs(st, true);
    });
    equal(rescans, 1);
    equal(st.table.count, 21);
  } finally {
    st.index.close(st.dirs.mark("new"), st.dirs.mark("cur"), st.modseqs.highest);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("verify: a directory as we know it gets a settled mark", async () => {
  const { root, st, mutex } = await folderWith(20);
  try {
    const before = st.dirs.mark("cur");
    let rescans = 0;
    await verifyDir(st, mutex, "cur", () => {
      rescans++;
      return Promise.resolve();
    });
    equal(rescans, 0);
    const after = st.dirs.mark("cur");
    equal(after.mtime, before.mtime);
    ok(after.checkedAt - after.mtime > 2000, "trusted from now on");
  } finally {
    st.index.close(st.dirs.mark("new"), st.dirs.mark("cur"), st.modseqs.highest);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("verify: a start from the summary still gets a settled mark", async () => {
  const { root, st } = await folderWith(20);
  // The mark of a scan in the same tick as the directory's last change (a first SELECT
  // that moved new/ to cur/): not trusted, so every start verifies until one settles it.
  const { mtime } = st.dirs.mark("cur");
  st.dirs.settle("cur", { mtime, checkedAt: mtime + 100 });
  st.index.close(st.dirs.mark("new"), st.dirs.mark("cur"), st.modseqs.highest, summaryOf(st));
  const again = newFolderState(root);
  try {
    await loadFolderState(again, true);
    ok(again.table.rowsDeferred, "a summary start");
    let rescans = 0;
    await verifyDir(again, new Mutex(), "cur", () => {
      rescans++;
      return Promise.resolve();
    });
    equal(rescans, 0);
    // Reading the deferred rows is no change to a message: the verdict stands.
    const after = again.dirs.mark("cur");
    equal(after.mtime, mtime);
    ok(after.checkedAt - after.mtime > 2000, "trusted from now on");
  } finally {
    again.index.close(again.dirs.mark("new"), again.dirs.mark("cur"), again.modseqs.highest);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("verify: a change of ours while it runs voids the verdict", async () => {
  const { root, st, mutex } = await folderWith(20);
  try {
    const before = st.dirs.mark("cur");
    let rescans = 0;
    const running = verifyDir(st, mutex, "cur", () => {
      rescans++;
      return Promise.resolve();
    });
    // A flag change in memory (as changes.ts makes it) before the verdict.
    const first = st.table.byUid.values().next().value!;
    st.table.update(first, { flags: "FS" });
    await running;
    equal(rescans, 0);
    equal(st.dirs.mark("cur").checkedAt, before.checkedAt, "not settled");
  } finally {
    st.index.close(st.dirs.mark("new"), st.dirs.mark("cur"), st.modseqs.highest);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("verify: the directory-check worker is kept between checks", async () => {
  const { root } = await folderWith(3);
  stopIdleDirWorker(); // one kept from the tests above
  const Original = globalThis.Worker;
  let started = 0;
  globalThis.Worker = class extends Original {
    constructor(...args: ConstructorParameters<typeof Worker>) {
      super(...args);
      started++;
    }
  };
  try {
    const names = [...Deno.readDirSync(join(root, "cur"))].map((e) => e.name);
    equal(await sameFiles(join(root, "cur"), names), true);
    equal(await sameFiles(join(root, "cur"), names.slice(1)), false);
    equal(started, 1, "one worker served both checks");
    stopIdleDirWorker();
    equal(await sameFiles(join(root, "cur"), names), true);
    equal(started, 2, "a new one after the kept one stopped");
  } finally {
    globalThis.Worker = Original;
    stopIdleDirWorker();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("verify: the names the worker makes from the columns are the entries' names", async () => {
  const { root, st } = await folderWith(12);
  try {
    // Another program's names (letters not in order: not the canonical name), a base
    // beyond ASCII, a message in new/, and messages removed from the table.
    const write = (sub: string, name: string) =>
      Deno.writeFile(join(root, sub, name), enc.encode("x"));
    await write("cur", "1700000000.M1P1.odd:2,SF");
    await write("cur", "1700000001.M2P2.caf\u00e9:2,S");
    await write("new", "1700000002.M3P3.host");
    await checkDirs(st, true);
    equal(st.table.count, 15);
    const entries = [...st.table.byUid.values()];
    st.table.remove(entries[3]);
    st.table.update(entries[4], { flags: "FS", name: fileNameFor(entries[4].base, "FS") });
    for (const sub of ["cur", "new"] as const) {
      const want = new Set<string>();
      for (const e of st.table.byUid.values()) if (e.sub === sub) want.add(e.name);
      const list = await st.table.fileList(sub);
      equal(list.inNew, sub === "new");
      const got = fileNames(list);
      equal([...got].sort().join("\n"), [...want].sort().join("\n"), sub);
    }
    ok(fileNames(await st.table.fileList("cur")).has("1700000000.M1P1.odd:2,SF"));
    // The worker gets them as a check's list: the directory has exactly these.
    equal(await sameFiles(join(root, "new"), await st.table.fileList("new")), true);
    stopIdleDirWorker();
  } finally {
    st.index.close(st.dirs.mark("new"), st.dirs.mark("cur"), st.modseqs.highest);
    await Deno.remove(root, { recursive: true });
  }
});
