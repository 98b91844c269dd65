/**
 * The one reader of RFC 5322 header sections (§2.2, §3.5): where a header ends, its
 * fields with their byte ranges, and their unfolded values. It works on offsets into the
 * message, so bodies are never copied and fields can be dropped or added without
 * touching the rest (header_rewrite.ts). IMAP (FETCH, SEARCH), the delivery pipeline
 * (Received count, autoresponder rules, rewriting) and DSNs all read headers through it.
 *
 * Every scan here is one pass over the bytes: hostile headers cost linear time.
 */
import { unfold } from "./fold.ts";

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
 * True when the line at `pos` (ending at `lf`, -1 for none before `end`) is empty: CRLF,
 * a bare LF, or a lone CR that ends the range.
 */
function isBlankLine(bytes: Uint8Array, pos: number, lf: number, end: number): boolean {
  if (lf === pos) return true;
  if (bytes[pos] !== CR) return false;
  return lf === pos + 1 || (lf < 0 && pos + 1 === end);
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
    if (isBlankLine(bytes, pos, lf, end)) return lf < 0 ? end : lf + 1;
    if (lf < 0) return end;
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
  /** End of the field including its final line ending (continuation lines included). */
  end: number;
}

/**
 * What a line that is neither a field nor a continuation means. "skip": it is passed over
 * (a reader of stored mail, as Dovecot; the header still ends at the empty line). "end":
 * the header ends there and that line begins the body, as most MTAs treat it; fields
 * must then also have an RFC 5322 §3.6.8 name (printable ASCII but ":").
 */
export type MalformedLine = "skip" | "end";

/**
 * Calls `fn` for each field of the header section [start, end) (stop with `false`).
 * Continuation lines (starting with SP or HTAB, RFC 5322 §2.2.3) belong to the field
 * before them. Returns where the fields end: the start of the empty line, of the line
 * that ended the header in "end" mode, or `end`.
 */
export function forEachField(
  bytes: Uint8Array,
  start: number,
  end: number,
  fn: (field: Field) => boolean | void,
  malformed: MalformedLine = "skip",
): number {
  let pos = start;
  let afterField = false; // a continuation line here belongs to a field we reported
  while (pos < end) {
    const lineEnd = nextLf(bytes, pos, end);
    if (isBlankLine(bytes, pos, lineEnd, end)) return pos;
    const first = bytes[pos];
    if (first === SP || first === HT) {
      // A continuation without a field before it (header start, or after a skipped line).
      if (malformed === "end" && !afterField) return pos;
      pos = lineEnd < 0 ? end : lineEnd + 1;
      continue;
    }
    let fieldEnd = lineEnd < 0 ? end : lineEnd + 1;
    while (fieldEnd < end && (bytes[fieldEnd] === SP || bytes[fieldEnd] === HT)) {
      const next = nextLf(bytes, fieldEnd, end);
      fieldEnd = next < 0 ? end : next + 1;
    }
    const firstLineEnd = lineEnd < 0 ? end : lineEnd;
    const nameEnd = malformed === "end"
      ? strictNameEnd(bytes, pos, firstLineEnd)
      : lenientNameEnd(bytes, pos, firstLineEnd);
    if (nameEnd < 0) {
      if (malformed === "end") return pos;
      afterField = false;
      pos = fieldEnd;
      continue;
    }
    let name = "";
    for (let k = pos; k < nameEnd; k++) {
      const c = bytes[k];
      name += String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c);
    }
    let colon = nameEnd;
    while (bytes[colon] !== COLON) colon++;
    if (fn({ name, start: pos, valueStart: colon + 1, end: fieldEnd }) === false) return pos;
    afterField = true;
    pos = fieldEnd;
  }
  return end;
}

/** Any text before the first colon of the line, trailing white space trimmed; -1: none. */
function lenientNameEnd(bytes: Uint8Array, pos: number, lineEnd: number): number {
  let colon = pos;
  while (colon < lineEnd && bytes[colon] !== COLON) colon++;
  if (colon >= lineEnd) return -1;
  let nameEnd = colon;
  while (nameEnd > pos && (bytes[nameEnd - 1] === SP || bytes[nameEnd - 1] === HT)) nameEnd--;
  return nameEnd;
}

/**
 * RFC 5322 §3.6.8 field-name (printable US-ASCII except ":"), then optional white space
 * before the colon (§4.5.8 obsolete syntax); -1 when the line is not a field.
 */
function strictNameEnd(bytes: Uint8Array, pos: number, lineEnd: number): number {
  let i = pos;
  while (i < lineEnd && bytes[i] !== COLON && bytes[i] > SP && bytes[i] < 127) i++;
  let j = i;
  while (j < lineEnd && (bytes[j] === SP || bytes[j] === HT)) j++;
  return i > pos && j < lineEnd && bytes[j] === COLON ? i : -1;
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
  return folded ? unfold(v) : v;
}

/**
 * The header of a whole message as a list of fields, for code that asks several
 * questions of one header (the delivery pipeline parses each message's header once).
 */
export interface HeaderBlock {
  bytes: Uint8Array;
  fields: Field[];
  /** Offset just after the last field (where fields can be appended). */
  end: number;
  /** Offset of the first body octet (after the empty line), or bytes.length. */
  bodyStart: number;
}

/**
 * Indexes the header of a message. It ends at the first empty line; a line that is
 * neither a field nor a continuation also ends it (that line then belongs to the body,
 * as most MTAs treat it). Works on CRLF and bare-LF text.
 */
export function parseHeaderBlock(bytes: Uint8Array): HeaderBlock {
  const fields: Field[] = [];
  const end = forEachField(bytes, 0, bytes.length, (f) => {
    fields.push(f);
  }, "end");
  // The empty line belongs to neither fields nor body; a line that ended the header
  // without one is the first line of the body.
  let bodyStart = end;
  const lf = nextLf(bytes, end, bytes.length);
  if (end < bytes.length && isBlankLine(bytes, end, lf, bytes.length)) {
    bodyStart = lf < 0 ? bytes.length : lf + 1;
  }
  return { bytes, fields, end, bodyStart };
}

/** Value of the first field with this name, or undefined. */
export function getHeader(block: HeaderBlock, name: string): string | undefined {
  const key = name.toLowerCase();
  const f = block.fields.find((x) => x.name === key);
  return f ? fieldValue(block.bytes, f) : undefined;
}

/** Values of every field with this name, in order. */
export function getHeaders(block: HeaderBlock, name: string): string[] {
  const key = name.toLowerCase();
  return block.fields.filter((f) => f.name === key).map((f) => fieldValue(block.bytes, f));
}

export function countHeaders(block: HeaderBlock, name: string): number {
  const key = name.toLowerCase();
  let n = 0;
  for (const f of block.fields) if (f.name === key) n++;
  return n;
}

/**
 * The header fields of a stored message through its last line ending, without the empty
 * line (as a DSN returns them, RFC 6522 §3). Lines that are not fields are kept: this is
 * the header as a reader of the message sees it, up to the empty line.
 */
export function headerFieldBytes(message: Uint8Array): Uint8Array {
  return message.subarray(0, forEachField(message, 0, message.length, () => {}));
}
