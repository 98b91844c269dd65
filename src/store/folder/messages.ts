/**
 * The messages of one folder in memory: the UIDs in order (the snapshot sessions diff
 * against), each message's fields as columns (columns.ts) and the counters STATUS,
 * SELECT and quota read. Entries (entry.ts) are made from the columns when asked for.
 * Every change to a message goes through here so the counters stay right.
 */
import { yieldToEventLoop } from "../fsutil.ts";
import { EntryColumns } from "./columns.ts";
import { Entry, type EntryChanges, type EntryHome, type MessageEntry } from "./entry.ts";
import type { RawRow } from "./index_db.ts";
import { type FlagColumn, type FolderSummary, MAX_FLAG_SETS } from "./summary.ts";

export { type EntryChanges, entryPath, type MessageEntry, newEntry, rowOf, storedName } from "./entry.ts";

/**
 * Rows not read yet (see MessageTable.loadLazy): the summary that stands in for them
 * and how to read them (null: they could not be, the folder is read again).
 */
interface Deferred {
  summary: FolderSummary;
  /** A page of rows after a UID (prefetch). */
  page: RowPages;
  lost: () => void;
  prefetching?: Promise<void>;
}

/** A page of index rows after a UID, in UID order (null: the index failed). */
export type RowPages = (after: number, limit: number) => RawRow[] | null;

/**
 * Rows read per page: a page's rows die young. Pages of 4,000 rows grew the young
 * generation (and the process) by 15 MB over a read of 100,000; pages of 500, 4 MB, for
 * the same time.
 */
const PAGE = 500;

/** The messages by UID (Folder.messages): entries made on demand. */
export interface EntriesByUid extends Iterable<[number, MessageEntry]> {
  readonly size: number;
  get(uid: number): MessageEntry | undefined;
  has(uid: number): boolean;
  /** In UID order. */
  values(): IterableIterator<MessageEntry>;
  keys(): IterableIterator<number>;
}

export class MessageTable implements EntryHome {
  /** Rows still in the index; the counters and UIDs below come from its summary meanwhile. */
  #deferred: Deferred | null = null;
  #mutations = 0;
  #expungeGeneration = 0;
  /** The UIDs in order, [0, #count); appended in place, replaced when messages leave. */
  #uids: Uint32Array<ArrayBuffer> = new Uint32Array(64);
  /** The other fields, by the same positions. */
  #cols = new EntryColumns();
  #count = 0;
  /** Messages removed until rebuildUids() (their positions are still taken). */
  #removed = 0;
  #unseen = 0;
  #deleted = 0;
  #bytes = 0;
  #inNew = 0;
  /** Positions change at every new layout (entries hold theirs with its number). */
  #layout = 0;
  /** Entries of layouts before this one are of messages no longer here (clear()). */
  #epoch = 0;
  readonly #byUid: EntriesByUid;

  constructor() {
    const table = this;
    const at = (uid: number) => table.#find(uid);
    function* positions() {
      for (let i = 0; i < table.#count; i++) if (!table.#cols.removed(i)) yield i;
    }
    this.#byUid = {
      get size() {
        table.#ready();
        return table.#count - table.#removed;
      },
      get: (uid) => {
        const i = at(uid);
        return i < 0 ? undefined : table.#entry(i);
      },
      has: (uid) => at(uid) >= 0,
      *values() {
        for (const i of positions()) yield table.#entry(i);
      },
      *keys() {
        for (const i of positions()) yield table.#uids[i];
      },
      *[Symbol.iterator]() {
        for (const i of positions()) yield [table.#uids[i], table.#entry(i)];
      },
    };
  }

  /** Messages by UID, in UID order. */
  get byUid(): EntriesByUid {
    this.#ready();
    return this.#byUid;
  }

  /**
   * Starts from a summary (summary.ts) instead of the rows: they are read on first use of
   * an entry. Counters, the UID snapshot and the \Recent count are the summary's until then.
   */
  loadLazy(summary: FolderSummary, source: Omit<Deferred, "summary">): void {
    this.clear();
    this.#deferred = { summary, ...source };
    this.#uids = summary.uids;
    this.#count = summary.count;
    this.#unseen = summary.unseen;
    this.#deleted = summary.deleted;
    this.#bytes = summary.bytes;
    this.#inNew = summary.inNew.length;
  }

  /** Reads every row into the table (the folder's first load without a summary). */
  loadRows(page: RowPages): void {
    const read = readRows(page);
    if (read) this.#take(read);
  }

  /** The entries are in memory (reads the deferred rows). */
  #ready(): void {
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
    return d.prefetching ??= (async () => {
      const read = new Rows(d.summary.count);
      for (let after = 0;;) {
        if (this.#deferred !== d) return;
        // A few pages per turn of the event loop (each a fraction of a millisecond).
        for (let pages = 0; pages < 8 && after >= 0; pages++) after = read.append(d.page, after);
        if (after === -1) return this.#ready();
        if (after === -2) break;
        await yieldToEventLoop();
      }
      if (this.#deferred === d) this.#install(d, read);
    })();
  }

  #install(d: Deferred, cols: Rows | null): void {
    this.#deferred = null;
    const { uids, count } = d.summary;
    this.#uids = new Uint32Array(64);
    this.#count = 0;
    this.#layout++;
    if (cols !== null) this.#take(cols);
    let same = cols !== null && this.#count === count;
    for (let i = 0; same && i < count; i++) same = this.#uids[i] === uids[i];
    // Views took the summary's UIDs: the same UIDs keep that buffer (so positions stay
    // valid for entryAt); if the rows differ, views compare theirs again.
    if (same && uids.length >= this.#uids.length) this.#uids = uids;
    else if (!same) this.#expungeGeneration++;
    if (cols === null) d.lost(); // the index failed meanwhile: the directories are read again
  }

  /** Takes read rows (in UID order) as the table's messages, and counts them. */
  #take(read: Rows): void {
    this.#cols = read.cols;
    this.#layout++;
    const n = this.#count = read.cols.count;
    this.#uids = read.uids;
    this.#unseen = this.#deleted = this.#bytes = this.#inNew = this.#removed = 0;
    for (let i = 0; i < n; i++) this.#account(i, 1);
  }

  /** How many messages (without reading deferred rows). */
  get count(): number {
    return this.#count;
  }

  /** How many are in new/ (IMAP \Recent), without reading deferred rows. */
  get recentCount(): number {
    return this.#inNew;
  }

  /** The UIDs of the messages in new/, without reading deferred rows. */
  recentUids(): Uint32Array {
    if (this.#deferred) return this.#deferred.summary.inNew;
    return Uint32Array.from(this.inNewUids());
  }

  /** UIDs of the messages still in new/ (IMAP \Recent), in order. */
  inNewUids(): number[] {
    this.#ready();
    const out: number[] = [];
    if (this.#inNew === 0) return out;
    for (let i = 0; i < this.#count; i++) {
      if (this.#cols.inNew(i) && !this.#cols.removed(i)) out.push(this.#uids[i]);
    }
    return out;
  }

  /** UID of the first message without \Seen, 0 when there is none. */
  firstUnseen(): number {
    if (this.#deferred) return this.#deferred.summary.firstUnseen;
    if (this.#unseen === 0) return 0;
    for (let i = 0; i < this.#count; i++) {
      if (!this.#cols.removed(i) && !this.#cols.flags(i).includes("S")) return this.#uids[i];
    }
    return 0;
  }

  /** Bumped when messages leave: views compare their UIDs with ours only then. */
  get expungeGeneration(): number {
    return this.#expungeGeneration;
  }

  get unseen(): number {
    return this.#unseen;
  }

  get deleted(): number {
    return this.#deleted;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** How many of our messages are in new/ or in cur/. */
  filesIn(sub: "new" | "cur"): number {
    return sub === "new" ? this.recentCount : this.#count - this.#removed - this.recentCount;
  }

  lastUid(): number {
    return this.#count ? this.#uids[this.#count - 1] : 0;
  }

  /** Position of a UID (binary search), -1 when it is not here. */
  #find(uid: number): number {
    this.#ready();
    const uids = this.#uids;
    let lo = 0, hi = this.#count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (uids[mid] < uid) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.#count && uids[lo] === uid && !this.#cols.removed(lo) ? lo : -1;
  }

  /** The entry of position `i`, made now. */
  #entry(i: number): Entry {
    const c = this.#cols, uid = this.#uids[i];
    const e = new Entry(
      uid,
      c.baseSource(i),
      c.inNew(i) ? "new" : "cur",
      c.flags(i),
      c.size(i),
      c.date(i),
      c.modseq(i),
      c.odd(uid),
    );
    e.home = this;
    e.at = i;
    e.layout = this.#layout;
    return e;
  }

  /**
   * The entry at position `i` of a UID snapshot `uids` (one snapshot() returned): by
   * position while that snapshot is still the current one, else by its UID (undefined:
   * expunged since). A search or FETCH over 100,000 messages then makes no lookups.
   */
  entryAt(uids: Uint32Array, i: number): MessageEntry | undefined {
    this.#ready();
    if (uids === this.#uids && i < this.#count) return this.#entry(i);
    const at = this.#find(uids[i]);
    return at < 0 ? undefined : this.#entry(at);
  }

  /**
   * The flag letters of the message at position `i` of a UID snapshot (entryAt's flags),
   * from the summary's column while the rows are deferred: a flag search after a restart
   * reads no row; no entry is made.
   */
  flagsAt(uids: Uint32Array, i: number): string | undefined {
    const d = this.#deferred;
    if (d && uids === this.#uids && i < this.#count) {
      // The ids are not checked against the sets as the summary is decoded (a loop over
      // 100,000 ids in code that runs once cost a restart's SELECT milliseconds): an id
      // past them (a damaged summary) falls back to the row.
      const letters = d.summary.flags.sets[d.summary.flags.ids[i]];
      if (letters !== undefined) return letters;
    }
    this.#ready();
    if (uids === this.#uids && i < this.#count) return this.#cols.flags(i);
    const at = this.#find(uids[i]);
    return at < 0 ? undefined : this.#cols.flags(at);
  }

  /** The size of the message at position `i` of a UID snapshot, as flagsAt (no entry). */
  sizeAt(uids: Uint32Array, i: number): number | undefined {
    this.#ready();
    const at = uids === this.#uids && i < this.#count ? i : this.#find(uids[i]);
    return at < 0 ? undefined : this.#cols.size(at);
  }

  /**
   * Every message's flag letters in UID order, for a summary (the deferred summary's own
   * while the rows are not read); null when there are too many distinct letter sets.
   */
  flagColumn(): FlagColumn | null {
    const d = this.#deferred;
    if (d) return d.summary.flags;
    const { sets: all, ids: allIds } = this.#cols.flagSets();
    const sets: string[] = [], idOf = new Int32Array(all.length).fill(-1);
    const ids = new Uint16Array(this.#count);
    for (let i = 0; i < this.#count; i++) {
      let id = idOf[allIds[i]];
      if (id < 0) {
        if (sets.length === MAX_FLAG_SETS) return null;
        idOf[allIds[i]] = id = sets.length;
        sets.push(all[allIds[i]]);
      }
      ids[i] = id;
    }
    return { sets, ids };
  }

  /**
   * Whether the message at position `i` of a UID snapshot is still here: by position while
   * that snapshot is the current one (rows deferred by a summary start are not read), else
   * by its UID.
   */
  present(uids: Uint32Array, i: number): boolean {
    if (uids === this.#uids && i < this.#count) return true;
    return this.#find(uids[i]) >= 0;
  }

  /** Whether this entry's message is still here (the entry is one of ours). */
  holds(e: MessageEntry): boolean {
    return e instanceof Entry && this.slot(e) >= 0;
  }

  /** The snapshot's UIDs in order: `uids[0 .. count)`. Never changed in place below `count`. */
  snapshot(): { uids: Uint32Array<ArrayBuffer>; count: number } {
    return { uids: this.#uids, count: this.#count };
  }

  /** Forgets every message (a new load or a new UIDVALIDITY). */
  clear(): void {
    this.#mutations++;
    this.#deferred = null;
    this.#cols = new EntryColumns();
    this.#uids = new Uint32Array(64);
    this.#count = this.#removed = 0;
    this.#unseen = this.#deleted = this.#bytes = this.#inNew = 0;
    this.#epoch = ++this.#layout;
    this.#expungeGeneration++;
  }

  /** Adds a message whose UID is above every other (`e` is its entry from then on). */
  insert(e: MessageEntry): void {
    this.#ready();
    if (this.#count === this.#uids.length) {
      // A summary's UIDs have no room to grow (a view on its bytes, maybe empty).
      const grown = new Uint32Array(Math.max(64, this.#uids.length * 2));
      grown.set(this.#uids);
      this.#uids = grown;
    }
    const odd = e instanceof Entry ? e.oddName : newOdd(e);
    const i = this.#cols.push(
      e.uid,
      e.base,
      e.sub === "new",
      e.flags,
      e.size,
      e.internalDate,
      e.modseq,
      odd,
    );
    if (e.extra !== undefined) this.#cols.setExtra(i, e.extra);
    this.#uids[this.#count++] = e.uid;
    if (e instanceof Entry) [e.home, e.at, e.layout] = [this, i, this.#layout];
    this.#account(i, 1);
  }

  /** Changes a message (a rename: new flags, or moved to cur/), and the entry given. */
  update(e: MessageEntry, changes: EntryChanges): void {
    const i = e instanceof Entry ? this.slot(e) : this.#find(e.uid);
    // The name last: it is kept only when not the canonical one for the new sub and flags.
    const { name, ...rest } = changes;
    if (i < 0) {
      Object.assign(e, rest);
      if (name !== undefined) e.name = name;
      return;
    }
    // From the message as it is now (`e` may be an older snapshot of it).
    const now = this.#entry(i);
    this.#account(i, -1);
    Object.assign(now, rest);
    if (name !== undefined) now.name = name;
    this.#cols.set(i, now.uid, now);
    this.#account(i, 1);
    e.sub = now.sub;
    e.flags = now.flags;
    e.modseq = now.modseq;
    if (e instanceof Entry) e.setOddName(now.oddName);
    else e.name = now.name;
  }

  /** Removes a message; call rebuildUids() once the batch is done. */
  remove(e: MessageEntry): void {
    const i = e instanceof Entry ? this.slot(e) : this.#find(e.uid);
    if (i < 0) return;
    this.#account(i, -1);
    this.#cols.markRemoved(i, e.uid);
    this.#removed++;
  }

  /** A new UID snapshot after removals (the old one stays valid for its holders). */
  rebuildUids(): void {
    this.#ready();
    const n = this.#count - this.#removed;
    const next = new Uint32Array(Math.max(64, Math.ceil(n * 1.25)));
    for (let i = 0, j = 0; i < this.#count; i++) {
      if (!this.#cols.removed(i)) next[j++] = this.#uids[i];
    }
    this.#cols.compact();
    this.#uids = next;
    this.#count = n;
    this.#removed = 0;
    this.#layout++;
    this.#expungeGeneration++;
  }

  /** Bumped by every change to an entry (a background reader checks it did not miss one). */
  get mutations(): number {
    return this.#mutations;
  }

  #account(i: number, sign: 1 | -1): void {
    this.#mutations++;
    const flags = this.#cols.flags(i);
    if (!flags.includes("S")) this.#unseen += sign;
    if (flags.includes("T")) this.#deleted += sign;
    if (this.#cols.inNew(i)) this.#inNew += sign;
    this.#bytes += sign * this.#cols.size(i);
  }

  // ---- EntryHome: an entry's shared fields --------------------------------------------

  /** Where an entry's message is now (-1: gone, or the entry is of another table). */
  slot(e: Entry): number {
    if (e.home !== this || e.layout < this.#epoch) return -1;
    if (e.layout === this.#layout) return this.#cols.removed(e.at) ? -1 : e.at;
    const i = this.#find(e.uid);
    if (i >= 0) [e.at, e.layout] = [i, this.#layout];
    return i;
  }

  dateAt(i: number): number | null {
    return this.#cols.date(i);
  }

  setDateAt(i: number, ms: number): void {
    this.#cols.setDate(i, ms);
  }

  extraAt(i: number): unknown {
    return this.#cols.extra(i);
  }

  setExtraAt(i: number, value: unknown): void {
    this.#cols.setExtra(i, value);
  }
}

/** The file name of a plain entry (not an Entry) if not the canonical one. */
function newOdd(e: MessageEntry): string | null {
  const c = new Entry(e.uid, e.base, e.sub, e.flags, 0, null, 0, null);
  c.name = e.name;
  return c.oddName;
}

/** Index rows read into columns, with their UIDs. */
class Rows {
  readonly cols = new EntryColumns();
  uids: Uint32Array<ArrayBuffer>;

  constructor(expect = 0) {
    this.cols.reserve(expect);
    this.uids = new Uint32Array(Math.max(64, expect));
  }

  /**
   * Appends the rows after UID `after` (one page). Returns the last UID read, -2 when
   * that was the last page, -1 when the index failed.
   */
  append(page: RowPages, after: number): number {
    const rows = page(after, PAGE);
    if (rows === null) return -1;
    const cols = this.cols;
    for (const r of rows) {
      const i = cols.push(r[0], r[1], r[2] !== 1, r[4], r[5], r[6], r[7], r[3]);
      if (i === this.uids.length) {
        const grown = new Uint32Array(this.uids.length * 2);
        grown.set(this.uids);
        this.uids = grown;
      }
      this.uids[i] = r[0];
    }
    return rows.length < PAGE ? -2 : rows[rows.length - 1][0];
  }
}

/** Every row, read a page at a time (null: the index failed). */
function readRows(page: RowPages, expect = 0): Rows | null {
  const read = new Rows(expect);
  for (let after = 0;;) {
    after = read.append(page, after);
    if (after === -1) return null;
    if (after === -2) return read;
  }
}
