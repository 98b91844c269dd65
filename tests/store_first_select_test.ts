/**
 * A SELECT of a folder read for the first time (Folder.refreshAndClaim): a big new/ is
 * read and moved to cur/ on a worker (src/store/folder/moves.ts) while the UIDs and index
 * rows are written. The outcome must be the one of the plain way (refresh, then
 * claimRecent): the same UIDs in name order, flags, sizes, mod-sequences, \Recent for the
 * caller, every file in cur/, and an index a restart reads back unchanged. The SELECT is
 * answered before the moves end: every message reads meanwhile (at its name in new/ or
 * in cur/), and a refresh meanwhile does not wait for them.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { Folder } from "../src/store/folder/folder.ts";
import { sameFiles, stopIdleDirWorker } from "../src/store/folder/dir_check.ts";
import { fileNameFor, newBaseName } from "../src/store/maildir_names.ts";

const enc = new TextEncoder();
/** Enough files for new/ to pass the worker's directory size (moves.ts BIG_NEW_DIR). */
const COUNT = 1600;

/**
 * A folder another MDA filled: every tenth file in cur/ with \Seen, one without ",S=";
 * and a few names of other programs: letters out of order in cur/ (kept as the file's
 * name), a keyword letter the folder has no name for, and flags on names in new/ (letters
 * out of order there too).
 */
async function filledFolder(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "extremail-first-select-" });
  for (const sub of ["new", "cur", "tmp"]) await Deno.mkdir(join(dir, sub));
  for (let i = 0; i < COUNT; i++) {
    const data = enc.encode(`Subject: m${i}\r\n\r\nbody ${"x".repeat(i % 50)}\r\n`);
    let base = newBaseName(data.length);
    if (i === 7) base = base.replace(/,S=\d+$/, ""); // the size comes from the file
    let name = i % 10 === 0 ? join("cur", fileNameFor(base, "S")) : join("new", base);
    if (i === 20) name = join("cur", `${base}:2,SF`);
    if (i === 30) name = join("cur", `${base}:2,Sa`);
    if (i === 11) name = join("new", `${base}:2,F`);
    if (i === 12) name = join("new", `${base}:2,SF`); // moved to cur/ as ":2,FS"
    await Deno.writeFile(join(dir, name), data);
  }
  return dir;
}

async function copyOf(dir: string): Promise<string> {
  const copy = await Deno.makeTempDir({ prefix: "extremail-first-select-" });
  await Deno.remove(copy);
  const out = await new Deno.Command("cp", { args: ["-a", dir, copy] }).output();
  ok(out.success, "cp -a");
  return copy;
}

type Row = [number, string, string, string, number, number, string];
const rowsOf = (f: Folder): Row[] =>
  [...f.messages.values()].map((m) => [m.uid, m.base, m.sub, m.flags, m.size, m.modseq, m.name]);
const namesIn = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("first SELECT: new/ moved on a worker, same state as refresh + claimRecent", async () => {
  const dir = await filledFolder();
  const plain = await copyOf(dir);
  try {
    // The worker only starts for a new/ of 64 KiB or more (moves.ts BIG_NEW_DIR).
    ok((await Deno.stat(join(dir, "new"))).size >= 64 * 1024, "new/ big enough for the worker");
    const f = new Folder(dir);
    const claimed = await f.refreshAndClaim();
    // Answered as moved, the worker may still be moving: every file reads all the same.
    const sizes = await Promise.all([...f.messages.values()].map(async (m) => {
      equal(m.sub, "cur");
      return (await f.read(m)).length === m.size;
    }));
    ok(sizes.every((same) => same), "every message read while the moves ran");
    // A refresh meanwhile does not wait for the moves; they end before the next change.
    await f.refresh();
    await f.settled();
    const g = new Folder(plain);
    await g.refresh();
    const claimedPlain = await g.claimRecent();

    equal(claimed.length, COUNT - COUNT / 10);
    const flagsOf = (h: Folder) => [...h.messages.values()].map((m) => m.flags).sort().join(" ");
    ok(/\bFS\b/.test(flagsOf(f)) && /\bF\b/.test(flagsOf(f)), "letters as named");
    equal(flagsOf(f), flagsOf(g));
    deepStrictEqual(claimed, claimedPlain);
    equal(f.recentCount, 0);
    equal(namesIn(join(dir, "new")).length, 0);
    deepStrictEqual(namesIn(join(dir, "cur")), namesIn(join(plain, "cur")));
    // UIDs follow the base names' order, as the plain scan gives them.
    deepStrictEqual(rowsOf(f).map((r) => r.slice(1)), rowsOf(g).map((r) => r.slice(1)));
    deepStrictEqual(rowsOf(f).map((r) => r[0]), rowsOf(g).map((r) => r[0]));
    equal(f.highestModseq, g.highestModseq);
    equal(f.unseenCount, g.unseenCount);
    equal(f.uidNext, COUNT + 1);
    const unsized = [...f.messages.values()].find((m) => !/,S=/.test(m.base))!;
    ok(unsized.size > 0, "size read from the file");
    for (const m of f.messages.values()) {
      equal(m.sub, "cur");
      equal((await f.read(m)).length, m.size);
    }
    // Nothing left to claim, and the directories need no second read.
    deepStrictEqual(await f.refreshAndClaim(), []);

    // A restart reads the same state back from the index (no summary: closed at once).
    const rows = rowsOf(f), uidValidity = f.uidValidity, modseq = f.highestModseq;
    await f.close();
    const again = new Folder(dir);
    await again.refresh();
    deepStrictEqual(rowsOf(again), rows);
    // The names of other programs too (written from the prepared files: scan_added.ts).
    ok(rows.some((r) => r[6].endsWith(":2,SF")) && rows.some((r) => r[6].endsWith(":2,Sa")));
    equal(rows.filter((r) => r[6].endsWith(":2,FS")).length, 1);
    for (const m of [...again.messages.values()].slice(0, 40)) {
      equal((await again.read(m)).length, m.size);
    }
    equal(again.uidValidity, uidValidity);
    equal(again.highestModseq, modseq);
    equal(again.recentCount, 0);
    await again.close();
    await g.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(plain, { recursive: true });
  }
});

Deno.test("first SELECT of a small new/ claims without the worker", async () => {
  const dir = await Deno.makeTempDir({ prefix: "extremail-first-select-" });
  try {
    for (const sub of ["new", "cur", "tmp"]) await Deno.mkdir(join(dir, sub));
    const data = enc.encode("Subject: one\r\n\r\nbody\r\n");
    await Deno.writeFile(join(dir, "new", newBaseName(data.length)), data);
    const f = new Folder(dir);
    deepStrictEqual(await f.refreshAndClaim(), [1]);
    equal(namesIn(join(dir, "new")).length, 0);
    equal([...f.messages.values()][0].sub, "cur");
    await f.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("first SELECT of a big new/ starts cur/'s directory-check worker ahead of its check", async () => {
  const dir = await filledFolder();
  stopIdleDirWorker(); // one kept from the tests above
  const Original = globalThis.Worker;
  const started: string[] = [];
  globalThis.Worker = class extends Original {
    constructor(...args: ConstructorParameters<typeof Worker>) {
      super(...args);
      started.push(String(args[0]));
    }
  };
  const dirWorkers = () => started.filter((url) => url.includes("dir_worker")).length;
  try {
    const f = new Folder(dir);
    await f.refreshAndClaim();
    await f.settled();
    // Its start blocks the event loop: paid beside the deferred rows, not 30 s later.
    equal(dirWorkers(), 1, "started by the first SELECT");
    equal(await sameFiles(join(dir, "cur"), namesIn(join(dir, "cur"))), true);
    equal(dirWorkers(), 1, "the verification found it running");
    await f.close();
  } finally {
    globalThis.Worker = Original;
    stopIdleDirWorker();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("first SELECT: a message in both new/ and cur/ is the one in cur/ (not \\Recent), on every path", async () => {
  const big = await filledFolder();
  const small = await Deno.makeTempDir({ prefix: "extremail-first-select-" });
  const copies: string[] = [];
  try {
    for (const sub of ["new", "cur", "tmp"]) await Deno.mkdir(join(small, sub));
    const data = enc.encode("Subject: both\r\n\r\nbody\r\n");
    // A file of new/ whose message is in cur/ too, read (another program's link, unlink
    // not done yet), in the big folder (moved on the worker) and in a small one.
    for (const dir of [big, small]) {
      const base = newBaseName(data.length);
      await Deno.writeFile(join(dir, "cur", fileNameFor(base, "S")), data);
      await Deno.writeFile(join(dir, "new", base), data);
    }
    copies.push(await copyOf(big));
    const f = new Folder(big), plain = new Folder(copies[0]), g = new Folder(small);
    const claimed = await f.refreshAndClaim();
    await f.settled();
    await plain.refresh();
    const claimedPlain = await plain.claimRecent();
    const claimedSmall = await g.refreshAndClaim();
    // RFC 3501 §2.3.2: the message was seen (its file is in cur/): \Recent for nobody.
    equal(claimed.length, COUNT - COUNT / 10, "the 1,440 of new/ only");
    deepStrictEqual(claimed, claimedPlain);
    deepStrictEqual(claimedSmall, []);
    // Its file in new/ is left there on both paths, the one in cur/ untouched.
    deepStrictEqual(namesIn(join(big, "new")), namesIn(join(copies[0], "new")));
    equal(namesIn(join(big, "new")).length, 1);
    deepStrictEqual(namesIn(join(big, "cur")), namesIn(join(copies[0], "cur")));
    equal(f.messageCount, COUNT + 1);
    equal(g.messageCount, 1);
    equal([...g.messages.values()][0].flags, "S");
    for (const h of [f, plain, g]) await h.close();
  } finally {
    for (const dir of [big, small, ...copies]) await Deno.remove(dir, { recursive: true });
  }
});
