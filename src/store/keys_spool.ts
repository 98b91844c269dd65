/**
 * SORT/SEARCH keys (MailStore's `messageKeys` hook) of messages delivered into folders
 * that are not loaded in this process: the file is linked into new/ without the folder's
 * index, so the keys wait here and are written to that index in batches, a few seconds
 * later, with one transaction per folder. A folder loaded meanwhile takes them
 * through its own index link instead (the index has one writer per folder at a time).
 *
 * The batches are written by a worker thread (keys_worker.ts), so the event loop that
 * serves the sessions never waits on SQLite; where no worker can start (a compiled
 * binary built without it, see scripts/compile.ts) they are written here.
 *
 * The keys are a cache: when they are lost (a crash before the batch, an index that
 * cannot be opened) the IMAP side computes them from the file's header later.
 */
import { log } from "../log.ts";
import type { Folder } from "./folder/folder.ts";
import { writeKeys } from "./keys_index.ts";
import { type FolderKeys, KeysWriter } from "./keys_writer.ts";
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
   * The URL of a module that exports the same function as `messageKeys`: with it, the
   * keys of messages for folders not loaded are computed by the spool's worker thread
   * rather than during the delivery (a few percent of the event loop under SMTP ingest).
   */
  messageKeysModule?: string;
  /**
   * The full-text index of SEARCH BODY/TEXT (src/store/fts/): told of every change the
   * store makes (notify) and closed with the store. Without it SEARCH scans.
   */
  fullText?: FullTextIndex;
}

/** What the spool keeps per message: the key text, or the bytes to compute it from. */
export type PendingKeys = string | KeysSource;

/** A message's bytes (`whole`: all of it; else its header block) for messageKeys. */
export interface KeysSource {
  bytes: Uint8Array;
  whole: boolean;
}

/**
 * How long keys wait for others to the same folders, and how many wait at most. Each
 * folder written costs opening its index, a commit and the checkpoint at close (two or
 * three fsyncs): at 500 ms, ingest into 190 mailboxes added 1.6 fsyncs per message to
 * the disk the deliveries wait on.
 */
const BATCH_MS = 5000;
/** Pending messages may be held as their bytes (KeysSource): this bounds that memory. */
const MAX_PENDING = 2000;

export class KeysSpool {
  #pending = new Map<string, Map<string, PendingKeys>>();
  #count = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writer: KeysWriter | null = null;
  #noWorker = false;

  /**
   * `loaded`: the folder at a path when this process has it loaded; `hooks`: how keys
   * are computed from a KeysSource (see StoreHooks).
   */
  constructor(
    readonly loaded: (folderPath: string) => Folder | undefined,
    readonly hooks: StoreHooks = {},
  ) {}

  /** Whether put() takes a KeysSource: a worker can compute the keys. */
  get computesLater(): boolean {
    return this.hooks.messageKeysModule !== undefined && !this.#noWorker;
  }

  /** Keeps the keys of message `base` (text, or bytes: computesLater) for `folderPath`. */
  put(folderPath: string, base: string, text: PendingKeys): void {
    let keys = this.#pending.get(folderPath);
    if (!keys) this.#pending.set(folderPath, keys = new Map());
    keys.set(base, text);
    if (++this.#count >= MAX_PENDING) this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), BATCH_MS);
      Deno.unrefTimer(this.#timer);
    }
  }

  /** Hands everything pending to the folders loaded, the rest to the writer. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const all = this.#pending;
    this.#pending = new Map();
    this.#count = 0;
    const unloaded: FolderKeys[] = [];
    for (const [path, keys] of all) {
      const folder = this.loaded(path);
      if (folder && !folder.closed) {
        for (const [base, k] of keys) {
          const text = this.#text(k);
          if (text !== null) folder.keysPut(base, text);
        }
      } else unloaded.push([path, [...keys]]);
    }
    if (unloaded.length === 0) return;
    if (!this.#startWriter()?.write(unloaded)) {
      for (const [path, keys] of unloaded) {
        const texts: [string, string][] = [];
        for (const [base, k] of keys) {
          const text = this.#text(k);
          if (text !== null) texts.push([base, text]);
        }
        const why = writeKeys(path, texts);
        if (why) log("store").debug(`keys for ${path} not stored: ${why}`);
      }
    }
  }

  /** The key text of pending keys, computed here when they are bytes (null: failed). */
  #text(k: PendingKeys): string | null {
    if (typeof k === "string") return k;
    try {
      return this.hooks.messageKeys?.(k.bytes, k.whole) ?? null;
    } catch {
      return null;
    }
  }

  /** Writes everything pending and waits until it is written (shutdown). */
  async close(): Promise<void> {
    this.flush();
    const writer = this.#writer;
    this.#writer = null;
    await writer?.close();
  }

  #startWriter(): KeysWriter | null {
    if (this.#noWorker) return null;
    if (this.#writer?.failed) {
      // It failed (a compiled binary without it): from now on, here.
      this.#writer = null;
      this.#noWorker = true;
      return null;
    }
    return this.#writer ??= new KeysWriter(this.hooks.messageKeysModule);
  }
}
