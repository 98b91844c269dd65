/**
 * POP3 message bytes (RFC 1939): the status line written into the response buffer, TOP's
 * cut of a message, and UIDL's unique ids. Dot-stuffing is src/message/dot_stuffing.ts.
 */
import { createHash } from "node:crypto";
import { isVisibleAscii } from "../message/controls.ts";
import { CR, headerEnd, LF } from "../message/header.ts";

/** Writes an ASCII string (a status line) into `buf` at `at`; returns the end offset. */
export function writeAscii(buf: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) buf[at++] = text.charCodeAt(i);
  return at;
}

/** Octets of "+OK " and " octets" CRLF around the size in RETR's status line. */
export const OK_OCTETS_FIXED = 4 + 9;

/** Digits of a non-negative integer in decimal. */
export function decimalLength(n: number): number {
  let digits = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    digits++;
  }
  return digits;
}

/**
 * Writes RETR's status line "+OK <size> octets" CRLF (RFC 1939 §7) at the start of `buf`
 * digit by digit; returns its length (OK_OCTETS_FIXED + decimalLength(size)).
 */
export function writeOctetsStatus(buf: Uint8Array, size: number): number {
  let at = writeAscii(buf, 0, "+OK ");
  at += decimalLength(size);
  const end = writeAscii(buf, at, " octets\r\n");
  let n = size;
  do {
    buf[--at] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  } while (n > 0);
  return end;
}

/**
 * RFC 1939 §7 TOP: the header, the blank line after it, and the first `lines` lines of
 * the body. A message without a blank line is all header and is returned whole.
 */
export function topOf(message: Uint8Array, lines: number): Uint8Array {
  const len = message.length;
  let end = headerEnd(message, 0, len);
  for (let n = 0; n < lines && end < len; n++) {
    const lf = message.indexOf(10, end);
    end = lf < 0 ? len : lf + 1;
  }
  return message.subarray(0, end);
}

/**
 * topOf over a message read in pieces (TOP of a large message, streamed from its file):
 * take() each piece in order and send what it returns; `done` once the cut is reached.
 * The same cut as topOf, wherever the pieces are split.
 */
export class TopCut {
  done = false;
  #linesLeft: number;
  #inHeader = true;
  /** In the header, the next octet begins a line. */
  #atLineStart = true;
  /** In the header, a line began with CR: blank if an LF follows. */
  #crAtLineStart = false;

  constructor(lines: number) {
    this.#linesLeft = lines;
  }

  take(piece: Uint8Array): Uint8Array {
    if (this.done) return piece.subarray(0, 0);
    const n = piece.length;
    let i = 0;
    while (i < n) {
      if (this.#inHeader) {
        if (this.#crAtLineStart || this.#atLineStart) {
          const b = piece[i];
          const blank = b === LF;
          if (this.#crAtLineStart) this.#crAtLineStart = false;
          else if (b === CR) {
            this.#crAtLineStart = true;
            this.#atLineStart = false;
            i++;
            continue;
          }
          this.#atLineStart = false;
          if (blank) {
            // The empty line ends the header (it is sent with it).
            i++;
            this.#inHeader = false;
            if (this.#linesLeft === 0) return this.#cut(piece, i);
            continue;
          }
        }
        const lf = piece.indexOf(LF, i);
        if (lf < 0) return piece;
        i = lf + 1;
        this.#atLineStart = true;
        continue;
      }
      const lf = piece.indexOf(LF, i);
      if (lf < 0) return piece;
      i = lf + 1;
      if (--this.#linesLeft === 0) return this.#cut(piece, i);
    }
    return piece;
  }

  #cut(piece: Uint8Array, at: number): Uint8Array {
    this.done = true;
    return piece.subarray(0, at);
  }
}

/**
 * RFC 1939 §7 UIDL: a unique-id is 1-70 characters in 0x21-0x7E and stays the same for
 * a message across sessions. The Maildir base name has that property (it never changes
 * when flags do); a base name that is too long or not printable (written by other
 * software, or a long host name) is replaced by its MD5, which is just as stable.
 */
export function uniqueIdFor(base: string): string {
  if (base.length >= 1 && base.length <= 70 && isVisibleAscii(base)) return base;
  return createHash("md5").update(base).digest("hex");
}
