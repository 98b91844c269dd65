/**
 * A growable byte buffer: content being received (SMTP DATA and BDAT) collected
 * without a copy per piece. Pure, no I/O.
 */
export class ByteBuffer {
  #buf: Uint8Array;
  #len = 0;
  readonly #softMax: number;

  /**
   * `softMax`: growing by doubling stops there (more only when one append needs it).
   * `initial` may be the memory to use (a spool file's buffer shared with the thread that
   * writes it, store/spool_writer.ts): the content is collected in place until it needs
   * more room, then it moves to a buffer of its own.
   */
  constructor(initial: number | Uint8Array = 16384, softMax = Infinity) {
    this.#buf = typeof initial === "number" ? new Uint8Array(Math.max(256, initial)) : initial;
    this.#softMax = softMax;
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
      const bigger = new Uint8Array(
        Math.max(need, Math.min(this.#buf.length * 2, this.#softMax)),
      );
      bigger.set(this.#buf.subarray(0, this.#len));
      this.#buf = bigger;
    }
    this.#buf.set(bytes, this.#len);
    this.#len = need;
  }

  /** The content so far (a view; do not append while using it). */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  /** Empties the buffer, keeping its memory for the next content. */
  clear(): void {
    this.#len = 0;
  }
}
