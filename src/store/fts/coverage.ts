/**
 * Which messages a folder's full-text index holds, as this process last learned (fts.ts):
 * their UIDs ascending in one typed array, and beside each the reply number of the worker
 * reply that reported it indexed, so an answer is used only for messages indexed before
 * its query ran (TextAnswer). Typed arrays instead of a map of 100,000 entries: a restart
 * fills it from one array, and a search walks it beside the view's UIDs and the hits.
 */
export class Coverage {
  #uids = new Uint32Array(0);
  #seqs = new Uint32Array(0);
  #n = 0;

  get size(): number {
    return this.#n;
  }

  /** The UIDs held, ascending (a view valid until the next change). */
  get uids(): Uint32Array {
    return this.#uids.subarray(0, this.#n);
  }

  /** Reply numbers by position in `uids`. */
  get seqs(): Uint32Array {
    return this.#seqs.subarray(0, this.#n);
  }

  /**
   * Records UIDs reported indexed by reply `seq`. One held already keeps its earlier
   * number (it was in the index since then). New UIDs above every held one (deliveries)
   * are appended; others are merged in.
   */
  add(uids: ArrayLike<number>, seq: number): void {
    if (uids.length === 0) return;
    const sorted = Uint32Array.from(uids).sort();
    const last = this.#n ? this.#uids[this.#n - 1] : -1;
    if (sorted[0] > last && distinct(sorted)) {
      // Natively, in bulk: a restart adds 100,000 at once, before any loop here is hot.
      this.#reserve(this.#n + sorted.length);
      this.#uids.set(sorted, this.#n);
      this.#seqs.fill(seq, this.#n, this.#n + sorted.length);
      this.#n += sorted.length;
      return;
    }
    const cap = this.#n + sorted.length;
    const uidsOut = new Uint32Array(Math.max(cap, 64)), seqsOut = new Uint32Array(uidsOut.length);
    let i = 0, k = 0, n = 0;
    while (i < this.#n || k < sorted.length) {
      const a = i < this.#n ? this.#uids[i] : Infinity;
      const b = k < sorted.length ? sorted[k] : Infinity;
      if (a <= b) {
        uidsOut[n] = a;
        seqsOut[n++] = this.#seqs[i++];
        while (k < sorted.length && sorted[k] === a) k++;
      } else {
        uidsOut[n] = b;
        seqsOut[n++] = seq;
        while (k < sorted.length && sorted[k] === b) k++;
      }
    }
    this.#uids = uidsOut;
    this.#seqs = seqsOut;
    this.#n = n;
  }

  /** Forgets UIDs (removed from the index). */
  delete(uids: Iterable<number>): void {
    const gone = new Set(uids);
    let n = 0;
    for (let i = 0; i < this.#n; i++) {
      if (gone.has(this.#uids[i])) continue;
      this.#uids[n] = this.#uids[i];
      this.#seqs[n++] = this.#seqs[i];
    }
    this.#n = n;
  }

  /** The reply number that reported `uid` indexed, or undefined when it is not held. */
  seqOf(uid: number): number | undefined {
    let lo = 0, hi = this.#n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const u = this.#uids[mid];
      if (u === uid) return this.#seqs[mid];
      if (u < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  has(uid: number): boolean {
    return this.seqOf(uid) !== undefined;
  }

  /** Held UIDs not in `present` (ascending): messages that left the folder. */
  notIn(present: Uint32Array): number[] {
    const out: number[] = [];
    const held = this.uids, n = held.length, m = present.length;
    let k = 0;
    for (let i = 0; i < n; i++) {
      const uid = held[i];
      while (k < m && present[k] < uid) k++;
      if (k >= m || present[k] !== uid) out.push(uid);
    }
    return out;
  }

  /** UIDs of `uids` (ascending) from position `from` that are held neither here nor in `skipped`. */
  missingFrom(uids: Uint32Array, from: number, skipped: ReadonlySet<number>): number[] {
    const held = this.uids, n = held.length, m = uids.length, out: number[] = [];
    // The common case after a restart: the same list.
    if (from === 0 && n === m && equalArrays(held, uids)) return out;
    let c = 0;
    for (let k = from; k < m; k++) {
      const uid = uids[k];
      while (c < n && held[c] < uid) c++;
      if ((c >= n || held[c] !== uid) && !skipped.has(uid)) out.push(uid);
    }
    return out;
  }

  #reserve(cap: number): void {
    if (cap <= this.#uids.length) return;
    const size = Math.max(64, cap, this.#uids.length * 2);
    const uids = new Uint32Array(size), seqs = new Uint32Array(size);
    uids.set(this.#uids.subarray(0, this.#n));
    seqs.set(this.#seqs.subarray(0, this.#n));
    this.#uids = uids;
    this.#seqs = seqs;
  }
}

function distinct(sorted: Uint32Array): boolean {
  for (let i = 1; i < sorted.length; i++) if (sorted[i] === sorted[i - 1]) return false;
  return true;
}

function equalArrays(a: Uint32Array, b: Uint32Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}
