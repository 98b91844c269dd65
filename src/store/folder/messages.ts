/**
 * The messages of one folder in memory: the UIDs in order (the snapshot sessions diff
 * against), each message's fields as columns (columns.ts) and the counters STATUS,
 * SELECT and quota read. Entries (entry.ts) are made from the columns when asked for.
 * Every change to a message goes through here so the counters stay right. Where a
 * message is (positions, UID search, entries, reads at a snapshot's position) is the
 * base class's, table_positions.ts.
 */
import { type Counts, EntryColumns } from "./columns.ts";
import { canonicalName, Entry, type EntryChanges, type MessageEntry, oddNameOf } from "./entry.ts";
import { type EntriesByUid, entriesByUid } from "./by_uid.ts";
import { TablePositions } from "./table_positions.ts";
import { type Deferred, readPaced, readRows, type RowPages, type Rows } from "./rows.ts";
export type { EntriesByUid } from "./by_uid.ts";
import { type FlagColumn, flagColumnOf, type FolderSummary } from "./summary.ts";
import { type FlagIds, flagRuns, RunList } from "./flag_runs.ts";
import { copyColumns, type FileList } from "./file_list.ts";
import { yieldToEventLoop } from "../fsutil.ts";
import { arrayOf, type Snapshot, UidRuns } from "./uid_runs.ts";
export { type FlagIds, RunList } from "./flag_runs.ts";

export {
  type EntryChanges,
  entryPath,
  type MessageEntry,
  newEntry,
  rowOf,
  storedName,
} from "./entry.ts";

/** No letter sets: a snapshot that is not the current one is read message by message. */
const NO_SETS = { sets: [] as string[], ids: new Uint32Array(0) };

export class MessageTable extends TablePositions {
  /** Rows still in the index; the counters and UIDs below come from its summary meanwhile. */
  #deferred: Deferred | null = null;
  /** The summary's letter-set numbers once all were found to name a set (flagRuns). */
  #checkedIds: Uint8Array | Uint16Array | Uint32Array | null = null;
  #mutations = 0;
  #expungeGeneration = 0;
  /** Messages without \Seen, with \Deleted, in new/, and their bytes. */
  #n: Counts = { unseen: 0, deleted: 0, bytes: 0, inNew: 0 };
  readonly #byUid: EntriesByUid;

  constructor() {
    super();
    this.#byUid = entriesByUid(this);
  }

  /** Messages by UID, in UID order. */
  get byUid(): EntriesByUid {
    this.ready();
    return this.#byUid;
  }

  /**
   * Starts from a summary (summary.ts) instead of the rows: they are read on first use of
   * an entry. Counters, the UID snapshot and the \Recent count are the summary's until then.
   */
  loadLazy(summary: FolderSummary, source: Omit<Deferred, "summary">): void {
    this.clear();
    this.#deferred = { summary, ...source };
    if (summary.uids instanceof UidRuns) this.orderFromRuns(summary.uids);
    else [this.order, this.total] = [summary.uids, summary.count];
    const { unseen, deleted, bytes } = summary;
    this.#n = { unseen, deleted, bytes, inNew: summary.inNew.length };
  }

  /**
   * The files of `sub` for a directory check (verify.ts), as copies of the columns
   * (file_list.ts): no entry or name per message on this thread, and the copies made a
   * slice per turn of the event loop. A change to the table meanwhile may leave them
   * mixed: the check compares `mutations` before it trusts a verdict.
   */
  async fileList(sub: "new" | "cur"): Promise<FileList> {
    this.ready();
    const views = this.cols.fileColumns(this.total, (uid) => this.positionOf(uid));
    return { columns: await copyColumns(views, yieldToEventLoop), inNew: sub === "new" };
  }

  /** Reads every row into the table (the folder's first load without a summary). */
  loadRows(page: RowPages): void {
    const read = readRows(page);
    if (read) this.#take(read);
  }

  /** Whether the rows are still in the index only (a start from the summary, not read yet). */
  get rowsDeferred(): boolean {
    return this.#deferred !== null;
  }

  /** The entries are in memory (reads the deferred rows). */
  protected override ready(): void {
    const d = this.#deferred;
    if (!d) return;
    this.#install(d, readRows(d.page, d.summary.count));
  }

  /**
   * Reads deferred rows a page at a time, yielding between pages, and puts them in place
   * unless something needed them meanwhile (then they were read at once). Background work
   * that will touch every entry calls this first: no long hold of the event loop.
   */
  prefetch(): Promise<void> {
    const d = this.#deferred;
    if (!d) return Promise.resolve();
    return d.prefetching ??= readPaced(d, () => this.#deferred === d).then((read) => {
      if (this.#deferred !== d) return;
      if (read) this.#install(d, read);
      else this.ready(); // the index failed: at once, as a first use would
    });
  }

  #install(d: Deferred, cols: Rows | null): void {
    this.#deferred = null;
    const { uids, count } = d.summary;
    this.order = new Uint32Array(64);
    this.total = 0;
    this.layout++;
    if (cols !== null) this.#take(cols);
    const order = this.order;
    let same = cols !== null && this.total === count;
    if (uids instanceof UidRuns) same &&= uids.sameAs(order, count); // rows ascend by UID
    else for (let i = 0; same && i < count; i++) same = order[i] === uids[i];
    // Views took the summary's UIDs: the same UIDs keep one buffer (so positions stay
    // valid for entryAt): runs not made into an array yet take the rows' (no fill); an
    // array, when it has room, stays. If the rows differ, views compare theirs again.
    if (same && uids instanceof UidRuns && !uids.filled) uids.adopt(order);
    else if (same) {
      const made = arrayOf(uids);
      if (made.length >= order.length) this.order = made;
    } else {
      this.#expungeGeneration++;
      this.#mutations++; // not what the summary said: a verification begun meanwhile is void
    }
    if (cols === null) d.lost(); // the index failed meanwhile: the directories are read again
  }

  /**
   * Takes read rows (in UID order) as the table's messages, and counts them. Not counted
   * as mutations: reading the rows a summary stood in for changes no message, and a
   * directory verification that began before (verify.ts) must keep its verdict (it did
   * not: a restart then verified its big cur/ again and again, never settling it).
   */
  #take(read: Rows): void {
    this.cols = read.cols;
    this.layout++;
    const n = this.total = read.cols.count;
    this.order = read.uids;
    this.#n = { unseen: 0, deleted: 0, bytes: 0, inNew: 0 };
    this.removedCount = 0;
    for (let i = 0; i < n; i++) this.cols.countInto(i, 1, this.#n);
  }

  /** Messages here, without the ones removed until rebuildUids(). */
  get size(): number {
    this.ready();
    return this.total - this.removedCount;
  }

  /** How many are in new/ (IMAP \Recent), without reading deferred rows. */
  get recentCount(): number {
    return this.#n.inNew;
  }

  /** The UIDs of the messages in new/, without reading deferred rows. */
  recentUids(): Uint32Array {
    if (this.#deferred) return this.#deferred.summary.inNew;
    return Uint32Array.from(this.inNewUids());
  }

  /** UIDs of the messages still in new/ (IMAP \Recent), in order. */
  inNewUids(): number[] {
    this.ready();
    const out: number[] = [];
    if (this.#n.inNew === 0) return out;
    const order = this.order;
    for (let i = 0; i < this.total; i++) {
      if (this.cols.inNew(i) && !this.cols.removed(i)) out.push(order[i]);
    }
    return out;
  }

  /** UID of the first message without \Seen, 0 when there is none. */
  firstUnseen(): number {
    if (this.#deferred) return this.#deferred.summary.firstUnseen;
    if (this.#n.unseen === 0) return 0;
    const order = this.order;
    for (let i = 0; i < this.total; i++) {
      if (!this.cols.removed(i) && !this.cols.flags(i).includes("S")) return order[i];
    }
    return 0;
  }

  /** Bumped when messages leave: views compare their UIDs with ours only then. */
  get expungeGeneration(): number {
    return this.#expungeGeneration;
  }

  get unseen(): number {
    return this.#n.unseen;
  }

  get deleted(): number {
    return this.#n.deleted;
  }

  get bytes(): number {
    return this.#n.bytes;
  }

  /** How many of our messages are in new/ or in cur/. */
  filesIn(sub: "new" | "cur"): number {
    return sub === "new" ? this.recentCount : this.total - this.removedCount - this.recentCount;
  }

  /**
   * The flag letters of the message at position `i` of a UID snapshot (entryAt's flags),
   * from the summary's column while the rows are deferred: a flag search after a restart
   * reads no row; no entry is made.
   */
  flagsAt(uids: Snapshot, i: number): string | undefined {
    const d = this.#deferred;
    if (d && i < this.total && this.isCurrent(uids)) {
      // The ids are not checked against the sets as the summary is decoded (a loop over
      // 100,000 ids in code that runs once cost a restart's SELECT milliseconds): an id
      // past them (a damaged summary) falls back to the row.
      const letters = d.summary.flags.sets[d.summary.flags.ids[i]];
      if (letters !== undefined) return letters;
    }
    const at = this.positionAt(uids, i);
    return at < 0 ? undefined : this.cols.flags(at);
  }

  /**
   * The positions among the first `n` of snapshot `uids` whose flag letters hold `letter`
   * (`set`) or lack it (!`set`), leaving out messages expunged since, as runs (flag_runs.ts):
   * flagsAt(uids, i) for each, but while the snapshot is the current one the runs are
   * found in the letter-set numbers (SEARCH UNSEEN over 100,000 messages: three calls and
   * a string search per message were a third of its time, then a push per match).
   */
  flagRuns(uids: Snapshot, n: number, letter: string, set: boolean): RunList {
    const { sets, ids, end } = this.flagIds(uids, n);
    // The columns' numbers are their own; a summary's are checked once (decoding it does
    // not check them: a restart's SELECT would pay for it).
    const checked = !this.#deferred || this.#checkedIds === ids ||
      this.#checkIds(sets.length, ids);
    const out = new RunList();
    for (let i = flagRuns(sets, ids, end, letter, set, checked, out); i < n; i++) {
      const flags = this.flagsAt(uids, i);
      if (flags !== undefined && flags.includes(letter) === set) out.add(i, i + 1);
    }
    return out;
  }

  /**
   * The letter sets and each message's number among them for the first `end` (at most `n`)
   * positions of snapshot `uids`, while it is the current one (else `end` is 0): the
   * columns', or the summary's while its rows are not read. flagsAt() tells the rest.
   */
  flagIds(uids: Snapshot, n: number): FlagIds {
    const d = this.#deferred;
    const current = this.isCurrent(uids);
    const { sets, ids } = d ? d.summary.flags : current ? this.cols.flagSets() : NO_SETS;
    return { sets, ids, end: current ? Math.min(n, this.total, ids.length) : 0 };
  }

  /** Whether every number of a summary's column names one of its `count` sets (kept). */
  #checkIds(count: number, ids: Uint8Array | Uint16Array | Uint32Array): boolean {
    for (let i = 0; i < ids.length; i++) if (ids[i] >= count) return false;
    this.#checkedIds = ids;
    return true;
  }

  /**
   * Every message's flag letters in UID order, for a summary (the deferred summary's own
   * while the rows are not read); null when there are too many distinct letter sets.
   */
  flagColumn(): FlagColumn | null {
    const d = this.#deferred;
    if (d) return d.summary.flags;
    const { sets, ids } = this.cols.flagSets();
    return flagColumnOf(sets, ids.subarray(0, this.total));
  }

  /** Forgets every message (a new load or a new UIDVALIDITY). */
  clear(): void {
    this.#mutations++;
    this.#deferred = null;
    this.cols = new EntryColumns();
    this.order = new Uint32Array(64);
    this.total = this.removedCount = 0;
    this.#n = { unseen: 0, deleted: 0, bytes: 0, inNew: 0 };
    this.epoch = ++this.layout;
    this.#expungeGeneration++;
  }

  /** Adds a message whose UID is above every other (`e` is its entry from then on). */
  insert(e: MessageEntry): void {
    const odd = e instanceof Entry ? e.oddName : oddNameOf(e);
    const i = this.insertFile(
      e.uid,
      e.base,
      e.sub === "new",
      e.flags,
      e.size,
      e.internalDate,
      e.modseq,
      odd,
    );
    if (e.extra !== undefined) this.cols.setExtra(i, e.extra);
    if (e instanceof Entry) [e.home, e.at, e.layout] = [this, i, this.layout];
  }

  /**
   * Adds a message whose UID is above every other from its fields, with no entry made
   * (scan_added.ts); `odd`: its file name if not the canonical one. Its position.
   */
  insertFile(
    uid: number,
    base: string,
    inNew: boolean,
    flags: string,
    size: number,
    date: number | null,
    modseq: number,
    odd: string | null,
  ): number {
    this.ready();
    if (this.total === this.order.length) {
      // A summary's UIDs have no room to grow (a view on its bytes, maybe empty).
      const grown = new Uint32Array(Math.max(64, this.order.length * 2));
      grown.set(this.order);
      this.order = grown;
    }
    const i = this.cols.push(uid, base, inNew, flags, size, date, modseq, odd);
    this.order[this.total++] = uid;
    this.#account(i, 1);
    return i;
  }

  /** Changes a message (a rename: new flags, or moved to cur/). */
  update(e: MessageEntry, changes: EntryChanges): void {
    const i = e instanceof Entry ? this.slot(e) : this.positionOf(e.uid);
    // The name last: it is kept only when not the canonical one for the new sub and flags.
    const { name, ...rest } = changes;
    if (i < 0) {
      Object.assign(e, rest); // gone meanwhile: the entry alone
      if (name !== undefined) e.name = name;
      return;
    }
    const c = this.cols, uid = this.order[i];
    const sub = rest.sub ?? (c.inNew(i) ? "new" : "cur");
    const flags = rest.flags ?? c.flags(i);
    let odd = c.odd(uid);
    if (name !== undefined) odd = name === canonicalName(sub, c.base(i), flags) ? null : name;
    this.#account(i, -1);
    c.set(i, uid, sub === "new", flags, rest.modseq ?? c.modseq(i), odd);
    this.#account(i, 1);
    if (!(e instanceof Entry)) Object.assign(e, rest, name === undefined ? {} : { name });
  }

  /** Removes a message; call rebuildUids() once the batch is done. */
  remove(e: MessageEntry): void {
    const i = e instanceof Entry ? this.slot(e) : this.positionOf(e.uid);
    if (i < 0) return;
    this.#account(i, -1);
    this.cols.markRemoved(i, e.uid);
    this.removedCount++;
  }

  /** A new UID snapshot after removals (the old one stays valid for its holders). */
  rebuildUids(): void {
    this.ready();
    const n = this.total - this.removedCount;
    const next = new Uint32Array(Math.max(64, Math.ceil(n * 1.25)));
    const order = this.order;
    for (let i = 0, j = 0; i < this.total; i++) {
      if (!this.cols.removed(i)) next[j++] = order[i];
    }
    this.cols.compact();
    this.order = next;
    this.total = n;
    this.removedCount = 0;
    this.layout++;
    this.#expungeGeneration++;
  }

  /** Bumped by every change to an entry (a background reader checks it did not miss one). */
  get mutations(): number {
    return this.#mutations;
  }

  #account(i: number, sign: 1 | -1): void {
    this.#mutations++;
    this.cols.countInto(i, sign, this.#n);
  }
}
