/**
 * Reading many message files for their SORT/SEARCH keys off the main thread: a worker
 * (keys_worker.ts) reads each file's header block with blocking reads and computes the
 * keys (the EMAILID is left for its first use), so the session's event loop only stores
 * the results. Reading 100,000 files on the event loop costs tens of microseconds of its time
 * per file in asynchronous file operations alone; here it costs none.
 *
 * The workers (one per spare core, at most four) are started by the first bulk read and
 * stopped when the last one ends. Where it cannot start (a compiled binary built without it, see
 * scripts/compile.ts), `read` answers null and the caller reads on the main thread.
 */
import { log } from "../log.ts";
import { WorkerModule } from "../workers.ts";

/** One file to read: its path, and whether its mtime (internal date) is wanted. */
export interface KeysReadItem {
  path: string;
  date: boolean;
}

/** Per file: the stored key text and the mtime asked for, or that it was not found. */
export type KeysReadResult =
  | { text: string; mtime: number | null }
  | { missing: true }
  | { error: string };

export interface KeysReadRequest {
  id: number;
  items: KeysReadItem[];
  /** The longest header block read. */
  cap: number;
}

interface Waiting {
  resolve: (r: KeysReadResult[] | null) => void;
}

/** Workers: one per spare core, at most four (reading is mostly parsing). */
const WORKERS = Math.max(1, Math.min(4, (navigator.hardwareConcurrency ?? 2) - 1));

/** Where no thread can run, `read` answers null and the caller reads the files itself. */
const keysReader = new WorkerModule(
  new URL("./keys_worker.ts", import.meta.url).href,
  "keys reader worker",
  "reading in the session",
  log("imap"),
);

let workers: Worker[] = [];
let users = 0;
let nextId = 0;
const waiting = new Map<number, Waiting>();

function stopAll(): void {
  for (const w of workers) w.terminate();
  workers = [];
  for (const w of waiting.values()) w.resolve(null);
  waiting.clear();
}

function startOne(): Worker | null {
  return keysReader.start<{ id: number; results: KeysReadResult[] }>({
    message: (answer) => {
      const r = waiting.get(answer.id);
      waiting.delete(answer.id);
      r?.resolve(answer.results);
    },
    error: stopAll,
  });
}

/** Starts a bulk read (the workers with it); release when done. False: no worker here. */
export function acquireKeysReader(): boolean {
  if (workers.length === 0) {
    for (let i = 0; i < WORKERS; i++) {
      const w = startOne();
      if (!w) {
        stopAll();
        return false;
      }
      workers.push(w);
    }
  }
  users++;
  return true;
}

export function releaseKeysReader(): void {
  if (--users > 0) return;
  users = 0;
  stopAll();
}

/** Requests sent at once so that no worker waits: two per worker. */
export function keysReaderSlots(): number {
  return Math.max(1, workers.length) * 2;
}

/**
 * Reads a batch of files in a worker; null when the workers are gone (the caller reads
 * them itself). Only between acquireKeysReader and releaseKeysReader.
 */
export function readKeys(items: KeysReadItem[], cap: number): Promise<KeysReadResult[] | null> {
  if (workers.length === 0) return Promise.resolve(null);
  const id = nextId++;
  const request: KeysReadRequest = { id, items, cap };
  const worker = workers[id % workers.length];
  return new Promise((resolve) => {
    waiting.set(id, { resolve });
    worker.postMessage(request);
  });
}
