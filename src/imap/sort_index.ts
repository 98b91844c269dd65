/**
 * A folder's message keys (message_keys.ts) in memory, shared by every session: read from
 * the folder's index once (one query for the whole folder), computed for messages that
 * lack them (each message file read once, then never again: the keys go to the index).
 * SORT, THREAD, OBJECTID and SEARCH SUBJECT then compare values held here, so on a
 * 100,000-message mailbox they touch no file once warm.
 */
import type { Folder, MessageEntry } from "../store/folder/folder.ts";
import { computeKeys, decodeKeys, encodeKeys, type MessageKeys } from "./message_keys.ts";
import { MessageData } from "./msgcache.ts";

/** Messages whose keys are computed at the same time (their files read in parallel). */
const PARALLEL = 8;

export class FolderKeys {
  #byBase = new Map<string, MessageKeys>();
  #loaded = false;

  constructor(readonly folder: Folder) {}

  /** Reads the stored keys of the folder's present messages (once). */
  #load(): void {
    if (this.#loaded) return;
    this.#loaded = true;
    const present = new Set<string>();
    for (const e of this.folder.messages.values()) present.add(e.base);
    for (const [base, text] of this.folder.keysAll()) {
      if (!present.has(base)) continue;
      const k = decodeKeys(text);
      if (k) this.#byBase.set(base, k);
    }
  }

  /** The keys of a message if known, without reading its file. */
  peek(entry: MessageEntry): MessageKeys | undefined {
    this.#load();
    return this.#byBase.get(entry.base);
  }

  /** The keys of a message, read from its file when not known yet. */
  async get(entry: MessageEntry): Promise<MessageKeys> {
    const known = this.peek(entry);
    if (known) return known;
    const d = new MessageData(this.folder, entry);
    const bytes = await d.bytes();
    const root = (await d.structure()).root;
    const keys = computeKeys(bytes, root.headerStart, root.bodyStart);
    this.#byBase.set(entry.base, keys);
    this.folder.keysPut(entry.base, encodeKeys(keys));
    return keys;
  }

  /**
   * Keys for every entry, in order; files of messages not seen before are read a few at a
   * time. A message expunged meanwhile gets null. `between` runs after each group of reads
   * (the session flushes its output there).
   */
  async getAll(
    entries: readonly MessageEntry[],
    between?: () => Promise<void>,
  ): Promise<(MessageKeys | null)[]> {
    this.#load();
    this.#prune();
    const out: (MessageKeys | null)[] = new Array(entries.length).fill(null);
    let pending: Promise<void>[] = [];
    for (let i = 0; i < entries.length; i++) {
      const known = this.#byBase.get(entries[i].base);
      if (known) {
        out[i] = known;
        continue;
      }
      pending.push(
        this.get(entries[i]).then((k) => {
          out[i] = k;
        }, (e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw e; // expunged meanwhile
        }),
      );
      if (pending.length >= PARALLEL) {
        await Promise.all(pending);
        pending = [];
        await between?.();
      }
    }
    await Promise.all(pending);
    return out;
  }

  /** Forgets keys of expunged messages once they are a third of what is held. */
  #prune(): void {
    if (this.#byBase.size <= this.folder.messages.size * 1.5 + 1000) return;
    const kept = new Map<string, MessageKeys>();
    for (const e of this.folder.messages.values()) {
      const k = this.#byBase.get(e.base);
      if (k) kept.set(e.base, k);
    }
    this.#byBase = kept;
  }
}

const byFolder = new WeakMap<Folder, FolderKeys>();

/** The shared keys of a folder (made on first use; goes when the folder object goes). */
export function folderKeys(folder: Folder): FolderKeys {
  let k = byFolder.get(folder);
  if (!k) byFolder.set(folder, k = new FolderKeys(folder));
  return k;
}
