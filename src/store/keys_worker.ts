/**
 * The thread of the keys spool (keys_spool.ts): adds batches of SORT/SEARCH key texts to
 * the indexes of folders this process has not loaded. Opening a folder's SQLite index,
 * its commit and the checkpoint when it is closed take milliseconds of disk time each;
 * on the event loop they held up every session (12% of its time, and stalls of 300 ms
 * and more, under SMTP ingest into 190 mailboxes). Here they cost the sessions nothing.
 */
import { parentPort, workerData } from "node:worker_threads";
import { writeKeys } from "./keys_index.ts";
import type { PendingKeys } from "./keys_spool.ts";

/** One flush of the spool: per folder path, its messages' base names and keys. */
export interface KeysBatch {
  id: number;
  folders: [string, [string, PendingKeys][]][];
}

/** The answer to a batch: the folders whose keys could not be stored, and why. */
export interface KeysBatchDone {
  id: number;
  failures: string[];
}

type MessageKeys = (bytes: Uint8Array, whole: boolean) => string;

/** StoreHooks.messageKeysModule's messageKeys, for keys sent as bytes. */
const computing: Promise<MessageKeys | null> = (async () => {
  const url = (workerData as { keysModule?: string } | null)?.keysModule;
  if (!url) return null;
  const mod = await import(url) as { messageKeys?: MessageKeys };
  return mod.messageKeys ?? null;
})();

const port = parentPort!;
port.on("message", async (batch: KeysBatch) => {
  const failures: string[] = [];
  let compute: MessageKeys | null = null;
  try {
    compute = await computing;
  } catch (e) {
    failures.push(`keys module: ${(e as Error)?.message ?? e}`);
  }
  for (const [path, keys] of batch.folders) {
    const texts: [string, string][] = [];
    for (const [base, k] of keys) {
      if (typeof k === "string") texts.push([base, k]);
      else if (compute) {
        try {
          texts.push([base, compute(k.bytes, k.whole)]);
        } catch { /* computed from the file when needed */ }
      }
    }
    const why = writeKeys(path, texts);
    if (why) failures.push(`keys for ${path} not stored: ${why}`);
  }
  port.postMessage({ id: batch.id, failures } satisfies KeysBatchDone);
});
