/**
 * A SELECT of a folder whose index is on disk, run once at start on a throwaway folder,
 * before the listeners open: V8 compiles a function the first time it is called, and a
 * restart's first SELECT of a 100,000-message INBOX called about 170 functions for the
 * first time (opening the index, reading its summary, the folder's parts, the view):
 * about 2 ms of a 7-12 ms SELECT (docs/performance.md, stop 35). Run here, the client's
 * SELECT finds them compiled, with their inline caches warm. `--v8-flags=--no-lazy` did
 * the same for the whole process at +9 MiB and a slower start.
 *
 * The folder is a few messages written into `<DirBase>/incoming/` (whatever is left there
 * at start is removed: IncomingFiles.clean), loaded once the slow way (its index and
 * summary written at the close), then opened as a restart opens it: from the summary,
 * and the view's sync of the NOOP a client sends next runs too. Nothing a client can see
 * changes: the folder is gone before the first connection, and a failure is logged at
 * debug and the daemon starts as it would have.
 */
import { join } from "node:path";
import { log } from "../log.ts";
import { Folder } from "../store/folder/folder.ts";
import type { MailStore } from "../store/mailstore.ts";
import { fileNameFor, newBaseName } from "../store/maildir_names.ts";
import { mailboxId } from "./objectid.ts";
import { selectResponses } from "./commands_select.ts";
import { MailboxView } from "./view.ts";
import { warmSearchLine } from "./search_line.ts";

/** Directory mtimes this far back are settled (dirs.ts MTIME_SETTLE_MS): the summary is trusted. */
const SETTLED_MS = 10_000;
/** Flag letters of the messages: read, unread, flagged and answered, deleted, a draft. */
const FLAGS = ["S", "", "FRS", "ST", "D", "S"];

/** The path of the warm-up folder under `dir` (incoming/: emptied at every start). */
export function warmupPath(dir: string): string {
  return join(dir, `warmup.${Deno.pid}`);
}

/**
 * How the warm-up's second open loaded the folder: "summary" is the restart's path (the
 * one meant), "rows" another (the summary was not trusted: its directories' mtimes, say),
 * "failed" when something threw.
 */
export type WarmupResult = "summary" | "rows" | "failed";

/**
 * Runs the restart-SELECT path once on a throwaway folder under `dir` and removes it.
 * Never throws: the warm-up only saves time.
 */
export async function warmSelectPath(store: MailStore, dir: string): Promise<WarmupResult> {
  const root = warmupPath(dir);
  const started = performance.now();
  let result: WarmupResult = "failed";
  try {
    writeFolder(root);
    // The slow load (no index yet): its close writes the index's summary.
    const first = new Folder(root);
    try {
      await first.refresh();
      await mailboxId(root);
    } finally {
      await first.close(); // its index too when the load failed half-way
    }
    // As a restart's SELECT: the store loads it from the summary.
    const claimed: number[] = [];
    const folder = await store.openFolder(root, "INBOX", claimed);
    if (!folder) throw new Error("the warm-up folder is gone");
    result = folder.rowsDeferred ? "summary" : "rows";
    const view = new MailboxView(store, folder, "INBOX", false);
    try {
      await view.open(claimed);
      selectResponses(view, await mailboxId(root), false);
      // The NOOP a client sends next (RFC 3501 §6.1.2): the view's forced sync.
      await view.sync({ expunge: true, force: true, rev1: true, flags: () => "" });
    } finally {
      view.close();
    }
    // A SEARCH of one flag (UNSEEN): its WebAssembly pass compiled and its memory's pages
    // written, 4-9 ms off a process's first SEARCH UNSEEN of 100,000 (stop 35, unseen).
    warmSearchLine();
    const ms = (performance.now() - started).toFixed(1);
    log("server").debug(`SELECT path warmed in ${ms} ms (folder loaded from its ${result})`);
  } catch (e) {
    result = "failed";
    log("server").debug(`SELECT path warm-up failed: ${(e as Error)?.message ?? e}`);
  } finally {
    // Closes the store's copy of the folder (its index) and removes the files.
    await store.removeMailbox(root).catch((e) => {
      log("server").debug(`removing ${root}: ${(e as Error)?.message ?? e}`);
    });
  }
  return result;
}

/** A Maildir with a few messages in cur/, its directories dated in the past (settled). */
function writeFolder(root: string): void {
  // Synchronous: a few small files, and each asynchronous call is a turn of a thread.
  for (const sub of ["tmp", "new", "cur"]) Deno.mkdirSync(join(root, sub), { recursive: true });
  const enc = new TextEncoder();
  for (const [i, letters] of FLAGS.entries()) {
    const data = enc.encode(
      `From: warm-up <warmup@localhost>\r\nTo: warmup@localhost\r\n` +
        `Subject: warm-up ${i}\r\nMessage-ID: <warmup-${i}@localhost>\r\n\r\nwarm-up\r\n`,
    );
    Deno.writeFileSync(join(root, "cur", fileNameFor(newBaseName(data.length), letters)), data);
  }
  const past = new Date(Date.now() - SETTLED_MS);
  for (const sub of ["new", "cur"]) Deno.utimeSync(join(root, sub), past, past);
}
