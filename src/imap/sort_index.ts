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
 *   file's header block, up to its empty line (at most 64 KiB), and the keys go to the
 *   index (the file's internal date too, when it was not known: SINCE and ARRIVAL then
 *   need no stat). Many files (a warm-up, a SORT) are read by the reader workers
 *   (keys_reader.ts) in batches of 64, off the event loop; a few (or all, where no worker
 *   can run) on the event loop, a few at a time, small files whole (one read, and the
 *   EMAILID with it). A header-only read leaves the EMAILID for its first use. That
 *   reading is keys_files.ts (KeysFromFiles).
 *
 * `warm()` runs after SELECT in the background, so the first header SEARCH or SORT finds
 * the keys computed, or waits for the batch that holds a message's file (each message's
 * computation is registered when the run starts: a file is read once, whoever asks). It
 * asks the index which messages lack keys and keeps none in memory: the keys objects are
 * held only once SORT, THREAD or a search by message needs them all (`load()`), and
 * SEARCH SUBJECT reads one column instead (subject_column.ts).
 */
import { log } from "../log.ts";
import { toCrlf } from "../message/line_endings.ts";
import type { Folder, MessageEntry } from "../store/folder/folder.ts";
import { yieldToEventLoop } from "../store/fsutil.ts";
import { lowerBound } from "../store/folder/table_positions.ts";
import { KeysFromFiles, PARALLEL_BACKGROUND } from "./keys_files.ts";
import {
  decodeKeys,
  emailIdOf,
  encodeKeys,
  KEYS_PREFIX,
  KEYS_VERSION,
  type MessageKeys,
} from "./message_keys.ts";
import { SubjectColumn, SubjectColumnBuilder } from "./subject_column.ts";

/** Files read at the same time on the event loop for a waiting command (keys_files.ts). */
const PARALLEL = 16;
/** Stored keys read per page (a page is decoded in a few ms). */
const PAGE = 2000;

const yieldNow = yieldToEventLoop;
/** Rows of the subject column read per query (each page's rows die young). */
const COLUMN_PAGE = 2000;
/** The subject column is read again once this many keys were stored after it was read. */
const COLUMN_STALE = 2000;

export class FolderKeys {
  /**
   * The keys live on the folder's entries (`entry.extra`): a SEARCH or SORT of 100,000
   * messages reads a property of each instead of looking each up in a map of 100,000
   * (which was most of a warm SUBJECT search), and they go with their message. Entries
   * of a new UIDVALIDITY are new objects; `#validity` forgets what was being computed.
   */
  #validity = 0;
  /** Keys read from files by this object (for the log line of a warm-up). */
  #computed = 0;
  #orphansChecked = false;
  /** Every message below this UID had its keys computed (or was gone) by a warm-up. */
  #warmedUpTo = 0;
  #loading: Promise<void> | null = null;
  #loaded = false;
  /** Keys computed are kept on their entries (from the first load() on). */
  #retain = false;
  #column: SubjectColumn | null = null;
  /** Keys stored since the column was read, and the UIDNEXT it was read at. */
  #storedSinceColumn = 0;
  #columnUidNext = 0;
  /** Messages from this UID on arrived after the load began: their keys may be stored since. */
  #loadedUidNext = 0;
  /** Keys read from files, each message's reading registered while it runs. */
  readonly #files: KeysFromFiles;
  #warming: Promise<void> | null = null;

  constructor(readonly folder: Folder) {
    this.#files = new KeysFromFiles(folder, {
      peek: (entry) => this.peek(entry),
      get: (entry) => this.get(entry),
      keep: (entry, keys, text) => this.#keep(entry, keys, text),
    });
  }

  /** Reads the folder's stored keys into memory (once; a page at a time). */
  load(): Promise<void> {
    this.#retain = true;
    return this.#loading ??= this.#load();
  }

  /**
   * The folder's Subject values as one column (subject_column.ts), read from the index
   * when first asked and again once many keys were stored since; null without an index.
   */
  subjects(): SubjectColumn | null {
    this.#checkValidity();
    const { uidNext, uidValidity } = this.folder;
    if (!this.#column) {
      // The one the index keeps (written when it was last read from the keys). Keys
      // computed after it was written (by a process since gone) make it read again.
      const blob = this.folder.keysBlob();
      const kept = blob && SubjectColumn.decode(blob, KEYS_VERSION, uidValidity);
      if (
        kept && uidNext - kept.uidNext < COLUMN_STALE &&
        this.folder.messageCount - kept.column.count < COLUMN_STALE
      ) {
        this.#column = kept.column;
        this.#storedSinceColumn = 0;
        this.#columnUidNext = kept.uidNext;
        return this.#column;
      }
    } else if (
      this.#storedSinceColumn < COLUMN_STALE && uidNext - this.#columnUidNext < COLUMN_STALE
    ) return this.#column;
    this.#column = this.#readColumn();
    this.#storedSinceColumn = 0;
    this.#columnUidNext = uidNext;
    if (this.#column) {
      this.folder.putKeysBlob(this.#column.encode(KEYS_VERSION, uidValidity, uidNext));
    }
    return this.#column;
  }

  /**
   * The subject column from the stored keys, a page at a time (SubjectColumnBuilder), in
   * one turn: a search waits for it either way. Null without a (working) index.
   */
  #readColumn(): SubjectColumn | null {
    const builder = new SubjectColumnBuilder();
    for (let after = 0;;) {
      const rows = this.folder.keysField(KEYS_PREFIX, "$[3]", after, COLUMN_PAGE);
      if (rows === null) return null;
      builder.add(rows);
      if (rows.length < COLUMN_PAGE) return builder.finish();
      after = Number(rows[rows.length - 1][0]);
    }
  }

  /**
   * The subject column for a search: when it lacks many of the folder's messages (keys
   * not computed yet, a first SELECT of a folder another program filled), the warm-up
   * is awaited and the column read again, so the search does not ask each of them by
   * itself (an index lookup, or a wait for its batch, per message).
   */
  async searchSubjects(): Promise<SubjectColumn | null> {
    let column = this.subjects();
    if (column && this.folder.messageCount - column.count >= COLUMN_STALE) {
      await this.warm().catch(() => {}); // logged by its starter; the search asks each then
      column = this.subjects();
    }
    return column;
  }

  async #load(): Promise<void> {
    this.#checkValidity();
    this.#loadedUidNext = this.folder.uidNext;
    await this.folder.entriesReady();
    let after = 0;
    for (;;) {
      const { rows, done } = this.folder.keysByUid(after, PAGE);
      const messages = this.folder.messages;
      for (const [uid, text] of rows) {
        const e = messages.get(uid);
        if (!e || e.extra !== undefined) continue;
        const k = decodeKeys(text);
        if (k) e.extra = k;
      }
      if (done || rows.length === 0) break;
      after = rows[rows.length - 1][0];
      await yieldNow();
    }
    this.#loaded = true;
  }

  /** A new UIDVALIDITY: UIDs name other messages now. */
  #checkValidity(): void {
    if (this.folder.uidValidity === this.#validity) return;
    this.#validity = this.folder.uidValidity;
    this.#warmedUpTo = 0;
    this.#files.forget();
    this.#column = null;
  }

  /** The keys of a message if known, without reading its file (after load()). */
  peek(entry: MessageEntry): MessageKeys | undefined {
    if (this.folder.uidValidity !== this.#validity) this.#checkValidity();
    const known = entry.extra as MessageKeys | undefined;
    if (known || !this.#loaded || entry.uid < this.#loadedUidNext) return known;
    // Stored after the load (a delivery, a COPY): one index lookup.
    const text = this.folder.keysGet(entry.base);
    const k = text === undefined ? null : decodeKeys(text);
    if (!k) return undefined;
    entry.extra = k;
    return k;
  }

  /**
   * The keys of a message: in memory, else stored in the index (one lookup), else read
   * from its file.
   */
  async get(entry: MessageEntry): Promise<MessageKeys> {
    const known = this.peek(entry) ?? this.#stored(entry);
    if (known) return known;
    const under = this.#files.pending(entry.uid);
    if (under) {
      await under.catch(() => {});
      const k = this.peek(entry) ?? this.#stored(entry);
      if (k) return k;
    }
    return await this.#files.read(entry);
  }

  /** A message's keys from the index (kept on the entry once load() was asked for). */
  #stored(entry: MessageEntry): MessageKeys | undefined {
    const text = this.folder.keysGet(entry.base);
    const k = text === undefined ? null : decodeKeys(text);
    if (!k) return undefined;
    if (this.#retain) entry.extra = k;
    return k;
  }

  /**
   * Keeps a message's keys: on the entry once load() was asked for (`keys` null: decoded
   * from `text` only then); in the index.
   */
  #keep(entry: MessageEntry, keys: MessageKeys | null, text: string): void {
    if (this.#retain) {
      const k = keys ?? decodeKeys(text);
      if (k) entry.extra = k;
    }
    this.#computed++;
    this.#storedSinceColumn++;
    this.folder.keysPut(entry.base, text);
  }

  /** RFC 8474 EMAILID: from the keys, else the whole file is read once for it. */
  async emailId(entry: MessageEntry): Promise<string> {
    const k = await this.get(entry);
    if (k.emailId !== null) return k.emailId;
    k.emailId = emailIdOf(toCrlf(await this.folder.read(entry)));
    this.#keep(entry, k, encodeKeys(k));
    return k.emailId;
  }

  /** Keys for every entry, in order (files read as needed); null for a message gone meanwhile. */
  async getAll(entries: readonly MessageEntry[]): Promise<(MessageKeys | null)[]> {
    await this.load();
    await this.#files.fill(entries, PARALLEL);
    return entries.map((e) => this.peek(e) ?? null);
  }

  /**
   * Loads the stored keys and computes the missing ones, in the background (see above).
   * Stored keys of messages no longer in the folder are dropped from the index. One run
   * at a time.
   */
  warm(): Promise<void> {
    return this.#warming ??= this.#warm().finally(() => {
      this.#warming = null;
    });
  }

  async #warm(): Promise<void> {
    // After the reply of the SELECT that asked: the index queries below are synchronous.
    await yieldNow();
    // A first SELECT answers while new/ is still moved to cur/ (Folder.refreshAndClaim):
    // the files are read once they are where their entries say.
    await this.folder.settled();
    // Once per load of the folder: two counts of 100,000 rows are not for every SELECT
    // (counted a page per turn; the validity is checked after them).
    if (!this.#orphansChecked) {
      this.#orphansChecked = true;
      await this.folder.keysDropOrphans();
    }
    this.#checkValidity();
    const started = performance.now(), before = this.#computed;
    // Every SELECT asks for a warm-up: after a complete one, only messages that arrived
    // since are looked at (a pass over 100,000 entries per SELECT was most of the CPU
    // time of a busy big mailbox). The index names the messages without keys, so a
    // folder whose keys are all stored loads neither its entries nor its keys here.
    const validity = this.#validity, upTo = this.folder.uidNext;
    // A complete pass is recorded in the index: after a restart only later UIDs are
    // looked at (the join of 100,000 rows took tens of ms on the event loop).
    const done = Math.max(this.#warmedUpTo, this.folder.keysDoneBelow(KEYS_VERSION));
    // UIDs, not entries: the files' reading makes each batch's entries (keys_files.ts).
    let todo = await this.#missing(Math.max(1, done));
    const indexed = todo !== null;
    if (todo === null) {
      await this.load(); // no index: what is known is in memory
      await this.folder.entriesReady();
      todo = this.#uidsFrom(this.#warmedUpTo);
    } else if (todo.length) await this.folder.entriesReady();
    await this.#files.fillUids(todo, PARALLEL_BACKGROUND);
    if (this.#validity === validity) {
      this.#warmedUpTo = upTo;
      if (indexed && upTo > done) this.folder.setKeysDoneBelow(KEYS_VERSION, upTo);
    }
    const read = this.#computed - before;
    if (read > 0) {
      const ms = Math.round(performance.now() - started);
      log("imap").info(
        `${this.folder.path}: keys of ${read} messages read from their files in ${ms} ms`,
      );
    }
  }

  /**
   * UIDs from `from` on whose keys the index lacks, in order, read a page per turn (one
   * query returned a row array per message, 100,000 at once); null without an index.
   */
  async #missing(from: number): Promise<Uint32Array | null> {
    let out = new Uint32Array(1024), n = 0;
    for (let after = from - 1;;) {
      const page = this.folder.keysMissing(after + 1, KEYS_PREFIX, PAGE);
      if (page === null) return null;
      if (n + page.length > out.length) {
        const grown = new Uint32Array(Math.max(2 * out.length, n + page.length));
        grown.set(out.subarray(0, n));
        out = grown;
      }
      out.set(page, n);
      n += page.length;
      if (page.length < PAGE) return out.subarray(0, n);
      after = page[page.length - 1];
      await yieldNow();
    }
  }

  /** The folder's UIDs from `from` on, in order. */
  #uidsFrom(from: number): Uint32Array {
    const { uids, count } = this.folder.uidSnapshot();
    return uids.slice(lowerBound(uids, count, Math.max(1, from)), count);
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
