/**
 * Reading a folder's message files (Folder extends this): the bytes, an open file, the
 * header block, the internal date (the file's mtime) and the save date. A message's file
 * may be renamed by a flag change meanwhile (here or in other software): each read
 * follows the rename once.
 */
import { readHeaderBlock } from "../fsutil.ts";
import { FolderIndexCalls } from "./folder_index_calls.ts";
import { entryPath, type MessageEntry } from "./messages.ts";
import { type FolderState, newFolderState } from "./state.ts";

export abstract class FolderFiles extends FolderIndexCalls {
  readonly path: string;
  /** The folder's parts (state.ts), shared with Folder. */
  protected readonly state: FolderState;

  constructor(path: string) {
    const st = newFolderState(path);
    super(st.index);
    this.path = path;
    this.state = st;
  }

  /**
   * Brings the messages up to date with the Maildir; `force` re-reads the directories
   * (a file was not where the entry said).
   */
  abstract refresh(force?: boolean): Promise<void>;

  filePath(entry: MessageEntry): string {
    return entryPath(this.path, entry);
  }

  /** The message bytes; follows a concurrent rename (flag change) once. */
  read(entry: MessageEntry): Promise<Uint8Array> {
    return this.#followRename(entry, (path) => Deno.readFile(path));
  }

  /**
   * The message's file opened for reading, for sending a large message in chunks
   * (POP3 RETR, IMAP FETCH); follows a concurrent rename once, as read() does.
   */
  openFile(entry: MessageEntry): Promise<Deno.FsFile> {
    return this.#followRename(entry, (path) => Deno.open(path, { read: true }));
  }

  /**
   * Where the message's file is now (a concurrent rename followed once, as read() does):
   * for another thread that reads it itself (pop3/loop.ts). NotFound when it is gone.
   */
  locate(entry: MessageEntry): Promise<string> {
    return this.#followRename(entry, async (path) => {
      await Deno.stat(path);
      return path;
    });
  }

  /**
   * The message's header block (fsutil.readHeaderBlock, at most `cap` bytes), or the
   * whole message when it is at most `wholeUpTo` bytes. `whole`: the bytes are the whole
   * file. An internal date not known yet is learnt on the way (one stat).
   */
  readHeader(
    entry: MessageEntry,
    wholeUpTo: number,
    cap: number,
  ): Promise<{ bytes: Uint8Array; whole: boolean }> {
    return this.#followRename(entry, async (path) => {
      if (entry.size <= wholeUpTo) {
        if (entry.internalDate === null) this.#learnDate(entry, (await Deno.stat(path)).mtime);
        return { bytes: await Deno.readFile(path), whole: true };
      }
      const file = await Deno.open(path, { read: true });
      try {
        if (entry.internalDate === null) this.#learnDate(entry, (await file.stat()).mtime);
        return await readHeaderBlock(file, cap);
      } finally {
        file.close();
      }
    });
  }

  /** The internal date (file mtime), read once, cached and kept in the index. */
  async internalDate(entry: MessageEntry): Promise<number> {
    if (entry.internalDate === null) {
      this.#learnDate(entry, (await this.#followRename(entry, (path) => Deno.stat(path))).mtime);
    }
    return entry.internalDate!;
  }

  #learnDate(entry: MessageEntry, mtime: Date | null): void {
    this.noteInternalDate(entry, mtime?.getTime() ?? Date.now());
  }

  /** Records an internal date learnt elsewhere (the file's mtime, read by a worker). */
  noteInternalDate(entry: MessageEntry, ms: number): void {
    entry.internalDate = ms;
    if (this.state.table.holds(entry)) this.state.index.noteDate(entry.uid, ms);
  }

  /**
   * RFC 8514 save date (ms): when the message was stored into this folder. Messages this
   * process stores (deliveries, APPEND, COPY, MOVE) have it recorded in the index;
   * otherwise (another program's delivery, an index rebuilt) it is the time in the
   * Maildir base name, which the writer chose as it saved the file, then the internal date.
   */
  saveDate(entry: MessageEntry): number {
    const recorded = this.state.index.savedAt(entry.uid);
    if (recorded !== undefined) return recorded;
    const secs = /^([0-9]{9,11})\./.exec(entry.base);
    if (secs) return Number(secs[1]) * 1000;
    return entry.internalDate ?? Date.now();
  }

  /**
   * Runs a file operation on a message's file; when the file is not there (renamed by
   * a flag change meanwhile), refreshes and tries once more under its current name.
   */
  async #followRename<T>(entry: MessageEntry, op: (path: string) => Promise<T>): Promise<T> {
    try {
      return await op(this.filePath(entry));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      // Being moved from new/ by a first SELECT (scan.ts): at one of its two names.
      const inNew = entry.sub === "cur" ? this.state.moving.nameInNew(entry.base) : undefined;
      if (inNew !== undefined) {
        for (const path of [`${this.path}/new/${inNew}`, this.filePath(entry)]) {
          try {
            return await op(path);
          } catch (again) {
            if (!(again instanceof Deno.errors.NotFound)) throw again;
          }
        }
      }
      await this.refresh(true);
      const again = this.state.table.byUid.get(entry.uid);
      if (!again) throw e;
      return await op(this.filePath(again));
    }
  }
}
