/**
 * Whether a directory holds exactly the given message files, answered by a worker
 * (dir_worker.ts) that reads it with blocking calls: for a 100,000-file directory the
 * event loop only joins the names it expects (in slices) and gets one boolean back, where
 * reading the directory here would cost it a few hundred milliseconds of operations.
 * The worker is started for a check and stopped after it (checks are at most every 30 s
 * per folder). Where no worker can start (a compiled binary built without it, see
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
  let worker: Worker;
  try {
    worker = new Worker(new URL("./dir_worker.ts", import.meta.url).href, { type: "module" });
  } catch {
    broken = true;
    return null;
  }
  try {
    return await new Promise<boolean | null>((resolve) => {
      worker.onmessage = (ev: MessageEvent<{ id: number; same: boolean | null }>) => {
        resolve(ev.data.same);
      };
      worker.onerror = (ev: ErrorEvent) => {
        ev.preventDefault();
        broken = true;
        resolve(null);
      };
      worker.postMessage(request);
    });
  } finally {
    worker.terminate();
  }
}
