/**
 * Byte buffer that splits a stream into lines or fixed-size blocks. Pure (no I/O), so
 * the protocol framing can be unit-tested and fuzzed apart from sockets.
 */

import { BlockPool } from "./block_pool.ts";

export type LineResult =
  /** A complete line without its terminator; `bareLf` when it ended in LF alone. */
  | { kind: "line"; line: Uint8Array; bareLf: boolean }
  /** The line exceeded the limit; its bytes up to the terminator were discarded. */
  | { kind: "toolong" }
  /** More input is needed. */
  | { kind: "more" };

const CR = 13, LF = 10;
/** Shared answers without a line: nothing to allocate per call (a session asks once per command). */
const MORE: LineResult = { kind: "more" };
const TOO_LONG: LineResult = { kind: "toolong" };
/**
 * A new buffer's size: V8 keeps typed arrays of up to 64 octets in its heap, without a
 * backing store to allocate (malloc), register and free, which a 1 KiB one cost every
 * connection (2.8-4.8 µs in the profiles, docs/performance.md); a command line fits, and
 * a message body grows it as it did the 1 KiB one.
 */
const INITIAL = 64;
/** An empty buffer larger than this is replaced by a small one (shrinkIfEmpty). */
const SHRINK_ABOVE = 64 * 1024;
/**
 * From this size up to 1 MiB the buffer grows in steps of it instead of doubling: a
 * connection streaming a message holds up to its pause mark (128 KiB) and one 64 KiB read,
 * which doubling made 256 KiB; 100 such connections held 6 MiB more than they used.
 */
const GROW_STEP = 64 * 1024;
/**
 * What a streaming connection holds at most: its pause mark (128 KiB) and one 64 KiB read.
 * Past 64 KiB the buffer goes straight to this size, not through 128 KiB: each step is
 * fresh memory, zeroed and faulted in page by page (slow on this VM), and a copy; 100
 * transfers starting at once (bench hostile many-25mib) paid it on the event loop.
 */
export const STREAM_HOLD = 3 * GROW_STEP;
/**
 * Buffers of STREAM_HOLD are taken from here and given back when the session waits for its
 * next command (block_pool.ts: a block filled before costs no page faults). 16 blocks, 3
 * MiB when all are free: the transfers reading at once (net/bulk_input.ts BULK_SLOTS, 8)
 * and as many handing over to the next.
 */
export const streamBlocks = new BlockPool(STREAM_HOLD, 16);

export class LineBuffer {
  // Small to start: thousands of idle IMAP sessions each hold one; it doubles on demand.
  #buf = new Uint8Array(INITIAL);
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
   * while a stream passes through.
   */
  shrinkIfEmpty(): void {
    if (this.#start === this.#end && this.#buf.length > SHRINK_ABOVE) {
      streamBlocks.give(this.#buf);
      this.#buf = new Uint8Array(INITIAL);
      this.#start = this.#end = 0;
    }
  }

  /** Appends the first `length` octets of `chunk` (all of it by default). */
  push(chunk: Uint8Array, length = chunk.length): void {
    const need = this.#end - this.#start + length;
    if (this.#end + length > this.#buf.length) {
      if (need <= this.#buf.length && this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const stepped = this.#buf.length >= GROW_STEP && need <= 16 * GROW_STEP;
        const size = stepped
          ? Math.max(STREAM_HOLD, Math.ceil(need / GROW_STEP) * GROW_STEP)
          : Math.max(need, this.#buf.length * 2);
        const bigger = size === STREAM_HOLD ? streamBlocks.take() : new Uint8Array(size);
        bigger.set(this.#buf.subarray(this.#start, this.#end));
        // Views of the old buffer are no longer valid (see nextLine): it may serve another.
        streamBlocks.give(this.#buf);
        this.#buf = bigger;
      }
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (length === chunk.length) this.#buf.set(chunk, this.#end);
    else if (length <= 16) {
      // A command line: a loop is cheaper than a view of the chunk to set() from.
      for (let i = 0; i < length; i++) this.#buf[this.#end + i] = chunk[i];
    } else this.#buf.set(chunk.subarray(0, length), this.#end);
    this.#end += length;
  }

  /**
   * Next line, terminated by LF (CRLF or bare LF; the caller decides whether a bare
   * LF is acceptable). `max` counts the line without its terminator. `borrow`: the line
   * is a view of the buffer instead of a copy, valid only until the next push (for a
   * caller that parses it at once, such as a POP3 command line).
   */
  nextLine(max: number, borrow = false): LineResult {
    // Empty (the usual state between lock-step commands): no view to make.
    if (this.#start === this.#end && !this.#discarding) return MORE;
    const view = this.#buf.subarray(this.#start, this.#end);
    const lf = view.indexOf(LF);
    if (this.#discarding) {
      if (lf < 0) {
        this.#start = this.#end;
        return MORE;
      }
      this.#start += lf + 1;
      this.#discarding = false;
      return TOO_LONG;
    }
    if (lf < 0) {
      if (view.length > max + 1) {
        this.#discarding = true;
        this.#start = this.#end;
      }
      return MORE;
    }
    const bareLf = lf === 0 || view[lf - 1] !== CR;
    const len = bareLf ? lf : lf - 1;
    this.#start += lf + 1;
    if (len > max) return TOO_LONG;
    return { kind: "line", line: borrow ? view.subarray(0, len) : view.slice(0, len), bareLf };
  }

  /** True when a whole line is buffered, so nextLine() will not ask for more input. */
  hasLine(): boolean {
    if (this.#start === this.#end) return false;
    return this.#buf.subarray(this.#start, this.#end).includes(LF);
  }

  /** Exactly `n` bytes, or null until that many are buffered. */
  take(n: number): Uint8Array | null {
    if (this.#end - this.#start < n) return null;
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** Up to `n` bytes that are already buffered (for streaming large literals). */
  takeSome(n: number): Uint8Array {
    const k = Math.min(n, this.#end - this.#start);
    const out = this.#buf.slice(this.#start, this.#start + k);
    this.#start += k;
    return out;
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
    this.#start = this.#end = 0;
    this.#discarding = false;
  }
}
