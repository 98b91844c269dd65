/**
 * The UID list's base names and their UIDs (uidlist.ts) as bytes: the names one after
 * another in one buffer, the UIDs in a typed array, and an open-addressing hash table of
 * positions. The list stays in memory while the folder is open; as a Map of strings a
 * 100,000-message folder held 100,000 strings and a 3.5 MB table on the JavaScript heap
 * (8.9 MB, a third of the live heap), which every full GC marks again and the memory
 * reducer's compaction moves (docs/performance.md, stop 36). Here it is four buffers
 * outside the heap. The file's lines are read into it without a string per line.
 *
 * A Map's subset the callers use (get, set, has, size, iteration in insertion order);
 * `BaseUidMap` is that subset, so a plain Map still serves where a list is made by hand.
 */

/** What the UID list's map of base names must do (a Map<string, number> does it too). */
export interface BaseUidMap extends Iterable<[string, number]> {
  get(base: string): number | undefined;
  set(base: string, uid: number): unknown;
  has(base: string): boolean;
  readonly size: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = 0xffffffff;

/** FNV-1a over `bytes[from, to)`. */
function hashOf(bytes: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

export class BaseUids implements BaseUidMap {
  #count = 0;
  /** Name `i` is `#names[#end[i - 1] ?? 0, #end[i])`, UTF-8. */
  #names = new Uint8Array(0);
  #used = 0;
  #end = new Uint32Array(0);
  #uid = new Float64Array(0);
  /** Each name's hash: a growing table places them again without reading the names. */
  #hash = new Uint32Array(0);
  /** Positions by hash (EMPTY: a free slot); kept at most half full. */
  #slots = new Uint32Array(0);
  /** A string key's bytes while it is looked up, and their hash (#encode). */
  #key = new Uint8Array(256);
  #keyHash = 0;

  get size(): number {
    return this.#count;
  }

  get(base: string): number | undefined {
    const n = this.#encode(base);
    const i = this.#find(this.#key, 0, n, this.#keyHash);
    return i < 0 ? undefined : this.#uid[i];
  }

  has(base: string): boolean {
    return this.get(base) !== undefined;
  }

  set(base: string, uid: number): this {
    const n = this.#encode(base);
    this.#put(this.#key, 0, n, this.#keyHash, uid);
    return this;
  }

  /**
   * Sets the name `bytes[from, to)` (valid UTF-8: what `set` of its decoded string would
   * store) to `uid`, as a later line of the list overrides an earlier one.
   */
  setBytes(bytes: Uint8Array, from: number, to: number, uid: number): void {
    this.#put(bytes, from, to, hashOf(bytes, from, to), uid);
  }

  *[Symbol.iterator](): IterableIterator<[string, number]> {
    for (let i = 0, from = 0; i < this.#count; from = this.#end[i++]) {
      yield [decoder.decode(this.#names.subarray(from, this.#end[i])), this.#uid[i]];
    }
  }

  #put(bytes: Uint8Array, from: number, to: number, hash: number, uid: number): void {
    const found = this.#find(bytes, from, to, hash);
    if (found >= 0) {
      this.#uid[found] = uid;
      return;
    }
    if (this.#count === this.#end.length) this.#grow(this.#count + 1);
    if (2 * (this.#count + 1) > this.#slots.length) this.#rehash();
    if (this.#used + to - from > this.#names.length) this.#nameRoom(to - from);
    const i = this.#count++, names = this.#names;
    // By hand: subarray and set made an object and a call per name (a third of the time).
    for (let k = from, at = this.#used; k < to; k++) names[at++] = bytes[k];
    this.#used += to - from;
    this.#end[i] = this.#used;
    this.#uid[i] = uid;
    this.#hash[i] = hash;
    this.#place(i, hash);
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

  /** The position of name `bytes[from, to)` whose hash is `hash`, or -1. */
  #find(bytes: Uint8Array, from: number, to: number, hash: number): number {
    const slots = this.#slots, mask = slots.length - 1;
    if (mask < 0) return -1;
    const names = this.#names, end = this.#end, hashes = this.#hash, len = to - from;
    for (let s = hash & mask;; s = (s + 1) & mask) {
      const i = slots[s];
      if (i === EMPTY) return -1;
      if (hashes[i] !== hash) continue;
      const start = i ? end[i - 1] : 0;
      if (end[i] - start !== len) continue;
      let k = 0;
      while (k < len && names[start + k] === bytes[from + k]) k++;
      if (k === len) return i;
    }
  }

  #place(i: number, hash: number): void {
    const slots = this.#slots, mask = slots.length - 1;
    let s = hash & mask;
    while (slots[s] !== EMPTY) s = (s + 1) & mask;
    slots[s] = i;
  }

  /** Room for `n` names, grown by half. */
  #grow(n: number): void {
    const cap = Math.max(64, n, Math.ceil(this.#end.length * 1.5));
    const grown = <T extends Uint32Array | Float64Array>(a: T, b: T) => {
      b.set(a.subarray(0, this.#count) as never);
      return b;
    };
    this.#end = grown(this.#end, new Uint32Array(cap));
    this.#uid = grown(this.#uid, new Float64Array(cap));
    this.#hash = grown(this.#hash, new Uint32Array(cap));
  }

  /** A table twice as big (at least 64 slots), every name placed again. */
  #rehash(): void {
    this.#slots = new Uint32Array(Math.max(64, 2 * this.#slots.length)).fill(EMPTY);
    for (let i = 0; i < this.#count; i++) this.#place(i, this.#hash[i]);
  }

  /** Room for `n` more name bytes. */
  #nameRoom(n: number): void {
    if (this.#used + n <= this.#names.length) return;
    const next = new Uint8Array(
      Math.max(4096, this.#used + n, Math.ceil(this.#names.length * 1.5)),
    );
    next.set(this.#names.subarray(0, this.#used));
    this.#names = next;
  }
}
