/**
 * Worker threads, started one way everywhere. A module worker reports an uncaught error
 * as an 'error' event that, unhandled, ends the whole process: startWorker() handles it
 * (preventDefault) and hands the message to the owner, who ends the thread.
 *
 * Most workers do work the main thread could do more slowly: where one cannot run (a
 * compiled binary built without its module, see scripts/compile.ts) or fails, the caller
 * does that work itself from then on. WorkerModule keeps that decision, once per module
 * and process, and logs it once. LingeringWorker is the life of a thread kept for a
 * stream of requests: started by the first (or ahead of it: prestart), stopped a while
 * after the last, or only told to let go of what it holds (keepThread).
 *
 * Why a start matters: `new Worker()` blocks its caller until the thread's runtime
 * exists, 22-48 ms on the Firecracker machine (docs/performance.md "Worker starts off the
 * event loop"), and a start from a session's command stalls every other session.
 */
import type { Logger } from "./log.ts";

/** What the owner of a thread hears from it. */
export interface WorkerHandlers<M> {
  message(data: M): void;
  /** The thread raised an uncaught error: it is of no more use (terminate it). */
  error(why: string): void;
}

/** Starts the module worker at `url`; throws when it cannot start. */
export function startWorker<M>(url: string, on: WorkerHandlers<M>): Worker {
  const worker = new Worker(url, { type: "module" });
  worker.onmessage = (ev: MessageEvent<M>) => on.message(ev.data);
  worker.onerror = (ev: ErrorEvent) => {
    ev.preventDefault();
    on.error(ev.message);
  };
  return worker;
}

function reason(e: unknown): string {
  return (e as Error)?.message ?? String(e);
}

/**
 * A worker module with a fallback: start() gives a new thread, or null once the module
 * failed in this process (it could not start, or a thread of it raised an error), and
 * the caller does the work on its own thread.
 */
export class WorkerModule {
  #broken = false;

  /**
   * `what`: the worker, as an admin reads it ("keys reader worker"); `fallback`: what is
   * done instead ("reading in the session"); `logger`: where the one warning goes.
   */
  constructor(
    readonly url: string,
    readonly what: string,
    readonly fallback: string,
    readonly logger: Logger,
  ) {}

  /** False once the module failed: the caller's fallback is used from then on. */
  get available(): boolean {
    return !this.#broken;
  }

  /** A new thread; null when the module failed (now or before). */
  start<M>(on: WorkerHandlers<M>): Worker | null {
    if (this.#broken) return null;
    try {
      return startWorker<M>(this.url, {
        message: on.message,
        error: (why) => {
          this.fail(why);
          on.error(why);
        },
      });
    } catch (e) {
      this.fail(reason(e));
      return null;
    }
  }

  /** The module is not used again in this process (the first failure is logged). */
  fail(why: string): void {
    if (!this.#broken) this.logger.warn(`${this.what} unavailable (${why}); ${this.fallback}`);
    this.#broken = true;
  }
}

export interface LingeringOptions<M> extends WorkerHandlers<M> {
  /** Starts the thread (startWorker, or WorkerModule.start: null when it cannot). */
  start(on: WorkerHandlers<M>): Worker | null;
  /** How long the thread is kept once idle. */
  lingerMs: number;
  /** True while nothing is asked of the thread: it may be stopped. */
  idle(): boolean;
  /** Lets the thread finish its work before retire() ends it (close its files). */
  farewell?(worker: Worker): Promise<void>;
  /**
   * Idle, the thread only has its farewell and runs on: for a thread whose start, from a
   * session's command, would cost more than its idle memory.
   */
  keepThread?: boolean;
}

/**
 * One thread for a stream of requests: get() starts it when none runs; linger() stops it
 * lingerMs after the owner went idle (not held by an unref'd timer), so an idle process
 * holds no thread. An error in it ends it (the owner's error handler runs first).
 */
export class LingeringWorker<M> {
  #worker: Worker | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly options: LingeringOptions<M>) {}

  /** The thread running now, if any. */
  get running(): Worker | null {
    return this.#worker;
  }

  /** The thread, started when none runs; null when it cannot start. Cancels a linger. */
  get(): Worker | null {
    this.#cancelLinger();
    if (this.#worker) return this.#worker;
    const worker = this.options.start({
      message: (data) => this.options.message(data),
      error: (why) => {
        this.options.error(why);
        if (this.#worker === worker) this.stop();
      },
    });
    this.#worker = worker;
    return worker;
  }

  /**
   * Starts the thread now, asked nothing yet (at daemon start, where the blocking start
   * stalls no session); it lingers as after a request. False when it cannot start.
   */
  prestart(): boolean {
    const started = this.get() !== null;
    this.linger();
    return started;
  }

  /** Once idle: the thread is retired after lingerMs if still idle then. */
  linger(): void {
    if (!this.#worker || this.#timer !== undefined || !this.options.idle()) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.options.idle()) void this.retire();
    }, this.options.lingerMs);
    Deno.unrefTimer(this.#timer);
  }

  /**
   * Ends the thread after its farewell, unless it was given work meanwhile (or is kept:
   * keepThread, then only the farewell runs).
   */
  async retire(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    await this.options.farewell?.(worker);
    if (this.options.keepThread) return;
    if (this.#worker === worker && this.options.idle()) this.stop();
  }

  /** Ends the thread now. */
  stop(): void {
    this.#cancelLinger();
    this.#worker?.terminate();
    this.#worker = null;
  }

  #cancelLinger(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
