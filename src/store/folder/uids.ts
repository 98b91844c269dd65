/**
 * A folder's UIDs, kept durably in its UID list (uidlist.ts): UIDVALIDITY, UIDNEXT, the
 * UID of each base name, and the mod-sequence ceiling (no mod-sequence above it was
 * ever handed out). The list is shared with other processes: every change to it runs
 * under its lock, after reading it again if its file changed.
 */
import type { MessageTable } from "./messages.ts";
import { type FileId, type UidList, type UidListCache, withUidListLock } from "./uidlist.ts";
import { BaseUids } from "./base_uids.ts";

let lastUidValidity = 0;
/** A UIDVALIDITY that is new for this DirBase: time-based and strictly increasing. */
export function nextUidValidity(): number {
  lastUidValidity = Math.max(Math.floor(Date.now() / 1000), lastUidValidity + 1);
  return lastUidValidity;
}

export class FolderUids {
  readonly #path: string;
  readonly #list: UidListCache;
  #validity = 0;
  #next = 1;
  #modseqCeiling = 0;
  /** The UID list file a summary start was checked against, until the list is read. */
  #summaryId: FileId | null = null;

  constructor(folderPath: string, list: UidListCache) {
    this.#path = folderPath;
    this.#list = list;
  }

  get validity(): number {
    return this.#validity;
  }

  /** UIDNEXT: above every UID given out. */
  get next(): number {
    return this.#next;
  }

  /** No mod-sequence above this was handed out (durable in the UID list). */
  get modseqCeiling(): number {
    return this.#modseqCeiling;
  }

  /** The list as on disk now (null: there is none). */
  sync(): Promise<UidList | null> {
    this.#summaryId = null;
    return this.#list.sync();
  }

  /** The UID list file as it is now (stat), to check a summary against. */
  fileNow(): FileId | null {
    try {
      const st = Deno.statSync(this.#list.path); // a hot path: see fsutil existsSync
      return { ino: st.ino, size: st.size, mtime: st.mtime?.getTime() ?? 0 };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw e;
    }
  }

  /**
   * First use from a folder summary (summary.ts) whose UID list file is `id` as it is
   * now: the list itself is read on first need.
   */
  loadSummary(s: { uidValidity: number; uidNext: number; modseqCeiling: number }, id: FileId) {
    this.#validity = s.uidValidity;
    this.#next = s.uidNext;
    this.#modseqCeiling = s.modseqCeiling;
    this.#summaryId = id;
  }

  /** The UID list file our UIDVALIDITY, UIDNEXT and ceiling match, or null if unknown. */
  listIdentity(): FileId | null {
    return this.#list.identity() ?? (this.#summaryId ? { ...this.#summaryId } : null);
  }

  /** First use: takes UIDVALIDITY, UIDNEXT and the mod-sequence ceiling from the list. */
  load(list: UidList): void {
    this.adopt(list);
    this.#modseqCeiling = list.modseqCeiling;
  }

  /**
   * Takes UIDVALIDITY and UIDNEXT from a list we read (our messages are to match it).
   * The ceiling stays ours (never lowered); raising it takes the list's into account.
   */
  adopt(list: UidList): void {
    this.#validity = list.uidValidity;
    this.#next = list.uidNext;
  }

  /** UIDNEXT stays above `uid`, a UID the folder shows. */
  cover(uid: number): void {
    if (uid >= this.#next) this.#next = uid + 1;
  }

  /** A new list with a new UIDVALIDITY, unless another process has just made one. */
  async create(): Promise<UidList> {
    return await withUidListLock(this.#path, async () => {
      return (await this.#list.sync()) ?? await this.#createLocked();
    });
  }

  async #createLocked(): Promise<UidList> {
    const list: UidList = {
      uidValidity: nextUidValidity(),
      uidNext: 1,
      byBase: new BaseUids(),
      lines: 0,
      modseqCeiling: this.#modseqCeiling,
    };
    await this.#list.write(list);
    return list;
  }

  /** Whether `base` names a message the folder shows (from the UID list's map). */
  hasBase(base: string, shown: MessageTable): boolean {
    const uid = (this.#list.list ?? this.#list.readSync())?.byBase.get(base);
    return uid !== undefined && shown.byUid.get(uid)?.base === base;
  }

  /**
   * UIDs for new base names, durably: the UID list's own assignment when it has one
   * that still fits (above every UID in `shown`: UIDs must only grow), else a new one.
   * `bases` is sorted in place (base names start with the delivery time, so name order
   * approximates arrival) and `uids[i]` is the UID of `bases[i]`: no map or object per
   * name (a first SELECT's 100,000 were 12 MB of promoted garbage). `listLost`: the list
   * was gone and was created anew (a new UIDVALIDITY, which the caller's next directory
   * check picks up by reading the whole folder again).
   */
  async assign(
    bases: string[],
    shown: MessageTable,
  ): Promise<{ uids: Uint32Array; listLost: boolean }> {
    const uids = new Uint32Array(bases.length);
    let listLost = false;
    if (bases.length === 0) return { uids, listLost };
    bases.sort();
    await withUidListLock(this.#path, async () => {
      let list = await this.#list.sync();
      if (!list) {
        list = await this.#createLocked();
        listLost = true;
      }
      const last = shown.lastUid();
      // UIDs given here are the list's (kept in `taken`) or new ones, which are
      // consecutive from `firstFresh`.
      const taken = new Set<number>();
      const firstFresh = list.uidNext;
      const freshBases: string[] = [];
      // A folder's first read has an empty list: no name to look up.
      const known = list.byBase.size > 0;
      for (let i = 0; i < bases.length; i++) {
        const base = bases[i];
        let uid = known ? list.byBase.get(base) : undefined;
        if (
          uid === undefined || uid <= last || taken.has(uid) ||
          (uid >= firstFresh && uid < list.uidNext) || shown.byUid.has(uid)
        ) {
          uid = list.uidNext++; // into the list with the lines (appendConsecutive)
          freshBases.push(base);
        } else taken.add(uid);
        uids[i] = uid;
      }
      if (freshBases.length > 0) await this.#list.appendConsecutive(firstFresh, freshBases);
      this.#next = Math.max(this.#next, list.uidNext);
      if (list.lines >= 1000 && list.lines >= 2 * (shown.byUid.size + bases.length)) {
        // Compact: live messages (and the ones being added) keep their lines, and so do
        // UIDs above every one shown: another process (an import) reserved them for
        // files that are about to appear, or that this folder has not read yet.
        const keep = new BaseUids();
        for (const m of shown.byUid.values()) keep.set(m.base, m.uid);
        for (const [b, u] of list.byBase) if (u > last) keep.set(b, u);
        for (let i = 0; i < bases.length; i++) keep.set(bases[i], uids[i]);
        if (list.lines >= 2 * keep.size) {
          list.byBase = keep;
          await this.#list.write(list);
        }
      }
    });
    return { uids, listLost };
  }

  /** Reserves mod-sequences up to a block above `modseq` (one fsync per block). */
  async raiseModseqCeiling(modseq: number, block: number): Promise<void> {
    await withUidListLock(this.#path, async () => {
      const list = await this.#list.sync();
      if (!list) return; // lost: the next scan starts again with a new UIDVALIDITY
      const ceiling = Math.max(list.modseqCeiling, modseq) + block;
      await this.#list.append([], ceiling);
      this.#modseqCeiling = ceiling;
    });
  }
}
