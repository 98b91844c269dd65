/**
 * The messages of a folder as columns (MessageTable's storage): one typed array per field,
 * indexed by the message's position in UID order, and the base names as bytes in one
 * buffer. A JavaScript object per message (with its base name string, a map entry and
 * a boxed date) cost about 200 bytes of heap each, and reading 100,000 of them grew the
 * process by three times that (they outlived the young generation); the columns cost
 * about 75 bytes per message outside the heap. Entries are made from them on demand
 * (entry.ts). A file name that is not the canonical one for its flags (another
 * program's) is kept by UID; flag letter sets are stored once each, by number.
 */
import type { FileColumns } from "./file_list.ts";

/** bits: the file is in new/. */
export const IN_NEW = 1;
/** bits: removed, until the table is compacted. */
export const REMOVED = 2;
/** bits: the base name has bytes beyond ASCII (UTF-8). */
export const WIDE = 4;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The base name in `bytes[from, to)` (ASCII unless `wide`). */
export function decodeName(bytes: Uint8Array, from: number, to: number, wide: boolean): string {
  const part = bytes.subarray(from, to);
  if (wide) return decoder.decode(part);
  return String.fromCharCode.apply(null, part as unknown as number[]);
}

/** What MessageTable counts of its messages. */
export interface Counts {
  unseen: number;
  deleted: number;
  bytes: number;
  inNew: number;
}

export class EntryColumns {
  #cap = 0;
  count = 0;
  #modseq = new Float64Array(0);
  #size = new Float64Array(0);
  /** NaN: not known yet. */
  #date = new Float64Array(0);
  #flagId = new Uint32Array(0);
  #bits = new Uint8Array(0);
  /** Base name `i` is `#names[#nameEnd[i - 1] ?? 0, #nameEnd[i])`. */
  #nameEnd = new Uint32Array(0);
  /**
   * The name bytes; never changed below #namesUsed (a compaction writes a new buffer), so
   * an entry may read its base from the buffer it was made with, after any change.
   */
  #names = new Uint8Array(0);
  #namesUsed = 0;
  /** File names that are not the canonical ones, by UID. */
  readonly #odd = new Map<number, string>();
  /** Per position, what a layer above keeps (entry.extra); made on first use. */
  #extra: unknown[] | null = null;
  /** The distinct flag letter sets, by number. */
  #sets: string[] = [];
  readonly #setOf = new Map<string, number>();

  /**
   * Room for `n` messages in all (their names at about `nameBytes` each). Grown by half
   * at a time: a 100,000-message folder's columns at twice their size were 40% more.
   */
  reserve(n: number, nameBytes = 0): void {
    if (nameBytes) this.#nameRoom(n * nameBytes - this.#namesUsed);
    if (n <= this.#cap) return;
    const cap = Math.max(64, n, Math.ceil(this.#cap * 1.5));
    const grow = <T extends Float64Array | Uint32Array | Uint8Array>(
      a: T,
      make: (n: number) => T,
    ) => {
      const b = make(cap);
      b.set(a.subarray(0, this.count) as never);
      return b;
    };
    this.#modseq = grow(this.#modseq, (n) => new Float64Array(n));
    this.#size = grow(this.#size, (n) => new Float64Array(n));
    this.#date = grow(this.#date, (n) => new Float64Array(n));
    this.#flagId = grow(this.#flagId, (n) => new Uint32Array(n));
    this.#bits = grow(this.#bits, (n) => new Uint8Array(n));
    this.#nameEnd = grow(this.#nameEnd, (n) => new Uint32Array(n));
    this.#cap = cap;
  }

  /** Room for `n` more name bytes. */
  #nameRoom(n: number): void {
    if (this.#namesUsed + n <= this.#names.length) return;
    const size = Math.ceil(this.#names.length * 1.5);
    const next = new Uint8Array(Math.max(4096, size, this.#namesUsed + n));
    next.set(this.#names.subarray(0, this.#namesUsed));
    this.#names = next;
  }

  /** The number of a flag letter set (stored once). */
  flagId(letters: string): number {
    let id = this.#setOf.get(letters);
    if (id === undefined) {
      this.#setOf.set(letters, id = this.#sets.length);
      this.#sets.push(letters);
    }
    return id;
  }

  /** Appends a message at position `count`. `odd`: its file name if not the canonical one. */
  push(
    uid: number,
    base: string,
    inNew: boolean,
    flags: string,
    size: number,
    date: number | null,
    modseq: number,
    odd: string | null,
  ): number {
    const i = this.count;
    if (i === this.#cap) this.reserve(i + 1);
    let bits = inNew ? IN_NEW : 0;
    const n = base.length;
    this.#nameRoom(3 * n);
    const names = this.#names;
    let at = this.#namesUsed, ascii = true;
    for (let k = 0; k < n; k++) {
      const c = base.charCodeAt(k);
      if (c > 0x7f) {
        ascii = false;
        break;
      }
      names[at + k] = c;
    }
    if (ascii) at += n;
    else {
      at += encoder.encodeInto(base, names.subarray(at)).written;
      bits |= WIDE;
    }
    this.#namesUsed = at;
    this.#nameEnd[i] = at;
    this.#modseq[i] = modseq;
    this.#size[i] = size;
    this.#date[i] = date ?? NaN;
    this.#flagId[i] = this.flagId(flags);
    this.#bits[i] = bits;
    if (odd !== null) this.#odd.set(uid, odd);
    if (this.#extra) this.#extra[i] = undefined;
    this.count = i + 1;
    return i;
  }

  base(i: number): string {
    return decodeName(
      this.#names,
      i ? this.#nameEnd[i - 1] : 0,
      this.#nameEnd[i],
      (this.#bits[i] & WIDE) !== 0,
    );
  }

  /**
   * Where base name `i` is: the bytes (never changed below what is used, see #names),
   * from, to, and whether it is beyond ASCII. An entry decodes it when first asked.
   */
  get nameBytes(): Uint8Array {
    return this.#names;
  }

  nameFrom(i: number): number {
    return i ? this.#nameEnd[i - 1] : 0;
  }

  nameTo(i: number): number {
    return this.#nameEnd[i];
  }

  wideName(i: number): boolean {
    return (this.#bits[i] & WIDE) !== 0;
  }

  flags(i: number): string {
    return this.#sets[this.#flagId[i]];
  }

  /**
   * The columns file names are made from (file_list.ts), positions below `count`, for a
   * directory check's worker: views of this table's own arrays (file_list.ts
   * copyColumns makes the worker's copies); `oddAt` gives a UID's position (-1: removed).
   */
  fileColumns(count: number, oddAt: (uid: number) => number): FileColumns {
    const odd: [number, string][] = [];
    for (const [uid, name] of this.#odd) {
      const i = oddAt(uid);
      if (i >= 0) odd.push([i, name]);
    }
    count = Math.min(count, this.count);
    return {
      count,
      names: this.#names.subarray(0, this.#namesUsed),
      nameEnd: this.#nameEnd.subarray(0, count),
      bits: this.#bits.subarray(0, count),
      flagId: this.#flagId.subarray(0, count),
      sets: [...this.#sets],
      odd,
    };
  }

  /** The letter sets and each message's number among them (summary.ts's flag column). */
  flagSets(): { sets: readonly string[]; ids: Uint32Array } {
    return { sets: this.#sets, ids: this.#flagId.subarray(0, this.count) };
  }

  inNew(i: number): boolean {
    return (this.#bits[i] & IN_NEW) !== 0;
  }

  size(i: number): number {
    return this.#size[i];
  }

  modseq(i: number): number {
    return this.#modseq[i];
  }

  date(i: number): number | null {
    const d = this.#date[i];
    return d === d ? d : null;
  }

  setDate(i: number, ms: number): void {
    this.#date[i] = ms;
  }

  odd(uid: number): string | null {
    return this.#odd.get(uid) ?? null;
  }

  extra(i: number): unknown {
    return this.#extra?.[i];
  }

  setExtra(i: number, value: unknown): void {
    if (!this.#extra) {
      if (value === undefined) return;
      this.#extra = new Array(this.count).fill(undefined);
    }
    this.#extra[i] = value;
  }

  /** Counts message `i` into `n` (`sign` 1), or out of it (-1). */
  countInto(i: number, sign: 1 | -1, n: Counts): void {
    const flags = this.#sets[this.#flagId[i]];
    if (!flags.includes("S")) n.unseen += sign;
    if (flags.includes("T")) n.deleted += sign;
    if (this.#bits[i] & IN_NEW) n.inNew += sign;
    n.bytes += sign * this.#size[i];
  }

  removed(i: number): boolean {
    return (this.#bits[i] & REMOVED) !== 0;
  }

  /** Changes message `i` (a rename: flags, directory, name; a new mod-sequence). */
  set(
    i: number,
    uid: number,
    inNew: boolean,
    flags: string,
    modseq: number,
    odd: string | null,
  ): void {
    this.#bits[i] = (this.#bits[i] & ~IN_NEW) | (inNew ? IN_NEW : 0);
    this.#flagId[i] = this.flagId(flags);
    this.#modseq[i] = modseq;
    if (odd === null) this.#odd.delete(uid);
    else this.#odd.set(uid, odd);
  }

  markRemoved(i: number, uid: number): void {
    this.#bits[i] |= REMOVED;
    this.#odd.delete(uid);
  }

  /**
   * Drops the removed messages, keeping the order of the others. The name bytes go to a
   * new buffer (entries made before still read theirs from the old one).
   */
  compact(): void {
    const names = new Uint8Array(Math.max(4096, this.#namesUsed));
    let j = 0, used = 0, from = 0;
    for (let i = 0; i < this.count; i++) {
      const to = this.#nameEnd[i];
      if (!(this.#bits[i] & REMOVED)) {
        names.set(this.#names.subarray(from, to), used);
        used += to - from;
        this.#nameEnd[j] = used;
        this.#modseq[j] = this.#modseq[i];
        this.#size[j] = this.#size[i];
        this.#date[j] = this.#date[i];
        this.#flagId[j] = this.#flagId[i];
        this.#bits[j] = this.#bits[i];
        if (this.#extra) this.#extra[j] = this.#extra[i];
        j++;
      }
      from = to;
    }
    if (this.#extra) this.#extra.length = j;
    this.#names = names;
    this.#namesUsed = used;
    this.count = j;
  }

  /** Forgets every message. */
  clear(): void {
    this.#cap = this.count = this.#namesUsed = 0;
    this.#modseq = new Float64Array(0);
    this.#size = new Float64Array(0);
    this.#date = new Float64Array(0);
    this.#flagId = new Uint32Array(0);
    this.#bits = new Uint8Array(0);
    this.#nameEnd = new Uint32Array(0);
    this.#names = new Uint8Array(0);
    this.#odd.clear();
    this.#extra = null;
    this.#sets = [];
    this.#setOf.clear();
  }
}
