/**
 * The thread of the keys spool (keys_spool.ts, keys_writer.ts): adds batches of
 * SORT/SEARCH key texts to the indexes of folders this process has not loaded, computing
 * them first for messages sent as bytes (StoreHooks.messageKeysModule). Opening a
 * folder's SQLite index, its commit and the checkpoint when it is closed take
 * milliseconds of disk time each; on the event loop they held up every session (12% of
 * its time, and stalls of 300 ms and more, under SMTP ingest into 190 mailboxes).
 */
import { OpenIndexes } from "./keys_index.ts";
import type { KeysBatch, KeysBatchDone } from "./keys_writer.ts";
import { runInBackground } from "../sys/thread_priority.ts";

type MessageKeys = (bytes: Uint8Array, whole: boolean) => string;
const modules = new Map<string, Promise<MessageKeys | null>>();

function keysFunction(url: string): Promise<MessageKeys | null> {
  let m = modules.get(url);
  if (!m) {
    m = import(url).then((mod: { messageKeys?: MessageKeys }) => mod.messageKeys ?? null);
    modules.set(url, m);
  }
  return m;
}

const indexes = new OpenIndexes();
runInBackground(); // sys/thread_priority.ts: the event loop goes first
const port = self as unknown as Worker;
port.onmessage = async (ev: MessageEvent<KeysBatch | "close">) => {
  if (ev.data === "close") {
    // The thread is about to stop: the indexes are checkpointed and closed first.
    indexes.closeAll();
    port.postMessage("closed");
    return;
  }
  const batch = ev.data;
  const failures: string[] = [];
  let compute: MessageKeys | null = null;
  try {
    if (batch.keysModule) compute = await keysFunction(batch.keysModule);
  } catch (e) {
    failures.push(`keys module ${batch.keysModule}: ${(e as Error)?.message ?? e}`);
  }
  for (const [path, entries] of batch.folders) {
    const texts: [string, string][] = [];
    for (const [base, text, whole, offset, length] of entries) {
      if (text !== null) texts.push([base, text]);
      else if (compute) {
        try {
          texts.push([base, compute(batch.bytes.subarray(offset, offset + length), whole)]);
        } catch { /* computed from the file when needed */ }
      }
    }
    const why = indexes.write(path, texts);
    if (why) failures.push(`keys for ${path} not stored: ${why}`);
  }
  indexes.sweep();
  port.postMessage({ id: batch.id, failures } satisfies KeysBatchDone);
};
