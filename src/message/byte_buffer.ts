/**
 * A growable byte buffer: content being received (SMTP DATA and BDAT) collected
 * without a copy per piece. Pure, no I/O.
 */
/** What a buffer made with `initial` 0 holds until its first append. */
const NONE = new Uint8Array(0);
/**
 * Room beyond the first append of such a buffer: a message that came in one read is
 * appended whole, and the end of data or the rest of a line may follow in the next.
 */
const FIRST_SLACK = 1024;

/** Blocks of `size` octets kept for reuse (net/block_pool.ts BlockPool). */
export interface Blocks {
  readonly size: number;
  take(): Uint8Array;
  give(block: Uint8Array): void;
}

export class ByteBuffer {
  #buf: Uint8Array;
  #len = 0;
  readonly #softMax: number;
  readonly #blocks: Blocks | null;

  /**
   * `softMax`: growing by doubling stops there (more only when one append needs it).
   * `initial` 0: no memory until the first append, which takes what it needs (a
   * message's content without a SIZE hint: a fixed 16 KiB cost more to allocate than a
   * 4 KiB message needs, docs/performance.md). `initial` may be the memory to use (a
   * spool file's buffer shared with the thread that writes it, store/spool_writer.ts):
   * the content is collected in place until it needs more room, then it moves to a
   * buffer of its own. `blocks`: growing past the first allocation takes one of these
   * blocks when it is large enough (memory touched before: no page faults to fill it),
   * and release() gives it back.
   */
  constructor(initial: number | Uint8Array = 16384, softMax = Infinity, blocks?: Blocks) {
    this.#buf = typeof initial !== "number"
      ? initial
      : initial === 0
      ? NONE
      : new Uint8Array(Math.max(256, initial));
    this.#softMax = softMax;
    this.#blocks = blocks ?? null;
  }

  /** Whether the content is still in `memory` (the buffer given to the constructor). */
  isIn(memory: Uint8Array): boolean {
    return this.#buf === memory;
  }

  get length(): number {
    return this.#len;
  }

  append(bytes: Uint8Array): void {
    const need = this.#len + bytes.length;
    if (need > this.#buf.length) {
      const blocks = this.#blocks;
      const bigger = this.#buf !== NONE && blocks !== null && need <= blocks.size
        ? blocks.take()
        : new Uint8Array(
          this.#buf === NONE
            ? Math.min(need + FIRST_SLACK, Math.max(need, this.#softMax))
            : Math.max(need, Math.min(this.#buf.length * 2, this.#softMax)),
        );
      bigger.set(this.#buf.subarray(0, this.#len));
      blocks?.give(this.#buf); // taken only if it is one of the blocks
      this.#buf = bigger;
    }
    this.#buf.set(bytes, this.#len);
    this.#len = need;
  }

  /** The content so far (a view; do not append while using it). */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  /**
   * Empties the buffer and gives its memory back to the blocks, when it is one of them;
   * nothing of it (bytes() included) may be used any more.
   */
  release(): void {
    this.#blocks?.give(this.#buf);
    this.#buf = NONE;
    this.#len = 0;
  }

  /**
   * The content, in memory that no block shares, and the buffer empty: content in a block
   * is copied out (its exact size) and the block goes back to the others; otherwise the
   * content stays where it is (a view). For content kept after its transfer (a message
   * received in memory, then queued and delivered): a block it held would stay out of the
   * pool until the collector found it, and every later message would take a fresh one
   * (docs/performance.md, branch blocks). Copying here, before anyone else has the bytes,
   * means no other holder of them needs to be known.
   */
  detach(): Uint8Array {
    const blocks = this.#blocks;
    const content = this.#buf.subarray(0, this.#len);
    const inBlock = blocks !== null && this.#buf.length === blocks.size;
    const own = inBlock ? content.slice() : content;
    if (inBlock) blocks.give(this.#buf);
    this.#buf = NONE;
    this.#len = 0;
    return own;
  }

  /** Empties the buffer, keeping its memory for the next content. */
  clear(): void {
    this.#len = 0;
  }
}
