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

let workers: Worker[] = [];
let broken = false;
let users = 0;
let nextId = 0;
const waiting = new Map<number, Waiting>();

function stopAll(): void {
  for (const w of workers) w.terminate();
  workers = [];
  for (const w of waiting.values()) w.resolve(null);
  waiting.clear();
}

function fail(why: string): void {
  if (!broken) log("imap").warn(`keys reader worker unavailable (${why}); reading in the session`);
  broken = true;
  stopAll();
}

function startWorker(): Worker {
  const w = new Worker(new URL("./keys_worker.ts", import.meta.url).href, { type: "module" });
  w.onmessage = (ev: MessageEvent<{ id: number; results: KeysReadResult[] }>) => {
    const r = waiting.get(ev.data.id);
    waiting.delete(ev.data.id);
    r?.resolve(ev.data.results);
  };
  w.onerror = (ev: ErrorEvent) => {
    ev.preventDefault();
    fail(ev.message);
  };
  return w;
}

/** Starts a bulk read (the workers with it); release when done. False: no worker here. */
export function acquireKeysReader(): boolean {
  if (broken) return false;
  if (workers.length === 0) {
    try {
      for (let i = 0; i < WORKERS; i++) workers.push(startWorker());
    } catch (e) {
      fail((e as Error)?.message ?? String(e));
      return false;
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
