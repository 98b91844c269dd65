/**
 * A folder's messages by position (the base of MessageTable, messages.ts): the UIDs in
 * order and each message's fields at the same positions (columns.ts), a UID's position
 * by binary search, entries made on demand and kept pointing at their message while it
 * is here (EntryHome), and reads at a position of a UID snapshot (a session's sequence
 * numbers) without making an entry. MessageTable adds the start from a summary, the
 * counters and every change. Split from messages.ts: where a message is, apart from how
 * the table is loaded and changed.
 */
import { EntryColumns } from "./columns.ts";
import { Entry, type EntryHome, type MessageEntry } from "./entry.ts";
import { type Snapshot, uidAt, UidRuns } from "./uid_runs.ts";

/**
 * The position of the first value >= `v` among `a[0 .. n)`, ascending (`n` when none):
 * a UID's place in a folder's UIDs, a session's sequence numbers, an index's lists.
 */
export function lowerBound(a: Uint32Array, n: number, v: number): number {
  let lo = 0, hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class TablePositions implements EntryHome {
  #order: Uint32Array<ArrayBuffer> = new Uint32Array(64);
  /** A summary's runs standing in for `order` until it is needed (uid_runs.ts). */
  #runs: UidRuns | null = null;
  /** The other fields, by the same positions. */
  protected cols = new EntryColumns();
  /** Positions taken (removed messages included until the table is compacted). */
  protected total = 0;
  /** Messages removed until MessageTable.rebuildUids() (their positions are still taken). */
  protected removedCount = 0;
  /** Positions change at every new layout (entries hold theirs with its number). */
  protected layout = 0;
  /** Entries of layouts before this one are of messages no longer here (clear()). */
  protected epoch = 0;

  /** The UIDs in order, [0, total); appended in place, replaced when messages leave. */
  protected get order(): Uint32Array<ArrayBuffer> {
    const runs = this.#runs;
    if (runs === null) return this.#order;
    this.#runs = null;
    return this.#order = runs.array();
  }

  protected set order(uids: Uint32Array<ArrayBuffer>) {
    this.#runs = null;
    this.#order = uids;
  }

  /** Starts from a summary's runs: `order` is made from them when first needed. */
  protected orderFromRuns(runs: UidRuns): void {
    this.#runs = runs;
    this.total = runs.count;
  }

  /**
   * Whether `uids` is the current snapshot: its positions are the table's. The runs
   * count as current while they stand in for `order` or once they were made into it,
   * and so does the array a holder made of them (a session's UID SEARCH, whose reads
   * by position would otherwise go by UID and read every deferred row first).
   */
  protected isCurrent(uids: Snapshot): boolean {
    const runs = this.#runs;
    if (runs !== null) return uids === runs || uids === runs.arrayIfMade;
    return uids === this.#order || (uids instanceof UidRuns && uids.arrayIfMade === this.#order);
  }

  /** Makes the rows readable (MessageTable: reads rows a summary stood in for). */
  protected ready(): void {}

  /** The UID at position `i`. */
  uidOf(i: number): number {
    return this.#runs === null ? this.#order[i] : this.#runs.uidAt(i);
  }

  /** How many messages (without reading deferred rows). */
  get count(): number {
    return this.total;
  }

  lastUid(): number {
    return this.total ? this.uidOf(this.total - 1) : 0;
  }

  /** Position of a UID (binary search), -1 when it is not here (or removed). */
  positionOf(uid: number): number {
    this.ready();
    const at = lowerBound(this.order, this.total, uid);
    return at < this.total && this.order[at] === uid && !this.cols.removed(at) ? at : -1;
  }

  /** The entry of position `i`, made now. */
  entryOf(i: number): Entry {
    const c = this.cols, uid = this.order[i];
    const e = new Entry(
      uid,
      null,
      c.inNew(i) ? "new" : "cur",
      c.flags(i),
      c.size(i),
      c.date(i),
      c.modseq(i),
      c.odd(uid),
    );
    e.baseIn(c.nameBytes, c.nameFrom(i), c.nameTo(i), c.wideName(i));
    e.home = this;
    e.at = i;
    e.layout = this.layout;
    return e;
  }

  /**
   * The entry at position `i` of a UID snapshot `uids` (one snapshot() returned): by
   * position while that snapshot is still the current one, else by its UID (undefined:
   * expunged since). A search or FETCH over 100,000 messages then makes no lookups.
   */
  entryAt(uids: Snapshot, i: number): MessageEntry | undefined {
    const at = this.positionAt(uids, i);
    return at < 0 ? undefined : this.entryOf(at);
  }

  /**
   * Where the message at position `i` of a UID snapshot is in the columns (reading deferred
   * rows), -1 when it was expunged since: by position while that snapshot is the current one.
   */
  protected positionAt(uids: Snapshot, i: number): number {
    this.ready();
    if (i < this.total && this.isCurrent(uids)) return i;
    return this.positionOf(uidAt(uids, i));
  }

  /**
   * The size (octets of the file) of the message at position `i` of a UID snapshot, as its
   * entry would say, without making the entry (SEARCH LARGER/SMALLER over the whole folder).
   */
  sizeAt(uids: Snapshot, i: number): number | undefined {
    const at = this.positionAt(uids, i);
    return at < 0 ? undefined : this.cols.size(at);
  }

  /**
   * The internal date (ms) of the message at position `i` of a UID snapshot, null while it
   * is not known yet (the file not looked at: Folder.internalDate); no entry is made.
   */
  dateAt(uids: Snapshot, i: number): number | null | undefined {
    const at = this.positionAt(uids, i);
    return at < 0 ? undefined : this.cols.date(at);
  }

  /** The mod-sequence of the message at position `i` of a UID snapshot; no entry is made. */
  modseqAt(uids: Snapshot, i: number): number | undefined {
    const at = this.positionAt(uids, i);
    return at < 0 ? undefined : this.cols.modseq(at);
  }

  /**
   * Whether the message at position `i` of a UID snapshot is still here: by position while
   * that snapshot is the current one (rows deferred by a summary start are not read), else
   * by its UID.
   */
  present(uids: Snapshot, i: number): boolean {
    if (i < this.total && this.isCurrent(uids)) return true;
    return this.positionOf(uidAt(uids, i)) >= 0;
  }

  /** Whether this entry's message is still here (the entry is one of ours). */
  holds(e: MessageEntry): boolean {
    return e instanceof Entry && this.slot(e) >= 0;
  }

  /** The snapshot's UIDs in order: `uids[0 .. count)`. Never changed in place below `count`. */
  snapshot(): { uids: Uint32Array<ArrayBuffer>; count: number } {
    return { uids: this.order, count: this.total };
  }

  /**
   * The snapshot as snapshot() gives it, but a summary's runs stay runs until an array
   * is needed: a restart's SELECT takes the UIDs without making 100,000 of them.
   */
  lazySnapshot(): { uids: Uint32Array<ArrayBuffer> | UidRuns; count: number } {
    return { uids: this.#runs ?? this.#order, count: this.total };
  }

  /** The fields of the messages, by position (entries read theirs there). */
  get columns(): EntryColumns {
    return this.cols;
  }

  /** Where an entry's message is now (-1: gone, or the entry is of another table). */
  slot(e: Entry): number {
    if (e.home !== this || e.layout < this.epoch) return -1;
    if (e.layout === this.layout) return this.cols.removed(e.at) ? -1 : e.at;
    const i = this.positionOf(e.uid);
    if (i >= 0) [e.at, e.layout] = [i, this.layout];
    return i;
  }
}
