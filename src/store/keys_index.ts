/**
 * Writing key texts into the index of a folder that is not loaded (keys_spool.ts), on
 * whichever thread runs it: the spool's worker (keys_worker.ts), or the main thread when
 * no worker can start.
 */
import { FolderIndex } from "./folder/index_db.ts";

/**
 * Adds key texts to a folder's index (created when missing), in one transaction. Returns
 * null, or why they were not stored (the folder went away, or its index is unusable: its
 * next open rebuilds it, and the keys are computed from the files then).
 */
export function writeKeys(folderPath: string, keys: Iterable<[string, string]>): string | null {
  let index: FolderIndex | null = null;
  try {
    index = FolderIndex.open(folderPath).index;
    const ix = index;
    ix.tx(() => {
      for (const [base, text] of keys) ix.keysPut(base, text);
    });
    return null;
  } catch (e) {
    return (e as Error)?.message ?? String(e);
  } finally {
    index?.close();
  }
}
