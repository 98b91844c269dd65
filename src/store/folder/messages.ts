/**
 * The messages of one folder in memory: the entries by UID, the UIDs in order (the
 * snapshot sessions diff against) and the counters STATUS, SELECT and quota read.
 * Every change to an entry goes through here so the counters stay right; the entries
 * as index rows are here too.
 */
import { yieldToEventLoop } from "../fsutil.ts";
import { fileNameFor } from "../maildir_names.ts";
import type { IndexRow } from "./index_db.ts";
import { type FlagColumn, type FolderSummary, MAX_FLAG_SETS } from "./summary.ts";

/**
 * Rows not read yet (see MessageTable.loadLazy): the summary that stands in for them
 * and how to read them (null: they could not be, the folder is read again).
 */
interface Deferred {
  summary: FolderSummary;
  /** A page of rows after a UID (prefetch). */
  page: (after: number, limit: number) => IndexRow[] | null;
  lost: () => void;
  prefetching?: Promise<void>;
}

/**
 * Rows read per page by prefetch (a few milliseconds each) and by a read at once: a page's
 * rows die young, where 100,000 read in one go outlived the young generation and grew
 * the process by twice their size.
 */
const PREFETCH_PAGE = 4000;

export interface MessageEntry {
  readonly uid: number;
  readonly base: string;
  /** "new" until a session has seen it (IMAP \Recent), then "cur". */
  sub: "new" | "cur";
  /** Exact file name inside `sub`. */
  name: string;
  /** Flag letters (sorted): upper-case system flags, lower-case keywords. */
  flags: string;
  size: number;
  /** Internal date (ms since epoch): the file's mtime, read lazily. */
  internalDate: number | null;
  /** RFC 7162 mod-sequence: the folder's mod-sequence when this message last changed. */
  modseq: number;
  /**
   * What a layer above keeps with the message (the IMAP SORT/SEARCH keys,
   * src/imap/sort_index.ts): read with the entry, gone with it; never stored here.
   */
  extra: unknown;
}

/** What a change may set on an entry (its UID and base name never change). */
export type EntryChanges = Partial<Pick<MessageEntry, "sub" | "name" | "flags" | "modseq">>;

/**
 * A message's file path. Concatenated, not path.join: the folder path is already
 * normalized and a Maildir file name holds no "/", and join's normalization was a
 * tenth of the event loop's time when 100,000 files are renamed.
 */
export function entryPath(folderPath: string, e: MessageEntry): string {
  return `${folderPath}/${e.sub}/${e.name}`;
}

export class MessageTable {
  readonly #byUid = new Map<number, MessageEntry>();
  /** Rows still in the index; the counters and UIDs below come from its summary meanwhile. */
  #deferred: Deferred | null = null;
  #mutations = 0;
  #expungeGeneration = 0;
  /** The UIDs in order, [0, #count); appended in place, replaced when messages leave. */
  #uids: Uint32Array<ArrayBuffer> = new Uint32Array(64);
  /** The entries in the order of #uids (entryAt: a position costs no map lookup). */
  #entries: MessageEntry[] = [];
  #count = 0;
  #unseen = 0;
  #deleted = 0;
  #bytes = 0;
  readonly #inNew = new Set<number>();

  /** Messages by UID; insertion order is UID order because UIDs only grow. */
  get byUid(): ReadonlyMap<number, MessageEntry> {
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
  }

  /** The entries are in memory (reads the deferred rows). */
  #ready(): void {
    const d = this.#deferred;
    if (!d) return;
    this.#install(d, readEntries(d.page));
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
      const entries: MessageEntry[] = [];
      for (let after = 0;;) {
        if (this.#deferred !== d) return;
        const page = d.page(after, PREFETCH_PAGE);
        if (page === null) return this.#ready();
        for (const r of page) entries.push(entryOf(r));
        if (page.length < PREFETCH_PAGE) break;
        after = page[page.length - 1].uid;
        await yieldToEventLoop();
      }
      if (this.#deferred === d) this.#install(d, entries);
    })();
  }

  #install(d: Deferred, entries: MessageEntry[] | null): void {
    this.#deferred = null;
    const { uids, count } = d.summary;
    this.#uids = new Uint32Array(Math.max(64, uids.length));
    this.#entries = [];
    this.#count =
      this.#unseen =
      this.#deleted =
      this.#bytes =
        0;
    if (entries !== null) { for (const e of entries) this.insert(e); }
    let same = entries !== null && this.#count === count;
    for (let i = 0; same && i < count; i++) same = this.#uids[i] === uids[i];
    // Views took the summary's UIDs: the same UIDs keep that buffer (so positions stay
    // valid for entryAt); if the rows differ, views compare theirs again.
    if (same && uids.length >= this.#uids.length) this.#uids = uids;
    else if (!same) this.#expungeGeneration++;
    if (entries === null) d.lost(); // the index failed meanwhile: the directories are read again
  }

  /** How many messages (without reading deferred rows). */
  get count(): number {
    return this.#count;
  }

  /** How many are in new/ (IMAP \Recent), without reading deferred rows. */
  get recentCount(): number {
    return this.#deferred ? this.#deferred.summary.inNew.length : this.#inNew.size;
  }

  /** The UIDs of the messages in new/, without reading deferred rows. */
  recentUids(): Uint32Array {
    if (this.#deferred) return this.#deferred.summary.inNew;
    return Uint32Array.from(this.#inNew);
  }

  /** UID of the first message without \Seen, 0 when there is none. */
  firstUnseen(): number {
    if (this.#deferred) return this.#deferred.summary.firstUnseen;
    if (this.#unseen === 0) return 0;
    for (const e of this.#byUid.values()) if (!e.flags.includes("S")) return e.uid;
    return 0;
  }

  /** Bumped when messages leave: views compare their UIDs with ours only then. */
  get expungeGeneration(): number {
    return this.#expungeGeneration;
  }

  /** UIDs of the messages still in new/ (IMAP \Recent). */
  get inNew(): ReadonlySet<number> {
    this.#ready();
    return this.#inNew;
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
    return sub === "new" ? this.recentCount : this.#count - this.recentCount;
  }

  lastUid(): number {
    return this.#count ? this.#uids[this.#count - 1] : 0;
  }

  /**
   * The entry at position `i` of a UID snapshot `uids` (one snapshot() returned): by
   * position while that snapshot is still the current one, else by its UID (undefined:
   * expunged since). A search or FETCH over 100,000 messages then makes no map lookups.
   */
  entryAt(uids: Uint32Array, i: number): MessageEntry | undefined {
    this.#ready();
    if (uids === this.#uids && i < this.#count) return this.#entries[i];
    return this.#byUid.get(uids[i]);
  }

  /**
   * The flag letters of the message at position `i` of a UID snapshot (entryAt's flags),
   * from the summary's column while the rows are deferred: a flag search after a restart
   * reads no row.
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
    return this.entryAt(uids, i)?.flags;
  }

  /**
   * Every message's flag letters in UID order, for a summary (the deferred summary's own
   * while the rows are not read); null when there are too many distinct letter sets.
   */
  flagColumn(): FlagColumn | null {
    const d = this.#deferred;
    if (d) return d.summary.flags;
    const sets: string[] = [], idOf = new Map<string, number>();
    const ids = new Uint16Array(this.#count);
    for (let i = 0; i < this.#count; i++) {
      const flags = this.#entries[i].flags;
      let id = idOf.get(flags);
      if (id === undefined) {
        if (sets.length === MAX_FLAG_SETS) return null;
        idOf.set(flags, id = sets.length);
        sets.push(flags);
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
    return this.byUid.has(uids[i]);
  }

  /** The UIDs in order: `uids[0 .. count)`. Never changed in place below `count`. */
  snapshot(): { uids: Uint32Array<ArrayBuffer>; count: number } {
    return { uids: this.#uids, count: this.#count };
  }

  /** Forgets every message (a new load or a new UIDVALIDITY). */
  clear(): void {
    this.#mutations++;
    this.#deferred = null;
    this.#byUid.clear();
    this.#uids = new Uint32Array(64);
    this.#entries = [];
    this.#count = 0;
    this.#unseen = this.#deleted = this.#bytes = 0;
    this.#inNew.clear();
    this.#expungeGeneration++;
  }

  /** Adds an entry whose UID is above every other. */
  insert(e: MessageEntry): void {
    this.#ready();
    this.#byUid.set(e.uid, e);
    if (this.#count === this.#uids.length) {
      // A summary's UIDs have no room to grow (a view on its bytes, maybe empty).
      const grown = new Uint32Array(Math.max(64, this.#uids.length * 2));
      grown.set(this.#uids);
      this.#uids = grown;
    }
    this.#entries[this.#count] = e;
    this.#uids[this.#count++] = e.uid;
    this.#account(e, 1);
  }

  /** Changes an entry in place (a rename: new flags, or moved to cur/). */
  update(e: MessageEntry, changes: EntryChanges): void {
    this.#ready();
    this.#account(e, -1);
    // The name last: it is kept only when not the canonical one for the new sub and flags.
    const { name, ...rest } = changes;
    Object.assign(e, rest);
    if (name !== undefined) e.name = name;
    this.#account(e, 1);
  }

  /** Removes an entry; call rebuildUids() once the batch is done. */
  remove(e: MessageEntry): void {
    this.#ready();
    this.#account(e, -1);
    this.#byUid.delete(e.uid);
  }

  /** A new UID snapshot after removals (the old one stays valid for its holders). */
  rebuildUids(): void {
    this.#ready();
    const next = new Uint32Array(Math.max(64, Math.ceil(this.#byUid.size * 1.25)));
    const entries: MessageEntry[] = [];
    let i = 0;
    for (const e of this.#byUid.values()) {
      entries.push(e);
      next[i++] = e.uid;
    }
    this.#uids = next;
    this.#entries = entries;
    this.#count = i;
    this.#expungeGeneration++;
  }

  /** Bumped by every change to an entry (a background reader checks it did not miss one). */
  get mutations(): number {
    return this.#mutations;
  }

  #account(e: MessageEntry, sign: 1 | -1): void {
    this.#mutations++;
    if (!e.flags.includes("S")) this.#unseen += sign;
    if (e.flags.includes("T")) this.#deleted += sign;
    if (e.sub === "new") {
      if (sign > 0) this.#inNew.add(e.uid);
      else this.#inNew.delete(e.uid);
    }
    this.#bytes += sign * e.size;
  }
}

/** Every row as an entry, read a page at a time (null: the index failed). */
export function readEntries(
  page: (after: number, limit: number) => IndexRow[] | null,
): MessageEntry[] | null {
  const entries: MessageEntry[] = [];
  for (let after = 0;;) {
    const rows = page(after, PREFETCH_PAGE);
    if (rows === null) return null;
    for (const r of rows) entries.push(entryOf(r));
    if (rows.length < PREFETCH_PAGE) return entries;
    after = rows[rows.length - 1].uid;
  }
}

/** The name a file has when nothing else renamed it: the base in new/, base:2,flags in cur/. */
function canonicalName(sub: "new" | "cur", base: string, flags: string): string {
  return sub === "cur" ? `${base}:2,${flags}` : base;
}

/**
 * A message entry as the table keeps it: the file name is held only when it is not the
 * canonical one (another program's name), so 100,000 entries do not each hold a second
 * copy of their base name.
 */
class Entry implements MessageEntry {
  readonly uid: number;
  readonly base: string;
  sub: "new" | "cur";
  flags: string;
  size: number;
  internalDate: number | null;
  modseq: number;
  extra: unknown;
  #odd: string | null = null;

  /** `odd`: the name as an index row holds it (null: canonical), instead of `e.name`. */
  constructor(
    e: Omit<MessageEntry, "name" | "extra"> & { name?: string | null; extra?: unknown },
    odd?: string | null,
  ) {
    this.uid = e.uid;
    this.base = e.base;
    this.sub = e.sub;
    this.flags = e.flags;
    this.size = e.size;
    this.internalDate = e.internalDate;
    this.modseq = e.modseq;
    this.extra = e.extra;
    if (odd !== undefined) this.#odd = odd;
    else this.name = e.name as string;
  }

  get name(): string {
    return this.#odd ?? canonicalName(this.sub, this.base, this.flags);
  }

  set name(name: string) {
    this.#odd = name === canonicalName(this.sub, this.base, this.flags) ? null : name;
  }

  /** The name when it is not the canonical one (storedName without sorting flags again). */
  get oddName(): string | null {
    return this.#odd;
  }
}

/** The entry the table keeps for these fields (see Entry). */
export function newEntry(fields: MessageEntry): MessageEntry {
  return new Entry(fields);
}

/** The file name to record: null when it is the canonical one for the flags. */
export function storedName(e: MessageEntry): string | null {
  // An entry's letters are sorted already: its own canonical name is fileNameFor's.
  if (e instanceof Entry) return e.oddName;
  const canonical = e.sub === "cur" ? fileNameFor(e.base, e.flags) : e.base;
  return e.name === canonical ? null : e.name;
}

export function rowOf(e: MessageEntry): IndexRow {
  return {
    uid: e.uid,
    base: e.base,
    sub: e.sub,
    name: storedName(e),
    flags: e.flags,
    size: e.size,
    internalDate: e.internalDate,
    modseq: e.modseq,
  };
}

/**
 * Flag letter sets as read from the index, one string each: 100,000 rows hold a handful
 * of distinct sets, and a string per row was 2 MB of the entries.
 */
const letterSets = new Map<string, string>();

/**
 * The entry of an index row. The row's name is null when canonical (rowOf), which is what
 * an entry keeps: no name is built to be compared and thrown away.
 */
export function entryOf(r: IndexRow): MessageEntry {
  let flags = letterSets.get(r.flags);
  if (flags === undefined) {
    if (letterSets.size >= 4096) letterSets.clear();
    letterSets.set(r.flags, flags = r.flags);
  }
  r.flags = flags;
  return new Entry(r, r.name);
}
