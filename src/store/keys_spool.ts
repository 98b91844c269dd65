/**
 * SORT/SEARCH keys (MailStore's `messageKeys` hook) of messages delivered into folders
 * that are not loaded in this process: the file is linked into new/ without the folder's
 * index, so the keys wait here and are written to that index in batches, a fraction of
 * a second later, with one transaction per folder. A folder loaded meanwhile takes them
 * through its own index link instead (the index has one writer per folder at a time).
 *
 * The keys are a cache: when they are lost (a crash before the batch, an index that
 * cannot be opened) the IMAP side computes them from the file's header later.
 */
import { log } from "../log.ts";
import type { Folder } from "./folder/folder.ts";
import { FolderIndex } from "./folder/index_db.ts";
import type { FullTextIndex } from "./fts/fts.ts";

/** What the store asks of the layers above it (constructor argument). */
export interface StoreHooks {
  /**
   * The SORT/SEARCH keys of a message the store takes in, as the opaque text the folder
   * index keeps (src/imap/message_keys.ts indexKeysText): `bytes` is the whole message
   * (`whole`) or its header block through the empty line. Stored with the message, so
   * IMAP never reads the file for them; without the hook they are computed on first need.
   */
  messageKeys?(bytes: Uint8Array, whole: boolean): string;
  /**
   * The full-text index of SEARCH BODY/TEXT (src/store/fts/): told of every change the
   * store makes (notify) and closed with the store. Without it SEARCH scans.
   */
  fullText?: FullTextIndex;
}

/** How long keys wait for others to the same folders, and how many wait at most. */
const BATCH_MS = 200;
const MAX_PENDING = 5000;

export class KeysSpool {
  #pending = new Map<string, Map<string, string>>();
  #count = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** `loaded`: the folder at a path when this process has it loaded. */
  constructor(readonly loaded: (folderPath: string) => Folder | undefined) {}

  /** Keeps the key text of message `base` for the folder at `folderPath`. */
  put(folderPath: string, base: string, text: string): void {
    let keys = this.#pending.get(folderPath);
    if (!keys) this.#pending.set(folderPath, keys = new Map());
    keys.set(base, text);
    if (++this.#count >= MAX_PENDING) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), BATCH_MS);
      Deno.unrefTimer(this.#timer);
    }
  }

  /** Writes everything pending (also at shutdown). */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const all = this.#pending;
    this.#pending = new Map();
    this.#count = 0;
    for (const [path, keys] of all) {
      const folder = this.loaded(path);
      if (folder && !folder.closed) {
        for (const [base, text] of keys) folder.keysPut(base, text);
      } else writeKeys(path, keys);
    }
  }
}

/** Adds key texts to the index of a folder not loaded here (created when missing). */
function writeKeys(folderPath: string, keys: Map<string, string>): void {
  let index: FolderIndex | null = null;
  try {
    index = FolderIndex.open(folderPath).index;
    const ix = index;
    ix.tx(() => {
      for (const [base, text] of keys) ix.keysPut(base, text);
    });
  } catch (e) {
    // The folder went away, or its index is unusable: its next open rebuilds it.
    log("store").debug(`keys for ${folderPath} not stored: ${(e as Error)?.message ?? e}`);
  } finally {
    index?.close();
  }
}
