/**
 * Line endings of message content. Mail is CRLF on the wire (RFC 5321 §2.3.8) and in
 * our Maildir; files written by other software may use bare LF, and a CR or LF that is
 * not part of a CRLF is refused on input (SMTP smuggling). Single passes over bytes.
 */
import { nextLf } from "./header.ts";

const CR = 13, LF = 10;

/** RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets including CRLF. */
export const MAX_TEXT_LINE = 998;

/**
 * Whether a stored message uses bare LF line endings, judged from the lines of its
 * header (up to `bodyStart`), the first body line and the last line: files are written
 * with one convention, and a full scan would cost as much as parsing the message.
 */
export function hasBareLf(bytes: Uint8Array, bodyStart: number): boolean {
  const bare = (i: number) => i === 0 || bytes[i - 1] !== CR;
  const stop = Math.min(bytes.length, bodyStart + 1);
  for (let i = nextLf(bytes, 0, bytes.length); i >= 0; i = nextLf(bytes, i + 1, bytes.length)) {
    if (bare(i)) return true;
    if (i >= stop) break;
  }
  const last = bytes.lastIndexOf(LF);
  return last >= 0 && bare(last);
}

/**
 * The message with every bare LF turned into CRLF (for files written by software that
 * stores LF line endings). Returns the same array when nothing changes.
 */
export function toCrlf(bytes: Uint8Array): Uint8Array {
  let bare = 0;
  for (let i = bytes.indexOf(LF); i >= 0; i = bytes.indexOf(LF, i + 1)) {
    if (i === 0 || bytes[i - 1] !== CR) bare++;
  }
  if (bare === 0) return bytes;
  const out = new Uint8Array(bytes.length + bare);
  let o = 0;
  let from = 0;
  for (let i = bytes.indexOf(LF); i >= 0; i = bytes.indexOf(LF, i + 1)) {
    if (i === 0 || bytes[i - 1] !== CR) {
      out.set(bytes.subarray(from, i), o);
      o += i - from;
      out[o++] = CR;
      from = i; // the LF is copied with the next run
    }
  }
  out.set(bytes.subarray(from), o);
  return out;
}

/**
 * toCrlf over content that arrives in pieces (a large IMAP APPEND literal written to a
 * file as it comes): each piece converted in order, an LF right after a CR that ended
 * the previous piece left alone. A piece without a bare LF comes back as it is.
 */
export class CrlfStream {
  #prevCr = false;

  push(piece: Uint8Array): Uint8Array {
    const n = piece.length;
    if (n === 0) return piece;
    const bare = (i: number) => (i === 0 ? !this.#prevCr : piece[i - 1] !== CR);
    let count = 0;
    for (let i = piece.indexOf(LF); i >= 0; i = piece.indexOf(LF, i + 1)) if (bare(i)) count++;
    let out = piece;
    if (count > 0) {
      out = new Uint8Array(n + count);
      let o = 0;
      let from = 0;
      for (let i = piece.indexOf(LF); i >= 0; i = piece.indexOf(LF, i + 1)) {
        if (!bare(i)) continue;
        out.set(piece.subarray(from, i), o);
        o += i - from;
        out[o++] = CR;
        from = i; // the LF is copied with the next run
      }
      out.set(piece.subarray(from), o);
    }
    this.#prevCr = piece[n - 1] === CR;
    return out;
  }
}

/** What is wrong with the lines of received content. */
export interface LineProblems {
  /** A LF not preceded by CR, or a CR not followed by LF (RFC 5321 §2.3.8). */
  bareNewline: boolean;
  /** A line over MAX_TEXT_LINE octets (RFC 5321 §4.5.3.1.6). */
  lineTooLong: boolean;
}

/**
 * Checks complete content (BDAT, where there is no dot-stuffing and no terminator) for
 * bare CR/LF and overlong lines. The last line may lack its CRLF.
 */
export function checkLines(data: Uint8Array): LineProblems {
  let bareNewline = false;
  let lineTooLong = false;
  let i = 0;
  let nextCr = -2; // cached position of the next CR at or after i (-1: none left)
  const n = data.length;
  while (i < n) {
    const lf = data.indexOf(LF, i);
    const end = lf < 0 ? n : lf;
    const crlf = lf > i && data[lf - 1] === CR;
    const contentEnd = crlf ? lf - 1 : end;
    if (nextCr !== -1 && nextCr < i) nextCr = data.indexOf(CR, i);
    if ((lf >= 0 && !crlf) || (nextCr >= 0 && nextCr < contentEnd)) bareNewline = true;
    if (contentEnd - i > MAX_TEXT_LINE) lineTooLong = true;
    if (lf < 0) break;
    i = lf + 1;
  }
  return { bareNewline, lineTooLong };
}

/**
 * checkLines over content that arrives in pieces (BDAT chunks written to a spool file as
 * they come): push() each piece in order, then end(). The same verdicts as checkLines
 * over the whole, a line split anywhere between pieces included.
 */
export class LineChecker implements LineProblems {
  bareNewline = false;
  lineTooLong = false;
  /** Octets of the current line so far (a CR at the end of the last piece included). */
  #lineLen = 0;
  /** The last octet pushed was a CR: bare unless the next piece starts with LF. */
  #crPending = false;

  push(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) return;
    if (this.#crPending && data[0] !== LF) this.bareNewline = true;
    let i = 0;
    while (i < n) {
      const lf = data.indexOf(LF, i);
      const end = lf < 0 ? n : lf;
      const cr = data.indexOf(CR, i);
      // A CR anywhere but right before the LF (or at the end of this piece) is bare.
      if (cr >= 0 && cr < end - 1) this.bareNewline = true;
      if (lf < 0) {
        this.#lineLen += n - i;
        this.#crPending = data[n - 1] === CR;
        if (this.#lineLen - (this.#crPending ? 1 : 0) > MAX_TEXT_LINE) this.lineTooLong = true;
        return;
      }
      const crlf = lf > i ? data[lf - 1] === CR : this.#crPending;
      if (!crlf) this.bareNewline = true;
      if (this.#lineLen + (lf - i) - (crlf ? 1 : 0) > MAX_TEXT_LINE) this.lineTooLong = true;
      this.#lineLen = 0;
      this.#crPending = false;
      i = lf + 1;
    }
  }

  /** The content ended: a CR left at its very end was bare. */
  end(): LineProblems {
    if (this.#crPending) {
      this.bareNewline = true;
      if (this.#lineLen > MAX_TEXT_LINE) this.lineTooLong = true; // the CR is content
    }
    return { bareNewline: this.bareNewline, lineTooLong: this.lineTooLong };
  }
}

/** True when some CR is not followed by LF (a bare CR, RFC 5321 §2.3.8). */
export function hasBareCr(data: Uint8Array): boolean {
  for (let i = data.indexOf(CR); i >= 0; i = data.indexOf(CR, i + 1)) {
    if (data[i + 1] !== LF) return true;
  }
  return false;
}

/**
 * Every line ending (CRLF, bare CR, bare LF) as CRLF: text the server writes into a
 * message of its own (a DSN quoting another message's header).
 */
export function crlfLines(bytes: Uint8Array): Uint8Array {
  let extra = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if ((b === CR && bytes[i + 1] !== LF) || (b === LF && (i === 0 || bytes[i - 1] !== CR))) {
      extra++;
    }
  }
  if (extra === 0) return bytes;
  const out = new Uint8Array(bytes.length + extra);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === CR && bytes[i + 1] === LF) {
      out[o++] = CR;
      out[o++] = LF;
      i++;
    } else if (b === CR || b === LF) {
      out[o++] = CR;
      out[o++] = LF;
    } else out[o++] = b;
  }
  return out;
}
