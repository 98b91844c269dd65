/**
 * Byte buffer that splits a stream into lines or fixed-size blocks. Pure (no I/O), so
 * the protocol framing can be unit-tested and fuzzed apart from sockets.
 */

export type LineResult =
  /** A complete line without its terminator; `bareLf` when it ended in LF alone. */
  | { kind: "line"; line: Uint8Array; bareLf: boolean }
  /** The line exceeded the limit; its bytes up to the terminator were discarded. */
  | { kind: "toolong" }
  /** More input is needed. */
  | { kind: "more" };

const CR = 13, LF = 10;
/** An empty buffer larger than this is replaced by a small one (shrinkIfEmpty). */
const SHRINK_ABOVE = 64 * 1024;
/**
 * From this size up to 1 MiB the buffer grows in steps of it instead of doubling: a
 * connection streaming a message holds up to its pause mark (128 KiB) and one 64 KiB read,
 * which doubling made 256 KiB; 100 such connections held 6 MiB more than they used.
 */
const GROW_STEP = 64 * 1024;

/** An empty buffer: what a LineBuffer holds before input has to be kept across reads. */
const EMPTY = new Uint8Array(0);
/** The least our own buffer grows to (it doubles from there). */
const MIN_OWN = 1024;

export class LineBuffer {
  /**
   * The buffered bytes are `#buf[#start, #end)`. `#buf` is either our own buffer (`#own`,
   * reused and compacted) or a chunk handed over by the reader (push(chunk, true)) and
   * kept as it came: when input arrives in whole lines, as commands do, nothing is copied
   * and no buffer is allocated per connection. An adopted chunk is never written to, so
   * lines returned from it can be views of it.
   */
  #buf: Uint8Array = EMPTY;
  /** Our own buffer: allocated when input must be kept across reads, then reused. */
  #own: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  /** Set while discarding the rest of an overlong line. */
  #discarding = false;

  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Octets of memory held (tests: how the buffer grows). */
  get capacity(): number {
    return this.#buf.length;
  }

  /**
   * Gives back the memory of a past burst (a long line, pipelined commands, a message)
   * when nothing is buffered: called when a session waits for its next command, not
   * while a stream passes through. An idle session then holds no buffer at all.
   */
  shrinkIfEmpty(): void {
    if (this.#start !== this.#end) return;
    if (this.#own.length > SHRINK_ABOVE) this.#own = EMPTY;
    this.#buf = this.#own;
    this.#start = this.#end = 0;
  }

  /**
   * Appends `chunk`. `handOver`: the caller gives the chunk away (a socket read that
   * nobody else holds or writes to): when nothing is buffered it is kept as it is
   * instead of copied.
   */
  push(chunk: Uint8Array, handOver = false): void {
    const n = chunk.length;
    if (n === 0) return;
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      if (handOver) {
        // A plain view: lines sliced from a node Buffer would be views, not copies.
        this.#buf = chunk.constructor === Uint8Array
          ? chunk
          : new Uint8Array(chunk.buffer, chunk.byteOffset, n);
        this.#end = n;
        return;
      }
      this.#buf = this.#own;
    } else if (this.#buf !== this.#own) {
      // The rest of an adopted chunk (part of a line) moves to our own buffer.
      const rest = this.#buf.subarray(this.#start, this.#end);
      this.#buf = this.#own;
      this.#start = this.#end = 0;
      this.#append(rest);
    }
    this.#append(chunk);
  }

  /** Copies `bytes` into our own buffer (`#buf` is `#own` here), growing it as needed. */
  #append(bytes: Uint8Array): void {
    const need = this.#end - this.#start + bytes.length;
    if (this.#end + bytes.length > this.#buf.length) {
      if (need <= this.#buf.length && this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const stepped = this.#buf.length >= GROW_STEP && need <= 16 * GROW_STEP;
        const bigger = new Uint8Array(
          stepped
            ? Math.ceil(need / GROW_STEP) * GROW_STEP
            : Math.max(need, this.#buf.length * 2, MIN_OWN),
        );
        bigger.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = this.#own = bigger;
      }
      this.#end -= this.#start;
      this.#start = 0;
    }
    this.#buf.set(bytes, this.#end);
    this.#end += bytes.length;
  }

  /** `n` bytes from the front: a view of an adopted chunk, else a copy. */
  #cut(n: number): Uint8Array {
    const from = this.#start;
    this.#start += n;
    return this.#buf === this.#own
      ? this.#buf.slice(from, from + n)
      : this.#buf.subarray(from, from + n);
  }

  /**
   * Next line, terminated by LF (CRLF or bare LF; the caller decides whether a bare
   * LF is acceptable). `max` counts the line without its terminator.
   */
  nextLine(max: number): LineResult {
    const view = this.#buf.subarray(this.#start, this.#end);
    const lf = view.indexOf(LF);
    if (this.#discarding) {
      if (lf < 0) {
        this.#start = this.#end;
        return { kind: "more" };
      }
      this.#start += lf + 1;
      this.#discarding = false;
      return { kind: "toolong" };
    }
    if (lf < 0) {
      if (view.length > max + 1) {
        this.#discarding = true;
        this.#start = this.#end;
      }
      return { kind: "more" };
    }
    const bareLf = lf === 0 || view[lf - 1] !== CR;
    const len = bareLf ? lf : lf - 1;
    if (len > max) {
      this.#start += lf + 1;
      return { kind: "toolong" };
    }
    const line = this.#cut(len);
    this.#start += lf + 1 - len;
    return { kind: "line", line, bareLf };
  }

  /** True when a whole line is buffered, so nextLine() will not ask for more input. */
  hasLine(): boolean {
    return this.#buf.subarray(this.#start, this.#end).includes(LF);
  }

  /** Exactly `n` bytes, or null until that many are buffered. */
  take(n: number): Uint8Array | null {
    if (this.#end - this.#start < n) return null;
    return this.#cut(n);
  }

  /** Up to `n` bytes that are already buffered (for streaming large literals). */
  takeSome(n: number): Uint8Array {
    return this.#cut(Math.min(n, this.#end - this.#start));
  }

  /** A view of the buffered bytes (valid until the next push); use with consume(). */
  peek(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Drops `n` bytes from the front (after peek(): streaming readers such as SMTP DATA). */
  consume(n: number): void {
    this.#start = Math.min(this.#end, this.#start + n);
  }

  /** Drops everything buffered (STARTTLS: no plaintext may cross into TLS). */
  clear(): void {
    this.#buf = this.#own;
    this.#start = this.#end = 0;
    this.#discarding = false;
  }
}
