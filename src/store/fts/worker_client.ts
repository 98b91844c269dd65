/**
 * The main thread's side of the full-text index worker (worker.ts): started when the
 * daemon starts (prestart; elsewhere on first use) and kept until shutdown; after a minute
 * without requests it only closes its index files (workers.ts LingeringWorker,
 * keepThread). It used to stop then, and the next SEARCH BODY started it again from a
 * session's command: 22-48 ms of the event loop blocked on the Firecracker machine, every
 * session waiting, where the idle thread costs about 13 MiB of RSS (docs/performance.md
 * "search-html: the full-text worker from daemon start"). Where it cannot start (a
 * compiled binary built without it, see scripts/compile.ts) or failed, every call fails
 * and SEARCH scans, as it did before the index (workers.ts WorkerModule).
 */
import { log } from "../../log.ts";
import { LingeringWorker, WorkerModule } from "../../workers.ts";
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

interface WorkerAnswer {
  id: number;
  result?: unknown;
  instance?: string;
  error?: string;
}

/** Where no thread can run, every call fails and SEARCH scans. */
export const ftsWorkerModule = new WorkerModule(
  new URL("./worker.ts", import.meta.url).href,
  "full-text index worker",
  "SEARCH scans",
  log("imap"),
);

export class FtsWorker {
  #nextId = 0;
  readonly #waiting = new Map<number, Waiting>();
  /**
   * Replies received so far. The worker answers in the order it serves, so a reply
   * numbered n comes after everything the worker did before it (fts.ts: which indexing
   * batches a query saw).
   */
  #replies = 0;
  readonly #thread: LingeringWorker<WorkerAnswer>;
  /** Index files may be open in the thread: a request other than "close" since the last. */
  #holding = false;

  /** `idleMs`: how long the index files stay open after the last request. */
  constructor(readonly module: WorkerModule = ftsWorkerModule, idleMs = IDLE_MS) {
    this.#thread = new LingeringWorker<WorkerAnswer>({
      start: (on) => module.start(on),
      lingerMs: idleMs,
      keepThread: true,
      farewell: () => this.#letGo(),
      idle: () => this.#waiting.size === 0,
      message: (answer) => this.#answered(answer),
      error: () => this.#rejectAll(), // logged by the module
    });
  }

  get available(): boolean {
    return this.module.available;
  }

  /** The thread running now, if any. */
  get running(): Worker | null {
    return this.#thread.running;
  }

  /** Starts the thread ahead of the first request; false where none can run. */
  prestart(): boolean {
    return this.#thread.prestart();
  }

  /** Sends a request; resolves with its result and the reply's sequence number. */
  call(body: Body): Promise<FtsReply> {
    const w = this.#thread.get();
    if (!w) return Promise.reject(new FtsUnavailable("full-text index worker unavailable"));
    const id = this.#nextId++;
    this.#holding = body.op !== "close";
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      w.postMessage({ ...body, id });
    });
  }

  #answered(answer: WorkerAnswer): void {
    const seq = ++this.#replies;
    const waiting = this.#waiting.get(answer.id);
    this.#waiting.delete(answer.id);
    if (answer.error !== undefined) waiting?.reject(new Error(answer.error));
    else waiting?.resolve({ result: answer.result, seq, instance: answer.instance });
    this.#thread.linger();
  }

  /** Idle for IDLE_MS: the thread closes its index files (their caches freed) and stays. */
  async #letGo(): Promise<void> {
    if (this.#holding) await this.call({ op: "close", path: "", uidValidity: 0 }).catch(() => {});
  }

  #rejectAll(): void {
    for (const w of this.#waiting.values()) w.reject(new FtsUnavailable("worker stopped"));
    this.#waiting.clear();
  }

  /** Closes the index files (after the requests sent before) and stops the worker. */
  async close(): Promise<void> {
    if (this.#thread.running) {
      await this.call({ op: "close", path: "", uidValidity: 0 }).catch(() => {});
    }
    this.#thread.stop();
    this.#rejectAll();
  }
}
