/**
 * One message of a folder as callers see it (MessageEntry), made on demand from the
 * table's columns (columns.ts): the table keeps no object per message. An entry is a
 * snapshot of the message when it was asked for; the table's own changes to a message
 * (MessageTable.update) also update the entry they are given. The internal date and the
 * `extra` value of a layer above are read and written through to the table while the
 * message is still there, so they are shared by every entry of the message.
 */
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
  /**
   * What a layer above keeps with the message (the IMAP SORT/SEARCH keys,
   * src/imap/sort_index.ts): gone with the message; never stored in the index.
   */
  extra: unknown;
}

/** What a change may set on an entry (its UID and base name never change). */
export type EntryChanges = Partial<Pick<MessageEntry, "sub" | "name" | "flags" | "modseq">>;

/**
 * Where an entry's shared fields live while its message is in the table (the table's
 * side of Entry): `slot` is the message's position, or -1 once it is gone.
 */
export interface EntryHome {
  slot(e: Entry): number;
  dateAt(i: number): number | null;
  setDateAt(i: number, ms: number): void;
  extraAt(i: number): unknown;
  setExtraAt(i: number, value: unknown): void;
}

/**
 * A message's file path. Concatenated, not path.join: the folder path is already
 * normalized and a Maildir file name holds no "/", and join's normalization was a
 * tenth of the event loop's time when 100,000 files are renamed.
 */
export function entryPath(folderPath: string, e: MessageEntry): string {
  return `${folderPath}/${e.sub}/${e.name}`;
}

/** The name a file has when nothing else renamed it: the base in new/, base:2,flags in cur/. */
export function canonicalName(sub: "new" | "cur", base: string, flags: string): string {
  return sub === "cur" ? `${base}:2,${flags}` : base;
}

/** Reads a base name when first asked (from the table's name bytes, see columns.ts). */
export type BaseSource = () => string;

export class Entry implements MessageEntry {
  readonly uid: number;
  sub: "new" | "cur";
  flags: string;
  size: number;
  modseq: number;
  #base: string | BaseSource;
  /** The file name when it is not the canonical one (another program's name). */
  #odd: string | null;
  #date: number | null;
  #extra: unknown;
  /** The table holding the message, its position there and the layout it was taken at. */
  home: EntryHome | null = null;
  at = -1;
  layout = -1;

  constructor(
    uid: number,
    base: string | BaseSource,
    sub: "new" | "cur",
    flags: string,
    size: number,
    date: number | null,
    modseq: number,
    odd: string | null,
    extra?: unknown,
  ) {
    this.uid = uid;
    this.#base = base;
    this.sub = sub;
    this.flags = flags;
    this.size = size;
    this.#date = date;
    this.modseq = modseq;
    this.#odd = odd;
    this.#extra = extra;
  }

  get base(): string {
    const b = this.#base;
    return typeof b === "string" ? b : (this.#base = b());
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

  /** Takes another entry's oddName (of the same message, after a change). */
  setOddName(odd: string | null): void {
    this.#odd = odd;
  }

  get internalDate(): number | null {
    const i = this.home ? this.home.slot(this) : -1;
    return i < 0 ? this.#date : (this.#date = this.home!.dateAt(i));
  }

  set internalDate(ms: number | null) {
    this.#date = ms;
    const i = this.home ? this.home.slot(this) : -1;
    if (i >= 0 && ms !== null) this.home!.setDateAt(i, ms);
  }

  get extra(): unknown {
    const i = this.home ? this.home.slot(this) : -1;
    return i < 0 ? this.#extra : (this.#extra = this.home!.extraAt(i));
  }

  set extra(value: unknown) {
    this.#extra = value;
    const i = this.home ? this.home.slot(this) : -1;
    if (i >= 0) this.home!.setExtraAt(i, value);
  }
}

/** A new entry for these fields (not in a table yet: MessageTable.insert places it). */
export function newEntry(f: Omit<MessageEntry, "extra"> & { extra?: unknown }): MessageEntry {
  const e = new Entry(f.uid, f.base, f.sub, f.flags, f.size, f.internalDate, f.modseq, null);
  e.name = f.name;
  if (f.extra !== undefined) e.extra = f.extra;
  return e;
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
