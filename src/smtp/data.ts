/**
 * Pure readers for message content: the DATA stream (RFC 5321 4.1.1.4, 4.5.2) and
 * BDAT chunks (RFC 3030). They work on bytes, never on strings.
 *
 * SMTP smuggling (2023): the end of DATA is only CRLF "." CRLF. A bare LF or bare CR
 * is never a line end here: it does not start a new line, so a "." after it neither
 * ends the data nor is unstuffed. Such a message is read to its real end and then
 * refused (550 5.6.0, like Postfix's smtpd_forbid_bare_newline = reject); see
 * docs/rfc-status.md "SMTP".
 */

import type { ByteBuffer } from "../message/byte_buffer.ts";
import { type LineProblems, MAX_TEXT_LINE } from "../message/line_endings.ts";

const CR = 13, LF = 10, DOT = 46;

/** Where a reader puts the content it has read (memory, or a spool file: incoming.ts). */
export interface ByteSink {
  append(bytes: Uint8Array): void;
}

/** What is wrong with received content, decided once it has been read to its end. */
export interface ContentProblems extends LineProblems {
  /** More than the size limit (RFC 1870): the excess was discarded, not stored. */
  tooLarge: boolean;
}

/** Partial lines shorter than this wait for their end in the connection buffer. */
const HOLD_LIMIT = 4096;

/**
 * Incremental DATA reader: feed() it the bytes received so far; it copies the
 * unstuffed content into `body`, stops right after the terminating CRLF.CRLF (so
 * pipelined commands that follow stay unread), and reports how much it consumed.
 * A tail it cannot decide yet (a lone "." or CR at the end) is left unconsumed.
 */
export class DataReader<Sink extends ByteSink = ByteBuffer> implements ContentProblems {
  readonly body: Sink;
  /** Octets of content (after unstuffing), counted even past the size limit. */
  size = 0;
  done = false;
  bareNewline = false;
  lineTooLong = false;
  tooLarge = false;
  readonly #maxSize: number;
  #atLineStart = true;
  #lineLen = 0;
  /** Set by #lineEnd(). */
  #bareCr = -1;

  /** `maxSize` 0 means no limit; the content goes to `body`. */
  constructor(maxSize: number, body: Sink) {
    this.#maxSize = maxSize;
    this.body = body;
  }

  /** Consumes a prefix of `input`; returns its length. Check `done` afterwards. */
  feed(input: Uint8Array): number {
    const n = input.length;
    let i = 0;
    // Content from `run` to `i` is stored in one piece when the run ends (a dot to remove,
    // the end of data or of the input): one append per slice of input, not per line.
    let run = 0;
    while (i < n && !this.done) {
      if (this.#atLineStart) {
        if (input[i] === DOT) {
          if (i + 1 >= n) return this.#store(input, run, i);
          if (input[i + 1] === CR) {
            if (i + 2 >= n) return this.#store(input, run, i);
            if (input[i + 2] === LF) {
              this.done = true; // RFC 5321 4.1.1.4: CRLF.CRLF ends the mail data
              this.#store(input, run, i);
              return i + 3;
            }
          }
          this.#store(input, run, i);
          i++; // RFC 5321 4.5.2: the first of a line's leading dots is removed
          run = i;
        }
        this.#atLineStart = false;
        this.#lineLen = 0;
      }
      const lf = this.#lineEnd(input, i);
      if (lf < 0) {
        // A partial line: hold it back until its end arrives, unless it is long.
        const end = input[n - 1] === CR ? n - 1 : n;
        if (end - i < HOLD_LIMIT && this.#lineLen + end - i <= MAX_TEXT_LINE) {
          return this.#store(input, run, i);
        }
        // A CR before `end` is followed by something else than LF: a bare CR.
        if (this.#bareCr >= 0 && this.#bareCr < end) this.bareNewline = true;
        this.#lineLen += end - i;
        if (this.#lineLen > MAX_TEXT_LINE) this.lineTooLong = true;
        return this.#store(input, run, end);
      }
      const crlf = lf > i && input[lf - 1] === CR;
      const contentEnd = crlf ? lf - 1 : lf;
      if (!crlf || this.#bareCr >= 0) this.bareNewline = true;
      this.#lineLen += contentEnd - i;
      if (this.#lineLen > MAX_TEXT_LINE) this.lineTooLong = true;
      i = lf + 1;
      // Only CRLF ends a line; after a bare LF we are still inside the same line.
      if (crlf) this.#atLineStart = true;
      else this.#lineLen += 1;
    }
    return this.#store(input, run, i);
  }

  /**
   * The first LF at or after `from` (-1: none), and in #bareCr the first CR before it that
   * is not followed by LF (-1: none). One loop over the octets, not indexOf() for LF and
   * again for CR per line: two native calls a line were most of the event loop's work
   * while messages stream in (bench hostile many-25mib: about 2.5x the time of this loop).
   */
  #lineEnd(input: Uint8Array, from: number): number {
    const n = input.length;
    this.#bareCr = -1;
    for (let j = from; j < n; j++) {
      const b = input[j];
      if (b > CR) continue; // neither CR nor LF: nearly every octet
      if (b === LF) return j;
      if (b !== CR) continue;
      if (j + 1 < n && input[j + 1] === LF) return j + 1;
      if (this.#bareCr < 0) this.#bareCr = j;
    }
    return -1;
  }

  /** Stores `input[from, to)` as content; returns `to` (where reading stopped). */
  #store(input: Uint8Array, from: number, to: number): number {
    const len = to - from;
    if (len === 0) return to;
    this.size += len;
    if (this.#maxSize > 0 && this.size > this.#maxSize) {
      this.tooLarge = true;
      return to;
    }
    this.body.append(input.subarray(from, to));
    return to;
  }
}
