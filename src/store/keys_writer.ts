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

export class KeysWriter {
  #worker: Worker | null = null;
  #nextId = 0;
  #outstanding = 0;
  #idle: (() => void)[] = [];
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Resolves #stop()'s wait for the thread's "closed". */
  #closed: (() => void) | null = null;
  /** The worker failed: the spool writes on the main thread from now on. */
  failed = false;

  constructor(readonly keysModule: string | undefined) {}

  write(folders: FolderKeys[]): void {
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
    const worker = this.#start();
    this.#outstanding++;
    worker.postMessage(batch, [bytes.buffer]);
  }

  /** Waits for the batches sent, then stops the thread (its indexes closed first). */
  async close(): Promise<void> {
    if (this.#outstanding > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
    await this.#stop();
  }

  #start(): Worker {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL("./keys_worker.ts", import.meta.url).href, {
      type: "module",
    });
    worker.onmessage = (ev: MessageEvent<KeysBatchDone | "closed">) => {
      if (ev.data === "closed") return this.#closed?.();
      for (const f of ev.data.failures) log("store").debug(f);
      if (--this.#outstanding > 0) return;
      for (const r of this.#idle.splice(0)) r();
      const timer = this.#idleTimer = setTimeout(() => void this.#stop(), IDLE_MS);
      Deno.unrefTimer(timer);
    };
    worker.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      log("store").warn(`keys spool worker failed, keys written on the main thread: ${ev.message}`);
      this.failed = true;
      this.#outstanding = 0;
      for (const r of this.#idle.splice(0)) r();
      this.#terminate();
    };
    this.#worker = worker;
    return worker;
  }

  /** Asks the thread to close its indexes (at most 5 s), then stops it. */
  async #stop(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    const closed = new Promise<void>((resolve) => {
      this.#closed = resolve;
      const timer = setTimeout(resolve, 5000);
      Deno.unrefTimer(timer);
    });
    worker.postMessage("close");
    await closed;
    this.#closed = null;
    // A batch sent meanwhile restarted the idle wait: the thread stays.
    if (this.#worker === worker && this.#outstanding === 0) this.#terminate();
  }

  #terminate(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#worker?.terminate();
    this.#worker = null;
  }
}
