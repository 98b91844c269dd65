/**
 * Message bytes on the wire (RFC 1939 §3): a multi-line response is the status line,
 * the message with every line that begins with "." given one more ".", and a final
 * ".CRLF". Messages are stored with CRLF line endings, so the fast path is one scan for
 * LFs and one copy; files written by other Maildir software with bare LFs are repaired
 * to CRLF on the way out. Pure functions over bytes.
 */
import { createHash } from "node:crypto";

const CR = 13, LF = 10, DOT = 46;
const TERMINATOR = new Uint8Array([DOT, CR, LF]);

/**
 * One buffer holding `status`, the dot-stuffed `body` (CRLF-terminated lines) and the
 * terminating ".CRLF", ready for a single socket write.
 */
export function encodeMultiline(status: Uint8Array, body: Uint8Array): Uint8Array {
  const len = body.length;
  // One scan over the line ends: where a "." must be inserted, and whether any line
  // ends in a bare LF (then the slower line-by-line repair runs instead).
  const stuffAt: number[] = [];
  if (len > 0 && body[0] === DOT) stuffAt.push(0);
  let bareLf = false;
  for (let lf = body.indexOf(LF); lf >= 0; lf = body.indexOf(LF, lf + 1)) {
    if (lf === 0 || body[lf - 1] !== CR) bareLf = true;
    if (lf + 1 < len && body[lf + 1] === DOT) stuffAt.push(lf + 1);
  }
  // RFC 1939 §3: the terminator must start a line, so an unterminated last line gets CRLF.
  const needsFinalCrlf = len > 0 && body[len - 1] !== LF;
  if (bareLf) return encodeRepaired(status, body, needsFinalCrlf);
  const out = new Uint8Array(
    status.length + len + stuffAt.length + (needsFinalCrlf ? 2 : 0) + TERMINATOR.length,
  );
  out.set(status, 0);
  let at = status.length;
  let from = 0;
  // Copy the stretches between inserted dots: few segments, not one per line.
  for (const pos of stuffAt) {
    out.set(body.subarray(from, pos), at);
    at += pos - from;
    out[at++] = DOT;
    from = pos;
  }
  out.set(from === 0 ? body : body.subarray(from), at);
  at += len - from;
  if (needsFinalCrlf) {
    out[at++] = CR;
    out[at++] = LF;
  }
  out.set(TERMINATOR, at);
  return out;
}

/** The general path for files with bare LFs (other Maildir software): line by line. */
function encodeRepaired(status: Uint8Array, body: Uint8Array, needsFinalCrlf: boolean): Uint8Array {
  const len = body.length;
  // Worst case: every byte a line of its own that gains a "." and a CR.
  const out = new Uint8Array(status.length + 3 * len + 2 + TERMINATOR.length);
  out.set(status, 0);
  let at = status.length;
  let start = 0; // start of the current line
  while (start < len) {
    if (body[start] === DOT) out[at++] = DOT;
    const lf = body.indexOf(LF, start);
    if (lf < 0) {
      out.set(body.subarray(start), at);
      at += len - start;
      break;
    }
    const lineEnd = lf > start && body[lf - 1] === CR ? lf - 1 : lf;
    out.set(body.subarray(start, lineEnd), at);
    at += lineEnd - start;
    out[at++] = CR;
    out[at++] = LF;
    start = lf + 1;
  }
  if (needsFinalCrlf) {
    out[at++] = CR;
    out[at++] = LF;
  }
  out.set(TERMINATOR, at);
  return out.subarray(0, at + TERMINATOR.length);
}

/**
 * RFC 1939 §7 TOP: the header, the blank line after it, and the first `lines` lines of
 * the body. A message without a blank line is all header and is returned whole.
 */
export function topOf(message: Uint8Array, lines: number): Uint8Array {
  const len = message.length;
  let pos = 0;
  let bodyStart = -1;
  while (pos < len) {
    const lf = message.indexOf(LF, pos);
    if (lf < 0) break;
    const empty = lf === pos || (lf === pos + 1 && message[pos] === CR);
    pos = lf + 1;
    if (empty) {
      bodyStart = pos;
      break;
    }
  }
  if (bodyStart < 0) return message;
  let end = bodyStart;
  for (let n = 0; n < lines && end < len; n++) {
    const lf = message.indexOf(LF, end);
    end = lf < 0 ? len : lf + 1;
  }
  return message.subarray(0, end);
}

/**
 * RFC 1939 §7 UIDL: a unique-id is 1-70 characters in 0x21-0x7E and stays the same for
 * a message across sessions. The Maildir base name has that property (it never changes
 * when flags do); a base name that is too long or not printable (written by other
 * software, or a long host name) is replaced by its MD5, which is just as stable.
 */
export function uniqueIdFor(base: string): string {
  if (/^[\x21-\x7e]{1,70}$/.test(base)) return base;
  return createHash("md5").update(base).digest("hex");
}
