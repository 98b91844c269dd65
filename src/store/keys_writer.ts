/**
 * The keys spool's worker thread (keys_worker.ts) as the spool sees it: batches go to it
 * in one message whose message bytes are packed into one buffer and transferred, not
 * copied (structured cloning a batch's thousand small arrays held the event loop for
 * tens of milliseconds). The thread keeps indexes open between batches (OpenIndexes);
 * it is stopped, its indexes closed, after IDLE_MS without work and started again by the
 * next batch, so a process whose store is never closed is not held long.
 */
import { log } from "../log.ts";
import type { PendingKeys } from "./keys_spool.ts";
import { LingeringWorker, WorkerModule } from "../workers.ts";

/** One folder's pending keys: its path, and per message its base name and keys. */
export type FolderKeys = [string, [string, PendingKeys][]];

/** A batch as the worker receives it. */
export interface KeysBatch {
  id: number;
  /** StoreHooks.messageKeysModule, for the messages sent as bytes. */
  keysModule: string | null;
  /** Per folder: its path and, per message, [base, key text or null, whole, offset, length]. */
  folders: [string, [string, string | null, boolean, number, number][]][];
  /** The bytes of the messages sent as bytes, one after the other. */
  bytes: Uint8Array;
}

/** The answer to a batch: the folders whose keys could not be stored, and why. */
export interface KeysBatchDone {
  id: number;
  failures: string[];
}

const IDLE_MS = 15_000;

/** Where no thread can run, the spool writes on the main thread (keys_spool.ts). */
const keysWorker = new WorkerModule(
  new URL("./keys_worker.ts", import.meta.url).href,
  "keys spool worker",
  "keys written on the main thread",
  log("store"),
);

export class KeysWriter {
  #nextId = 0;
  #outstanding = 0;
  #idle: (() => void)[] = [];
  /** Resolves the farewell's wait for the thread's "closed". */
  #closed: (() => void) | null = null;
  readonly #thread = new LingeringWorker<KeysBatchDone | "closed">({
    start: (on) => keysWorker.start(on),
    lingerMs: IDLE_MS,
    idle: () => this.#outstanding === 0,
    farewell: (worker) => this.#closeIndexes(worker),
    message: (done) => this.#answered(done),
    error: () => {
      // Logged by keysWorker; the batches sent are lost (the keys are a cache).
      this.#outstanding = 0;
      this.#settled();
    },
  });

  constructor(readonly keysModule: string | undefined) {}

  /** The thread failed or cannot run: the spool writes on the main thread from now on. */
  get failed(): boolean {
    return !keysWorker.available;
  }

  /** Sends a batch to the thread; false when there is none (the caller writes it). */
  write(folders: FolderKeys[]): boolean {
    const worker = this.#thread.get();
    if (!worker) return false;
    let total = 0;
    for (const [, keys] of folders) {
      for (const [, k] of keys) if (typeof k !== "string") total += k.bytes.length;
    }
    const bytes = new Uint8Array(total);
    let offset = 0;
    const packed: KeysBatch["folders"] = folders.map(([path, keys]) => [
      path,
      keys.map(([base, k]) => {
        if (typeof k === "string") return [base, k, false, 0, 0];
        bytes.set(k.bytes, offset);
        offset += k.bytes.length;
        return [base, null, k.whole, offset - k.bytes.length, k.bytes.length];
      }),
    ]);
    const batch: KeysBatch = {
      id: this.#nextId++,
      keysModule: this.keysModule ?? null,
      folders: packed,
      bytes,
    };
    this.#outstanding++;
    worker.postMessage(batch, [bytes.buffer]);
    return true;
  }

  /** Waits for the batches sent, then stops the thread (its indexes closed first). */
  async close(): Promise<void> {
    if (this.#outstanding > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
    await this.#thread.retire();
  }

  #answered(done: KeysBatchDone | "closed"): void {
    if (done === "closed") return this.#closed?.();
    for (const f of done.failures) log("store").debug(f);
    if (--this.#outstanding > 0) return;
    this.#settled();
    this.#thread.linger();
  }

  #settled(): void {
    for (const r of this.#idle.splice(0)) r();
  }

  /** Asks the thread to close its indexes and waits for it (at most 5 s). */
  async #closeIndexes(worker: Worker): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      this.#closed = resolve;
      const timer = setTimeout(resolve, 5000);
      Deno.unrefTimer(timer);
    });
    worker.postMessage("close");
    await closed;
    this.#closed = null;
  }
}
