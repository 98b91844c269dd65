/**
 * The folder index (extremail-index.sqlite) and the shared folder state: built on first
 * use, trusted while the Maildir is unchanged, rebuilt when lost or corrupt, reconciled
 * with changes made by other software, consistent after a crash; our own deliveries
 * and flag changes need no directory scan. Plus a 20,000-message folder (correctness,
 * not timing), through the store and through IMAP.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { MailStore } from "../src/store/mailstore.ts";
import { Folder } from "../src/store/folder/folder.ts";
import { INDEX_FILE } from "../src/store/folder/index_db.ts";
import { fileNameFor, newBaseName, parseFileName } from "../src/store/maildir_names.ts";
import { REPO, startTestServer } from "./helpers/server.ts";
import { ImapClient, seedUsers } from "./helpers/imap.ts";

const enc = new TextEncoder();
const msg = (n: number) => enc.encode(`Subject: m${n}\r\n\r\nbody ${n}\r\n`);

async function withStore(fn: (store: MailStore, root: string) => Promise<void>) {
  const base = await Deno.makeTempDir({ prefix: "extremail-idx-" });
  const store = new MailStore(base, 0);
  try {
    const root = store.userRoot({ name: "ann", domain: "example.com", dir: "" });
    await store.ensureMailbox(root);
    await fn(store, root);
  } finally {
    await store.close();
    await Deno.remove(base, { recursive: true });
  }
}

/** Writes messages straight into new/, as another MDA would. */
async function dropIn(root: string, from: number, count: number): Promise<string[]> {
  const bases: string[] = [];
  for (let i = from; i < from + count; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, from + count - i) }, async (_, j) => {
      const data = msg(i + j);
      const base = newBaseName(data.length);
      await Deno.writeFile(join(root, "tmp", base), data);
      await Deno.rename(join(root, "tmp", base), join(root, "new", base));
      bases.push(base);
    }));
  }
  return bases;
}

/** Counts directory reads (of paths matching `which`) while `work` runs. */
async function countReadDirs(work: () => Promise<void>, which = /./): Promise<number> {
  const orig = Deno.readDir;
  let n = 0;
  Deno.readDir = (path: string | URL) => {
    if (which.test(String(path))) n++;
    return orig(path);
  };
  try {
    await work();
  } finally {
    Deno.readDir = orig;
  }
  return n;
}

/** Sets new/ and cur/ mtimes an hour back, so a scan's result counts as settled. */
async function ageDirs(root: string): Promise<void> {
  const past = new Date(Date.now() - 3_600_000);
  for (const sub of ["new", "cur"]) await Deno.utime(join(root, sub), past, past);
}

type Snapshot = [number, string, string, number][];
const snapshot = (f: Folder): Snapshot =>
  [...f.messages.values()].map((m) => [m.uid, m.base, m.flags, m.modseq]);

/** What the Maildir says: base -> flags, from the file names. */
async function onDisk(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const sub of ["new", "cur"]) {
    for await (const e of Deno.readDir(join(root, sub))) {
      const p = parseFileName(e.name);
      out.set(p.base, p.flags);
    }
  }
  return out;
}

Deno.test("index: built on first open, then trusted while the Maildir is unchanged", async () => {
  await withStore(async (_store, root) => {
    await dropIn(root, 0, 30);
    await ageDirs(root);
    const first = new Folder(root);
    await first.refresh();
    equal(first.messages.size, 30);
    deepStrictEqual([...first.messages.keys()], Array.from({ length: 30 }, (_, i) => i + 1));
    await first.updateFlags([3, 4], () => "S");
    await first.close();
    await Deno.stat(join(root, INDEX_FILE));
    // Our own renames left cur/ changed just now; once that is an hour old as well,
    // the index is trusted without reading either directory.
    await ageDirs(root);
    const settle = new Folder(root);
    await settle.refresh();
    await settle.close();
    const again = new Folder(root);
    const reads = await countReadDirs(() => again.refresh());
    equal(reads, 0, "a settled index needs no directory scan");
    deepStrictEqual(snapshot(again), snapshot(first));
    equal(again.highestModseq, first.highestModseq, "closed cleanly: HIGHESTMODSEQ exact");
    await again.close();
  });
});

Deno.test("index: our own deliveries, flag changes and expunges need no scan", async () => {
  await withStore(async (store, root) => {
    // Big enough that cur/ is only verified now and then (Folder: BIG_DIR).
    await dropIn(root, 0, 6000);
    const inbox = (await store.openFolder(root, "INBOX"))!;
    equal((await inbox.claimRecent()).length, 6000);
    const cur = new RegExp(`^${root}/cur$`);
    const reads = await countReadDirs(async () => {
      const [stored] = await store.deliver([{ root }], msg(100));
      equal(stored.uid, 6001, "the open folder took the delivery in directly");
      ok(inbox.messages.has(6001));
      const appended = await store.append(root, "INBOX", msg(101), { flags: "S" });
      equal(appended.uid, 6002);
      const r = await inbox.updateFlags([1, 2, 6001], (e) => e.flags + "F");
      equal(r.changed.length, 3);
      deepStrictEqual(await inbox.expunge([2]), [2]);
      const copy = await store.copyMessages(inbox, [1, 6001], root, "Archive");
      deepStrictEqual(copy.pairs, [[1, 1], [6001, 2]]);
      const move = await store.copyMessages(inbox, [3], root, "Archive", { move: true });
      deepStrictEqual(move.pairs, [[3, 3]]);
      await inbox.refresh();
      await store.openFolder(root, "INBOX");
    }, cur);
    equal(reads, 0, "INBOX/cur is never read again");
    const disk = await onDisk(root);
    equal(disk.size, inbox.messages.size);
    for (const m of inbox.messages.values()) equal(disk.get(m.base), m.flags);
    const archive = (await store.openFolder(root, "Archive"))!;
    deepStrictEqual([...archive.messages.values()].map((m) => m.flags), ["F", "F", ""]);
  });
});

Deno.test("index: rebuilt when deleted or corrupt; UIDs and flags kept, MODSEQ only grows", async () => {
  await withStore(async (_store, root) => {
    await dropIn(root, 0, 20);
    const f = new Folder(root);
    await f.refresh();
    await f.updateFlags([5, 6, 7], () => "FS");
    await f.expunge([9]);
    const before = snapshot(f);
    const top = f.highestModseq;
    await f.close();
    for (const damage of ["delete", "garbage", "truncate"]) {
      const path = join(root, INDEX_FILE);
      if (damage === "delete") await Deno.remove(path);
      else if (damage === "garbage") await Deno.writeTextFile(path, "not a database ".repeat(500));
      else await Deno.truncate(path, 1000);
      for (const s of ["-wal", "-shm"]) await Deno.remove(path + s).catch(() => {});
      const g = new Folder(root);
      await g.refresh();
      deepStrictEqual(
        snapshot(g).map(([u, b, fl]) => [u, b, fl]),
        before.map(([u, b, fl]) => [u, b, fl]),
        damage,
      );
      ok(g.highestModseq > top, `${damage}: HIGHESTMODSEQ must not go back`);
      for (const m of g.messages.values()) ok(m.modseq > top);
      // The expunge before the loss is unknown now: QRESYNC falls back to "all gaps".
      equal(g.vanishedSince(top), null);
      await g.close();
    }
  });
});

Deno.test("index: changes by other software are reconciled on open", async () => {
  await withStore(async (_store, root) => {
    await dropIn(root, 0, 6);
    const f = new Folder(root);
    await f.refresh();
    await f.claimRecent();
    const top = f.highestModseq;
    const e3 = f.messages.get(3)!, e4 = f.messages.get(4)!;
    await f.close();
    // Meanwhile, with the folder closed: a delivery, a deletion, a flag change.
    const [added] = await dropIn(root, 100, 1);
    await Deno.remove(join(root, "cur", e3.name));
    await Deno.rename(join(root, "cur", e4.name), join(root, "cur", fileNameFor(e4.base, "RS")));
    const g = new Folder(root);
    await g.refresh();
    deepStrictEqual([...g.messages.keys()], [1, 2, 4, 5, 6, 7]);
    equal(g.messages.get(7)!.base, added);
    equal(g.messages.get(4)!.flags, "RS");
    ok(g.messages.get(4)!.modseq > top);
    ok(g.messages.get(7)!.modseq > top);
    equal(g.messages.get(1)!.modseq, f.messages.get(1)!.modseq, "unchanged messages keep theirs");
    deepStrictEqual(g.vanishedSince(top), [3]);
    await g.close();
  });
});

Deno.test("index: two processes on one folder share the UID list", async () => {
  await withStore(async (_store, root) => {
    await dropIn(root, 0, 3);
    const one = new Folder(root), two = new Folder(root);
    await one.refresh();
    await two.refresh();
    const data = msg(7);
    const base = newBaseName(data.length);
    await Deno.writeFile(join(root, "tmp", base), data);
    const [uid] = await two.add([{
      src: join(root, "tmp", base),
      link: false,
      base,
      flags: "",
      size: data.length,
      internalDate: null,
    }]);
    equal(uid, 4);
    await one.refresh(true);
    equal(one.messages.get(4)?.base, base, "the other process's UID is honoured");
    const [next] = await dropIn(root, 8, 1);
    await one.refresh(true);
    equal(one.messages.get(5)?.base, next);
    await two.refresh(true);
    equal(two.messages.get(5)?.base, next);
    await one.close();
    await two.close();
  });
});

Deno.test("index: a crash (SIGKILL) mid-changes leaves a consistent folder", async () => {
  await withStore(async (_store, root) => {
    await dropIn(root, 0, 200);
    const f = new Folder(root);
    await f.refresh();
    const uids = snapshot(f).map(([u, b]) => [u, b]);
    await f.close();
    const url = (p: string) => new URL(p, `file://${REPO}/`).href;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { Folder } from "${url("src/store/folder/folder.ts")}";
         import { newBaseName } from "${url("src/store/maildir_names.ts")}";
         const root = ${JSON.stringify(root)};
         const f = new Folder(root);
         await f.refresh();
         const enc = new TextEncoder();
         for (let i = 0; ; i++) {
           const uid = 1 + (i * 7) % 200;
           await f.updateFlags([uid, 1 + (uid * 3) % 200], (e) => e.flags.includes("S") ? "F" : "S");
           if (i % 10 === 0) {
             const data = enc.encode("Subject: crash " + i + "\\r\\n\\r\\nx\\r\\n");
             const base = newBaseName(data.length);
             await Deno.writeFile(root + "/tmp/" + base, data);
             await f.add([{ src: root + "/tmp/" + base, link: false, base, flags: null,
               size: data.length, internalDate: null }]);
           }
           console.log("modseq " + f.highestModseq);
         }`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let seen = 0;
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const deadline = Date.now() + 20_000;
    let text = "";
    while (seen < 150 && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      const all = [...text.matchAll(/modseq (\d+)/g)];
      seen = all.length;
    }
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    const printed = Math.max(...[...text.matchAll(/modseq (\d+)/g)].map((m) => Number(m[1])));
    ok(seen >= 50, `the child made changes (${seen})`);
    const g = new Folder(root);
    await g.refresh();
    // Every file is there with its UID; the map says what the file names say.
    for (const [uid, base] of uids) equal(g.messages.get(uid as number)?.base, base);
    const disk = await onDisk(root);
    equal(g.messages.size, disk.size);
    for (const m of g.messages.values()) equal(disk.get(m.base), m.flags, `uid ${m.uid}`);
    ok(g.highestModseq >= printed, `HIGHESTMODSEQ ${g.highestModseq} >= ${printed} seen`);
    const before = g.highestModseq;
    await g.updateFlags([1], (e) => e.flags + "D");
    ok(g.messages.get(1)!.modseq > before);
    await g.close();
  });
});

Deno.test("scale: 20,000 messages through the store and the index", async () => {
  await withStore(async (_store, root) => {
    const N = 20_000;
    await dropIn(root, 0, N);
    const f = new Folder(root);
    await f.refresh();
    equal(f.messages.size, N);
    const keys = [...f.messages.keys()];
    ok(keys.every((u, i) => u === i + 1), "UIDs 1..N in order");
    equal((await f.claimRecent()).length, N);
    equal(f.recentCount, 0);
    const flagged = keys.filter((u) => u % 7 === 0);
    const r = await f.updateFlags(flagged, (e) => e.flags + "F");
    equal(r.changed.length, flagged.length);
    const doomed = keys.filter((u) => u % 13 === 0);
    equal((await f.expunge(doomed)).length, doomed.length);
    equal(f.messages.size, N - doomed.length);
    const { uids, count } = f.uidSnapshot();
    equal(count, N - doomed.length);
    ok(uids.subarray(0, count).every((u) => u % 13 !== 0));
    equal(f.unseenCount, N - doomed.length);
    const before = snapshot(f);
    await f.close();
    const g = new Folder(root);
    await g.refresh();
    deepStrictEqual(snapshot(g), before);
    const disk = await onDisk(root);
    equal(disk.size, g.messages.size);
    for (const m of g.messages.values()) equal(disk.get(m.base), m.flags);
    await g.close();
  });
});

Deno.test("scale: 20,000 messages over IMAP, two sessions", async () => {
  const USER = "dan@example.com", PASS = "secret-dan";
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  const N = 20_000;
  await dropIn(root, 0, N);
  const srv = await startTestServer({ dirBase: seed.dirBase });
  const a = await ImapClient.connect(srv.ports.imap);
  const b = await ImapClient.connect(srv.ports.imap);
  try {
    await a.login(USER, PASS);
    await b.login(USER, PASS);
    let r = await a.cmd("SELECT INBOX");
    ok(r.lines.includes(`* ${N} EXISTS`));
    r = await b.cmd("EXAMINE INBOX");
    ok(r.lines.includes(`* ${N} EXISTS`));
    r = await b.cmd("UID FETCH 1:* (FLAGS)");
    equal(r.lines.length, N);
    equal(r.lines[N - 1], `* ${N} FETCH (UID ${N} FLAGS ())`);
    // a flags a range and expunges another; b hears of both, in order.
    equal((await a.cmd("STORE 100:199 +FLAGS.SILENT (\\Flagged)")).status, "OK");
    equal((await a.cmd("UID STORE 19990:20000 +FLAGS.SILENT (\\Deleted)")).status, "OK");
    equal((await a.cmd("EXPUNGE")).lines.length, 11);
    r = await b.cmd("NOOP");
    const expunges = r.lines.filter((l) => l.endsWith(" EXPUNGE"));
    equal(expunges.length, 11);
    equal(expunges[0], `* ${N} EXPUNGE`);
    equal(r.lines.filter((l) => l.includes("\\Flagged")).length, 100);
    r = await b.cmd("FETCH 1:* (UID)");
    equal(r.lines.length, N - 11);
    // Deliveries to the big folder reach both, announced as EXISTS.
    await srv.waitForLog(/ready/);
    equal((await a.cmd("APPEND INBOX {12+}\r\nSubject: n\r\n")).status, "OK");
    r = await b.cmd("NOOP");
    ok(r.lines.includes(`* ${N - 10} EXISTS`), r.lines.join("\n"));
    r = await b.cmd(`SEARCH UID ${N + 1}`);
    ok(r.lines[0].endsWith(` ${N - 10}`), r.lines[0]);
  } finally {
    a.close();
    b.close();
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});
