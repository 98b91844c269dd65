/**
 * The folders loaded in this process, one Folder per path, shared by every session and
 * delivery. Folders nobody holds are dropped, least recently used first, past the
 * limits below: each keeps its index open and its messages in memory.
 */
import { join } from "node:path";
import { existsSync } from "./fsutil.ts";
import { Folder } from "./folder/folder.ts";

/**
 * Loaded folders nobody holds are dropped past these (least recently used first). Each
 * keeps its index open (three file descriptors: database, WAL, shared memory).
 */
const MAX_IDLE_FOLDERS = 64;
const MAX_IDLE_MESSAGES = 300_000;
/** A folder used within this long is never dropped (a command may still hold it). */
const IDLE_MS = 60_000;
/** Folders kept whatever their use, and how often the rest is looked at. */
const ALWAYS_KEPT = 8;
const EVICT_EVERY_MS = 10_000;

export class OpenFolders {
  readonly #folders = new Map<string, Folder>();
  readonly #lastUse = new Map<string, number>();
  readonly #holds = new Map<Folder, number>();
  #evictedAt = 0;

  /** The folder at `path` when it is loaded (no refresh). */
  loaded(path: string): Folder | undefined {
    return this.#folders.get(path);
  }

  /**
   * The shared, refreshed folder at `path`; null if it does not exist. `claimed`: the
   * caller takes \Recent as it opens (SELECT, Folder.refreshAndClaim), the UIDs go there.
   */
  async open(path: string, claimed?: number[]): Promise<Folder | null> {
    let folder = this.#folders.get(path);
    if (!folder) {
      if (!existsSync(join(path, "cur"))) return null;
      folder = this.#folders.get(path) ?? new Folder(path);
      this.#folders.set(path, folder);
    }
    this.#lastUse.set(path, Date.now());
    try {
      if (claimed) {
        // One by one: a spread of 100,000+ UIDs as arguments overflows the stack.
        for (const uid of await folder.refreshAndClaim()) claimed.push(uid);
      } else await folder.refresh();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        if (this.#folders.get(path) === folder) {
          this.#folders.delete(path);
          void folder.close();
        }
        return null;
      }
      throw e;
    }
    this.#maybeEvict();
    return folder;
  }

  /** Keeps a folder loaded while a session has it selected (release when done). */
  retain(folder: Folder): void {
    this.#holds.set(folder, (this.#holds.get(folder) ?? 0) + 1);
  }

  release(folder: Folder): void {
    const n = (this.#holds.get(folder) ?? 1) - 1;
    if (n > 0) this.#holds.set(folder, n);
    else this.#holds.delete(folder);
    this.#lastUse.set(folder.path, Date.now());
  }

  /**
   * Closes and forgets the loaded folders whose path matches (deleted or renamed).
   * `stale`: their directories are about to change (see Folder.close).
   */
  async drop(match: (path: string) => boolean, stale = false): Promise<void> {
    const doomed = [...this.#folders].filter(([path]) => match(path));
    for (const [path] of doomed) {
      this.#folders.delete(path);
      this.#lastUse.delete(path);
    }
    await Promise.all(doomed.map(([, f]) => f.close({ stale })));
  }

  /** Drops least recently used folders nobody holds, past the limits (at most every 10 s). */
  #maybeEvict(): void {
    const now = Date.now();
    if (this.#folders.size <= ALWAYS_KEPT || now - this.#evictedAt < EVICT_EVERY_MS) return;
    this.#evictedAt = now;
    let messages = 0;
    const idle: Folder[] = [];
    for (const f of this.#folders.values()) {
      if (this.#holds.has(f)) continue;
      messages += f.messageCount;
      idle.push(f);
    }
    idle.sort((a, b) => (this.#lastUse.get(a.path) ?? 0) - (this.#lastUse.get(b.path) ?? 0));
    let count = idle.length;
    for (const f of idle) {
      if (count <= MAX_IDLE_FOLDERS && messages <= MAX_IDLE_MESSAGES) break;
      if (now - (this.#lastUse.get(f.path) ?? 0) < IDLE_MS) break;
      this.#folders.delete(f.path);
      this.#lastUse.delete(f.path);
      void f.close();
      count--;
      messages -= f.messageCount;
    }
  }
}
