/**
 * One Maildir folder's state, shared by every session of the process that has it
 * open (IMAP sessions, POP3, deliveries): the messages with their UIDs, flags, sizes
 * and mod-sequences (RFC 7162). Sessions keep a compact view (the UID snapshot below,
 * a mod-sequence mark) and diff against this; they never copy the message map.
 *
 * Where the state comes from:
 * - the index (index_db.ts) on first open, trusted only while new/ and cur/ keep the
 *   mtimes it recorded (and those were seen settled, see dirs.ts);
 * - a directory scan when new/ or cur/ changed in a way this process did not make
 *   (other Maildir software), reconciled against the index (scan.ts): files
 *   added get UIDs, files gone are expunged, renamed files (flags) get a new
 *   mod-sequence;
 * - our own changes (deliveries, APPEND/COPY/MOVE in add.ts; flags, \Recent
 *   claims, expunges in changes.ts), applied in memory as they are made. Each
 *   runs between two stats of the directories it touches (DirMarks.own): when nothing
 *   else changed a directory before, its new mtime is explained by us and needs no
 *   scan. A later verification scan (rate-limited for big folders) covers a foreign
 *   change made within the same mtime tick.
 *
 * UIDs are assigned durably in the UID list (uids.ts, uidlist.ts), read again
 * only when its file changed. Every change to the messages runs under the folder's
 * mutex. The parts of the state are in state.ts.
 */
import { Mutex } from "../fsutil.ts";
import { FolderFiles } from "./folder_files.ts";
import { type AddItem, AddQueue, adoptFiles } from "./add.ts";
import { claimRecent, expunge, type FlagUpdate, updateFlags } from "./changes.ts";
import type { EntriesByUid, FlagIds, MessageEntry, RunList } from "./messages.ts";
import { checkDirs } from "./scan.ts";
import type { Sub } from "./dirs.ts";
import { verifyDir } from "./verify.ts";
import { log } from "../../log.ts";
import { type FolderState, loadFolderState, summaryOf } from "./state.ts";
import type { Snapshot } from "./uid_runs.ts";

export type { CacheRow } from "./index_db.ts";
export type { AddItem } from "./add.ts";
export type { FlagUpdate } from "./changes.ts";
export { FlagError } from "./keywords.ts";
export type { EntriesByUid, FlagIds, MessageEntry, RunList } from "./messages.ts";
export { nextUidValidity } from "./uids.ts";

export class Folder extends FolderFiles {
  /** Bumped on every change a session may need to report. */
  version = 0;
  readonly #mutex = new Mutex();
  readonly #st: FolderState;
  readonly #adds = new AddQueue();
  #loaded = false;
  #closed = false;
  readonly #verifying = new Set<Sub>();

  constructor(path: string) {
    super(path);
    this.#st = this.state;
  }

  get uidValidity(): number {
    return this.#st.uids.validity;
  }

  get uidNext(): number {
    return this.#st.uids.next;
  }

  /** RFC 7162 HIGHESTMODSEQ. */
  get highestModseq(): number {
    return this.#st.modseqs.highest;
  }

  /**
   * The entries in memory, read a page at a time after a summary start (the first use
   * of `messages` would read them all at once): background work that will go through
   * every message awaits this first.
   */
  entriesReady(): Promise<void> {
    return this.#st.table.prefetch();
  }

  /** Whether the message rows are still in the index only (a summary start, MessageTable). */
  get rowsDeferred(): boolean {
    return this.#st.table.rowsDeferred;
  }

  /** Messages by UID, in UID order; each entry is made when asked for (entry.ts). */
  get messages(): EntriesByUid {
    return this.#st.table.byUid;
  }

  /** Whether this entry's message is still in the folder (not expunged since it was taken). */
  holds(entry: MessageEntry): boolean {
    return this.#st.table.holds(entry);
  }

  /** Keyword names by letter index (a = 0). */
  get keywords(): readonly string[] {
    return this.#st.keywords.names;
  }

  /** Bumped when messages leave: views compare their UIDs with ours only then. */
  get expungeGeneration(): number {
    return this.#st.table.expungeGeneration;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Brings the messages up to date with the Maildir (loading the index on first use).
   * Cheap when nothing changed: one stat per directory. `force` re-reads the
   * directories whatever their mtimes say (a file was not where the map said).
   */
  refresh(force = false): Promise<void> {
    // A first SELECT's moves hold the mutex for seconds, and the messages in memory are
    // already as those moves leave them: nothing else to wait for (a foreign change meanwhile
    // is seen by the first refresh after them).
    if (!force && this.#st.moving.active) return Promise.resolve();
    return this.#mutex.run(async () => {
      if (!this.#loaded) await this.#load();
      await this.#check(force);
      for (const sub of this.#st.dirs.takeVerifyDue()) this.#startVerify(sub);
    });
  }

  /**
   * refresh() and claimRecent() in one hold of the mutex (SELECT): when the refresh finds
   * many new files in new/, they are moved to cur/ on a worker while their UIDs and index
   * rows are written (scan.ts). Returns the UIDs this caller saw as \Recent, sorted. With
   * such moves it returns once the messages are in place, before the moves end; the mutex
   * is held until they do (every other change waits, reads follow the files).
   */
  refreshAndClaim(): Promise<number[]> {
    // Nothing to claim while a first SELECT moves new/ (see refresh).
    if (this.#st.moving.active) return Promise.resolve([]);
    const { promise, resolve, reject } = Promise.withResolvers<number[]>();
    let answered = false;
    const answer = (uids: number[]) => {
      answered = true;
      resolve(uids);
    };
    this.#mutex.run(async () => {
      if (!this.#loaded) await this.#load();
      const claimed: number[] = [];
      await this.#check(false, claimed, () => {
        this.version++;
        answer(claimed);
      });
      for (const sub of this.#st.dirs.takeVerifyDue()) this.#startVerify(sub);
      if (answered) return;
      const rest = await claimRecent(this.#st);
      answer(rest.length ? [...claimed, ...rest].sort((a, b) => a - b) : claimed);
    }).catch((e) => {
      if (!answered) reject(e);
      else log("store").warn(`moving new/ to cur/ in ${this.path}: ${(e as Error)?.message ?? e}`);
    });
    return promise;
  }

  /** Resolves when no change runs (such as a first SELECT's moves, see refreshAndClaim). */
  settled(): Promise<void> {
    return this.#mutex.run(() => Promise.resolve());
  }

  /** A big directory's periodic verification, in the background (verify.ts). */
  #startVerify(sub: Sub): void {
    if (this.#verifying.has(sub) || this.#closed) return;
    this.#verifying.add(sub);
    verifyDir(this.#st, this.#mutex, sub, () => this.#check(true))
      .catch((e) =>
        log("store").warn(`verifying ${this.path}/${sub}: ${(e as Error)?.message ?? e}`)
      )
      .finally(() => this.#verifying.delete(sub));
  }

  async #load(): Promise<void> {
    await loadFolderState(this.#st, !this.#closed);
    this.#loaded = true;
  }

  async #check(force: boolean, claimed?: number[], answer?: () => void): Promise<void> {
    if (await checkDirs(this.#st, force, claimed, answer)) this.version++;
  }

  // ---- our own changes -----------------------------------------------------------

  /**
   * Places files into the folder (deliveries, APPEND, COPY) and assigns their UIDs,
   * without reading the directories. Concurrent callers are served in one batch (one
   * UID list append and fsync). Resolves with each item's UID (0: its source was gone).
   */
  add(items: AddItem[]): Promise<number[]> {
    const done = this.#adds.wait(items);
    void this.#mutex.run(() =>
      this.#adds.serve(async (all) => {
        if (!this.#loaded) {
          await this.#load();
          await this.#check(false);
        }
        const { outcomes, added } = await adoptFiles(this.#st, all);
        if (added) this.version++;
        return outcomes;
      })
    );
    return done;
  }

  /** Moves messages from new/ to cur/; returns the UIDs this caller saw as \Recent. */
  claimRecent(): Promise<number[]> {
    // Nothing to claim needs no turn of the mutex (which a first SELECT's moves may hold
    // for seconds, see refreshAndClaim); a message arriving meanwhile is claimed later.
    if (this.#st.table.recentCount === 0) return Promise.resolve([]);
    return this.#mutex.run(() => claimRecent(this.#st));
  }

  /** Sets a message's flag letters by renaming its file; false if it is gone. */
  async setFlags(uid: number, letters: string): Promise<boolean> {
    const r = await this.updateFlags([uid], () => letters);
    return r.missing.length === 0;
  }

  /**
   * Changes flags of several messages in one batch with one new mod-sequence. `compute`
   * gets each message's current state and returns its new letters (null: leave it).
   * With `unchangedSince` (RFC 7162 STORE UNCHANGEDSINCE), messages changed after it are
   * left alone and reported in `modified`. A message whose flags stay the same keeps its
   * mod-sequence and is not reported.
   */
  updateFlags(
    uids: Iterable<number>,
    compute: (entry: MessageEntry) => string | null,
    opts: { unchangedSince?: number } = {},
  ): Promise<FlagUpdate> {
    return this.#mutex.run(async () => {
      const result = await updateFlags(this.#st, uids, compute, opts);
      if (result.changed.length) this.version++;
      return result;
    });
  }

  /** Removes messages durably; returns the UIDs actually removed. */
  expunge(uids: readonly number[]): Promise<number[]> {
    return this.#mutex.run(async () => {
      const removed = await expunge(this.#st, uids);
      if (removed.length) this.version++;
      return removed;
    });
  }

  // ---- flag names ---------------------------------------------------------------

  /** IMAP flag names of a message (system flags and keywords). */
  flagNames(entry: MessageEntry): string[] {
    return this.#st.keywords.flagNames(entry.flags);
  }

  /** flagNames as FETCH FLAGS text ("\Seen $Label1"), cached per letter set. */
  flagText(letters: string): string {
    return this.#st.keywords.flagText(letters);
  }

  /** Letters for IMAP flag names, allocating keyword letters (durably) as needed. */
  lettersFor(names: readonly string[]): Promise<string> {
    return this.#st.keywords.lettersFor(names);
  }

  /** Whether a message with this base name is in the folder (from the UID list's map). */
  hasBase(base: string): boolean {
    return this.#st.uids.hasBase(base, this.#st.table);
  }

  /** The entry at position `i` of a uidSnapshot() (MessageTable.entryAt). */
  entryAt(uids: Snapshot, i: number): MessageEntry | undefined {
    return this.#st.table.entryAt(uids, i);
  }

  /** The flag letters at position `i` of a uidSnapshot(), without reading rows (MessageTable.flagsAt). */
  flagsAt(uids: Snapshot, i: number): string | undefined {
    return this.#st.table.flagsAt(uids, i);
  }

  /** Positions of the first `n` of a uidSnapshot() with (`set`) or without `letter`, as runs (MessageTable.flagRuns). */
  flagRuns(uids: Snapshot, n: number, letter: string, set: boolean): RunList {
    return this.#st.table.flagRuns(uids, n, letter, set);
  }

  /** The letter-set numbers of the first positions of a current uidSnapshot() (MessageTable.flagIds). */
  flagIds(uids: Snapshot, n: number): FlagIds {
    return this.#st.table.flagIds(uids, n);
  }

  /** The size at position `i` of a uidSnapshot(), without making its entry (MessageTable.sizeAt). */
  sizeAt(uids: Snapshot, i: number): number | undefined {
    return this.#st.table.sizeAt(uids, i);
  }

  /** The internal date at position `i` of a uidSnapshot() (null: not known yet), no entry made. */
  dateAt(uids: Snapshot, i: number): number | null | undefined {
    return this.#st.table.dateAt(uids, i);
  }

  /** The mod-sequence at position `i` of a uidSnapshot(), without making its entry. */
  modseqAt(uids: Snapshot, i: number): number | undefined {
    return this.#st.table.modseqAt(uids, i);
  }

  /** Whether the message at position `i` of a uidSnapshot() is still here (MessageTable.present). */
  present(uids: Snapshot, i: number): boolean {
    return this.#st.table.present(uids, i);
  }

  /** The UIDs in order: `uids[0 .. count)`. Never changed in place below `count`. */
  uidSnapshot(): { uids: Uint32Array; count: number } {
    return this.#st.table.snapshot();
  }

  /**
   * The same, but after a summary start the UIDs may still be its runs (uid_runs.ts):
   * the reads by position above take them as they are (a restart's SELECT).
   */
  lazyUidSnapshot(): { uids: Snapshot; count: number } {
    return this.#st.table.lazySnapshot();
  }

  /**
   * UIDs whose flags changed after mod-sequence `since` (newest first, may repeat), or
   * null when that is too long ago to know from memory (compare every message then).
   */
  changedSince(since: number): number[] | null {
    return this.#st.modseqs.changedSince(since);
  }

  /**
   * UIDs expunged after mod-sequence `since` (RFC 7162 QRESYNC), or null when the
   * index does not reach back that far.
   */
  vanishedSince(since: number): number[] | null {
    return this.#st.modseqs.vanishedSince(since);
  }

  /** Messages without \Seen, with \Deleted, still in new/ (\Recent), and their bytes. */
  get unseenCount(): number {
    return this.#st.table.unseen;
  }
  get deletedCount(): number {
    return this.#st.table.deleted;
  }
  get recentCount(): number {
    return this.#st.table.recentCount;
  }

  /** How many messages (cheaper than messages.size right after a summary start). */
  get messageCount(): number {
    return this.#st.table.count;
  }

  /** UID of the first message without \Seen (SELECT's UNSEEN), 0 when there is none. */
  firstUnseenUid(): number {
    return this.#st.table.firstUnseen();
  }

  /** Total size of the messages, for quota accounting. */
  totalSize(): number {
    return this.#st.table.bytes;
  }

  /**
   * Writes what is pending, marks the index clean and closes it. The folder still works
   * from memory afterwards (a session may hold it), without an index.
   */
  close(opts: { stale?: boolean } = {}): Promise<void> {
    return this.#mutex.run(() => {
      const { dirs, index, modseqs } = this.#st;
      // `stale`: the caller is about to change the directories (RENAME INBOX): the
      // next open must read them again.
      const unknown = { mtime: -1, checkedAt: 0 };
      if (opts.stale) index.close(unknown, unknown, modseqs.highest);
      else {
        const summary = this.#loaded ? summaryOf(this.#st) : null;
        index.close(dirs.mark("new"), dirs.mark("cur"), modseqs.highest, summary);
      }
      this.#closed = true;
      return Promise.resolve();
    });
  }
}
