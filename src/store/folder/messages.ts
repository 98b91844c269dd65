/**
 * The messages of one folder in memory: the entries by UID, the UIDs in order (the
 * snapshot sessions diff against) and the counters STATUS, SELECT and quota read.
 * Every change to an entry goes through here so the counters stay right; the entries
 * as index rows are here too.
 */
import { join } from "node:path";
import { fileNameFor } from "../maildir_names.ts";
import type { IndexRow } from "./index_db.ts";

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

/** What a change may set on an entry (its UID and base name never change). */
export type EntryChanges = Partial<Pick<MessageEntry, "sub" | "name" | "flags" | "modseq">>;

export function entryPath(folderPath: string, e: MessageEntry): string {
  return join(folderPath, e.sub, e.name);
}

export class MessageTable {
  readonly #byUid = new Map<number, MessageEntry>();
  #expungeGeneration = 0;
  /** The UIDs in order, [0, #count); appended in place, replaced when messages leave. */
  #uids = new Uint32Array(64);
  #count = 0;
  #unseen = 0;
  #deleted = 0;
  #bytes = 0;
  readonly #inNew = new Set<number>();

  /** Messages by UID; insertion order is UID order because UIDs only grow. */
  get byUid(): ReadonlyMap<number, MessageEntry> {
    return this.#byUid;
  }

  /** Bumped when messages leave: views compare their UIDs with ours only then. */
  get expungeGeneration(): number {
    return this.#expungeGeneration;
  }

  /** UIDs of the messages still in new/ (IMAP \Recent). */
  get inNew(): ReadonlySet<number> {
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
    return sub === "new" ? this.#inNew.size : this.#byUid.size - this.#inNew.size;
  }

  lastUid(): number {
    return this.#count ? this.#uids[this.#count - 1] : 0;
  }

  /** The UIDs in order: `uids[0 .. count)`. Never changed in place below `count`. */
  snapshot(): { uids: Uint32Array; count: number } {
    return { uids: this.#uids, count: this.#count };
  }

  /** Forgets every message (a new load or a new UIDVALIDITY). */
  clear(): void {
    this.#byUid.clear();
    this.#uids = new Uint32Array(64);
    this.#count = 0;
    this.#unseen = this.#deleted = this.#bytes = 0;
    this.#inNew.clear();
    this.#expungeGeneration++;
  }

  /** Adds an entry whose UID is above every other. */
  insert(e: MessageEntry): void {
    this.#byUid.set(e.uid, e);
    if (this.#count === this.#uids.length) {
      const grown = new Uint32Array(this.#uids.length * 2);
      grown.set(this.#uids);
      this.#uids = grown;
    }
    this.#uids[this.#count++] = e.uid;
    this.#account(e, 1);
  }

  /** Changes an entry in place (a rename: new flags, or moved to cur/). */
  update(e: MessageEntry, changes: EntryChanges): void {
    this.#account(e, -1);
    Object.assign(e, changes);
    this.#account(e, 1);
  }

  /** Removes an entry; call rebuildUids() once the batch is done. */
  remove(e: MessageEntry): void {
    this.#account(e, -1);
    this.#byUid.delete(e.uid);
  }

  /** A new UID snapshot after removals (the old one stays valid for its holders). */
  rebuildUids(): void {
    const next = new Uint32Array(Math.max(64, Math.ceil(this.#byUid.size * 1.25)));
    let i = 0;
    for (const uid of this.#byUid.keys()) next[i++] = uid;
    this.#uids = next;
    this.#count = i;
    this.#expungeGeneration++;
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
}

/** The file name to record: null when it is the canonical one for the flags. */
export function storedName(e: MessageEntry): string | null {
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

export function entryOf(r: IndexRow): MessageEntry {
  return {
    uid: r.uid,
    base: r.base,
    sub: r.sub,
    name: r.name ?? (r.sub === "cur" ? fileNameFor(r.base, r.flags) : r.base),
    flags: r.flags,
    size: r.size,
    internalDate: r.internalDate,
    modseq: r.modseq,
  };
}
