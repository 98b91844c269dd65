/**
 * One message of a folder as callers see it (MessageEntry), made on demand from the
 * table's columns (columns.ts): the table keeps no object per message. An entry is a
 * snapshot of the message when it was asked for; the table's own changes to a message
 * (MessageTable.update) also update the entry they are given. The internal date and the
 * `extra` value of a layer above are read and written through to the table while the
 * message is still there, so they are shared by every entry of the message.
 */
import { fileNameFor } from "../maildir_names.ts";
import { decodeName, type EntryColumns } from "./columns.ts";
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
 * The table an entry's message is in (MessageTable): `slot` is the message's position in
 * `columns`, or -1 once it is gone.
 */
export interface EntryHome {
  slot(e: Entry): number;
  readonly columns: EntryColumns;
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

/**
 * While its message is in the table, an entry reads the message's fields there (so an
 * entry held across a change, such as FETCH's implicit \Seen, sees it); once the message
 * is gone, the fields as last read. Setting a field changes the entry alone: a message
 * is changed with MessageTable.update.
 */
export class Entry implements MessageEntry {
  readonly uid: number;
  size: number;
  /** The base name, or null while it is only bytes (#bytes[#from, #to), see columns.ts). */
  #base: string | null;
  #bytes: Uint8Array | null = null;
  #from = 0;
  /** Negative: the bytes are beyond ASCII. */
  #to = 0;
  #sub: "new" | "cur";
  #flags: string;
  #modseq: number;
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
    base: string | null,
    sub: "new" | "cur",
    flags: string,
    size: number,
    date: number | null,
    modseq: number,
    odd: string | null,
  ) {
    this.uid = uid;
    this.#base = base;
    this.#sub = sub;
    this.#flags = flags;
    this.size = size;
    this.#date = date;
    this.#modseq = modseq;
    this.#odd = odd;
  }

  /** The message's position in its table, -1 when it is in none (any more). */
  #slot(): number {
    return this.home ? this.home.slot(this) : -1;
  }

  get base(): string {
    if (this.#base === null) {
      const to = this.#to;
      this.#base = decodeName(this.#bytes!, this.#from, to < 0 ? -to : to, to < 0);
      this.#bytes = null;
    }
    return this.#base;
  }

  /**
   * The base name's UTF-8 bytes while it is not decoded yet: `baseRaw[baseRawFrom,
   * baseRawTo)`; null once it is a string. A message file's C path is written from them
   * (read_small.ts) without making the name a string for every message sent.
   */
  get baseRaw(): Uint8Array | null {
    return this.#base === null ? this.#bytes : null;
  }

  get baseRawFrom(): number {
    return this.#from;
  }

  get baseRawTo(): number {
    return this.#to < 0 ? -this.#to : this.#to;
  }

  /** The base name as bytes, decoded when first asked (an entry made from the columns). */
  baseIn(bytes: Uint8Array, from: number, to: number, wide: boolean): void {
    this.#bytes = bytes;
    this.#from = from;
    this.#to = wide ? -to : to;
  }

  get sub(): "new" | "cur" {
    const i = this.#slot();
    return i < 0 ? this.#sub : (this.#sub = this.home!.columns.inNew(i) ? "new" : "cur");
  }

  set sub(sub: "new" | "cur") {
    this.#sub = sub;
  }

  get flags(): string {
    const i = this.#slot();
    return i < 0 ? this.#flags : (this.#flags = this.home!.columns.flags(i));
  }

  set flags(flags: string) {
    this.#flags = flags;
  }

  get modseq(): number {
    const i = this.#slot();
    return i < 0 ? this.#modseq : (this.#modseq = this.home!.columns.modseq(i));
  }

  set modseq(modseq: number) {
    this.#modseq = modseq;
  }

  get name(): string {
    return this.oddName ?? canonicalName(this.sub, this.base, this.flags);
  }

  set name(name: string) {
    this.#odd = name === canonicalName(this.#sub, this.base, this.#flags) ? null : name;
  }

  /** The name when it is not the canonical one (storedName without sorting flags again). */
  get oddName(): string | null {
    const i = this.#slot();
    return i < 0 ? this.#odd : (this.#odd = this.home!.columns.odd(this.uid));
  }

  get internalDate(): number | null {
    const i = this.#slot();
    return i < 0 ? this.#date : (this.#date = this.home!.columns.date(i));
  }

  set internalDate(ms: number | null) {
    this.#date = ms;
    const i = this.#slot();
    if (i >= 0 && ms !== null) this.home!.columns.setDate(i, ms);
  }

  get extra(): unknown {
    const i = this.#slot();
    return i < 0 ? this.#extra : (this.#extra = this.home!.columns.extra(i));
  }

  set extra(value: unknown) {
    this.#extra = value;
    const i = this.#slot();
    if (i >= 0) this.home!.columns.setExtra(i, value);
  }
}

/** A new entry for these fields (not in a table yet: MessageTable.insert places it). */
export function newEntry(f: Omit<MessageEntry, "extra"> & { extra?: unknown }): MessageEntry {
  const e = new Entry(f.uid, f.base, f.sub, f.flags, f.size, f.internalDate, f.modseq, null);
  e.name = f.name;
  if (f.extra !== undefined) e.extra = f.extra;
  return e;
}

/** A plain entry's file name if it is not the canonical one (Entry.oddName). */
export function oddNameOf(e: MessageEntry): string | null {
  return e.name === canonicalName(e.sub, e.base, e.flags) ? null : e.name;
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
