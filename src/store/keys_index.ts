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

/**
 * Indexes kept open between batches (the spool's worker): closing an index checkpoints
 * its WAL with two fsyncs, which for a batch into 190 folders every few seconds was a
 * burst of hundreds of fsyncs that the deliveries' own fsyncs queued behind. Open, a
 * commit costs none (synchronous = NORMAL). Those unused for IDLE_MS, and the oldest
 * beyond MAX_OPEN, are closed.
 */
export class OpenIndexes {
  static readonly IDLE_MS = 60_000;
  static readonly MAX_OPEN = 256;
  readonly #open = new Map<string, { index: FolderIndex; used: number }>();

  /** writeKeys() through a kept index; one that fails is closed and opened afresh next time. */
  write(folderPath: string, keys: Iterable<[string, string]>): string | null {
    let entry = this.#open.get(folderPath);
    try {
      if (!entry) entry = { index: FolderIndex.open(folderPath).index, used: 0 };
      this.#open.delete(folderPath); // re-inserted last: the map is in order of use
      entry.used = Date.now();
      this.#open.set(folderPath, entry);
      const ix = entry.index;
      ix.tx(() => {
        for (const [base, text] of keys) ix.keysPut(base, text);
      });
      return null;
    } catch (e) {
      this.#close(folderPath);
      return (e as Error)?.message ?? String(e);
    }
  }

  /** Closes the indexes unused for IDLE_MS and the least recently used beyond MAX_OPEN. */
  sweep(now = Date.now()): void {
    for (const [path, e] of this.#open) {
      if (this.#open.size <= OpenIndexes.MAX_OPEN && now - e.used < OpenIndexes.IDLE_MS) break;
      this.#close(path);
    }
  }

  closeAll(): void {
    for (const path of [...this.#open.keys()]) this.#close(path);
  }

  #close(path: string): void {
    this.#open.get(path)?.index.close();
    this.#open.delete(path);
  }
}
