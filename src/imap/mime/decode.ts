/**
 * Decoding for SEARCH: RFC 2047 header words, transfer encodings (RFC 2045 §6.7, §6.8),
 * charsets (WHATWG TextDecoder labels), the searchable text of a message, and RFC 5322
 * dates.
 */
import { fieldValue, forEachField, text } from "./header.ts";
import { param } from "./params.ts";
import type { BodyPart, MessageStructure } from "./parse.ts";

const decoders = new Map<string, TextDecoder | null>();

/** A TextDecoder for a MIME charset label, or null when the charset is unknown. */
function decoderFor(charset: string): TextDecoder | null {
  const label = charset.trim().toLowerCase();
  let d = decoders.get(label);
  if (d !== undefined) return d;
  try {
    d = new TextDecoder(ALIASES[label] ?? label);
  } catch {
    d = null;
  }
  if (decoders.size < 200) decoders.set(label, d);
  return d;
}

// Labels seen in mail that WHATWG does not know under that name.
const ALIASES: Record<string, string> = {
  "cp936": "gbk",
  "utf_8": "utf-8",
  "unknown-8bit": "windows-1252",
  "x-unknown": "windows-1252",
};

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Bytes in a charset to text. A missing, unknown or us-ascii charset is read as UTF-8
 * when the bytes are valid UTF-8, else as windows-1252 (which accepts any byte).
 */
export function decodeCharset(data: Uint8Array, charset: string | undefined): string {
  // 8-bit text labelled us-ascii (often the RFC 2045 default for an unlabelled part)
  // is most likely UTF-8 today: treat it like an unknown charset.
  const label = charset?.trim().toLowerCase();
  const d = label && label !== "us-ascii" && label !== "ascii" ? decoderFor(label) : null;
  if (d) return d.decode(data);
  try {
    return strictUtf8.decode(data);
  } catch {
    return decoderFor("windows-1252")!.decode(data);
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * Quoted-printable to bytes (RFC 2045 §6.7). Soft line breaks are removed; a malformed
 * "=" sequence is kept as it is, as the RFC suggests.
 */
export function decodeQuotedPrintable(data: Uint8Array, header = false): Uint8Array {
  const out = new Uint8Array(data.length);
  let o = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (c === 61 /* = */) {
      // Soft line break: "=" then optional white space then CRLF or LF.
      let j = i + 1;
      while (j < data.length && (data[j] === 32 || data[j] === 9)) j++;
      if (j < data.length && data[j] === 13 && data[j + 1] === 10) {
        i = j + 1;
        continue;
      }
      if (j < data.length && data[j] === 10) {
        i = j;
        continue;
      }
      if (j >= data.length && !header) break;
      const h = hexValue(data[i + 1]);
      const l = i + 2 < data.length ? hexValue(data[i + 2]) : -1;
      if (h >= 0 && l >= 0) {
        out[o++] = h * 16 + l;
        i += 2;
        continue;
      }
      out[o++] = c;
    } else if (header && c === 95 /* _ */) out[o++] = 32;
    else out[o++] = c;
  }
  return out.subarray(0, o);
}

const B64 = new Int16Array(256).fill(-1);
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".split("").forEach(
  (c, i) => B64[c.charCodeAt(0)] = i,
);
B64["-".charCodeAt(0)] = 62; // base64url, seen in the wild
B64["_".charCodeAt(0)] = 63;

/** Base64 to bytes (RFC 2045 §6.8), skipping characters outside the alphabet. */
export function decodeBase64(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.floor(data.length * 3 / 4) + 3);
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (c === 61 /* = */) break;
    const v = B64[c];
    if (v < 0) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;
const utf8Encoder = new TextEncoder();

/** Bytes of a JS string whose characters are all < 256 (an encoded word's text). */
function latin1Bytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

/**
 * Decodes RFC 2047 encoded words in a header value and unfolds it. White space between
 * adjacent encoded words is dropped, and adjacent words in the same charset are decoded
 * together (a character may be split across them). Words with an unknown charset stay
 * as they are. Lenient: also decodes words not separated from other text.
 */
export function decodeHeaderValue(raw: string): string {
  const value = raw.replace(/\r?\n(?=[ \t])/g, "").replace(/\r?\n/g, "");
  if (!value.includes("=?")) return value;
  let out = "";
  let last = 0;
  // Pending bytes of adjacent words in one charset.
  let pending: { charset: string; chunks: Uint8Array[] } | null = null;
  const flush = () => {
    if (!pending) return;
    const size = pending.chunks.reduce((n, c) => n + c.length, 0);
    const all = new Uint8Array(size);
    let at = 0;
    for (const c of pending.chunks) {
      all.set(c, at);
      at += c.length;
    }
    out += decoderFor(pending.charset)!.decode(all);
    pending = null;
  };
  ENCODED_WORD.lastIndex = 0;
  for (let m = ENCODED_WORD.exec(value); m; m = ENCODED_WORD.exec(value)) {
    // RFC 2231 §5: charset may carry "*language".
    const charset = m[1].split("*")[0];
    const decoder = decoderFor(charset);
    if (!decoder) continue;
    const between = value.slice(last, m.index);
    const adjacent = last > 0 && pending !== null && /^[ \t]*$/.test(between);
    if (!adjacent) {
      flush();
      out += between;
    }
    const text = m[3];
    const data = m[2] === "b" || m[2] === "B"
      ? decodeBase64(latin1Bytes(text))
      : decodeQuotedPrintable(
        // Encoded text is ASCII; anything else is passed through as UTF-8.
        /^[ -~]*$/.test(text) ? latin1Bytes(text) : utf8Encoder.encode(text),
        true,
      );
    const p = pending as { charset: string; chunks: Uint8Array[] } | null;
    if (p && p.charset.toLowerCase() === charset.toLowerCase()) p.chunks.push(data);
    else {
      flush();
      pending = { charset, chunks: [data] };
    }
    last = m.index + m[0].length;
  }
  flush();
  return out + value.slice(last);
}

/** Decoded bytes of a part's body (transfer encoding undone, charset not applied). */
export function decodeBodyBytes(bytes: Uint8Array, part: BodyPart): Uint8Array {
  const body = bytes.subarray(part.bodyStart, part.bodyEnd);
  switch (part.encoding.toLowerCase()) {
    case "quoted-printable":
      return decodeQuotedPrintable(body);
    case "base64":
      return decodeBase64(body);
    default:
      return body;
  }
}

/**
 * The text of a part's body: transfer encoding undone and the charset parameter applied
 * (UTF-8 when missing or unknown). `structure` is accepted for symmetry with the others.
 */
export function decodeBodyText(
  bytes: Uint8Array,
  _structure: MessageStructure | null,
  part: BodyPart,
): string {
  return decodeCharset(decodeBodyBytes(bytes, part), param(part.params, "charset"));
}

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
};

/** Visible text of an HTML body (tags, scripts and styles dropped; common entities). */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, " ")
    .replace(/<!--[\s\S]*?-->/g, " ")
    .replace(/<[^>]*>/g, " ")
    .replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (all, e: string) => {
      if (e[0] === "#") {
        const cp = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1));
        return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : all;
      }
      return ENTITIES[e.toLowerCase()] ?? all;
    });
}

/** Decoded "Name: value" lines of a header section. */
function headerText(bytes: Uint8Array, part: BodyPart): string {
  let out = "";
  forEachField(bytes, part.headerStart, part.bodyStart, (f) => {
    const name = text(bytes, f.start, f.valueStart - 1).trim();
    out += `${name}: ${decodeHeaderValue(fieldValue(bytes, f))}\n`;
  });
  return out;
}

/** Appends the searchable body text of `part` (and its subparts) to `out`. */
function bodyText(bytes: Uint8Array, part: BodyPart, out: string[]): void {
  if (part.parts) {
    for (const p of part.parts) bodyText(bytes, p, out);
  } else if (part.message) {
    out.push(headerText(bytes, part.message));
    bodyText(bytes, part.message, out);
  } else if (part.type === "text") {
    const t = decodeBodyText(bytes, null, part);
    out.push(part.subtype === "html" ? htmlToText(t) : t);
  }
}

/**
 * Text for SEARCH BODY ("BODY": the decoded text parts, including those of embedded
 * messages with their headers) or SEARCH TEXT ("TEXT": the decoded header, then the
 * body text). Callers compare case-insensitively (e.g. after toLowerCase()).
 */
export function messageText(
  bytes: Uint8Array,
  structure: MessageStructure,
  which: "TEXT" | "BODY",
): string {
  const out: string[] = [];
  if (which === "TEXT") out.push(headerText(bytes, structure.root));
  bodyText(bytes, structure.root, out);
  return out.join("\n");
}

/**
 * Decoded, unfolded values of every `name` field of the message header (RFC 2047
 * decoded), in header order; [] when absent. For SEARCH HEADER/FROM/TO/CC/BCC/SUBJECT.
 */
export function headerValues(
  bytes: Uint8Array,
  structure: MessageStructure,
  name: string,
): string[] {
  const lower = name.toLowerCase();
  const values: string[] = [];
  const root = structure.root;
  forEachField(bytes, root.headerStart, root.bodyStart, (f) => {
    if (f.name === lower) values.push(decodeHeaderValue(fieldValue(bytes, f)));
  });
  return values;
}

/** An RFC 5322 date, as an instant and as the calendar day written in it. */
export interface ParsedDate {
  /** Milliseconds since the epoch (UTC). */
  time: number;
  /**
   * Midnight UTC of the day as written (the sender's local date): what SENTBEFORE,
   * SENTON and SENTSINCE compare, "disregarding time and timezone" (RFC 9051 §6.4.4).
   */
  day: number;
  /** Zone offset in minutes east of UTC as written (0 for unknown zones). */
  zone: number;
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
// RFC 5322 §4.3 obsolete zones; military zones are treated as UTC (their sign was
// historically inverted, so they carry no usable information).
const ZONES: Record<string, number> = {
  ut: 0,
  gmt: 0,
  z: 0,
  est: -300,
  edt: -240,
  cst: -360,
  cdt: -300,
  mst: -420,
  mdt: -360,
  pst: -480,
  pdt: -420,
};

/**
 * Parses an RFC 5322 date-time (`[Day,] DD Mon YYYY HH:MM[:SS] zone`, with obsolete
 * forms: comments, 2-digit years, named zones, missing seconds). Null when unusable.
 */
export function parseDate(value: string): ParsedDate | null {
  // Drop comments and the day name.
  const s = value.replace(/\([^)]*\)/g, " ").trim().replace(/^[a-z]+\s*,?\s*/i, "");
  const m =
    /^(\d{1,2})[\s-]+([a-z]{3})[a-z]*[\s-]+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([+-]\d{4}|[a-z]+)?/i
      .exec(s);
  if (!m) return null;
  const day = Number(m[1]);
  const month = MONTHS.indexOf(m[2].toLowerCase());
  let year = Number(m[3]);
  if (month < 0 || day < 1 || day > 31) return null;
  // RFC 5322 §4.3: two-digit years: 00-49 are 2000-2049, 50-99 are 1950-1999;
  // three-digit years add 1900.
  if (m[3].length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[3].length === 3) year += 1900;
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] ? Number(m[6]) : 0;
  if (hour > 23 || minute > 59 || second > 60) return null;
  let zone = 0;
  if (m[7]) {
    if (m[7][0] === "+" || m[7][0] === "-") {
      const z = Number(m[7].slice(1, 3)) * 60 + Number(m[7].slice(3, 5));
      zone = m[7][0] === "-" ? -z : z;
    } else zone = ZONES[m[7].toLowerCase()] ?? 0;
  }
  const dayUtc = Date.UTC(year, month, day);
  if (Number.isNaN(dayUtc)) return null;
  const time = Date.UTC(year, month, day, hour, minute, Math.min(second, 59)) - zone * 60_000;
  return { time, day: dayUtc, zone };
}
