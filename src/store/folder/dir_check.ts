/**
 * Whether a directory holds exactly the given message files, answered by a worker
 * (dir_worker.ts) that reads it with blocking calls: for a 100,000-file directory the
 * event loop only joins the names it expects (in slices) and gets one boolean back, where
 * reading the directory here would cost it a few hundred milliseconds of operations.
 * The worker is kept between checks for LINGER_MS (checks are at most every 30 s per
 * folder): starting one held the event loop 17 ms on a quiet machine and 70-300 ms on a
 * busy one, the slowest SELECT in the half minute after a big change. Where no worker can start (a compiled binary built without it, see
 * scripts/compile.ts), the answer is null and the caller reads the directory itself.
 */
import { yieldToEventLoop } from "../fsutil.ts";

export interface DirCheckRequest {
  id: number;
  dir: string;
  /** The expected file names, one per line. */
  names: string;
}

let broken = false;
let nextId = 0;

/** How long a worker is kept after its last check. */
const LINGER_MS = 120_000;
let idle: Worker | null = null;
let lingering: ReturnType<typeof setTimeout> | undefined;

function takeWorker(): Worker | null {
  if (idle) {
    const w = idle;
    idle = null;
    clearTimeout(lingering);
    return w;
  }
  try {
    return new Worker(new URL("./dir_worker.ts", import.meta.url).href, { type: "module" });
  } catch {
    broken = true;
    return null;
  }
}

function giveBack(w: Worker): void {
  if (idle) {
    w.terminate();
    return;
  }
  idle = w;
  lingering = setTimeout(stopIdleDirWorker, LINGER_MS);
  Deno.unrefTimer(lingering);
}

/** Stops the worker kept between checks (shutdown: a live worker keeps a process up). */
export function stopIdleDirWorker(): void {
  clearTimeout(lingering);
  idle?.terminate();
  idle = null;
}

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

/**
 * True when `dir` holds exactly `names` (message files as scan.ts counts them), false
 * when not, null when it could not be checked here.
 */
export async function sameFiles(dir: string, names: Iterable<string>): Promise<boolean | null> {
  if (broken) return null;
  const request: DirCheckRequest = { id: nextId++, dir, names: await joined(names) };
  const worker = takeWorker();
  if (!worker) return null;
  let failed = false;
  try {
    return await new Promise<boolean | null>((resolve) => {
      worker.onmessage = (ev: MessageEvent<{ id: number; same: boolean | null }>) => {
        resolve(ev.data.same);
      };
      worker.onerror = (ev: ErrorEvent) => {
        ev.preventDefault();
        broken = failed = true;
        resolve(null);
      };
      worker.postMessage(request);
    });
  } finally {
    if (failed) worker.terminate();
    else giveBack(worker);
  }
}
