/**
 * Reading many message files for their SORT/SEARCH keys off the main thread: a worker
 * (keys_worker.ts) reads each file's header block (or the whole file when small) with
 * blocking reads and computes the keys, so the session's event loop only stores the
 * results. Reading 100,000 files on the event loop costs tens of microseconds of its time
 * per file in asynchronous file operations alone; here it costs none.
 *
 * One worker per process, started by the first bulk read and stopped when the last one
 * ends. Where it cannot start (a compiled binary built without it, see
 * scripts/compile.ts), `read` answers null and the caller reads on the main thread.
 */
import { log } from "../log.ts";

/** One file to read: its path, its size, whether its mtime (internal date) is wanted. */
export interface KeysReadItem {
  path: string;
  size: number;
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
  wholeUpTo: number;
  cap: number;
}

interface Waiting {
  resolve: (r: KeysReadResult[] | null) => void;
}

let worker: Worker | null = null;
let broken = false;
let users = 0;
let nextId = 0;
const waiting = new Map<number, Waiting>();

function fail(why: string): void {
  if (!broken) log("imap").warn(`keys reader worker unavailable (${why}); reading in the session`);
  broken = true;
  worker?.terminate();
  worker = null;
  for (const w of waiting.values()) w.resolve(null);
  waiting.clear();
}

/** Starts a bulk read (the worker with it); `release` when done. False: no worker here. */
export function acquireKeysReader(): boolean {
  if (broken) return false;
  if (!worker) {
    try {
      worker = new Worker(new URL("./keys_worker.ts", import.meta.url).href, { type: "module" });
    } catch (e) {
      fail((e as Error)?.message ?? String(e));
      return false;
    }
    worker.onmessage = (ev: MessageEvent<{ id: number; results: KeysReadResult[] }>) => {
      const w = waiting.get(ev.data.id);
      waiting.delete(ev.data.id);
      w?.resolve(ev.data.results);
    };
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      fail(ev.message);
    };
  }
  users++;
  return true;
}

export function releaseKeysReader(): void {
  if (--users > 0 || !worker) return;
  users = 0;
  worker.terminate();
  worker = null;
  for (const w of waiting.values()) w.resolve(null);
  waiting.clear();
}

/**
 * Reads a batch of files in the worker; null when the worker is gone (the caller reads
 * them itself). Only between acquireKeysReader and releaseKeysReader.
 */
export function readKeys(
  items: KeysReadItem[],
  wholeUpTo: number,
  cap: number,
): Promise<KeysReadResult[] | null> {
  if (!worker) return Promise.resolve(null);
  const id = nextId++;
  const request: KeysReadRequest = { id, items, wholeUpTo, cap };
  return new Promise((resolve) => {
    waiting.set(id, { resolve });
    worker!.postMessage(request);
  });
}
