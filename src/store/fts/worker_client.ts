/**
 * The main thread's side of the full-text index worker (worker.ts): started on first
 * use, stopped after a minute without requests (the index files are closed with it) and
 * at shutdown. Where it cannot start (a compiled binary built without it, see
 * scripts/compile.ts) every call fails and SEARCH scans, as it did before the index.
 */
import { log } from "../../log.ts";
import type { FtsRequest } from "./worker.ts";

type Body = FtsRequest extends infer R ? R extends unknown ? Omit<R, "id"> : never : never;

/** A reply: the result, its sequence number, the index file instance that gave it. */
export interface FtsReply {
  result: unknown;
  seq: number;
  instance?: string;
}

interface Waiting {
  resolve: (v: FtsReply) => void;
  reject: (e: Error) => void;
}

/** The worker could not start, or died: the index is not used in this process. */
export class FtsUnavailable extends Error {}

const IDLE_MS = 60_000;

export class FtsWorker {
  #worker: Worker | null = null;
  #broken = false;
  #nextId = 0;
  readonly #waiting = new Map<number, Waiting>();
  #idle: ReturnType<typeof setTimeout> | undefined;
  /**
   * Replies received so far. The worker answers in the order it serves, so a reply
   * numbered n comes after everything the worker did before it (fts.ts: which indexing
   * batches a query saw).
   */
  #replies = 0;

  get available(): boolean {
    return !this.#broken;
  }

  /** Sends a request; resolves with its result and the reply's sequence number. */
  call(body: Body): Promise<FtsReply> {
    const w = this.#start();
    if (!w) return Promise.reject(new FtsUnavailable("full-text index worker unavailable"));
    const id = this.#nextId++;
    clearTimeout(this.#idle);
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      w.postMessage({ ...body, id });
    });
  }

  #start(): Worker | null {
    if (this.#broken) return null;
    if (this.#worker) return this.#worker;
    try {
      const w = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
      w.onmessage = (
        ev: MessageEvent<{ id: number; result?: unknown; instance?: string; error?: string }>,
      ) => {
        const seq = ++this.#replies;
        const waiting = this.#waiting.get(ev.data.id);
        this.#waiting.delete(ev.data.id);
        if (ev.data.error !== undefined) waiting?.reject(new Error(ev.data.error));
        else waiting?.resolve({ result: ev.data.result, seq, instance: ev.data.instance });
        if (this.#waiting.size === 0) this.#armIdle();
      };
      w.onerror = (ev: ErrorEvent) => {
        ev.preventDefault();
        this.#fail(ev.message);
      };
      this.#worker = w;
      return w;
    } catch (e) {
      this.#fail((e as Error)?.message ?? String(e));
      return null;
    }
  }

  #armIdle(): void {
    clearTimeout(this.#idle);
    const t = this.#idle = setTimeout(() => {
      if (this.#waiting.size === 0) this.#stopWorker();
    }, IDLE_MS);
    Deno.unrefTimer(t);
  }

  #fail(why: string): void {
    if (!this.#broken) log("imap").warn(`full-text index unavailable (${why}); SEARCH scans`);
    this.#broken = true;
    this.#stopWorker();
  }

  #stopWorker(): void {
    clearTimeout(this.#idle);
    this.#worker?.terminate();
    this.#worker = null;
    for (const w of this.#waiting.values()) w.reject(new FtsUnavailable("worker stopped"));
    this.#waiting.clear();
  }

  /** Closes the index files (after the requests sent before) and stops the worker. */
  async close(): Promise<void> {
    if (this.#worker) {
      await this.call({ op: "close", path: "", uidValidity: 0 }).catch(() => {});
    }
    this.#stopWorker();
  }
}
