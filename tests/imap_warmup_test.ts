/**
 * The start-up warm-up of the restart-SELECT path (src/imap/warmup.ts): it really opens its
 * folder from the index's summary (the path a restart's SELECT takes), leaves nothing
 * behind, never throws, and the daemon runs it before it is ready.
 */
import { deepStrictEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { MailStore, UIDLIST } from "../src/store/mailstore.ts";
import { warmSelectPath, warmupPath } from "../src/imap/warmup.ts";
import { startTestServer } from "./helpers/server.ts";

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("warm-up: the folder loads from its summary, and nothing is left", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-warmup-" });
  const store = new MailStore(join(base, "data"), 0);
  try {
    const dir = join(base, "incoming");
    await Deno.mkdir(dir);
    await Deno.writeTextFile(join(dir, "other"), "x"); // a neighbour stays
    equal(await warmSelectPath(store, dir), "summary");
    deepStrictEqual(await names(dir), ["other"]);
    // Again in the same process (its folder was forgotten by the store, not kept open).
    equal(await warmSelectPath(store, dir), "summary");
    deepStrictEqual(await names(dir), ["other"]);
  } finally {
    await store.close();
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("warm-up: a failure is reported, not thrown, and cleaned up", async () => {
  const base = await Deno.makeTempDir({ prefix: "extremail-warmup-" });
  const store = new MailStore(join(base, "data"), 0);
  try {
    // A file where the directory should be: no folder can be made under it.
    const notDir = join(base, "incoming");
    await Deno.writeTextFile(notDir, "x");
    equal(await warmSelectPath(store, notDir), "failed");
    // A folder that cannot be loaded (its cur/ a file): made, failed, removed.
    const dir = join(base, "in");
    await Deno.mkdir(join(warmupPath(dir)), { recursive: true });
    await Deno.writeTextFile(join(warmupPath(dir), "cur"), "x");
    equal(await warmSelectPath(store, dir), "failed");
    deepStrictEqual(await names(dir), []);
    // A load that fails half-way (its UID list a directory): the folder is closed, removed.
    await Deno.mkdir(join(warmupPath(dir), UIDLIST), { recursive: true });
    equal(await warmSelectPath(store, dir), "failed");
    deepStrictEqual(await names(dir), []);
  } finally {
    await store.close();
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("warm-up: the daemon runs it before it is ready and leaves incoming/ empty", async () => {
  const srv = await startTestServer();
  try {
    const logs = srv.logs();
    match(logs, /DEBUG server SELECT path warmed in [\d.]+ ms \(folder loaded from its summary\)/);
    equal(logs.indexOf("SELECT path warmed") < logs.indexOf("INFO server ready"), true);
    deepStrictEqual(await names(join(srv.config.DirBase, "incoming")), []);
  } finally {
    await srv.stop();
    await Deno.remove(srv.dirBase, { recursive: true });
  }
});

Deno.test("start: the directory check worker is started before the daemon is ready", async () => {
  // A restart's first verification of a big folder (store/folder/verify.ts) comes with its
  // first check or 2 s after its first change: started there, the worker's start held the
  // event loop for every session (store/mailstore.ts prestartDirCheck).
  const srv = await startTestServer();
  try {
    const logs = srv.logs();
    const started = logs.indexOf("DEBUG store directory check worker started");
    equal(started >= 0 && started < logs.indexOf("INFO server ready"), true);
  } finally {
    await srv.stop();
    await Deno.remove(srv.dirBase, { recursive: true });
  }
});
