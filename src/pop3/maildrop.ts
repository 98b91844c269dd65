/**
 * A POP3 maildrop: the user's INBOX as one session sees it (RFC 1939 §5). The message
 * list is a snapshot taken at login, so message numbers never shift; DELE only marks,
 * and the marked messages are removed in the UPDATE state after QUIT (RFC 1939 §6).
 * One POP3 session per maildrop at a time (RFC 1939 §8 "exclusive-access lock"),
 * enforced by an in-process registry; IMAP sessions are not excluded, and a message
 * they expunge meanwhile is reported as gone.
 *
 * The snapshot is the messages' UIDs and sizes; a message's entry is made when a command
 * needs it and dropped after. Entries for the whole INBOX held for the session (2,000 of
 * them in bench:peers) cost 2-4 ms at every login and outlived the young generation, so
 * the garbage collector copied and promoted each of them (docs/performance.md, "POP3 RETR
 * on the PVM machine").
 */
import type { Folder, MessageEntry } from "../store/folder/folder.ts";
import type { MailStore } from "../store/mailstore.ts";
import { readEntryNameInto, readSmallInto, SYNC_READ_LIMIT } from "../store/read_small.ts";
import { MessageMarks } from "./marks.ts";
import { Pop3Error } from "./protocol.ts";

/** Folder path -> session id of the POP3 session holding it. */
const locks = new Map<string, string>();

/**
 * Messages up to this size are read with a synchronous read (store/read_small.ts): for a
 * file in the page cache that costs a few microseconds against tens for an async read's
 * thread hop. Larger messages use the async path so one big read never stalls the other
 * sessions.
 */
export { SYNC_READ_LIMIT };

/**
 * Messages larger than this are sent in chunks read from their file as the client takes
 * them (RETR, TOP), so a large message never sits in memory whole, nor twice.
 */
export const STREAM_ABOVE = 256 * 1024;

/** A message as the TRANSACTION commands use it: its size as stored and base name. */
export interface Pop3Message {
  readonly size: number;
  readonly base: string;
}

/**
 * What the TRANSACTION and UPDATE commands (transaction.ts, update.ts) ask of a maildrop:
 * Maildrop on the main thread, SnapshotMaildrop (snapshot_maildrop.ts) for a session
 * handed to the second event loop (loop.ts). The messages a method takes are the ones
 * the same maildrop's get() or entry() made.
 */
export interface Pop3Maildrop {
  readonly count: number;
  readonly visibleCount: number;
  readonly visibleSize: number;
  sizeOf(n: number): number;
  entry(n: number): Pop3Message | undefined;
  isDeleted(n: number): boolean;
  check(n: number | null): number;
  get(n: number | null): Pop3Message;
  markDeleted(n: number): void;
  reset(): void;
  markRetrieved(n: number): void;
  readInto(message: Pop3Message, buf: Uint8Array, at: number): boolean;
  read(message: Pop3Message): Uint8Array | Promise<Uint8Array>;
  open(message: Pop3Message): Promise<Deno.FsFile>;
  commit(): Promise<number>;
  markSeen(): Promise<void>;
  release(): void;
  /**
   * Before a listing that leaves out messages expunged since the login (UIDL): learns
   * which they are, where entry() cannot tell by itself.
   */
  learnGone(): void | Promise<void>;
}

/**
 * A maildrop as handed to the second event loop (loop.ts): per message its UID, size as
 * listed and file (`sub/name` under `folderPath`), and the marks made so far.
 */
export interface MaildropSnapshot {
  folderPath: string;
  uids: Uint32Array;
  sizes: Float64Array;
  /** Each message's `sub/name`, joined by "\n" (one string to clone, not thousands). */
  files: string;
  deleted: Uint8Array;
  retrieved: Uint8Array;
}

/**
 * Maildrops of more messages stay on the main thread: the snapshot makes an entry per
 * message on the event loop (about 1 µs each), which for a huge maildrop would hold
 * every other session up at this login.
 */
const HAND_OVER_MAX = 20_000;

export class Maildrop implements Pop3Maildrop {
  readonly folder: Folder;
  readonly #store: MailStore;
  readonly #sessionId: string;
  /** Messages in the snapshot: numbered 1 to count (RFC 1939 §5). */
  readonly count: number;
  /** Message n's UID is `#uids[n - 1]`. */
  readonly #uids: Uint32Array;
  /** Sizes as listed, DELE and RETR marks (marks.ts). */
  readonly #marks: MessageMarks;
  #released = false;
  /** A message's file is folder.path/sub/name (checked once against folder.filePath()). */
  readonly #concatPaths: boolean;

  private constructor(store: MailStore, folder: Folder, sessionId: string) {
    this.#store = store;
    this.folder = folder;
    this.#sessionId = sessionId;
    // Keys are the UIDs of the messages present (none removed), in UID order.
    this.#uids = Uint32Array.from(folder.messages.keys());
    const count = this.count = this.#uids.length;
    const sizes = new Float64Array(count);
    for (let i = 0; i < count; i++) sizes[i] = folder.sizeAt(this.#uids, i) ?? 0;
    this.#marks = new MessageMarks(sizes);
    const probe = count > 0 ? folder.entryAt(this.#uids, 0) : undefined;
    this.#concatPaths = probe !== undefined &&
      folder.filePath(probe) === folder.path + "/" + probe.sub + "/" + probe.name;
  }

  /** Message n's size in the snapshot (LIST, RFC 1939 §5), whether or not it is still here. */
  sizeOf(n: number): number {
    return this.#marks.sizes[n - 1];
  }

  /**
   * Message n's entry, made now; undefined when it is gone (expunged by an IMAP client
   * since the snapshot). Not checked against the range or DELE marks: get() is.
   */
  entry(n: number): MessageEntry | undefined {
    return this.folder.entryAt(this.#uids, n - 1);
  }

  /**
   * Locks and opens the INBOX under `root` (creating the Maildir if the user has never
   * received mail). Throws Pop3Error [IN-USE] or [SYS/TEMP].
   */
  static async open(store: MailStore, root: string, sessionId: string): Promise<Maildrop> {
    const key = store.folderPath(root, "INBOX");
    const holder = locks.get(key);
    if (holder !== undefined && holder !== sessionId) {
      throw new Pop3Error("maildrop is locked by another POP3 session", "IN-USE");
    }
    locks.set(key, sessionId);
    try {
      let folder = await store.openFolder(root, "INBOX");
      if (!folder) {
        await store.ensureMailbox(root);
        folder = await store.openFolder(root, "INBOX");
      }
      if (!folder) throw new Error(`INBOX missing under ${root}`);
      return new Maildrop(store, folder, sessionId);
    } catch (e) {
      locks.delete(key);
      throw e;
    }
  }

  /** Messages not marked deleted and their total size (STAT, RFC 1939 §5). */
  get visibleCount(): number {
    return this.#marks.visibleCount;
  }

  get visibleSize(): number {
    return this.#marks.visibleSize;
  }

  isDeleted(n: number): boolean {
    return this.#marks.isDeleted(n);
  }

  /** MessageMarks.check: out of range or marked deleted is refused (Pop3Error). */
  check(n: number | null): number {
    return this.#marks.check(n);
  }

  /**
   * The message numbered n (check()'s refusals), made now. A message expunged by an IMAP
   * client since the snapshot is reported as gone.
   */
  get(n: number | null): MessageEntry {
    const entry = this.entry(this.check(n));
    if (entry === undefined) throw new Pop3Error(`message ${n} was removed by another client`);
    return entry;
  }

  markDeleted(n: number): void {
    this.#marks.markDeleted(n);
  }

  /** RSET (RFC 1939 §5): unmark every message. */
  reset(): void {
    this.#marks.reset();
  }

  /** Remembers a RETR, so the message is marked \Seen for IMAP when the session ends. */
  markRetrieved(n: number): void {
    this.#marks.markRetrieved(n);
  }

  /**
   * Reads a message of up to SYNC_READ_LIMIT bytes straight into `buf` at `at` (RETR
   * builds its reply around it, without a copy), when its file is where the folder
   * says and has the recorded size: needs `entry.size + 1` bytes free there, the one
   * more telling a file that grew. Returns false, having read nothing usable, when the
   * message is larger, was renamed meanwhile (a flag change in another session) or its
   * size differs: then read() follows the rename and reports the real size.
   */
  readInto(entry: MessageEntry, buf: Uint8Array, at: number): boolean {
    // Opened relative to its directory (held open by read_small.ts) when the file is at
    // folder/sub/name, as the constructor checked on a message.
    if (!this.#concatPaths) return readSmallInto(this.folder.filePath(entry), entry.size, buf, at);
    return readEntryNameInto(this.folder.path, entry, buf, at);
  }

  /** The message's bytes as stored (CRLF line endings). */
  read(entry: MessageEntry): Uint8Array | Promise<Uint8Array> {
    if (entry.size <= SYNC_READ_LIMIT) {
      try {
        return Deno.readFileSync(this.folder.filePath(entry));
      } catch (e) {
        // Renamed by a flag change in another session: the folder knows where it went.
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    return this.folder.read(entry);
  }

  /** The message's file opened for reading (a large message sent in chunks). */
  open(entry: MessageEntry): Promise<Deno.FsFile> {
    return this.folder.openFile(entry);
  }

  /**
   * UPDATE state (RFC 1939 §6): removes the messages marked deleted. Returns how many
   * were removed; a message already gone (expunged over IMAP) counts as removed.
   */
  async commit(): Promise<number> {
    const uids = [...this.#uids.filter((_, i) => this.#marks.deleted[i] === 1)];
    if (uids.length === 0) return 0;
    await this.folder.expunge(uids);
    this.#store.invalidateUsage(this.folder.path);
    this.#store.notify(this.folder.path);
    return uids.length;
  }

  /**
   * Marks every retrieved message that still exists \Seen (Maildir flag S), so IMAP
   * clients do not show mail already fetched over POP3 as unread. Done once per
   * session rather than per RETR: one rename each, none for messages deleted anyway.
   */
  async markSeen(): Promise<void> {
    const { retrieved, deleted } = this.#marks;
    let changed = false;
    for (let i = 0; i < this.count; i++) {
      if (!retrieved[i] || deleted[i]) continue;
      const m = this.entry(i + 1);
      if (m === undefined || (m.flags.includes("S") && m.sub === "cur")) continue;
      if (await this.folder.setFlags(m.uid, m.flags + "S")) changed = true;
    }
    retrieved.fill(0);
    if (changed) this.#store.notify(this.folder.path);
  }

  /**
   * The snapshot with each message's current file, for the second event loop; undefined
   * when its files are not all at folder/sub/name or it holds more than HAND_OVER_MAX
   * messages (then the session stays here).
   */
  handOver(): MaildropSnapshot | undefined {
    if (!this.#concatPaths || this.count > HAND_OVER_MAX) return undefined;
    const files: string[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) {
      const m = this.folder.entryAt(this.#uids, i);
      // Expunged since the login: a name that opens nothing, so it reads as gone.
      files[i] = m === undefined ? "gone/" : m.sub + "/" + m.name;
    }
    return {
      folderPath: this.folder.path,
      uids: this.#uids,
      sizes: this.#marks.sizes,
      files: files.join("\n"),
      deleted: this.#marks.deleted.slice(),
      retrieved: this.#marks.retrieved.slice(),
    };
  }

  /** Takes over the marks the second event loop made (DELE, RSET, RETR). */
  takeMarks(deleted: Uint8Array, retrieved: Uint8Array): void {
    this.#marks.takeOver(deleted, retrieved);
  }

  /** Message n's file now (renamed by a flag change since the snapshot); null when gone. */
  async currentFile(n: number): Promise<string | null> {
    const m = n >= 1 && n <= this.count ? this.entry(n) : undefined;
    if (m === undefined) return null;
    try {
      return await this.folder.locate(m);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
  }

  /** The numbers of the snapshot's messages expunged since (by an IMAP client). */
  goneNumbers(): number[] {
    const gone: number[] = [];
    for (let i = 0; i < this.count; i++) {
      if (!this.folder.messages.has(this.#uids[i])) gone.push(i + 1);
    }
    return gone;
  }

  /** Nothing to learn here: entry() asks the folder as it is now. */
  learnGone(): void {}

  /** Releases the exclusive lock; idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    const key = this.folder.path;
    if (locks.get(key) === this.#sessionId) locks.delete(key);
  }
}
