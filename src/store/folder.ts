/**
 * One Maildir folder's state, shared by every session of the process that has it
 * open (IMAP sessions, POP3, deliveries): the messages with their UIDs, flags, sizes
 * and mod-sequences (RFC 7162). Sessions keep a compact view (the UID snapshot below,
 * a mod-sequence mark) and diff against this; they never copy the message map.
 *
 * Where the state comes from:
 * - the index (folder_index.ts) on first open, trusted only while new/ and cur/ keep the
 *   mtimes it recorded (and those were seen settled, see #check);
 * - a directory scan when new/ or cur/ changed in a way this process did not make
 *   (other Maildir software), reconciled against the index: files added get UIDs, files
 *   gone are expunged, renamed files (flags) get a new mod-sequence;
 * - our own changes (deliveries, APPEND/COPY/MOVE, flags, \Recent claims, expunges),
 *   applied in memory as they are made. Each runs between two stats of the directories
 *   it touches (#own): when nothing else changed a directory before, its new mtime is
 *   explained by us and needs no scan. A later verification scan (rate-limited for big
 *   folders) covers a foreign change made within the same mtime tick.
 *
 * UIDs are assigned durably in the UID list (uidlist.ts), read again only when its file
 * changed. Every change to the map runs under the folder's mutex.
 */
import { join } from "node:path";
import { log } from "../log.ts";
import { linkOrCopy, Mutex, syncDir } from "./fsutil.ts";
import {
  fileNameFor,
  FLAG_LETTERS,
  LETTER_FLAGS,
  parseFileName,
  sortFlags,
} from "./maildir_names.ts";
import { type UidList, UidListCache, withUidListLock } from "./uidlist.ts";
import { readKeywords, writeKeywords } from "./keywords.ts";
import { type CacheRow, type DirMark, FolderIndex, type IndexRow } from "./folder_index.ts";

export type { CacheRow } from "./folder_index.ts";

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
}

/** A file to place into the folder (Folder.add). */
export interface AddItem {
  /** Path of the file: hard-linked (`link`) or moved (renamed) into the folder. */
  src: string;
  link: boolean;
  base: string;
  /** Flag letters, stored in cur/; null stores in new/ (a delivery: \Recent). */
  flags: string | null;
  size: number;
  internalDate: number | null;
}

/** What Folder.updateFlags did. */
export interface FlagUpdate {
  /** Messages whose flags changed, with their new mod-sequence. */
  changed: MessageEntry[];
  /** UIDs left alone because they changed after UNCHANGEDSINCE (RFC 7162 MODIFIED). */
  modified: number[];
  /** UIDs not (or no longer) in the folder. */
  missing: number[];
}

/** Thrown when a keyword cannot be stored (Maildir has 26 keyword letters per folder). */
export class FlagError extends Error {}

/** How long after a directory's mtime a scan must happen to be trusted (see #check). */
const MTIME_SETTLE_MS = 2000;
/** Directories above this many files are verified at most every VERIFY_MS. */
const BIG_DIR = 5000;
const VERIFY_MS = 30_000;
/** Mod-sequences reserved at a time in the UID list (one fsync per block). */
const MODSEQ_BLOCK = 1000;
/** Recent flag changes remembered for views catching up (more: a full comparison). */
const RING = 8192;
/** Expunged UIDs remembered for QRESYNC (older ones: every gap is reported). */
const VANISHED_KEEP = 100_000;
/** File operations run at once within one batch. */
const PARALLEL_FS = 64;
/** Lazily learnt dates and parsed structures are written to the index in batches. */
const FLUSH_MS = 250;
const FLUSH_AT = 2000;

type Sub = "new" | "cur";
const SUBS: readonly Sub[] = ["new", "cur"];

let lastUidValidity = 0;
/** A UIDVALIDITY that is new for this DirBase: time-based and strictly increasing. */
export function nextUidValidity(): number {
  lastUidValidity = Math.max(Math.floor(Date.now() / 1000), lastUidValidity + 1);
  return lastUidValidity;
}

async function mtimeOf(path: string): Promise<number> {
  return (await Deno.stat(path)).mtime?.getTime() ?? 0;
}

/** Runs `work` over `items`, at most PARALLEL_FS at a time. */
async function eachParallel<T>(items: T[], work: (item: T, i: number) => Promise<void>) {
  for (let i = 0; i < items.length; i += PARALLEL_FS) {
    await Promise.all(items.slice(i, i + PARALLEL_FS).map((it, j) => work(it, i + j)));
  }
}

function baseOf(name: string): string {
  const colon = name.indexOf(":2,");
  return colon >= 0 ? name.slice(0, colon) : name;
}

export class Folder {
  readonly path: string;
  uidValidity = 0;
  uidNext = 1;
  /** RFC 7162 HIGHESTMODSEQ. */
  highestModseq = 0;
  /** Messages by UID; insertion order is UID order because UIDs only grow. */
  readonly messages = new Map<number, MessageEntry>();
  /** Keyword names by letter index (a = 0). */
  keywords: string[] = [];
  /** Bumped on every change a session may need to report. */
  version = 0;
  /** Bumped when messages leave: views compare their UIDs with ours only then. */
  expungeGeneration = 0;
  readonly #mutex = new Mutex();
  readonly #uidList: UidListCache;
  #index: FolderIndex | null = null;
  #loaded = false;
  #closed = false;
  /** The UIDs in order, [0, #count); appended in place, replaced when messages leave. */
  #uids = new Uint32Array(64);
  #count = 0;
  /** Counters for STATUS, SELECT and quota, kept as messages change. */
  #unseen = 0;
  #deleted = 0;
  #bytes = 0;
  readonly #inNew = new Set<number>();
  /** Directory state the map matches (mtime, and when that was established). */
  #dirs: Record<Sub, DirMark> = {
    new: { mtime: -1, checkedAt: 0 },
    cur: { mtime: -1, checkedAt: 0 },
  };
  #verified: Record<Sub, number> = { new: 0, cur: 0 };
  /** No mod-sequence above this was handed out (durable in the UID list). */
  #ceiling = 0;
  #vanishedFloor = 0;
  #expungedSincePrune = 0;
  /** The index says the folder was closed cleanly; cleared before the first new modseq. */
  #markedClean = false;
  /** Recent flag changes (uid, modseq), oldest overwritten first. */
  readonly #ringUid = new Uint32Array(RING);
  readonly #ringSeq = new Float64Array(RING);
  #ringHead = 0;
  #addQueue: {
    items: AddItem[];
    resolve: (uids: number[]) => void;
    reject: (e: unknown) => void;
  }[] = [];
  #pendingDates = new Map<number, number>();
  #pendingCache = new Map<string, () => CacheRow>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #flagText = new Map<string, string>();

  constructor(path: string) {
    this.path = path;
    this.#uidList = new UidListCache(path);
  }

  filePath(entry: MessageEntry): string {
    return join(this.path, entry.sub, entry.name);
  }

  /**
   * Brings the map up to date with the Maildir (loading the index on first use).
   * Cheap when nothing changed: one stat per directory. `force` re-reads the
   * directories whatever their mtimes say (a file was not where the map said).
   */
  refresh(force = false): Promise<void> {
    return this.#mutex.run(async () => {
      if (!this.#loaded) await this.#load();
      await this.#check(force);
    });
  }

  // ---- loading and reconciling -------------------------------------------------

  async #load(): Promise<void> {
    this.keywords = await readKeywords(this.path);
    this.#flagText.clear();
    let list = await this.#uidList.sync();
    if (!list) list = await this.#createUidList();
    this.uidValidity = list.uidValidity;
    this.uidNext = list.uidNext;
    this.#ceiling = list.modseqCeiling;
    let meta = null;
    let rows: IndexRow[] = [];
    if (!this.#closed) {
      try {
        const opened = FolderIndex.open(this.path);
        this.#index = opened.index;
        meta = opened.meta;
        if (meta && meta.uidValidity === list.uidValidity) rows = this.#index.rows();
        else meta = null;
      } catch (e) {
        this.#indexFailed(e);
        meta = null;
        rows = [];
      }
    }
    this.#reset();
    if (meta) {
      // After an unclean stop the recorded HIGHESTMODSEQ may be older than what
      // clients saw: continue above the durable ceiling instead.
      this.highestModseq = meta.clean
        ? meta.highestModseq
        : Math.max(meta.highestModseq, this.#ceiling);
      this.#dirs = { new: meta.newDir, cur: meta.curDir };
      this.#vanishedFloor = meta.vanishedFloor;
      for (const r of rows) {
        const e: MessageEntry = {
          uid: r.uid,
          base: r.base,
          sub: r.sub,
          name: r.name ?? (r.sub === "cur" ? fileNameFor(r.base, r.flags) : r.base),
          flags: r.flags,
          size: r.size,
          internalDate: r.internalDate,
          modseq: r.modseq,
        };
        this.messages.set(e.uid, e);
        this.#pushUid(e.uid);
        this.#account(e, 1);
      }
      if (this.#lastUid() >= this.uidNext) this.uidNext = this.#lastUid() + 1;
    } else {
      this.highestModseq = this.#ceiling;
      this.#vanishedFloor = this.highestModseq;
      this.#tryIndex((ix) => ix.reset(this.uidValidity, this.highestModseq));
    }
    // A mod-sequence is positive (RFC 7162 §7): an untouched folder reports 1.
    if (this.highestModseq < 1) this.highestModseq = 1;
    this.#markedClean = meta?.clean ?? false;
    this.#loaded = true;
  }

  async #createUidList(): Promise<UidList> {
    return await withUidListLock(this.path, async () => {
      let list = await this.#uidList.sync();
      if (!list) {
        list = {
          uidValidity: nextUidValidity(),
          uidNext: 1,
          byBase: new Map(),
          lines: 0,
          modseqCeiling: this.#ceiling,
        };
        await this.#uidList.write(list);
      }
      return list;
    });
  }

  /** Empties the in-memory state (a new load or a new UIDVALIDITY). */
  #reset(): void {
    this.messages.clear();
    this.#uids = new Uint32Array(64);
    this.#count = 0;
    this.#unseen = this.#deleted = this.#bytes = 0;
    this.#inNew.clear();
    this.#dirs = { new: { mtime: -1, checkedAt: 0 }, cur: { mtime: -1, checkedAt: 0 } };
    this.expungeGeneration++;
  }

  async #check(force: boolean): Promise<void> {
    const at = Date.now();
    const [newMtime, curMtime] = await Promise.all(
      SUBS.map((s) => mtimeOf(join(this.path, s))),
    );
    const seen: Record<Sub, number> = { new: newMtime, cur: curMtime };
    const scan: Sub[] = [];
    for (const sub of SUBS) {
      const d = this.#dirs[sub], m = seen[sub];
      if (force || d.mtime !== m) {
        scan.push(sub);
        continue;
      }
      // Directory mtimes are coarse (milliseconds in Deno, the kernel's tick or a whole
      // second on some file systems): a file added in the same tick as the moment our
      // state was established leaves them unchanged. Like Dovecot, trust an unchanged
      // mtime only when that moment came well after it. Until then a small directory is
      // read again; a big one once the tick is surely over, at most every VERIFY_MS (a
      // foreign change in the same tick as one of ours shows up that much later).
      if (d.checkedAt - m > MTIME_SETTLE_MS) continue;
      const files = sub === "new" ? this.#inNew.size : this.messages.size - this.#inNew.size;
      if (files <= BIG_DIR) scan.push(sub);
      else if (at - m > MTIME_SETTLE_MS && at - this.#verified[sub] > VERIFY_MS) scan.push(sub);
    }
    if (scan.length === 0) return;
    await this.#scan(scan, {
      new: { mtime: newMtime, checkedAt: at },
      cur: { mtime: curMtime, checkedAt: at },
    });
  }

  async #readDir(sub: Sub, into: Map<string, { sub: Sub; name: string }>): Promise<void> {
    for await (const e of Deno.readDir(join(this.path, sub))) {
      if (!e.isFile || e.name.startsWith(".") || /[\n\r]/.test(e.name)) continue;
      const base = baseOf(e.name);
      // The same message in new/ and cur/ (caught mid-move): cur/ wins.
      if (sub === "new" && into.get(base)?.sub === "cur") continue;
      into.set(base, { sub, name: e.name });
    }
  }

  /** Reads directories and reconciles the map (and the index) with what is there. */
  async #scan(subs: Sub[], marks: Record<Sub, DirMark>): Promise<void> {
    let list = await this.#uidList.sync();
    if (!list || list.uidValidity !== this.uidValidity) {
      // The UID list was lost or replaced: every message gets a UID again.
      if (!list) list = await this.#createUidList();
      this.uidValidity = list.uidValidity;
      this.uidNext = list.uidNext;
      this.#reset();
      this.#vanishedFloor = this.highestModseq;
      this.#tryIndex((ix) => ix.reset(this.uidValidity, this.highestModseq));
      subs = [...SUBS];
      this.version++;
    }
    const want = new Set(subs);
    const onDisk = new Map<string, { sub: Sub; name: string }>();
    for (const sub of SUBS) if (want.has(sub)) await this.#readDir(sub, onDisk);
    if (!want.has("cur")) {
      // A message no longer in new/ may have moved to cur/: look there too.
      for (const uid of this.#inNew) {
        if (onDisk.has(this.messages.get(uid)!.base)) continue;
        marks.cur = { mtime: await mtimeOf(join(this.path, "cur")), checkedAt: Date.now() };
        await this.#readDir("cur", onDisk);
        want.add("cur");
        break;
      }
    }
    // Only messages in a directory that was read can be missing from it: with cur/ scanned
    // alone, the messages in new/ are not gone (a foreign file in cur/ must not drop them).
    const candidates = want.has("cur")
      ? [...this.messages.values()].filter((e) => want.has(e.sub))
      : [...this.#inNew].map((u) => this.messages.get(u)!);
    const gone: MessageEntry[] = [];
    const renamed: { e: MessageEntry; sub: Sub; name: string; flags: string }[] = [];
    for (const e of candidates) {
      const f = onDisk.get(e.base);
      if (!f) {
        gone.push(e);
        continue;
      }
      onDisk.delete(e.base);
      if (f.name !== e.name || f.sub !== e.sub) {
        renamed.push({ e, sub: f.sub, name: f.name, flags: parseFileName(f.name).flags });
      }
    }
    // Files of known messages that moved into a directory we scanned alone.
    for (const [base, f] of onDisk) {
      const uid = list.byBase.get(base);
      const e = uid === undefined ? undefined : this.messages.get(uid);
      if (e && e.base === base) {
        onDisk.delete(base);
        if (f.name !== e.name || f.sub !== e.sub) {
          renamed.push({ e, sub: f.sub, name: f.name, flags: parseFileName(f.name).flags });
        }
      }
    }
    const flagsChanged = renamed.some((r) => r.flags !== r.e.flags);
    let modseq = 0;
    if (gone.length || onDisk.size || flagsChanged) modseq = await this.#nextModseq();
    const assigned = await this.#assign([...onDisk.keys()]);
    // New files: sizes from the name (",S=") or the file.
    const added: MessageEntry[] = [];
    for (const [base, f] of onDisk) {
      const uid = assigned.get(base)!;
      const parsed = parseFileName(f.name);
      added.push({
        uid,
        base,
        sub: f.sub,
        name: f.name,
        flags: parsed.flags,
        size: parsed.size ?? -1,
        internalDate: null,
        modseq,
      });
    }
    await eachParallel(added.filter((e) => e.size < 0), async (e) => {
      try {
        e.size = (await Deno.stat(this.filePath(e))).size;
      } catch {
        e.size = 0; // gone again: the next scan removes it
      }
    });
    added.sort((a, b) => a.uid - b.uid);
    for (const e of gone) this.#remove(e);
    for (const r of renamed) {
      this.#account(r.e, -1);
      r.e.sub = r.sub;
      r.e.name = r.name;
      if (r.flags !== r.e.flags) {
        r.e.flags = r.flags;
        r.e.modseq = modseq;
        this.#logChange(r.e.uid, modseq);
      }
      this.#account(r.e, 1);
    }
    for (const e of added) this.#insert(e);
    if (gone.length) this.#rebuildUids();
    for (const sub of want) {
      this.#dirs[sub] = marks[sub];
      this.#verified[sub] = Date.now();
    }
    const changed = gone.length > 0 || renamed.length > 0 || added.length > 0;
    this.#tryIndex((ix) => {
      for (const e of gone) ix.remove(e.uid, e.base, modseq);
      for (const r of renamed) {
        ix.setFlags(r.e.uid, r.e.sub, this.#storedName(r.e), r.e.flags, r.e.modseq);
      }
      for (const e of added) ix.put(this.#row(e));
      ix.setDirs(this.#dirs.new, this.#dirs.cur);
      ix.setMeta({ highestmodseq: this.highestModseq });
    });
    if ([...added, ...renamed.map((r) => r.e)].some((e) => this.#unknownKeyword(e.flags))) {
      this.keywords = await readKeywords(this.path);
      this.#flagText.clear();
    }
    if (changed) this.version++;
  }

  #unknownKeyword(flags: string): boolean {
    for (let i = flags.length - 1; i >= 0; i--) {
      const c = flags.charCodeAt(i);
      if (c < 97) return false; // sorted: lower-case letters come last
      if (!this.keywords[c - 97]) return true;
    }
    return false;
  }

  /**
   * UIDs for new base names, durably: the UID list's own assignment when it has one
   * that still fits (above every UID we show: UIDs must only grow), else a new one.
   */
  async #assign(bases: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (bases.length === 0) return out;
    await withUidListLock(this.path, async () => {
      let list = await this.#uidList.sync();
      if (!list) {
        // Lost under us: a new UIDVALIDITY; the next check re-reads the whole folder.
        list = await this.#createUidListLocked();
        this.#dirs.new.mtime = this.#dirs.cur.mtime = -1;
      }
      const last = this.#lastUid();
      const used = new Set<number>();
      const fresh: { uid: number; base: string }[] = [];
      // Base names start with the delivery time, so name order approximates arrival.
      for (const base of [...bases].sort()) {
        let uid = list.byBase.get(base);
        if (uid === undefined || uid <= last || used.has(uid) || this.messages.has(uid)) {
          uid = list.uidNext++;
          list.byBase.set(base, uid);
          fresh.push({ uid, base });
        }
        used.add(uid);
        out.set(base, uid);
      }
      if (fresh.length > 0) await this.#uidList.append(fresh);
      this.uidNext = Math.max(this.uidNext, list.uidNext);
      if (list.lines >= 1000 && list.lines >= 2 * (this.messages.size + bases.length)) {
        // Compact: only live messages (and the ones being added) keep their lines.
        const keep = new Map<string, number>();
        for (const m of this.messages.values()) keep.set(m.base, m.uid);
        for (const [b, u] of out) keep.set(b, u);
        list.byBase = keep;
        await this.#uidList.write(list);
      }
    });
    return out;
  }

  async #createUidListLocked(): Promise<UidList> {
    const list: UidList = {
      uidValidity: nextUidValidity(),
      uidNext: 1,
      byBase: new Map(),
      lines: 0,
      modseqCeiling: this.#ceiling,
    };
    await this.#uidList.write(list);
    return list;
  }

  /** The next mod-sequence; reserves a block in the UID list before crossing the ceiling. */
  async #nextModseq(): Promise<number> {
    const next = this.highestModseq + 1;
    if (this.#markedClean && this.#index) {
      // Durably unclean before any client can see a mod-sequence the index lacks.
      try {
        this.#index.setClean(false, this.highestModseq);
      } catch (e) {
        this.#indexFailed(e);
      }
    }
    this.#markedClean = false;
    if (next > this.#ceiling) {
      await withUidListLock(this.path, async () => {
        const list = await this.#uidList.sync();
        if (!list) return; // lost: the next scan starts again with a new UIDVALIDITY
        const ceiling = Math.max(list.modseqCeiling, next) + MODSEQ_BLOCK;
        await this.#uidList.append([], ceiling);
        this.#ceiling = ceiling;
      });
    }
    this.highestModseq = next;
    return next;
  }

  // ---- in-memory bookkeeping ---------------------------------------------------

  #lastUid(): number {
    return this.#count ? this.#uids[this.#count - 1] : 0;
  }

  #pushUid(uid: number): void {
    if (this.#count === this.#uids.length) {
      const grown = new Uint32Array(this.#uids.length * 2);
      grown.set(this.#uids);
      this.#uids = grown;
    }
    this.#uids[this.#count++] = uid;
  }

  #rebuildUids(): void {
    const next = new Uint32Array(Math.max(64, Math.ceil(this.messages.size * 1.25)));
    let i = 0;
    for (const uid of this.messages.keys()) next[i++] = uid;
    this.#uids = next;
    this.#count = i;
    this.expungeGeneration++;
  }

  #account(e: MessageEntry, sign: 1 | -1): void {
    if (!e.flags.includes("S")) this.#unseen += sign;
    if (e.flags.includes("T")) this.#deleted += sign;
    if (e.sub === "new") {
      if (sign > 0) this.#inNew.add(e.uid);
      else this.#inNew.delete(e.uid);
    }
    this.#bytes += sign * e.size;
  }

  /** Adds an entry whose UID is above every other. */
  #insert(e: MessageEntry): void {
    this.messages.set(e.uid, e);
    this.#pushUid(e.uid);
    this.#account(e, 1);
    if (e.uid >= this.uidNext) this.uidNext = e.uid + 1;
  }

  /** Removes an entry (the caller rebuilds the UID snapshot). */
  #remove(e: MessageEntry): void {
    this.#account(e, -1);
    this.messages.delete(e.uid);
    this.#pendingDates.delete(e.uid);
  }

  #logChange(uid: number, modseq: number): void {
    const i = this.#ringHead++ % RING;
    this.#ringUid[i] = uid;
    this.#ringSeq[i] = modseq;
  }

  /** The file name to record: null when it is the canonical one for the flags. */
  #storedName(e: MessageEntry): string | null {
    const canonical = e.sub === "cur" ? fileNameFor(e.base, e.flags) : e.base;
    return e.name === canonical ? null : e.name;
  }

  #row(e: MessageEntry): IndexRow {
    return {
      uid: e.uid,
      base: e.base,
      sub: e.sub,
      name: this.#storedName(e),
      flags: e.flags,
      size: e.size,
      internalDate: e.internalDate,
      modseq: e.modseq,
    };
  }

  // ---- our own changes -----------------------------------------------------------

  /**
   * Runs a change to the given directories between two stats of them: when a directory
   * was as we knew it before, its new mtime is ours and no scan is needed for it.
   */
  async #own<T>(subs: Sub[], op: () => Promise<T>): Promise<T> {
    const paths = subs.map((s) => join(this.path, s));
    const before = await Promise.all(paths.map(mtimeOf));
    try {
      return await op();
    } finally {
      const at = Date.now();
      const after = await Promise.all(paths.map((p) => mtimeOf(p).catch(() => -2)));
      subs.forEach((sub, i) => {
        if (this.#dirs[sub].mtime === before[i] && before[i] >= 0) {
          this.#dirs[sub] = { mtime: after[i], checkedAt: at };
        }
      });
    }
  }

  /**
   * Places files into the folder (deliveries, APPEND, COPY) and assigns their UIDs,
   * without reading the directories. Concurrent callers are served in one batch (one
   * UID list append and fsync). Resolves with each item's UID (0: its source was gone).
   */
  add(items: AddItem[]): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.#addQueue.push({ items, resolve, reject });
      void this.#mutex.run(() => this.#drainAdds());
    });
  }

  async #drainAdds(): Promise<void> {
    const batch = this.#addQueue.splice(0);
    if (batch.length === 0) return;
    try {
      if (!this.#loaded) {
        await this.#load();
        await this.#check(false);
      }
      const all = batch.flatMap((b) => b.items);
      const names = all.map((it) => it.flags === null ? it.base : fileNameFor(it.base, it.flags));
      const placed: (Error | true | null)[] = all.map(() => null);
      const subs = SUBS.filter((s) => all.some((it) => (it.flags === null ? "new" : "cur") === s));
      await this.#own(subs, () =>
        eachParallel(all, async (it, i) => {
          const dest = join(this.path, it.flags === null ? "new" : "cur", names[i]);
          try {
            if (it.link) await linkOrCopy(it.src, dest);
            else {
              try {
                await Deno.rename(it.src, dest);
              } catch (e) {
                if (e instanceof Deno.errors.NotFound) throw e;
                // Another file system: copy, then the source goes as a rename would.
                await linkOrCopy(it.src, dest);
                await Deno.remove(it.src).catch(() => {});
              }
            }
            placed[i] = true;
          } catch (e) {
            placed[i] = e instanceof Deno.errors.NotFound ? null : e as Error;
          }
        }));
      const okBases = all.filter((_, i) => placed[i] === true).map((it) => it.base);
      let uids = new Map<string, number>();
      let modseq = 0;
      if (okBases.length > 0) {
        modseq = await this.#nextModseq();
        uids = await this.#assign(okBases);
      }
      const added: MessageEntry[] = [];
      all.forEach((it, i) => {
        if (placed[i] !== true) return;
        added.push({
          uid: uids.get(it.base)!,
          base: it.base,
          sub: it.flags === null ? "new" : "cur",
          name: names[i],
          flags: it.flags === null ? "" : sortFlags(it.flags),
          size: it.size,
          internalDate: it.internalDate,
          modseq,
        });
      });
      added.sort((a, b) => a.uid - b.uid);
      for (const e of added) this.#insert(e);
      this.#tryIndex((ix) => {
        for (const e of added) ix.put(this.#row(e));
        ix.setDirs(this.#dirs.new, this.#dirs.cur);
        ix.setMeta({ highestmodseq: this.highestModseq });
      });
      if (added.length) this.version++;
      let at = 0;
      for (const b of batch) {
        const part = placed.slice(at, at + b.items.length);
        const failed = part.find((p) => p instanceof Error);
        if (failed) b.reject(failed);
        else b.resolve(b.items.map((it, j) => (part[j] === true ? uids.get(it.base)! : 0)));
        at += b.items.length;
      }
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }

  /** Moves messages from new/ to cur/; returns the UIDs this caller saw as \Recent. */
  claimRecent(): Promise<number[]> {
    return this.#mutex.run(async () => {
      if (this.#inNew.size === 0) return [];
      const entries = [...this.#inNew].map((u) => this.messages.get(u)!);
      const claimed: MessageEntry[] = [];
      await this.#own(["new", "cur"], () =>
        eachParallel(entries, async (m) => {
          const name = fileNameFor(m.base, m.flags);
          try {
            await Deno.rename(this.filePath(m), join(this.path, "cur", name));
          } catch (e) {
            if (e instanceof Deno.errors.NotFound) return; // raced with another tool
            throw e;
          }
          this.#account(m, -1);
          m.sub = "cur";
          m.name = name;
          this.#account(m, 1);
          claimed.push(m);
        }));
      this.#tryIndex((ix) => {
        for (const m of claimed) ix.setFlags(m.uid, m.sub, null, m.flags, m.modseq);
        ix.setDirs(this.#dirs.new, this.#dirs.cur);
      });
      return claimed.map((m) => m.uid).sort((a, b) => a - b);
    });
  }

  /** IMAP flag names of a message (system flags and keywords). */
  flagNames(entry: MessageEntry): string[] {
    const out: string[] = [];
    for (const ch of entry.flags) {
      if (ch >= "a" && ch <= "z") {
        const kw = this.keywords[ch.charCodeAt(0) - 97];
        if (kw) out.push(kw);
      } else if (LETTER_FLAGS[ch]) out.push(LETTER_FLAGS[ch]);
    }
    return out;
  }

  /** flagNames as FETCH FLAGS text ("\Seen $Label1"), cached per letter set. */
  flagText(letters: string): string {
    let text = this.#flagText.get(letters);
    if (text === undefined) {
      text = this.flagNames({ flags: letters } as MessageEntry).join(" ");
      if (this.#flagText.size > 4096) this.#flagText.clear();
      this.#flagText.set(letters, text);
    }
    return text;
  }

  /** Letters for IMAP flag names, allocating keyword letters (durably) as needed. */
  async lettersFor(names: readonly string[]): Promise<string> {
    let letters = "";
    let added = false;
    let reread = false;
    for (const name of names) {
      const system = Object.keys(FLAG_LETTERS).find((f) => f.toLowerCase() === name.toLowerCase());
      if (system) {
        letters += FLAG_LETTERS[system];
        continue;
      }
      if (name.startsWith("\\")) continue; // \Recent and unknown system flags are not stored
      const find = () => this.keywords.findIndex((k) => k?.toLowerCase() === name.toLowerCase());
      let idx = find();
      if (idx < 0 && !reread) {
        // Another process may have added keywords since we read them.
        reread = true;
        const onDisk = await readKeywords(this.path);
        if (onDisk.length > this.keywords.length) {
          this.keywords = onDisk;
          this.#flagText.clear();
          idx = find();
        }
      }
      if (idx < 0) {
        idx = this.keywords.length;
        if (idx >= 26) throw new FlagError("too many keywords in this mailbox (26 at most)");
        this.keywords.push(name);
        this.#flagText.clear();
        added = true;
      }
      letters += String.fromCharCode(97 + idx);
    }
    if (added) await writeKeywords(this.path, this.keywords);
    return sortFlags(letters);
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
      const result: FlagUpdate = { changed: [], modified: [], missing: [] };
      const todo: { e: MessageEntry; flags: string; name: string }[] = [];
      const seen = new Set<number>();
      for (const uid of uids) {
        if (seen.has(uid)) continue; // the same message twice counts once
        seen.add(uid);
        const e = this.messages.get(uid);
        if (!e) {
          result.missing.push(uid);
          continue;
        }
        if (opts.unchangedSince !== undefined && e.modseq > opts.unchangedSince) {
          result.modified.push(uid);
          continue;
        }
        const next = compute(e);
        if (next === null) continue;
        const flags = sortFlags(next);
        if (flags === e.flags) continue;
        todo.push({ e, flags, name: fileNameFor(e.base, flags) });
      }
      if (todo.length === 0) return result;
      const modseq = await this.#nextModseq();
      const subs: Sub[] = todo.some((t) => t.e.sub === "new") ? ["new", "cur"] : ["cur"];
      await this.#own(subs, () =>
        eachParallel(todo, async (t) => {
          try {
            await Deno.rename(this.filePath(t.e), join(this.path, "cur", t.name));
          } catch (err) {
            if (!(err instanceof Deno.errors.NotFound)) throw err;
            result.missing.push(t.e.uid); // gone meanwhile (other software)
            return;
          }
          this.#account(t.e, -1);
          t.e.sub = "cur";
          t.e.name = t.name;
          t.e.flags = t.flags;
          t.e.modseq = modseq;
          this.#account(t.e, 1);
          this.#logChange(t.e.uid, modseq);
          result.changed.push(t.e);
        }));
      this.#tryIndex((ix) => {
        for (const e of result.changed) ix.setFlags(e.uid, "cur", null, e.flags, e.modseq);
        ix.setDirs(this.#dirs.new, this.#dirs.cur);
        ix.setMeta({ highestmodseq: this.highestModseq });
      });
      if (result.changed.length) this.version++;
      return result;
    });
  }

  /** Removes messages durably; returns the UIDs actually removed. */
  expunge(uids: readonly number[]): Promise<number[]> {
    return this.#mutex.run(async () => {
      const doomed = [...new Set(uids)].map((u) => this.messages.get(u)).filter((m) =>
        m !== undefined
      ) as MessageEntry[];
      if (doomed.length === 0) return [];
      const subs = SUBS.filter((s) => doomed.some((m) => m.sub === s));
      await this.#own(subs, () =>
        eachParallel(doomed, async (m) => {
          try {
            await Deno.remove(this.filePath(m));
          } catch (e) {
            if (!(e instanceof Deno.errors.NotFound)) throw e;
          }
        }));
      const modseq = await this.#nextModseq();
      for (const m of doomed) this.#remove(m);
      this.#rebuildUids();
      await Promise.all(subs.map((s) => syncDir(join(this.path, s))));
      this.#expungedSincePrune += doomed.length;
      const prune = this.#expungedSincePrune > VANISHED_KEEP / 10;
      if (prune) this.#expungedSincePrune = 0;
      this.#tryIndex((ix) => {
        for (const m of doomed) ix.remove(m.uid, m.base, modseq);
        ix.setDirs(this.#dirs.new, this.#dirs.cur);
        ix.setMeta({ highestmodseq: this.highestModseq });
        const floor = prune ? ix.pruneVanished(VANISHED_KEEP) : null;
        if (floor !== null) this.#vanishedFloor = Math.max(this.#vanishedFloor, floor);
      });
      this.version++;
      return doomed.map((m) => m.uid).sort((a, b) => a - b);
    });
  }

  // ---- reading ---------------------------------------------------------------

  /** The message bytes; follows a concurrent rename (flag change) once. */
  async read(entry: MessageEntry): Promise<Uint8Array> {
    try {
      return await Deno.readFile(this.filePath(entry));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      await this.refresh(true);
      const again = this.messages.get(entry.uid);
      if (!again) throw e;
      return await Deno.readFile(this.filePath(again));
    }
  }

  /** The internal date (file mtime), read once, cached and kept in the index. */
  async internalDate(entry: MessageEntry): Promise<number> {
    if (entry.internalDate === null) {
      let st: Deno.FileInfo;
      try {
        st = await Deno.stat(this.filePath(entry));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        await this.refresh(true);
        const again = this.messages.get(entry.uid);
        if (!again) throw e;
        st = await Deno.stat(this.filePath(again));
      }
      entry.internalDate = st.mtime?.getTime() ?? Date.now();
      if (this.messages.get(entry.uid) === entry) {
        this.#pendingDates.set(entry.uid, entry.internalDate);
        this.#scheduleFlush();
      }
    }
    return entry.internalDate;
  }

  /** Whether a message with this base name is in the folder (from the UID list's map). */
  hasBase(base: string): boolean {
    const uid = this.#uidList.list?.byBase.get(base);
    return uid !== undefined && this.messages.get(uid)?.base === base;
  }

  /** The UIDs in order: `uids[0 .. count)`. Never changed in place below `count`. */
  uidSnapshot(): { uids: Uint32Array; count: number } {
    return { uids: this.#uids, count: this.#count };
  }

  /**
   * UIDs whose flags changed after mod-sequence `since` (newest first, may repeat), or
   * null when that is too long ago to know from memory (compare every message then).
   */
  changedSince(since: number): number[] | null {
    if (since >= this.highestModseq) return [];
    const oldest = this.#ringHead - RING;
    if (oldest > 0 && this.#ringSeq[oldest % RING] > since) return null;
    const out: number[] = [];
    for (let i = this.#ringHead - 1; i >= Math.max(0, oldest); i--) {
      if (this.#ringSeq[i % RING] <= since) break;
      out.push(this.#ringUid[i % RING]);
    }
    return out;
  }

  /**
   * UIDs expunged after mod-sequence `since` (RFC 7162 QRESYNC), or null when the
   * index does not reach back that far.
   */
  vanishedSince(since: number): number[] | null {
    if (since < this.#vanishedFloor || !this.#index) return null;
    try {
      return this.#index.vanishedSince(since);
    } catch (e) {
      this.#indexFailed(e);
      return null;
    }
  }

  /** Messages without \Seen, with \Deleted, still in new/ (\Recent), and their bytes. */
  get unseenCount(): number {
    return this.#unseen;
  }
  get deletedCount(): number {
    return this.#deleted;
  }
  get recentCount(): number {
    return this.#inNew.size;
  }

  /** Total size of the messages, for quota accounting. */
  totalSize(): number {
    return this.#bytes;
  }

  // ---- the parsed-structure cache (msgcache.ts) --------------------------------

  cacheGet(base: string): CacheRow | undefined {
    const pending = this.#pendingCache.get(base);
    if (pending || !this.#index) return pending?.();
    try {
      return this.#index.cacheGet(base);
    } catch (e) {
      this.#indexFailed(e);
      return undefined;
    }
  }

  /**
   * Remembers parse results of a message in the index, written in batches: `row` is
   * called when the batch is written, so several updates cost one serialization.
   */
  cachePut(base: string, row: () => CacheRow): void {
    if (!this.#index) return;
    this.#pendingCache.set(base, row);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#pendingDates.size + this.#pendingCache.size >= FLUSH_AT) {
      this.#flush();
      return;
    }
    if (this.#flushTimer === undefined) {
      const timer = setTimeout(() => {
        this.#flushTimer = undefined;
        this.#flush();
      }, FLUSH_MS);
      Deno.unrefTimer(timer);
      this.#flushTimer = timer;
    }
  }

  #flush(): void {
    if (this.#pendingDates.size === 0 && this.#pendingCache.size === 0) return;
    const dates = this.#pendingDates, cache = this.#pendingCache;
    this.#pendingDates = new Map();
    this.#pendingCache = new Map();
    this.#tryIndex((ix) => {
      for (const [uid, date] of dates) ix.setDate(uid, date);
      for (const [base, row] of cache) ix.cachePut(base, row());
    });
  }

  // ---- the index -------------------------------------------------------------

  /** One index transaction; a failing index is dropped (and rebuilt at the next open). */
  #tryIndex(work: (ix: FolderIndex) => void): void {
    const ix = this.#index;
    if (!ix) return;
    try {
      ix.tx(() => work(ix));
    } catch (e) {
      this.#indexFailed(e);
    }
  }

  #indexFailed(e: unknown): void {
    log("store").warn(
      `index of ${this.path} failed (${(e as Error)?.message ?? e}); rebuilt at next open`,
    );
    this.#index?.close();
    this.#index = null;
    FolderIndex.discard(this.path);
  }

  /**
   * Writes what is pending, marks the index clean and closes it. The folder still works
   * from memory afterwards (a session may hold it), without an index.
   */
  close(opts: { stale?: boolean } = {}): Promise<void> {
    return this.#mutex.run(() => {
      if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
      this.#flush();
      const ix = this.#index;
      if (ix) {
        // `stale`: the caller is about to change the directories (RENAME INBOX): the
        // next open must read them again.
        const unknown = { mtime: -1, checkedAt: 0 };
        try {
          ix.tx(() =>
            opts.stale ? ix.setDirs(unknown, unknown) : ix.setDirs(this.#dirs.new, this.#dirs.cur)
          );
          ix.setClean(true, this.highestModseq);
        } catch (e) {
          log("store").warn(`closing the index of ${this.path}: ${(e as Error)?.message ?? e}`);
        }
        ix.close();
      }
      this.#index = null;
      this.#closed = true;
      return Promise.resolve();
    });
  }

  get closed(): boolean {
    return this.#closed;
  }
}
