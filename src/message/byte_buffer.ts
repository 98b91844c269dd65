/**
 * A growable byte buffer: content being received (SMTP DATA and BDAT) collected
 * without a copy per piece. Pure, no I/O.
 */
export class ByteBuffer {
  #buf: Uint8Array;
  #len = 0;
  readonly #softMax: number;

  /** `softMax`: growing by doubling stops there (more only when one append needs it). */
  constructor(initial = 16384, softMax = Infinity) {
    this.#buf = new Uint8Array(Math.max(256, initial));
    this.#softMax = softMax;
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
