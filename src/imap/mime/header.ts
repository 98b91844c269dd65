/**
 * Byte-level scanning of RFC 5322 header sections: where a header ends, its fields, and
 * their unfolded values. Works on offsets into the message so bodies are never copied.
 */

export const LF = 10;
export const CR = 13;
const SP = 32;
const HT = 9;
const COLON = 58;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const legacy = new TextDecoder("windows-1252");

/**
 * Text of bytes [start, end): UTF-8 (RFC 6532), or windows-1252 when the bytes are not
 * valid UTF-8 (raw 8-bit headers from legacy mailers), so no byte is lost to U+FFFD.
 */
export function text(bytes: Uint8Array, start: number, end: number): string {
  if (end <= start) return "";
  // Short ASCII runs are the common case (names, tokens, values): skip the decoder.
  if (end - start <= 1024) {
    let i = start;
    while (i < end && bytes[i] < 0x80) i++;
    if (i === end) {
      if (end - start <= 16) {
        let s = "";
        for (let k = start; k < end; k++) s += String.fromCharCode(bytes[k]);
        return s;
      }
      return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
    }
  }
  const raw = bytes.subarray(start, end);
  try {
    return utf8.decode(raw);
  } catch {
    return legacy.decode(raw);
  }
}

/** Index of the next LF in [from, end), or -1. */
export function nextLf(bytes: Uint8Array, from: number, end: number): number {
  // Mail lines are short: a plain loop beats a call into the indexOf builtin for the
  // first bytes; long runs (binary, unfolded HTML) go to indexOf.
  const stop = Math.min(end, from + 128);
  for (let i = from; i < stop; i++) if (bytes[i] === LF) return i;
  if (stop >= end) return -1;
  const i = bytes.indexOf(LF, stop);
  return i < 0 || i >= end ? -1 : i;
}

/**
 * Where the body starts for a header section beginning at `start`: just after the first
 * empty line (CRLF or bare LF), so the blank line belongs to the header (RFC 9051 §6.4.5
 * HEADER). Without an empty line the whole range is header and the body is empty.
 */
export function headerEnd(bytes: Uint8Array, start: number, end: number): number {
  let pos = start;
  while (pos < end) {
    const lf = nextLf(bytes, pos, end);
    if (lf < 0) return end;
    if (lf === pos || (lf === pos + 1 && bytes[pos] === CR)) return lf + 1;
    pos = lf + 1;
  }
  return end;
}

/** One header field located in the message bytes. */
export interface Field {
  /** Lower-cased field name. */
  name: string;
  /** Start of the field line. */
  start: number;
  /** First byte after the colon. */
  valueStart: number;
  /** End of the field including its final line ending. */
  end: number;
}

/**
 * Calls `fn` for each field of the header section [start, end) (stop with `false`).
 * Continuation lines (starting with SP or HTAB) belong to the field before them; lines
 * without a colon are skipped, as is the blank line that ends the header.
 */
export function forEachField(
  bytes: Uint8Array,
  start: number,
  end: number,
  fn: (field: Field) => boolean | void,
): void {
  let pos = start;
  while (pos < end) {
    const lineEnd = nextLf(bytes, pos, end);
    let fieldEnd = lineEnd < 0 ? end : lineEnd + 1;
    // Blank line: end of the header.
    if (fieldEnd - pos <= 2 && (bytes[pos] === LF || bytes[pos] === CR)) return;
    // Extend over continuation lines.
    while (fieldEnd < end && (bytes[fieldEnd] === SP || bytes[fieldEnd] === HT)) {
      const next = nextLf(bytes, fieldEnd, end);
      fieldEnd = next < 0 ? end : next + 1;
    }
    let colon = pos;
    const firstLineEnd = lineEnd < 0 ? end : lineEnd;
    while (colon < firstLineEnd && bytes[colon] !== COLON) colon++;
    if (colon < firstLineEnd && bytes[pos] !== SP && bytes[pos] !== HT) {
      let nameEnd = colon;
      while (nameEnd > pos && (bytes[nameEnd - 1] === SP || bytes[nameEnd - 1] === HT)) nameEnd--;
      let name = "";
      for (let k = pos; k < nameEnd; k++) {
        const c = bytes[k];
        name += String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c);
      }
      if (fn({ name, start: pos, valueStart: colon + 1, end: fieldEnd }) === false) return;
    }
    pos = fieldEnd;
  }
}

/**
 * The unfolded value of a field (RFC 5322 §2.2.3: CRLF removed, the white space after it
 * kept), trimmed at both ends.
 */
export function fieldValue(bytes: Uint8Array, field: Field): string {
  let start = field.valueStart;
  let end = field.end;
  while (start < end && (bytes[start] === SP || bytes[start] === HT)) start++;
  while (end > start && bytes[end - 1] <= SP) end--; // line ending and trailing blanks
  let folded = false;
  for (let i = start; i < end; i++) {
    if (bytes[i] === LF || bytes[i] === CR) {
      folded = true;
      break;
    }
  }
  const v = text(bytes, start, end);
  return folded ? v.replace(/[\r\n]/g, "") : v;
}
