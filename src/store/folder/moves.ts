/**
 * A first SELECT of a big folder another MDA filled (no index yet): every file of new/
 * moves to cur/ (the \Recent claim), 90,000 renames that cost the kernel about 20 µs
 * each. Run from the event loop after the scan they were half of that SELECT. Here the
 * scan reads new/ (in one blocking call, while a worker starts) and a worker
 * (move_worker.ts) moves the files while the scan assigns their UIDs and writes their
 * index rows; the SELECT is answered before the moves end (scan.ts). The worker serves
 * one folder and stops. Where no worker can run (a compiled binary built without it, see
 * scripts/compile.ts) the files are moved on the event loop, a slice at a time.
 */
import { log } from "../../log.ts";
import { WorkerModule } from "../../workers.ts";
import { yieldToEventLoop } from "../fsutil.ts";
import { baseOf, fileNameFor, parseFileName } from "../maildir_names.ts";
import type { FolderState } from "./state.ts";

/** What the worker is asked: names in new/ and in cur/, one per line (none holds a break). */
export interface MoveRequest {
  dir: string;
  names: string;
  targets: string;
}

/** Its answer: per file 1 when moved, 0 when not (gone, or an error stopped the batch). */
export interface MoveReply {
  done: Uint8Array;
  error: string | null;
}

/** The files of new/ being moved (moveNewOnWorker), by base name. */
export interface NewMoves {
  /** Names in new/ and in cur/ by base name, in directory order. */
  names: Map<string, string>;
  targets: Map<string, string>;
  /** The moves' outcome, in the order of `names`. */
  reply: Promise<MoveReply>;
  /** DirMarks.begin's second stat, once the scan settled its marks. */
  finish: () => Promise<void>;
}

/**
 * The files of new/ a worker is moving while the folder already answers as if they were
 * in cur/ (scan.ts answers a first SELECT before the moves end): a reader that does not
 * find a file in cur/ looks for it under its name in new/ (Folder.read and friends).
 */
export class MovesInFlight {
  #names: ReadonlyMap<string, string> | null = null;
  /**
   * UIDs a first SELECT reported as \Recent whose files stayed in new/ (a rename failed
   * after the answer): \Recent belongs to one session only (RFC 3501 §2.3.2), so a later
   * claim moves them without reporting them again (changes.ts claimRecent).
   */
  readonly claimedInNew = new Set<number>();

  set(names: ReadonlyMap<string, string>): void {
    this.#names = names;
  }

  clear(): void {
    this.#names = null;
  }

  /** Whether files are being moved now. */
  get active(): boolean {
    return this.#names !== null;
  }

  /** The name in new/ of a message being moved, if it is. */
  nameInNew(base: string): string | undefined {
    return this.#names?.get(base);
  }
}

/**
 * A new/ this big (bytes of the directory itself: ext4 about 64 per name) is read and
 * moved on a worker; below it starting one costs more than it saves.
 */
const BIG_NEW_DIR = 64 * 1024;

/** Where no thread can run, the files are moved on the event loop (moveHere). */
export const moveWorker = new WorkerModule(
  new URL("./move_worker.ts", import.meta.url).href,
  "new/ to cur/ mover worker",
  "a first SELECT moves the files on the event loop",
  log("store"),
);

/** The message files of new/ as scan.ts counts them (no dot files, no line breaks). */
function listNew(folderPath: string): { names: Map<string, string>; targets: Map<string, string> } {
  const names = new Map<string, string>(), targets = new Map<string, string>();
  for (const e of Deno.readDirSync(`${folderPath}/new`)) {
    if (!e.isFile || e.name.startsWith(".") || e.name.includes("\n") || e.name.includes("\r")) {
      continue;
    }
    const base = baseOf(e.name);
    if (names.has(base)) continue; // one file per message
    names.set(base, e.name);
    targets.set(base, fileNameFor(base, parseFileName(e.name).flags));
  }
  return { names, targets };
}

/** Longest run of renames on the event loop before other work gets it (moveHere). */
const SLICE_MS = 8;

/**
 * The moves on the event loop, a slice at a time (no worker could run, or it stopped;
 * scan.ts also retries here what the worker left): a file already in cur/ counts as
 * moved. A file that fails does not stop the others; `error` is the first failure.
 */
export async function moveHere(
  dir: string,
  names: ReadonlyMap<string, string>,
  targets: ReadonlyMap<string, string>,
): Promise<MoveReply> {
  const done = new Uint8Array(names.size);
  let i = 0, sliceStart = performance.now(), error: string | null = null;
  for (const [base, name] of names) {
    const target = `${dir}/cur/${targets.get(base)}`;
    try {
      Deno.renameSync(`${dir}/new/${name}`, target);
      done[i] = 1;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        error ??= `${(e as Error)?.message ?? e}`;
      } else {
        try {
          Deno.lstatSync(target);
          done[i] = 1;
        } catch { /* gone: a scan removes it */ }
      }
    }
    if ((++i & 31) === 0 && performance.now() - sliceStart > SLICE_MS) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }
  return { done, error };
}

/**
 * Reads a big new/ of `st` and starts moving its files to cur/ (on a worker when one can
 * run); null when new/ is small (the caller reads it and claims the plain way).
 */
export async function moveNewOnWorker(
  st: FolderState,
  module: WorkerModule = moveWorker,
): Promise<NewMoves | null> {
  const size = await Deno.stat(`${st.path}/new`).then((s) => s.size, () => 0);
  if (size < BIG_NEW_DIR) return null;
  const finish = await st.dirs.begin(["new", "cur"]);
  // The worker's answer; null when it cannot run or failed (logged by the module).
  const { promise: onWorker, resolve: answered } = Promise.withResolvers<MoveReply | null>();
  const worker = module.start<MoveReply>({ message: answered, error: () => answered(null) });
  // Read here while the worker starts (it waited for the worker's own listing before).
  let listed: ReturnType<typeof listNew>;
  try {
    listed = listNew(st.path);
  } catch (e) {
    worker?.terminate();
    await finish();
    throw e;
  }
  const { names, targets } = listed;
  if (worker) {
    worker.postMessage(
      {
        dir: st.path,
        names: [...names.values()].join("\n"),
        targets: [...targets.values()].join("\n"),
      } satisfies MoveRequest,
    );
  } else answered(null);
  // No worker (or it failed): the moves run on the event loop.
  const reply = onWorker.finally(() => worker?.terminate())
    .then((r) => r ?? moveHere(st.path, names, targets));
  return { names, targets, reply, finish };
}
