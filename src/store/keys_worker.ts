/**
 * The thread of the keys spool (keys_spool.ts): adds batches of SORT/SEARCH key texts to
 * the indexes of folders this process has not loaded. Opening a folder's SQLite index,
 * its commit and the checkpoint when it is closed take milliseconds of disk time each;
 * on the event loop they held up every session (12% of its time, and stalls of 300 ms
 * and more, under SMTP ingest into 190 mailboxes). Here they cost the sessions nothing.
 */
import { parentPort } from "node:worker_threads";
import { writeKeys } from "./keys_index.ts";

/** One flush of the spool: per folder path, its [base name, key text] pairs. */
export interface KeysBatch {
  id: number;
  folders: [string, [string, string][]][];
}

/** The answer to a batch: the folders whose keys could not be stored, and why. */
export interface KeysBatchDone {
  id: number;
  failures: string[];
}

const port = parentPort!;
port.on("message", (batch: KeysBatch) => {
  const failures: string[] = [];
  for (const [path, keys] of batch.folders) {
    const why = writeKeys(path, keys);
    if (why) failures.push(`keys for ${path} not stored: ${why}`);
  }
  port.postMessage({ id: batch.id, failures } satisfies KeysBatchDone);
});
