/**
 * A first SELECT of a big folder another MDA filled (no index yet): every file of new/
 * moves to cur/ (the \Recent claim), 90,000 renames that cost the kernel about 20 µs
 * each. Run from the event loop after the scan they were half of that SELECT. Here a
 * worker (move_worker.ts) lists new/, hands the names over as one string (new_listing.ts)
 * and moves the files while the scan reads cur/, assigns their UIDs and writes their
 * index rows; the SELECT is answered before the moves end (scan.ts). The worker serves
 * one folder and stops. Where no worker can run (a compiled binary built without it, see
 * scripts/compile.ts) the files are moved on the event loop, a slice at a time.
 */
import { log } from "../../log.ts";
import { WorkerModule } from "../../workers.ts";
import { yieldToEventLoop } from "../fsutil.ts";
import { baseOf } from "../maildir_names.ts";
import { listNew, nameAt, type NewListing, targetOf } from "./new_listing.ts";
import type { FolderState } from "./state.ts";

/** What the worker is asked: the folder whose new/ it lists and moves. */
export interface MoveRequest {
  dir: string;
}

/** Its answer: per file of the listing 1 when moved, 0 when not (gone, or an error stopped the batch). */
export interface MoveReply {
  done: Uint8Array;
  error: string | null;
}

/** What the worker sends: the listing first (or why it failed), then the moves' reply. */
export type FromMover =
  | { listing: NewListing }
  | { listError: { name: string; message: string } }
  | MoveReply;

/** The files of new/ being moved (moveNewOnWorker). */
export interface NewMoves {
  /** The files of new/, by position (new_listing.ts); rejects when new/ cannot be read. */
  listed: Promise<NewListing>;
  /** The moves' outcome, by the listing's positions. */
  reply: Promise<MoveReply>;
  /** DirMarks.begin's second stat, once the scan settled its marks (once; later calls wait). */
  finish: () => Promise<void>;
}

/**
 * The files of new/ a worker is moving while the folder already answers as if they were
 * in cur/ (scan.ts answers a first SELECT before the moves end): a reader that does not
 * find a file in cur/ looks for it under its name in new/ (Folder.read and friends).
 */
export class MovesInFlight {
  #listing: NewListing | null = null;
  /** Listing positions by base name, made on the first look-up (a read that missed). */
  #byBase: Map<string, number> | null = null;
  /**
   * UIDs a first SELECT reported as \Recent whose files stayed in new/ (a rename failed
   * after the answer): \Recent belongs to one session only (RFC 3501 §2.3.2), so a later
   * claim moves them without reporting them again (changes.ts claimRecent).
   */
  readonly claimedInNew = new Set<number>();

  set(listing: NewListing): void {
    this.#listing = listing;
    this.#byBase = null;
  }

  clear(): void {
    this.#listing = this.#byBase = null;
  }

  /** Whether files are being moved now. */
  get active(): boolean {
    return this.#listing !== null;
  }

  /** The name in new/ of a message being moved, if it is. */
  nameInNew(base: string): string | undefined {
    const l = this.#listing;
    if (!l) return undefined;
    if (!this.#byBase) {
      this.#byBase = new Map();
      for (let i = 0; i < l.count; i++) this.#byBase.set(baseOf(nameAt(l, i)), i);
    }
    const i = this.#byBase.get(base);
    return i === undefined ? undefined : nameAt(l, i);
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

/** Longest run of renames on the event loop before other work gets it (moveHere). */
const SLICE_MS = 8;

/**
 * The moves on the event loop, a slice at a time (no worker could run, or it stopped;
 * scan.ts also retries here what the worker left): the files of `listing` at positions
 * `only` (all when not given); `done` is by the listing's positions. A file already in
 * cur/ counts as moved. A file that fails does not stop the others; `error` is the first
 * failure.
 */
export async function moveHere(
  dir: string,
  listing: NewListing,
  only?: readonly number[],
): Promise<MoveReply> {
  const done = new Uint8Array(listing.count);
  const n = only ? only.length : listing.count;
  let sliceStart = performance.now(), error: string | null = null;
  for (let k = 0; k < n; k++) {
    const i = only ? only[k] : k;
    const name = nameAt(listing, i);
    const target = `${dir}/cur/${targetOf(name)}`;
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
    if (((k + 1) & 31) === 0 && performance.now() - sliceStart > SLICE_MS) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }
  return { done, error };
}

/** An error the worker reported for its listing, as the same kind of error here. */
function listErrorOf(e: { name: string; message: string }): Error {
  const Kind = (Deno.errors as unknown as Record<string, new (m: string) => Error>)[e.name];
  return typeof Kind === "function" ? new Kind(e.message) : new Error(e.message);
}

/**
 * Starts listing a big new/ of `st` and moving its files to cur/ (on a worker when one can
 * run); null when new/ is small (the caller reads it and claims the plain way). The
 * listing comes later (`listed`): the caller reads cur/ meanwhile. When it fails the
 * marks' change begun here is finished before `listed` rejects.
 */
export async function moveNewOnWorker(
  st: FolderState,
  module: WorkerModule = moveWorker,
): Promise<NewMoves | null> {
  const size = await Deno.stat(`${st.path}/new`).then((s) => s.size, () => 0);
  if (size < BIG_NEW_DIR) return null;
  const began = await st.dirs.begin(["new", "cur"]);
  let finishing: Promise<void> | null = null;
  const finish = () => finishing ??= began();
  const listing = Promise.withResolvers<NewListing>();
  // The worker's moves; null when it cannot run or failed (logged by the module).
  const { promise: onWorker, resolve: answered } = Promise.withResolvers<MoveReply | null>();
  let heard = false;
  const listHere = () => {
    heard = true;
    try {
      listing.resolve(listNew(st.path).listing);
    } catch (e) {
      listing.reject(e);
    }
  };
  const worker = module.start<FromMover>({
    message: (m) => {
      if ("listing" in m) {
        heard = true;
        listing.resolve(m.listing);
      } else if ("listError" in m) {
        heard = true;
        listing.reject(listErrorOf(m.listError));
        answered(null);
      } else answered(m);
    },
    error: () => {
      if (!heard) listHere(); // it failed before its listing: list here
      answered(null);
    },
  });
  if (worker) worker.postMessage({ dir: st.path } satisfies MoveRequest);
  else {
    listHere();
    answered(null);
  }
  const listed = listing.promise.catch(async (e) => {
    await finish();
    throw e;
  });
  // No worker (or it failed): the moves run on the event loop.
  const reply = onWorker.finally(() => worker?.terminate())
    .then(async (r) => r ?? moveHere(st.path, await listed));
  // A failed listing: the caller hears it from `listed` (or has failed already).
  reply.catch(() => {});
  listed.catch(() => {});
  return { listed, reply, finish };
}
