/**
 * A first SELECT of a big folder another MDA filled (no index yet): every file of new/
 * moves to cur/ (the \Recent claim), 90,000 renames that cost the kernel about 20 µs
 * each. Run from the event loop after the scan they were half of that SELECT. Here a
 * worker (move_worker.ts) reads new/ in place of the scan, tells it the names and where
 * they go, and moves them while the scan assigns their UIDs and writes their index rows.
 * The worker serves one folder and stops. Where no worker can start (a compiled binary
 * built without it, see scripts/compile.ts) the scan reads new/ itself and the claim
 * after it moves the files (changes.ts claimRecent).
 */
import { baseOf } from "../maildir_names.ts";
import type { FolderState } from "./state.ts";

/** The worker's first answer: the message files of new/ and their names in cur/. */
export interface NewListing {
  /** One per line (Maildir names hold no line breaks). */
  names?: string;
  targets?: string;
  error?: string;
}

/** Its second: per file 1 when moved, 0 when not (gone, or an error stopped the batch). */
export interface MoveReply {
  done: Uint8Array;
  error: string | null;
}

/** The files of new/ being moved (moveNewOnWorker), by base name. */
export interface NewMoves {
  /** Names in new/ and in cur/ by base name, in the worker's order. */
  names: Map<string, string>;
  targets: Map<string, string>;
  /** The worker's second answer; null when it failed (whatever it moved, a scan finds). */
  reply: Promise<MoveReply | null>;
  /** DirMarks.begin's second stat, once the scan settled its marks. */
  finish: () => Promise<void>;
}

/**
 * A new/ this big (bytes of the directory itself: ext4 about 64 per name) is read and
 * moved on a worker; below it starting one costs more than it saves.
 */
const BIG_NEW_DIR = 64 * 1024;
let broken = false;

/**
 * Starts the worker on `st`'s new/ and waits for its listing; null when new/ is small or
 * no worker could run (nothing was moved then: the caller reads new/ itself).
 */
export async function moveNewOnWorker(st: FolderState): Promise<NewMoves | null> {
  if (broken) return null;
  const size = await Deno.stat(`${st.path}/new`).then((s) => s.size, () => 0);
  if (size < BIG_NEW_DIR) return null;
  const finish = await st.dirs.begin(["new", "cur"]);
  let worker: Worker;
  try {
    worker = new Worker(new URL("./move_worker.ts", import.meta.url).href, { type: "module" });
  } catch {
    broken = true;
    return null;
  }
  // Two answers in turn: the listing, then the moves.
  const waiting: ((m: NewListing | MoveReply | null) => void)[] = [];
  const listed = new Promise<NewListing | null>((r) => waiting.push(r as never));
  const moved = new Promise<MoveReply | null>((r) => waiting.push(r as never));
  worker.onmessage = (ev: MessageEvent<NewListing | MoveReply>) => waiting.shift()?.(ev.data);
  worker.onerror = (ev: ErrorEvent) => {
    ev.preventDefault();
    broken = true;
    for (const answer of waiting.splice(0)) answer(null);
  };
  worker.postMessage({ dir: st.path });
  const listing = await listed;
  if (!listing || listing.error !== undefined) {
    worker.terminate();
    return null;
  }
  const reply = moved.finally(() => worker.terminate());
  const names = new Map<string, string>(), targets = new Map<string, string>();
  const from = listing.names ? listing.names.split("\n") : [];
  const to = listing.targets ? listing.targets.split("\n") : [];
  for (let i = 0; i < from.length; i++) {
    const base = baseOf(to[i]);
    names.set(base, from[i]);
    targets.set(base, to[i]);
  }
  return { names, targets, reply, finish };
}
