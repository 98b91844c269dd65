/**
 * The periodic verification of a big directory (more than 5,000 files, see dirs.ts):
 * after our own changes its mtime is ours, but a foreign change within the same mtime
 * tick would hide behind it, so the directory is read once the tick is surely over.
 * Reading 100,000 names takes hundreds of milliseconds; under the folder's mutex every
 * SELECT, FETCH and delivery would wait for it. So the names are read and compared here
 * without the mutex, a slice at a time, and only the verdict takes it: when the
 * directory and our entries are still as they were when the read began and every one of
 * our files is there and nothing else, the directory's mark is settled (no further
 * verification until our next change); otherwise the ordinary scan runs (scan.ts).
 */
import { join } from "node:path";
import { type Mutex, yieldToEventLoop } from "../fsutil.ts";
import { mtimeOf, type Sub } from "./dirs.ts";
import type { FolderState } from "./state.ts";

/** How long one slice of comparison holds the event loop at most. */
const SLICE_MS = 5;

/** Message file names in a directory as scan.ts counts them (no dot files, no line breaks). */
async function namesIn(dir: string): Promise<Set<string>> {
  const names = new Set<string>();
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || e.name.startsWith(".") || /[\n\r]/.test(e.name)) continue;
    names.add(e.name);
  }
  return names;
}

/**
 * Verifies `sub` in the background; resolves with true when the caller's full scan is
 * needed (the directory differs from our entries), which `rescan` then runs under the
 * mutex.
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
  const names = await namesIn(dir);
  // Our entries in this directory, each found under its exact name.
  let mine = 0, missing = false;
  let sliceStart = performance.now(), i = 0;
  for (const e of st.table.byUid.values()) {
    if (st.table.mutations !== mutations) return; // changed meanwhile: the next check decides
    if (e.sub !== sub) continue;
    mine++;
    if (!names.has(e.name)) {
      missing = true;
      break;
    }
    if ((++i & 255) === 0 && performance.now() - sliceStart > SLICE_MS) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
  }
  await mutex.run(async () => {
    if (st.table.mutations !== mutations) return;
    if ((await mtimeOf(dir)) !== mark.mtime) return;
    if (missing || mine !== names.size) {
      await rescan();
      return;
    }
    // As we knew it, read after the tick: the mark can be trusted from now on.
    st.dirs.settle(sub, { mtime: mark.mtime, checkedAt: startedAt });
    st.index.tx((ix) => st.dirs.saveTo(ix));
  });
}
