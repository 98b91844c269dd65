/**
 * The periodic verification of a big directory (more than 5,000 files, see dirs.ts):
 * after our own changes its mtime is ours, but a foreign change within the same mtime
 * tick would hide behind it, so the directory is read once the tick is surely over.
 * Reading 100,000 names takes hundreds of milliseconds; under the folder's mutex every
 * SELECT, FETCH and delivery would wait for it. So the names are read and compared
 * without the mutex, by a worker (dir_check.ts, from copies of the folder's columns:
 * file_list.ts; here, a slice at a time, where none can run), and only the verdict takes
 * it: when the
 * directory and our entries are still as they were when the read began and every one of
 * our files is there and nothing else, the directory's mark is settled (no further
 * verification until our next change); otherwise the ordinary scan runs (scan.ts).
 */
import { join } from "node:path";
import { type Mutex, yieldToEventLoop } from "../fsutil.ts";
import { sameFiles } from "./dir_check.ts";
import { mtimeOf, type Sub } from "./dirs.ts";
import { isMessageFile } from "../maildir_names.ts";
import type { FolderState } from "./state.ts";

/** How long one slice of comparison holds the event loop at most. */
const SLICE_MS = 5;

/** Message file names in a directory (maildir_names.ts isMessageFile). */
async function namesIn(dir: string): Promise<Set<string>> {
  const names = new Set<string>();
  for await (const e of Deno.readDir(dir)) {
    if (!isMessageFile(e)) continue;
    names.add(e.name);
  }
  return names;
}

/**
 * The comparison on the event loop (no worker here): the names read asynchronously, our
 * entries compared in slices. Null when the folder changed meanwhile.
 */
async function compareHere(
  st: FolderState,
  dir: string,
  sub: Sub,
  mutations: number,
): Promise<boolean | null> {
  const names = await namesIn(dir);
  let mine = 0;
  let sliceStart = performance.now(), i = 0;
  for (const e of st.table.byUid.values()) {
    if (st.table.mutations !== mutations) return null;
    if (e.sub !== sub) continue;
    mine++;
    if (!names.has(e.name)) return false;
    if ((++i & 255) === 0 && performance.now() - sliceStart > SLICE_MS) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }
  return mine === names.size;
}

/**
 * Verifies `sub` in the background; when the directory differs from our entries,
 * `rescan` (the ordinary scan) runs under the mutex.
 */
export async function verifyDir(
  st: FolderState,
  mutex: Mutex,
  sub: Sub,
  rescan: () => Promise<void>,
): Promise<void> {
  st.dirs.verifying(sub);
  const dir = join(st.path, sub);
  const startedAt = Date.now();
  const mark = st.dirs.mark(sub);
  const mutations = st.table.mutations;
  if ((await mtimeOf(dir)) !== mark.mtime) return; // changed: the next check scans it
  await st.table.prefetch(); // rows not read yet (a summary start), without a long hold
  // Our files in this directory, by exact name (a mutation meanwhile voids the check):
  // copies of the columns, the names made by the worker (file_list.ts).
  let same = await sameFiles(dir, await st.table.fileList(sub));
  if (same === null) same = await compareHere(st, dir, sub, mutations);
  if (same === null) return;
  await mutex.run(async () => {
    if (st.table.mutations !== mutations) return;
    if ((await mtimeOf(dir)) !== mark.mtime) return;
    if (!same) {
      await rescan();
      return;
    }
    // As we knew it, read after the tick: the mark can be trusted from now on.
    st.dirs.settle(sub, { mtime: mark.mtime, checkedAt: startedAt });
    st.index.tx((ix) => st.dirs.saveTo(ix));
  });
}
