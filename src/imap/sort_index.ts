/**
 * A folder's message keys (message_keys.ts) in memory, shared by every session. SORT,
 * THREAD, OBJECTID and SEARCH SUBJECT compare values held here, so on a 100,000-message
 * mailbox they touch no file once the keys are known.
 *
 * Where keys come from:
 * - the folder's index, read a page at a time (the event loop is free between pages);
 *   messages stored through this server have theirs there from the moment they were
 *   stored (MailStore's messageKeys hook: delivery, APPEND, COPY, MOVE);
 * - for the others (dropped in by other software, or after the index was rebuilt), the
 *   file's header block: the whole file when small, else only up to its empty line
 *   (at most 64 KiB), a few files at a time, and the keys go to the index (the file's
 *   internal date too, when it was not known: SINCE and ARRIVAL then need no stat).
 *
 * `warm()` runs after SELECT in the background, so the first header SEARCH or SORT finds
 * the keys computed (or joins the reads under way: a message is read once).
 */
import { log } from "../log.ts";
import { toCrlf } from "../message/line_endings.ts";
import type { Folder, MessageEntry } from "../store/folder/folder.ts";
import {
  decodeKeys,
  emailIdOf,
  encodeKeys,
  keysOfMessage,
  type MessageKeys,
} from "./message_keys.ts";

/** Files read at the same time for keys: by a command waiting for them, in the background. */
const PARALLEL = 16;
const PARALLEL_BACKGROUND = 8;
/** Stored keys read per page (a page is decoded in a few ms). */
const PAGE = 500;
/** Files up to this size are read whole (one read either way, and the EMAILID comes free). */
const WHOLE_UP_TO = 32 << 10;
/** The longest header block read for keys. */
const HEADER_CAP = 64 << 10;

const yieldNow = () => new Promise<void>((r) => setTimeout(r, 0));

export class FolderKeys {
  #byBase = new Map<string, MessageKeys>();
  #loading: Promise<void> | null = null;
  #loaded = false;
  /** Messages from this UID on arrived after the load began: their keys may be stored since. */
  #loadedUidNext = 0;
  /** Keys being computed (a message is read once, whoever asks). */
  #computing = new Map<string, Promise<MessageKeys>>();
  #warming: Promise<void> | null = null;

  constructor(readonly folder: Folder) {}

  /** Reads the folder's stored keys into memory (once; a page at a time). */
  load(): Promise<void> {
    return this.#loading ??= this.#load();
  }

  async #load(): Promise<void> {
    this.#loadedUidNext = this.folder.uidNext;
    let after = "";
    for (;;) {
      const { rows, done } = this.folder.keysPage(after, PAGE);
      for (const [base, text] of rows) {
        if (this.#byBase.has(base)) continue;
        const k = decodeKeys(text);
        if (k) this.#byBase.set(base, k);
      }
      if (done || rows.length === 0) break;
      after = rows[rows.length - 1][0];
      await yieldNow();
    }
    this.#loaded = true;
  }

  /** The keys of a message if known, without reading its file (after load()). */
  peek(entry: MessageEntry): MessageKeys | undefined {
    const known = this.#byBase.get(entry.base);
    if (known || !this.#loaded || entry.uid < this.#loadedUidNext) return known;
    // Stored after the load (a delivery, a COPY): one index lookup.
    const text = this.folder.keysGet(entry.base);
    const k = text === undefined ? null : decodeKeys(text);
    if (!k) return undefined;
    this.#byBase.set(entry.base, k);
    return k;
  }

  /** The keys of a message, read from its file when not known yet. */
  async get(entry: MessageEntry): Promise<MessageKeys> {
    if (!this.#loaded) await this.load();
    const known = this.peek(entry);
    if (known) return known;
    let p = this.#computing.get(entry.base);
    if (!p) {
      p = this.#compute(entry).finally(() => this.#computing.delete(entry.base));
      this.#computing.set(entry.base, p);
    }
    return await p;
  }

  async #compute(entry: MessageEntry): Promise<MessageKeys> {
    const { bytes, whole } = await this.folder.readHeader(entry, WHOLE_UP_TO, HEADER_CAP);
    // The EMAILID is a digest of the message as served (CRLF line endings).
    const keys = keysOfMessage(whole ? toCrlf(bytes) : bytes, whole);
    this.#byBase.set(entry.base, keys);
    this.folder.keysPut(entry.base, encodeKeys(keys));
    return keys;
  }

  /** RFC 8474 EMAILID: from the keys, else the whole file is read once for it. */
  async emailId(entry: MessageEntry): Promise<string> {
    const k = await this.get(entry);
    if (k.emailId !== null) return k.emailId;
    k.emailId = emailIdOf(toCrlf(await this.folder.read(entry)));
    this.folder.keysPut(entry.base, encodeKeys(k));
    return k.emailId;
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
    await this.load();
    this.#prune();
    const out: (MessageKeys | null)[] = new Array(entries.length).fill(null);
    let pending: Promise<void>[] = [];
    for (let i = 0; i < entries.length; i++) {
      const known = this.peek(entries[i]);
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

  /**
   * Loads the stored keys and computes the missing ones (PARALLEL files at a time), in the
   * background: the event loop is only held for one message's keys at a time. Stored keys
   * of messages no longer in the folder are dropped from the index. One run at a time.
   */
  warm(): Promise<void> {
    return this.#warming ??= this.#warm().finally(() => {
      this.#warming = null;
    });
  }

  async #warm(): Promise<void> {
    await this.load();
    const folder = this.folder;
    if (this.#byBase.size > folder.messages.size) this.#dropOrphans();
    const missing: MessageEntry[] = [];
    for (const e of folder.messages.values()) if (!this.peek(e)) missing.push(e);
    let next = 0;
    const worker = async () => {
      while (next < missing.length && !folder.closed) {
        const e = missing[next++];
        if (folder.messages.get(e.uid) !== e) continue; // expunged or renamed meanwhile
        try {
          await this.get(e);
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_BACKGROUND }, worker));
  }

  /** Stored keys whose message is gone (deleted by other software): out of the index. */
  #dropOrphans(): void {
    const present = new Set<string>();
    for (const e of this.folder.messages.values()) present.add(e.base);
    const gone = [...this.#byBase.keys()].filter((b) => !present.has(b));
    for (const b of gone) this.#byBase.delete(b);
    if (gone.length) this.folder.keysDelete(gone);
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

/** Starts computing a folder's missing keys in the background (after SELECT / EXAMINE). */
export function warmKeys(folder: Folder): void {
  folderKeys(folder).warm().catch((e) => {
    log("imap").warn(`keys of ${folder.path}: ${(e as Error)?.message ?? e}`);
  });
}
