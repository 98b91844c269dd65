/**
 * Serialization of IMAP values for responses (RFC 9051 §4, RFC 3501 §4).
 *
 * Strings built here are JavaScript strings that the writer sends as UTF-8, so the
 * length in a literal `{n}` is the UTF-8 byte length of its text. Pure: no I/O.
 */

const encoder = new TextEncoder();

/** The NIL atom (RFC 9051 §4.5). */
export const nil = "NIL";

/** Options for string serialization. */
export interface StringOptions {
  /**
   * The client enabled UTF8=ACCEPT or IMAP4rev2 (RFC 9051 §4.3, RFC 6855): UTF-8 text may
   * go in quoted strings. Otherwise any non-ASCII text is sent as a literal.
   */
  utf8?: boolean;
}

/** Quoted strings longer than this are sent as literals (clients' line buffers). */
const MAX_QUOTED = 1000;

// ATOM-CHAR: any CHAR except atom-specials: ( ) { SP CTL % * " \ ] (RFC 9051 §9).
// ASTRING-CHAR adds "]".
const ASTRING_ATOM = /^[!#$&'+,\-./0-9:;<=>?@A-Z[^_`a-z|}~\]]+$/;

/**
 * A quoted string: `"` and `\` are escaped (RFC 9051 §4.3 quoted-specials). The caller
 * guarantees that `s` has no CR or LF (use `string()` to choose); NUL is dropped.
 */
export function quoted(s: string): string {
  if (/[\r\n]/.test(s)) throw new TypeError("quoted string cannot hold CR or LF");
  return `"${s.replaceAll("\0", "").replace(/[\\"]/g, "\\$&")}"`;
}

/** Length in octets of `s` once UTF-8 encoded. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/**
 * A synchronizing literal (RFC 9051 §4.3): `{n}\r\n` followed by the data. A string gives
 * a string (n counts UTF-8 octets; NUL is dropped, literals cannot carry it); bytes give
 * bytes, copied as they are.
 */
export function literal(data: string): string;
export function literal(data: Uint8Array): Uint8Array;
export function literal(data: string | Uint8Array): string | Uint8Array {
  if (typeof data === "string") {
    const s = data.replaceAll("\0", "");
    return `{${utf8Length(s)}}\r\n${s}`;
  }
  const head = encoder.encode(`{${data.length}}\r\n`);
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  out.set(data, head.length);
  return out;
}

/** An IMAP `string` (RFC 9051 §4.3): quoted when it can be, a literal otherwise. */
export function string(s: string, options: StringOptions = {}): string {
  if (s.length <= MAX_QUOTED) {
    const utf8 = options.utf8 === true;
    let escape = false;
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 13 || c === 10 || (c >= 0x80 && !utf8)) break;
      if (c === 34 || c === 92 || c === 0) escape = true;
    }
    if (i === s.length) return escape ? quoted(s) : `"${s}"`;
  }
  return literal(s);
}

/** An `nstring`: NIL for null/undefined, else a string. */
export function nstring(s: string | null | undefined, options: StringOptions = {}): string {
  return s === null || s === undefined ? nil : string(s, options);
}

/**
 * An `astring`: a bare atom when every character is an ASTRING-CHAR (and it is not the
 * word NIL, which some clients would read as nil), else a string.
 */
export function astring(s: string, options: StringOptions = {}): string {
  if (ASTRING_ATOM.test(s) && s.toUpperCase() !== "NIL") return s;
  return string(s, options);
}

/** A parenthesized list of already serialized items; an empty list is `()`. */
export function list(items: readonly string[]): string {
  return `(${items.join(" ")})`;
}

/**
 * Accumulates response text and message bytes into one buffer for a single write,
 * e.g. `b.add("* 1 FETCH (BODY[] ").add(literal(bytes)).add(")\r\n").bytes()`.
 */
export class ResponseBuilder {
  private chunks: Uint8Array[] = [];
  private size = 0;

  /** Appends a string (UTF-8 encoded) or bytes (kept by reference until `bytes()`). */
  add(chunk: string | Uint8Array): this {
    const b = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    if (b.length > 0) {
      this.chunks.push(b);
      this.size += b.length;
    }
    return this;
  }

  /** Bytes accumulated so far. */
  get length(): number {
    return this.size;
  }

  /**
   * One Uint8Array with everything added; the builder is emptied. `alloc` makes the
   * buffer that several chunks are joined into (a fresh one by default).
   */
  bytes(alloc: (n: number) => Uint8Array = (n) => new Uint8Array(n)): Uint8Array {
    const out = this.chunks.length === 1 ? this.chunks[0] : alloc(this.size);
    if (this.chunks.length !== 1) {
      let at = 0;
      for (const c of this.chunks) {
        out.set(c, at);
        at += c.length;
      }
    }
    this.chunks = [];
    this.size = 0;
    return out;
  }
}

/** Writes `v` (a non-negative integer) in decimal at `at` of `out`; returns the end. */
export function writeDigits(out: Uint8Array, at: number, v: number): number {
  const first = at;
  do {
    out[at++] = 0x30 + v % 10;
    v = Math.floor(v / 10);
  } while (v > 0);
  for (let a = first, b = at - 1; a < b; a++, b--) {
    const t = out[a];
    out[a] = out[b];
    out[b] = t;
  }
  return at;
}

/**
 * `head`, then " n" for each of `values` (each plus `add`), then `tail`, as ASCII bytes:
 * a SEARCH response of 90,000 numbers (RFC 3501 §7.2.5) written digit by digit is a few
 * milliseconds, where joining the numbers as a string and encoding it cost four times that.
 * `head` and `tail` are ASCII; `values` are non-negative integers.
 */
export function numberLine(
  head: string,
  values: ArrayLike<number>,
  add: number,
  tail: string,
): Uint8Array {
  const out = new Uint8Array(head.length + values.length * 11 + tail.length);
  let at = 0;
  for (let k = 0; k < head.length; k++) out[at++] = head.charCodeAt(k);
  for (let j = 0; j < values.length; j++) {
    out[at++] = 0x20;
    at = writeDigits(out, at, values[j] + add);
  }
  for (let k = 0; k < tail.length; k++) out[at++] = tail.charCodeAt(k);
  return out.subarray(0, at);
}
