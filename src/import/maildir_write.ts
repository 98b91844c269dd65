/**
 * Storing a batch of imported messages into one Maildir folder by the store's delivery
 * protocol (mailstore.ts deliver: write to tmp/, fsync, rename into cur/, fsync the
 * directory), arranged for bulk: the cheap steps (create, write, set the mtime, rename)
 * run synchronously, which in a command-line import costs far less CPU than one thread
 * hand-off per step, while the batch's fsyncs run in parallel so the file system
 * commits them together. Every file is fsync'd before it is renamed into cur/; the
 * caller fsyncs cur/ before the batch counts as stored.
 */
import { join } from "node:path";

export interface WriteItem {
  data: Uint8Array;
  /** The message's base name (its UID is reserved under it). */
  base: string;
  internalDate: number | null;
}

/** fsyncs in flight at once. */
const PARALLEL_SYNCS = 256;

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** A batch written to `root`/tmp/, to be fsync'd and then renamed into a folder. */
export class StagedBatch {
  /** Per item: null while it is fine, else why it could not be stored. */
  readonly errors: (Error | null)[];
  readonly #tmp: string[];
  readonly #open: (Deno.FsFile | null)[];

  private constructor(tmp: string[]) {
    this.#tmp = tmp;
    this.errors = tmp.map(() => null);
    this.#open = tmp.map(() => null);
  }

  /** Writes each message to `root`/tmp/ with its mtime set (not yet fsync'd). */
  static write(root: string, items: readonly WriteItem[]): StagedBatch {
    const b = new StagedBatch(items.map((it) => join(root, "tmp", it.base)));
    items.forEach((it, i) => {
      try {
        const file = Deno.openSync(b.#tmp[i], { write: true, createNew: true, mode: 0o600 });
        b.#open[i] = file;
        for (let off = 0; off < it.data.length;) off += file.writeSync(it.data.subarray(off));
        if (it.internalDate !== null) {
          const when = new Date(it.internalDate);
          file.utimeSync(when, when); // before the fsync, which makes it durable too
        }
      } catch (e) {
        b.#fail(i, e);
      }
    });
    return b;
  }

  /** fsyncs every file (in parallel) and closes them. */
  async sync(): Promise<void> {
    let next = 0;
    const syncer = async () => {
      while (next < this.#tmp.length) {
        const i = next++;
        const file = this.#open[i];
        if (!file) continue;
        try {
          await file.sync();
          file.close();
          this.#open[i] = null;
        } catch (e) {
          this.#fail(i, e);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_SYNCS, this.#tmp.length) }, syncer));
  }

  /**
   * Renames the fsync'd files into `folderPath`/cur/ under their final names (base and
   * flags) in the order given (UID order, so a reader of the folder sees them arrive in
   * order).
   */
  renameInto(folderPath: string, names: readonly string[]): void {
    names.forEach((name, i) => {
      if (this.errors[i] !== null) return;
      try {
        Deno.renameSync(this.#tmp[i], join(folderPath, "cur", name));
      } catch (e) {
        this.#fail(i, e);
      }
    });
  }

  /** Gives up the batch: every file left in tmp/ is removed. */
  discard(): void {
    this.#tmp.forEach((_, i) => {
      if (this.errors[i] === null) this.#fail(i, new Error("batch abandoned"));
    });
  }

  #fail(i: number, e: unknown): void {
    this.errors[i] ??= asError(e);
    try {
      this.#open[i]?.close();
    } catch { /* already closed */ }
    this.#open[i] = null;
    Deno.remove(this.#tmp[i]).catch(() => {});
  }
}
