/**
 * Storing a batch of imported messages into one Maildir folder by the store's delivery
 * protocol (mailstore.ts deliver: write to tmp/, fsync, rename into cur/, fsync the
 * directory), arranged for bulk: the cheap steps (create, write, set the mtime, rename)
 * run synchronously, which in a command-line import costs far less CPU than one
 * thread hand-off per step, while the batch's fsyncs run in parallel so the file
 * system commits them together. Every file is fsync'd before it is renamed into cur/,
 * and cur/ is fsync'd before the batch counts as stored.
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

/** A batch written to tmp/ and fsync'd, waiting to be renamed into the folder. */
export interface Staged {
  /** Per item: null when staged, else why it could not be. */
  errors: (Error | null)[];
  tmp: string[];
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** Writes each message to `root`/tmp/ and fsyncs it (the fsyncs overlapping). */
export async function stage(root: string, items: readonly WriteItem[]): Promise<Staged> {
  const errors: (Error | null)[] = items.map(() => null);
  const tmp = items.map((it) => join(root, "tmp", it.base));
  const open: (Deno.FsFile | null)[] = items.map(() => null);
  try {
    items.forEach((it, i) => {
      try {
        const file = Deno.openSync(tmp[i], { write: true, createNew: true, mode: 0o600 });
        open[i] = file;
        for (let off = 0; off < it.data.length;) off += file.writeSync(it.data.subarray(off));
        if (it.internalDate !== null) {
          const when = new Date(it.internalDate);
          file.utimeSync(when, when); // before the fsync, which makes it durable too
        }
      } catch (e) {
        errors[i] = asError(e);
      }
    });
    let next = 0;
    const syncer = async () => {
      while (next < items.length) {
        const i = next++;
        if (errors[i] === null) await open[i]!.sync().catch((e) => (errors[i] = asError(e)));
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_SYNCS, items.length) }, syncer));
  } finally {
    for (const f of open) f?.close();
  }
  errors.forEach((e, i) => {
    if (e !== null) Deno.remove(tmp[i]).catch(() => {});
  });
  return { errors, tmp };
}

/**
 * Renames the staged files into `folderPath`/cur/ under their final names (base and
 * flags; null: not staged) in the order given (UID order, so a reader of the folder
 * sees them arrive in order). The caller then fsyncs cur/ before counting them stored.
 */
export function renameInto(
  folderPath: string,
  names: readonly (string | null)[],
  staged: Staged,
): void {
  names.forEach((name, i) => {
    if (name === null || staged.errors[i] !== null) return;
    try {
      Deno.renameSync(staged.tmp[i], join(folderPath, "cur", name));
    } catch (e) {
      staged.errors[i] = asError(e);
      Deno.remove(staged.tmp[i]).catch(() => {});
    }
  });
}
