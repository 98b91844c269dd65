/**
 * One Maildir folder's state, shared by every session of the process that has it
 * open (IMAP sessions, POP3, deliveries): the messages with their UIDs, flags and
 * sizes. Sessions keep their own view (sequence numbers) and diff against this.
 */
import { join } from "node:path";
import { Mutex, syncDir } from "./fsutil.ts";
import {
  fileNameFor,
  FLAG_LETTERS,
  LETTER_FLAGS,
  parseFileName,
  sortFlags,
} from "./maildir_names.ts";
import {
  appendUidList,
  readUidList,
  type UidList,
  withUidListLock,
  writeUidList,
} from "./uidlist.ts";
import { readKeywords, writeKeywords } from "./keywords.ts";

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
}

/** Thrown when a keyword cannot be stored (Maildir has 26 keyword letters per folder). */
export class FlagError extends Error {}

/** How long after a directory's mtime a scan must happen to be trusted (see #refresh). */
const MTIME_SETTLE_MS = 2000;

let lastUidValidity = 0;
/** A UIDVALIDITY that is new for this DirBase: time-based and strictly increasing. */
export function nextUidValidity(): number {
  lastUidValidity = Math.max(Math.floor(Date.now() / 1000), lastUidValidity + 1);
  return lastUidValidity;
}

export class Folder {
  readonly path: string;
  uidValidity = 0;
  uidNext = 1;
  /** Messages by UID; insertion order is UID order because UIDs only grow. */
  readonly messages = new Map<number, MessageEntry>();
  /** Keyword names by letter index (a = 0). */
  keywords: string[] = [];
  /** Bumped on every change a session may need to report. */
  version = 0;
  readonly #mutex = new Mutex();
  #uidList: UidList | null = null;
  #seen = { newMtime: -1, curMtime: -1, scannedAt: 0 };
  #loaded = false;

  constructor(path: string) {
    this.path = path;
  }

  filePath(entry: MessageEntry): string {
    return join(this.path, entry.sub, entry.name);
  }

  /** Loads or re-scans the folder; assigns UIDs to new files durably. */
  refresh(force = false): Promise<void> {
    return this.#mutex.run(() => this.#refresh(force));
  }

  async #refresh(force: boolean): Promise<void> {
    const [newStat, curStat] = await Promise.all([
      Deno.stat(join(this.path, "new")),
      Deno.stat(join(this.path, "cur")),
    ]);
    const newMtime = newStat.mtime?.getTime() ?? 0, curMtime = curStat.mtime?.getTime() ?? 0;
    // Directory mtimes are coarse (milliseconds in Deno, the kernel's tick or a whole
    // second on some file systems): a file added in the same tick as our last scan
    // leaves them unchanged. Like Dovecot, trust unchanged mtimes only when that scan
    // happened well after them.
    const settled = this.#seen.scannedAt - Math.max(newMtime, curMtime) > MTIME_SETTLE_MS;
    if (
      this.#loaded && !force && settled && newMtime === this.#seen.newMtime &&
      curMtime === this.#seen.curMtime
    ) return;
    this.#seen = { newMtime, curMtime, scannedAt: Date.now() };
    if (!this.#loaded) this.keywords = await readKeywords(this.path);
    const onDisk = new Map<string, { sub: "new" | "cur"; name: string }>();
    for (const sub of ["new", "cur"] as const) {
      for await (const e of Deno.readDir(join(this.path, sub))) {
        if (!e.isFile || e.name.startsWith(".")) continue;
        onDisk.set(parseFileName(e.name).base, { sub, name: e.name });
      }
    }
    let changed = false;
    for (const [uid, entry] of this.messages) {
      const found = onDisk.get(entry.base);
      if (!found) {
        this.messages.delete(uid); // expunged by someone else
        changed = true;
        continue;
      }
      onDisk.delete(entry.base);
      if (found.name !== entry.name || found.sub !== entry.sub) {
        entry.sub = found.sub;
        entry.name = found.name;
        entry.flags = parseFileName(found.name).flags;
        changed = true;
      }
    }
    if (onDisk.size > 0 || !this.#loaded) {
      await withUidListLock(this.path, () => this.#assignUids(onDisk));
      changed = true;
    }
    this.#loaded = true;
    if (changed) this.version++;
  }

  async #assignUids(found: Map<string, { sub: "new" | "cur"; name: string }>): Promise<void> {
    // Re-read under the lock: another process may have assigned some already.
    let list = await readUidList(this.path);
    if (!list) {
      list = { uidValidity: nextUidValidity(), uidNext: 1, byBase: new Map(), lines: 0 };
      this.messages.clear();
      await writeUidList(this.path, list);
    }
    this.#uidList = list;
    this.uidValidity = list.uidValidity;
    const fresh: { uid: number; base: string }[] = [];
    const known: MessageEntry[] = [];
    // Base names start with the delivery time, so name order approximates arrival.
    const bases = [...found.keys()].sort();
    for (const base of bases) {
      const f = found.get(base)!;
      let uid = list.byBase.get(base);
      if (uid === undefined) {
        uid = list.uidNext++;
        list.byBase.set(base, uid);
        fresh.push({ uid, base });
      }
      const parsed = parseFileName(f.name);
      known.push({
        uid,
        base,
        sub: f.sub,
        name: f.name,
        flags: parsed.flags,
        size: parsed.size ?? -1,
        internalDate: null,
      });
    }
    if (fresh.length > 0) await appendUidList(this.path, list, fresh);
    this.uidNext = list.uidNext;
    // Insert in UID order so the Map stays sorted.
    known.sort((a, b) => a.uid - b.uid);
    const merged = [...this.messages.values(), ...known].sort((a, b) => a.uid - b.uid);
    this.messages.clear();
    for (const m of merged) this.messages.set(m.uid, m);
    for (const m of known) if (m.size < 0) m.size = (await Deno.stat(this.filePath(m))).size;
    await this.#maybeCompact();
  }

  async #maybeCompact(): Promise<void> {
    const list = this.#uidList!;
    if (list.lines < 1000 || list.lines < 2 * this.messages.size) return;
    list.byBase = new Map([...this.messages.values()].map((m) => [m.base, m.uid]));
    await writeUidList(this.path, list);
  }

  /** Moves messages from new/ to cur/; returns the UIDs this caller saw as \Recent. */
  claimRecent(): Promise<number[]> {
    return this.#mutex.run(async () => {
      const claimed: number[] = [];
      for (const m of this.messages.values()) {
        if (m.sub !== "new") continue;
        const name = fileNameFor(m.base, m.flags);
        try {
          await Deno.rename(this.filePath(m), join(this.path, "cur", name));
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) continue; // raced with another tool
          throw e;
        }
        m.sub = "cur";
        m.name = name;
        claimed.push(m.uid);
      }
      return claimed;
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

  /** Letters for IMAP flag names, allocating keyword letters (durably) as needed. */
  async lettersFor(names: readonly string[]): Promise<string> {
    let letters = "";
    let added = false;
    for (const name of names) {
      const system = Object.keys(FLAG_LETTERS).find((f) => f.toLowerCase() === name.toLowerCase());
      if (system) {
        letters += FLAG_LETTERS[system];
        continue;
      }
      if (name.startsWith("\\")) continue; // \Recent and unknown system flags are not stored
      let idx = this.keywords.findIndex((k) => k.toLowerCase() === name.toLowerCase());
      if (idx < 0) {
        idx = this.keywords.length;
        if (idx >= 26) throw new FlagError("too many keywords in this mailbox (26 at most)");
        this.keywords.push(name);
        added = true;
      }
      letters += String.fromCharCode(97 + idx);
    }
    if (added) await writeKeywords(this.path, this.keywords);
    return sortFlags(letters);
  }

  /** Sets a message's flag letters by renaming its file; false if it is gone. */
  setFlags(uid: number, letters: string): Promise<boolean> {
    return this.#mutex.run(async () => {
      const m = this.messages.get(uid);
      if (!m) return false;
      const flags = sortFlags(letters);
      if (flags === m.flags && m.sub === "cur") return true;
      const name = fileNameFor(m.base, flags);
      try {
        await Deno.rename(this.filePath(m), join(this.path, "cur", name));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return false;
        throw e;
      }
      m.sub = "cur";
      m.name = name;
      m.flags = flags;
      this.version++;
      return true;
    });
  }

  /** Removes messages durably; returns the UIDs actually removed. */
  expunge(uids: readonly number[]): Promise<number[]> {
    return this.#mutex.run(async () => {
      const removed: number[] = [];
      for (const uid of uids) {
        const m = this.messages.get(uid);
        if (!m) continue;
        try {
          await Deno.remove(this.filePath(m));
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
        this.messages.delete(uid);
        removed.push(uid);
      }
      if (removed.length > 0) {
        await Promise.all([syncDir(join(this.path, "cur")), syncDir(join(this.path, "new"))]);
        this.version++;
      }
      return removed;
    });
  }

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

  /** The internal date (file mtime), read once and cached. */
  async internalDate(entry: MessageEntry): Promise<number> {
    if (entry.internalDate === null) {
      const st = await Deno.stat(this.filePath(entry));
      entry.internalDate = st.mtime?.getTime() ?? Date.now();
    }
    return entry.internalDate;
  }

  /** Total size of the messages, for quota accounting. */
  totalSize(): number {
    let sum = 0;
    for (const m of this.messages.values()) sum += m.size;
    return sum;
  }
}
