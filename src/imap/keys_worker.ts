/**
 * The worker of keys_reader.ts: for each file of a request, its header block (or the whole
 * file when at most `wholeUpTo` bytes, then the EMAILID too) read with blocking calls, the
 * keys computed and encoded as the index stores them, and the mtime when asked for.
 * Blocking reads are fine here: this thread serves nothing else.
 */
import { readHeaderBlockSync } from "../store/fsutil.ts";
import { toCrlf } from "../message/line_endings.ts";
import { encodeKeys, keysOfMessage } from "./message_keys.ts";
import type { KeysReadItem, KeysReadRequest, KeysReadResult } from "./keys_reader.ts";

function readOne(item: KeysReadItem, wholeUpTo: number, cap: number): KeysReadResult {
  try {
    const mtime = item.date ? Deno.statSync(item.path).mtime?.getTime() ?? null : null;
    let bytes: Uint8Array, whole: boolean;
    if (item.size <= wholeUpTo) {
      bytes = Deno.readFileSync(item.path);
      whole = true;
    } else {
      const file = Deno.openSync(item.path, { read: true });
      try {
        ({ bytes, whole } = readHeaderBlockSync(file, cap));
      } finally {
        file.close();
      }
    }
    // The EMAILID is a digest of the message as served (CRLF line endings).
    return { text: encodeKeys(keysOfMessage(whole ? toCrlf(bytes) : bytes, whole)), mtime };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { missing: true };
    return { error: (e as Error)?.message ?? String(e) };
  }
}

const port = self as unknown as Worker;
port.onmessage = (ev: MessageEvent<KeysReadRequest>) => {
  const { id, items, wholeUpTo, cap } = ev.data;
  port.postMessage({ id, results: items.map((it) => readOne(it, wholeUpTo, cap)) });
};
