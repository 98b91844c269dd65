/**
 * The UID list's base names and their UIDs (uidlist.ts) as bytes: the names in one
 * buffer, where they start and end, the UIDs and the names' hashes in typed arrays, and
 * an open-addressing hash table of positions. The list stays in memory while the folder
 * is open; as a Map of strings a 100,000-message folder held 100,000 strings and a 3.5
 * MB table on the JavaScript heap (8.9 MB, a third of the live heap), which every full
 * GC marks again and the memory reducer's compaction moves (docs/performance.md, stop
 * 36). Here it is a few buffers outside the heap.
 *
 * Lines read from the file, and a first read's 100,000 new names, come in as blocks
 * copied whole (`block`, then `addAt` per name); they are hashed on the first lookup
 * after them (`#index`): hashing each name as it came, in code the first SELECT runs
 * cold, cost 95-143 ms against the Map's 25.
 *
 * A Map's subset the callers use (get, set, has, size, iteration in insertion order, a
 * later set of a name overriding an earlier one); `BaseUidMap` is that subset, so a
 * plain Map still serves where a list is made by hand.
 */

/** What the UID list's map of base names must do (a Map<string, number> does it too). */
export interface BaseUidMap extends Iterable<[string, number]> {
  get(base: string): number | undefined;
  set(base: string, uid: number): unknown;
  has(base: string): boolean;
  readonly size: number;
}

const encoder = new TextEncoder();
/** A name as its text: a byte order mark at its start is part of it. */
const nameDecoder = new TextDecoder("utf-8", { ignoreBOM: true });
const EMPTY = 0xffffffff;

/** FNV-1a over `bytes[from, to)`. */
function hashOf(bytes: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

export class BaseUids implements BaseUidMap {
  #count = 0;
  /** Entries below this are in #slots (the rest came in by addAt). */
  #indexed = 0;
  /** Entries that named a name again (their UID went to the first): skipped. */
  #dead = 0;
  /** Name `i` is `#names[#start[i], #end[i])`, UTF-8. */
  #names = new Uint8Array(0);
  #used = 0;
  #start = new Uint32Array(0);
  #end = new Uint32Array(0);
  /** NaN: a dead entry. */
  #uid = new Float64Array(0);
  /** Each name's hash: a growing table places them again without reading the names. */
  #hash = new Uint32Array(0);
  /** Positions by hash (EMPTY: a free slot); kept at most half full. */
  #slots = new Uint32Array(0);
  /** A string key's bytes while it is looked up, and their hash (#encode). */
  #key = new Uint8Array(256);
  #keyHash = 0;

  get size(): number {
    this.#index();
    return this.#count - this.#dead;
  }

  get(base: string): number | undefined {
    this.#index();
    const n = this.#encode(base);
    const i = this.#find(this.#key, 0, n, this.#keyHash);
    return i < 0 ? undefined : this.#uid[i];
  }

  has(base: string): boolean {
    return this.get(base) !== undefined;
  }

  set(base: string, uid: number): this {
    this.#index();
    const n = this.#encode(base), hash = this.#keyHash;
    const found = this.#find(this.#key, 0, n, hash);
    if (found >= 0) {
      this.#uid[found] = uid;
      return this;
    }
    const at = this.#copy(this.#key, 0, n);
    this.#add(at, at + n, uid);
    this.#hash[this.#count - 1] = hash;
    this.#place(this.#count - 1, hash);
    this.#indexed = this.#count;
    return this;
  }

  /**
   * Copies `bytes[from, to)` (valid UTF-8) after the names, for `addAt`; what to add to a
   * position in `bytes` to find it among the names.
   */
  block(bytes: Uint8Array, from: number, to: number): number {
    return this.#copy(bytes, from, to) - from;
  }

  /**
   * Sets the name at `[start, end)` of the names (inside a block) to `uid`, as `set`
   * would: hashed, and a repeated name's UID moved to its first entry, on the next lookup.
   */
  addAt(start: number, end: number, uid: number): void {
    this.#add(start, end, uid);
  }

  *[Symbol.iterator](): IterableIterator<[string, number]> {
    this.#index();
    for (let i = 0; i < this.#count; i++) {
      const uid = this.#uid[i];
      if (uid !== uid) continue; // dead
      yield [nameDecoder.decode(this.#names.subarray(this.#start[i], this.#end[i])), uid];
    }
  }

  /** Copies `bytes[from, to)` after the names; where it starts. */
  #copy(bytes: Uint8Array, from: number, to: number): number {
    const n = to - from;
    if (this.#used + n > this.#names.length) {
      const next = new Uint8Array(
        Math.max(4096, this.#used + n, Math.ceil(this.#names.length * 1.5)),
      );
      next.set(this.#names.subarray(0, this.#used));
      this.#names = next;
    }
    const at = this.#used;
    if (n > 64) this.#names.set(bytes.subarray(from, to), at);
    else for (let k = 0; k < n; k++) this.#names[at + k] = bytes[from + k];
    this.#used += n;
    return at;
  }

  /** A new entry for the name at `#names[start, end)`, not indexed yet. */
  #add(start: number, end: number, uid: number): void {
    if (this.#count === this.#end.length) {
      const cap = Math.max(64, Math.ceil(this.#count * 1.5));
      const grown = <T extends Uint32Array | Float64Array>(a: T, b: T) => {
        b.set(a.subarray(0, this.#count) as never);
        return b;
      };
      this.#start = grown(this.#start, new Uint32Array(cap));
      this.#end = grown(this.#end, new Uint32Array(cap));
      this.#uid = grown(this.#uid, new Float64Array(cap));
      this.#hash = grown(this.#hash, new Uint32Array(cap));
    }
    const i = this.#count++;
    this.#start[i] = start;
    this.#end[i] = end;
    this.#uid[i] = uid;
    if (2 * this.#count > this.#slots.length) this.#rehash();
  }

  /** Hashes and places the entries added by addAt; a repeated name's UID goes to the first. */
  #index(): void {
    if (this.#indexed === this.#count) return;
    const names = this.#names, start = this.#start, end = this.#end, hashes = this.#hash;
    for (let i = this.#indexed; i < this.#count; i++) {
      const hash = hashes[i] = hashOf(names, start[i], end[i]);
      const first = this.#find(names, start[i], end[i], hash);
      if (first < 0) this.#place(i, hash);
      else {
        this.#uid[first] = this.#uid[i];
        this.#uid[i] = NaN;
        this.#dead++;
      }
      this.#indexed = i + 1;
    }
  }

  /** `base` as UTF-8 in #key, its hash in #keyHash (FNV-1a as hashOf); its length. */
  #encode(base: string): number {
    const n = base.length;
    if (n * 3 > this.#key.length) this.#key = new Uint8Array(n * 3);
    const key = this.#key;
    let h = 0x811c9dc5;
    for (let k = 0; k < n; k++) {
      const c = base.charCodeAt(k);
      if (c > 0x7f) {
        const written = encoder.encodeInto(base, key).written;
        this.#keyHash = hashOf(key, 0, written);
        return written;
      }
      key[k] = c;
      h = Math.imul(h ^ c, 0x01000193);
    }
    this.#keyHash = h >>> 0;
    return n;
  }

  /** The indexed position of name `bytes[from, to)` whose hash is `hash`, or -1. */
  #find(bytes: Uint8Array, from: number, to: number, hash: number): number {
    const slots = this.#slots, mask = slots.length - 1;
    if (mask < 0) return -1;
    const names = this.#names, start = this.#start, end = this.#end, len = to - from;
    for (let s = hash & mask;; s = (s + 1) & mask) {
      const i = slots[s];
      if (i === EMPTY) return -1;
      if (this.#hash[i] !== hash || end[i] - start[i] !== len) continue;
      const at = start[i];
      let k = 0;
      while (k < len && names[at + k] === bytes[from + k]) k++;
      if (k === len) return i;
    }
  }

  #place(i: number, hash: number): void {
    const slots = this.#slots, mask = slots.length - 1;
    let s = hash & mask;
    while (slots[s] !== EMPTY) s = (s + 1) & mask;
    slots[s] = i;
  }

  /** A table for twice the entries (at least 64 slots), the indexed ones placed again. */
  #rehash(): void {
    let size = Math.max(64, this.#slots.length);
    while (size < 2 * this.#count) size *= 2;
    this.#slots = new Uint32Array(size).fill(EMPTY);
    for (let i = 0; i < this.#indexed; i++) {
      if (this.#uid[i] === this.#uid[i]) this.#place(i, this.#hash[i]);
    }
  }
}
