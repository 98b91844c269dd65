/**
 * Background workers (full-text index, header keys) run their thread at a higher nice
 * value than the event loop (src/sys/thread_priority.ts), so that on busy cores the
 * kernel serves the loop first; the loop itself keeps the daemon's priority.
 */
import { assert, assertEquals } from "./helpers/assert.ts";

/** Nice value of every thread of this process, by thread id. */
function threadNices(): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of Deno.readDirSync("/proc/self/task")) {
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/self/task/${t.name}/stat`);
    } catch (e) {
      // A thread of an earlier test (a worker ending) can exit between the two reads.
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    // Fields after "(comm) ": state is field 3, nice field 19.
    out.set(t.name, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
  }
  return out;
}

/** Starts the worker module, sends `request`, waits for its answer; returns the threads new meanwhile. */
async function newThreadsOf(module: string, request: unknown): Promise<Map<string, number>> {
  const before = threadNices();
  const worker = new Worker(new URL(module, import.meta.url), { type: "module" });
  try {
    await new Promise((resolve, reject) => {
      worker.onmessage = resolve;
      worker.onerror = (e) => reject(new Error(e.message));
      worker.postMessage(request);
    });
    return new Map([...threadNices()].filter(([id]) => !before.has(id)));
  } finally {
    worker.terminate();
  }
}

const WORKERS: [string, unknown][] = [
  ["../src/store/fts/worker.ts", { id: 1, op: "close", path: "/nonexistent/fts", uidValidity: 1 }],
  ["../src/imap/keys_worker.ts", { id: 1, items: [], cap: 1024 }],
  ["../src/store/keys_worker.ts", "close"],
];

for (const [module, request] of WORKERS) {
  Deno.test(`${module.replace("../src/", "")} runs its thread at nice 10, the loop at 0`, async () => {
    if (Deno.build.os !== "linux") return;
    const loopNice = threadNices().get(String(Deno.pid));
    const fresh = await newThreadsOf(module, request);
    assert(fresh.size > 0, "no new thread seen for the worker");
    // The worker's own thread is lowered; threads the runtime made for it are not.
    assert(
      [...fresh.values()].includes((loopNice ?? 0) + 10),
      `no thread at nice ${(loopNice ?? 0) + 10}: ${JSON.stringify([...fresh])}`,
    );
    assertEquals(threadNices().get(String(Deno.pid)), loopNice, "the event loop's nice changed");
  });
}
