/**
 * A small, pure reader of the RFC 5322 header block: where it ends, its fields with
 * their raw byte ranges (so fields can be dropped or headers added without touching
 * the rest of the message), unfolded values, and RFC 2047 encoded-word decoding.
 *
 * The pipeline parses each message's header block once (SPEC performance note);
 * every later question (Received count, List-*, Precedence, Subject) reads this index.
 */

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;

export interface HeaderField {
  /** Field name as written. */
  name: string;
  /** Lower-cased name, for lookups. */
  key: string;
  /** Raw bytes [start, end) of the field, continuation lines and line end included. */
  start: number;
  end: number;
}

export interface HeaderBlock {
  bytes: Uint8Array;
  fields: HeaderField[];
  /** Offset just after the last field (where fields can be appended). */
  end: number;
  /** Offset of the first body octet (after the empty line), or bytes.length. */
  bodyStart: number;
}

/** Offset of the next LF at or after `from`, or -1. */
function nextLf(bytes: Uint8Array, from: number): number {
  const i = bytes.indexOf(LF, from);
  return i;
}

/** RFC 5322 2.2 field-name: printable US-ASCII except ":" (33-126). */
function fieldNameEnd(bytes: Uint8Array, start: number, lineEnd: number): number {
  let i = start;
  while (i < lineEnd && bytes[i] !== COLON && bytes[i] > SP && bytes[i] < 127) i++;
  // Tolerate "Name :" (obsolete syntax, RFC 5322 4.5.8: WSP before the colon).
  let j = i;
  while (j < lineEnd && (bytes[j] === SP || bytes[j] === HTAB)) j++;
  return i > start && bytes[j] === COLON ? i : -1;
}

/**
 * Indexes the header block. It ends at the first empty line; a line that is neither
 * a field nor a continuation also ends it (that line then belongs to the body, as
 * most MTAs treat it). Works on CRLF and bare-LF text.
 */
export function parseHeaderBlock(bytes: Uint8Array): HeaderBlock {
  const fields: HeaderField[] = [];
  let pos = 0;
  let current: HeaderField | null = null;
  while (pos < bytes.length) {
    const lf = nextLf(bytes, pos);
    const lineEnd = lf < 0 ? bytes.length : lf + 1;
    const first = bytes[pos];
    if (first === CR && (bytes[pos + 1] === LF || pos + 1 === bytes.length) || first === LF) {
      return { bytes, fields, end: pos, bodyStart: lineEnd };
    }
    if ((first === SP || first === HTAB) && current) {
      current.end = lineEnd; // RFC 5322 2.2.3 folded continuation
    } else {
      const nameEnd = fieldNameEnd(bytes, pos, lineEnd);
      if (nameEnd < 0) return { bytes, fields, end: pos, bodyStart: pos };
      const name = latin1(bytes, pos, nameEnd);
      current = { name, key: name.toLowerCase(), start: pos, end: lineEnd };
      fields.push(current);
    }
    pos = lineEnd;
  }
  return { bytes, fields, end: pos, bodyStart: pos };
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** The unfolded value of a field (RFC 5322 2.2.3), without leading/trailing WSP. */
export function fieldValue(block: HeaderBlock, field: HeaderField): string {
  const raw = block.bytes.subarray(field.start, field.end);
  const colon = raw.indexOf(COLON);
  // Header bytes may be UTF-8 (RFC 6532); other 8-bit bytes decode as U+FFFD.
  const text = utf8.decode(raw.subarray(colon + 1));
  return text.replace(/\r?\n(?=[ \t])/g, "").replace(/\r?\n$/, "").trim();
}

/** Value of the first field with this name, or undefined. */
export function getHeader(block: HeaderBlock, name: string): string | undefined {
  const key = name.toLowerCase();
  const f = block.fields.find((x) => x.key === key);
  return f ? fieldValue(block, f) : undefined;
}

/** Values of every field with this name, in order. */
export function getHeaders(block: HeaderBlock, name: string): string[] {
  const key = name.toLowerCase();
  return block.fields.filter((f) => f.key === key).map((f) => fieldValue(block, f));
}

export function countHeaders(block: HeaderBlock, name: string): number {
  const key = name.toLowerCase();
  let n = 0;
  for (const f of block.fields) if (f.key === key) n++;
  return n;
}

/** The raw header block bytes (fields only, without the separating empty line). */
export function headerBytes(block: HeaderBlock): Uint8Array {
  return block.bytes.subarray(0, block.end);
}

/**
 * The message with the fields named in `drop` removed and `extra` (complete header
 * lines, CRLF-terminated) added at the end of the header block. Trace fields at the
 * top keep their order (RFC 5322 3.6.7).
 */
export function rewriteHeaders(
  block: HeaderBlock,
  drop: readonly string[],
  extra: Uint8Array,
): Uint8Array {
  const doomed = new Set(drop.map((d) => d.toLowerCase()));
  const parts: Uint8Array[] = [];
  let from = 0;
  for (const f of block.fields) {
    if (!doomed.has(f.key)) continue;
    parts.push(block.bytes.subarray(from, f.start));
    from = f.end;
  }
  parts.push(block.bytes.subarray(from, block.end), extra);
  if (block.bodyStart === block.end && block.end === block.bytes.length) {
    parts.push(new TextEncoder().encode("\r\n")); // no body and no separator: add one
  }
  parts.push(block.bytes.subarray(block.end));
  return concatBytes(parts);
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

// ---- RFC 2047 encoded words ----

const ENCODED_WORD = /=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=/g;

function decodeWord(charset: string, encoding: string, text: string): string | null {
  let bytes: Uint8Array;
  if (encoding === "B" || encoding === "b") {
    try {
      const bin = atob(text.replace(/=+$/, "").padEnd(Math.ceil(text.length / 4) * 4, "="));
      bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    } catch {
      return null;
    }
  } else {
    // RFC 2047 4.2: "_" is space, =XX is an octet.
    const out: number[] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c === "_") out.push(SP);
      else if (c === "=" && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
        out.push(parseInt(text.slice(i + 1, i + 3), 16));
        i += 2;
      } else out.push(c.charCodeAt(0) & 0xff);
    }
    bytes = Uint8Array.from(out);
  }
  try {
    return new TextDecoder(charset.toLowerCase(), { fatal: false }).decode(bytes);
  } catch {
    return null; // unknown charset: leave the word as written
  }
}

/**
 * Decodes RFC 2047 encoded-words in an unstructured value (Subject). Whitespace
 * between two adjacent encoded-words is dropped (RFC 2047 6.2).
 */
export function decodeEncodedWords(value: string): string {
  let out = "";
  let last = 0;
  let prevWasWord = false;
  for (const m of value.matchAll(ENCODED_WORD)) {
    const between = value.slice(last, m.index);
    const decoded = decodeWord(m[1], m[2], m[3]);
    if (decoded === null) {
      out += between + m[0];
      prevWasWord = false;
    } else {
      out += prevWasWord && /^[ \t]*$/.test(between) ? "" : between;
      out += decoded;
      prevWasWord = true;
    }
    last = m.index! + m[0].length;
  }
  return out + value.slice(last);
}

/**
 * Encodes an unstructured value for a header (RFC 2047): unchanged when it is
 * printable ASCII, else UTF-8 "B" encoded-words of at most 75 characters, split
 * on character boundaries and joined by folding whitespace.
 */
export function encodeUnstructured(value: string): string {
  if (/^[\x20-\x7e]*$/.test(value) && !value.includes("=?")) return value;
  const enc = new TextEncoder();
  const words: string[] = [];
  let chunk = "";
  const flush = () => {
    if (chunk) words.push(`=?UTF-8?B?${btoa(String.fromCharCode(...enc.encode(chunk)))}?=`);
    chunk = "";
  };
  for (const ch of value) {
    // 45 octets of UTF-8 become 60 base64 characters: 12 + 60 = 72 <= 75.
    if (enc.encode(chunk + ch).length > 45) flush();
    chunk += ch;
  }
  flush();
  return words.join("\r\n ");
}
