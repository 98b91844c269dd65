/**
 * Mailbox usage in bytes (every folder of a Maildir++ root), for quotas. Counting means
 * reading every directory, so the count is cached per root and kept current by our own
 * writes; it is taken again now and then to pick up other Maildir software's changes.
 */
import { join } from "node:path";

/** How long a count is trusted. */
const RECOUNT_MS = 300_000;

export class UsageCache {
  readonly #usage = new Map<string, { bytes: number; at: number }>();

  /** The usage of `root`, whose folders are at `folderPaths` (asked only to count). */
  async get(root: string, folderPaths: () => Promise<string[]>): Promise<number> {
    const cached = this.#usage.get(root);
    if (cached && Date.now() - cached.at < RECOUNT_MS) return cached.bytes;
    let bytes = 0;
    for (const path of await folderPaths()) bytes += await folderBytes(path);
    this.#usage.set(root, { bytes, at: Date.now() });
    return bytes;
  }

  /** Our own write added (or removed) `delta` bytes under `root`. */
  adjust(root: string, delta: number): void {
    const cached = this.#usage.get(root);
    if (cached) cached.bytes = Math.max(0, cached.bytes + delta);
  }

  /** Counts `root` again next time. */
  forget(root: string): void {
    this.#usage.delete(root);
  }

  /** Counts again the root that contains this folder path. */
  forgetFolder(folderPath: string): void {
    for (const root of this.#usage.keys()) {
      if (folderPath === root || folderPath.startsWith(root + "/")) this.#usage.delete(root);
    }
  }
}

/** The bytes of one folder's messages: sizes from the names (",S=") or the files. */
async function folderBytes(path: string): Promise<number> {
  let bytes = 0;
  for (const sub of ["new", "cur"]) {
    try {
      for await (const e of Deno.readDir(join(path, sub))) {
        if (!e.isFile) continue;
        const m = /,S=(\d+)/.exec(e.name);
        bytes += m ? Number(m[1]) : (await Deno.stat(join(path, sub, e.name))).size;
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return bytes;
}
