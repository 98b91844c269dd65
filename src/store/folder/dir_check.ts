/**
 * Whether a directory holds exactly the given message files, answered by a worker
 * (dir_worker.ts) that reads it with blocking calls: for a 100,000-file directory the
 * event loop only copies the folder's columns the names are made from (file_list.ts; a
 * list of names is joined in slices) and gets one boolean back, where reading the
 * directory here would cost it a few hundred milliseconds of operations.
 * The worker is kept between checks for LINGER_MS (checks are at most every 30 s per
 * folder): starting one held the event loop 17 ms on a quiet machine and 70-300 ms on a
 * busy one, the slowest SELECT in the half minute after a big change. Where no worker
 * can run (a compiled binary built without it, see scripts/compile.ts) or it failed, the
 * answer is null and the caller reads the directory itself (verify.ts compareHere).
 */
import { log } from "../../log.ts";
import { LingeringWorker, WorkerModule } from "../../workers.ts";
import { yieldToEventLoop } from "../fsutil.ts";
import { type FileList, transferables } from "./file_list.ts";

function isFileList(names: Iterable<string> | FileList): names is FileList {
  return "columns" in names && "inNew" in names;
}

export interface DirCheckRequest {
  id: number;
  dir: string;
  /** The expected file names: made from a folder's columns (file_list.ts), or these. */
  files: FileList | null;
  /** One per line. */
  names: string;
}

/** The worker's answer: null when it could not read the directory. */
export interface DirCheckReply {
  id: number;
  same: boolean | null;
}

/** How long a worker is kept after its last check. */
const LINGER_MS = 120_000;

/** The expected names joined, a slice at a time (no long hold of the event loop). */
async function joined(names: Iterable<string>): Promise<string> {
  const parts: string[] = [];
  let sliceStart = performance.now(), i = 0;
  for (const n of names) {
    parts.push(n);
    if ((++i & 1023) === 0 && performance.now() - sliceStart > 5) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }
  return parts.join("\n");
}

/** Checks on one thread of `module`, kept LINGER_MS after the last one. */
export class DirChecker {
  #nextId = 0;
  readonly #waiting = new Map<number, (same: boolean | null) => void>();
  readonly #thread: LingeringWorker<DirCheckReply>;

  constructor(readonly module: WorkerModule) {
    this.#thread = new LingeringWorker<DirCheckReply>({
      start: (on) => module.start(on),
      lingerMs: LINGER_MS,
      idle: () => this.#waiting.size === 0,
      message: (reply) => {
        this.#waiting.get(reply.id)?.(reply.same);
        this.#waiting.delete(reply.id);
        this.#thread.linger();
      },
      error: () => this.#answerAll(null), // logged by the module; the callers read
    });
  }

  /**
   * True when `dir` holds exactly `names` (message files as scan.ts counts them), false
   * when not, null when it could not be checked here.
   */
  async sameFiles(dir: string, names: Iterable<string> | FileList): Promise<boolean | null> {
    if (!this.module.available) return null;
    const list = isFileList(names) ? names : null;
    const request: DirCheckRequest = {
      id: this.#nextId++,
      dir,
      files: list,
      names: list ? "" : await joined(names as Iterable<string>),
    };
    const worker = this.#thread.get();
    if (!worker) return null;
    return await new Promise<boolean | null>((resolve) => {
      this.#waiting.set(request.id, resolve);
      // The column copies are this request's own: moved, not copied again.
      worker.postMessage(request, list ? transferables(list) : []);
    });
  }

  /** Starts the thread ahead of a check (it lingers LINGER_MS); see prestartDirWorker. */
  prestart(): boolean {
    return this.module.available && this.#thread.prestart();
  }

  /** Stops the thread (checks under way answer null). */
  stop(): void {
    this.#thread.stop();
    this.#answerAll(null);
  }

  #answerAll(same: null): void {
    for (const resolve of this.#waiting.values()) resolve(same);
    this.#waiting.clear();
  }
}

const dirCheckWorker = new WorkerModule(
  new URL("./dir_worker.ts", import.meta.url).href,
  "directory check worker",
  "big directories are verified on the event loop",
  log("store"),
);
const checker = new DirChecker(dirCheckWorker);

/** See DirChecker.sameFiles (the process's one checker). */
export function sameFiles(
  dir: string,
  names: Iterable<string> | FileList,
): Promise<boolean | null> {
  return checker.sameFiles(dir, names);
}

/**
 * Starts the worker ahead of the first check of a big directory, where the loop is held
 * anyway (a first SELECT's deferred index rows, scan.ts): the start blocks the event loop
 * (41-48 ms measured at load 2 in a small process), and at the check itself, 30 s after a
 * big first read, it fell on whatever a client asked then (SELECTs of 56-190 ms in the 35
 * s after a STORE of 50,000: docs/performance.md, branch garbage).
 */
export function prestartDirWorker(): boolean {
  return checker.prestart();
}

/** Stops the worker kept between checks (shutdown: a live worker keeps a process up). */
export function stopIdleDirWorker(): void {
  checker.stop();
}
