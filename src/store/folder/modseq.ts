/**
 * A folder's mod-sequences (RFC 7162): HIGHESTMODSEQ, handing out the next one, the
 * recent flag changes views catch up from, and how far back expunges are known.
 *
 * A mod-sequence a client saw must never be handed out again, even after a crash that
 * lost the index: each one is first covered by the ceiling in the UID list (reserved
 * a block at a time), and the index is marked unclean before the first one it lacks.
 */
import type { IndexMeta } from "./index_db.ts";
import type { IndexLink } from "./index_link.ts";
import type { FolderUids } from "./uids.ts";

/** Mod-sequences reserved at a time in the UID list (one fsync per block). */
const MODSEQ_BLOCK = 1000;
/** Recent flag changes remembered for views catching up (more: a full comparison). */
const RING = 8192;
/** Expunged UIDs remembered for QRESYNC (older ones: every gap is reported). */
export const VANISHED_KEEP = 100_000;

export class ModSeqs {
  readonly #uids: FolderUids;
  readonly #index: IndexLink;
  #highest = 0;
  /** Expunges below this mod-sequence may be missing from the index. */
  #vanishedFloor = 0;
  #expungedSincePrune = 0;
  /** The index says the folder was closed cleanly; cleared before the first new modseq. */
  #markedClean = false;
  /** Recent flag changes (uid, modseq), oldest overwritten first. */
  readonly #ringUid = new Uint32Array(RING);
  readonly #ringSeq = new Float64Array(RING);
  #ringHead = 0;

  constructor(uids: FolderUids, index: IndexLink) {
    this.#uids = uids;
    this.#index = index;
  }

  /** RFC 7162 HIGHESTMODSEQ. */
  get highest(): number {
    return this.#highest;
  }

  /**
   * Starts from what the index recorded (meta), or from the UID list's ceiling with the
   * index started over.
   */
  load(meta: IndexMeta | null): void {
    const ceiling = this.#uids.modseqCeiling;
    if (meta) {
      // After an unclean stop the recorded HIGHESTMODSEQ may be older than what
      // clients saw: continue above the durable ceiling instead.
      this.#highest = meta.clean ? meta.highestModseq : Math.max(meta.highestModseq, ceiling);
      this.#vanishedFloor = meta.vanishedFloor;
    } else {
      this.#highest = ceiling;
      this.restartIndex();
    }
    // A mod-sequence is positive (RFC 7162 §7): an untouched folder reports 1.
    if (this.#highest < 1) this.#highest = 1;
    this.#markedClean = meta?.clean ?? false;
  }

  /**
   * The index starts over (a new UIDVALIDITY, or no usable index): it records the
   * current HIGHESTMODSEQ and knows no expunge before it.
   */
  restartIndex(): void {
    this.#vanishedFloor = this.#highest;
    this.#index.tx((ix) => ix.reset(this.#uids.validity, this.#highest));
  }

  /** The next mod-sequence; reserves a block in the UID list before crossing the ceiling. */
  async next(): Promise<number> {
    const next = this.#highest + 1;
    // Durably unclean before any client can see a mod-sequence the index lacks.
    if (this.#markedClean) this.#index.markUnclean(this.#highest);
    this.#markedClean = false;
    if (next > this.#uids.modseqCeiling) await this.#uids.raiseModseqCeiling(next, MODSEQ_BLOCK);
    this.#highest = next;
    return next;
  }

  /** Remembers that a message's flags changed at `modseq` (for changedSince). */
  logChange(uid: number, modseq: number): void {
    const i = this.#ringHead++ % RING;
    this.#ringUid[i] = uid;
    this.#ringSeq[i] = modseq;
  }

  /**
   * UIDs whose flags changed after mod-sequence `since` (newest first, may repeat), or
   * null when that is too long ago to know from memory (compare every message then).
   */
  changedSince(since: number): number[] | null {
    if (since >= this.#highest) return [];
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
    if (since < this.#vanishedFloor) return null;
    return this.#index.vanishedSince(since);
  }

  /**
   * Counts expunged messages; true when the index should now drop its oldest vanished
   * UIDs (every VANISHED_KEEP / 10 expunges, not on each).
   */
  noteExpunged(count: number): boolean {
    this.#expungedSincePrune += count;
    if (this.#expungedSincePrune <= VANISHED_KEEP / 10) return false;
    this.#expungedSincePrune = 0;
    return true;
  }

  /** The index dropped vanished UIDs up to `floor`. */
  raiseVanishedFloor(floor: number): void {
    this.#vanishedFloor = Math.max(this.#vanishedFloor, floor);
  }
}
