/**
 * The worker of keys_reader.ts: for each file of a request, its header block read with
 * blocking calls, the keys computed and encoded as the index stores them, and the mtime
 * when asked for.
 * Blocking reads are fine here: this thread serves nothing else.
 */
import { readHeaderBlockSync } from "../store/fsutil.ts";
import { toCrlf } from "../message/line_endings.ts";
import { encodeKeys, keysOfMessage } from "./message_keys.ts";
import type { KeysReadItem, KeysReadRequest, KeysReadResult } from "./keys_reader.ts";
import { runInBackground } from "../sys/thread_priority.ts";

function readOne(item: KeysReadItem, cap: number): KeysReadResult {
  try {
    const file = Deno.openSync(item.path, { read: true });
    try {
      const mtime = item.date ? file.statSync().mtime?.getTime() ?? null : null;
      const { bytes, whole } = readHeaderBlockSync(file, cap);
      // The EMAILID (a digest of the message as served, CRLF line endings) only when the
      // header block was the whole file: hashing every message would cost a third more.
      return { text: encodeKeys(keysOfMessage(whole ? toCrlf(bytes) : bytes, whole)), mtime };
    } finally {
      file.close();
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { missing: true };
    return { error: (e as Error)?.message ?? String(e) };
  }
}

runInBackground(); // sys/thread_priority.ts: the event loop goes first
const port = self as unknown as Worker;
port.onmessage = (ev: MessageEvent<KeysReadRequest>) => {
  const { id, items, cap } = ev.data;
  port.postMessage({ id, results: items.map((it) => readOne(it, cap)) });
};
