/**
 * The worker of dir_check.ts: reads one directory with blocking calls and tells whether
 * its message files are exactly the names it was given. Blocking is fine here: this
 * thread serves nothing else, and the folder's event loop never holds 100,000 names.
 */
import type { DirCheckReply, DirCheckRequest } from "./dir_check.ts";
import { fileNames } from "./file_list.ts";
import { isMessageFile } from "../maildir_names.ts";

function check(req: DirCheckRequest): boolean {
  const expected = req.files
    ? fileNames(req.files)
    : new Set(req.names === "" ? [] : req.names.split("\n"));
  let found = 0;
  for (const e of Deno.readDirSync(req.dir)) {
    if (!isMessageFile(e)) continue; // counted as every reader counts them
    if (!expected.has(e.name)) return false;
    found++;
  }
  return found === expected.size;
}

const port = self as unknown as Worker;
port.onmessage = (ev: MessageEvent<DirCheckRequest>) => {
  let same: boolean | null;
  try {
    same = check(ev.data);
  } catch {
    same = null;
  }
  port.postMessage({ id: ev.data.id, same } satisfies DirCheckReply);
};
