/**
 * The MIME tree of a message (RFC 2045, RFC 2046, RFC 2231), with byte offsets for every
 * part, so IMAP FETCH can answer BODYSTRUCTURE, ENVELOPE and BODY[section] and SEARCH
 * can read the text parts without parsing again. Works on bytes; bodies are never decoded here. Never throws: malformed
 * input gives the structure a lenient reader (Dovecot's) would see.
 *
 * The result is plain data (objects, arrays, strings, numbers) so it can be cached and
 * written to JSON as it is.
 */
import { CR, fieldValue, forEachField, headerEnd, LF, nextLf } from "./header.ts";
import { hasBareLf } from "./line_endings.ts";
import {
  firstToken,
  param,
  type Params,
  parseContentType,
  parseDisposition,
  parseLanguage,
} from "./params.ts";

export type { Params } from "./params.ts";

/** One MIME entity: a message, an embedded message, or a body part. */
export interface BodyPart {
  /** Header section: [headerStart, bodyStart), including the blank line. */
  headerStart: number;
  /** Body: [bodyStart, bodyEnd); its length is the body size in octets. */
  bodyStart: number;
  bodyEnd: number;
  /** Lower-cased media type and subtype ("text", "plain"). */
  type: string;
  subtype: string;
  /** Content-Type parameters (names lower-cased; continuations joined; see params.ts). */
  params: Params;
  /** Content-Transfer-Encoding as written ("7bit" when absent). */
  encoding: string;
  /** Content-ID, Content-Description, Content-MD5, Content-Location (raw, unfolded). */
  id?: string;
  description?: string;
  md5?: string;
  location?: string;
  /** Content-Disposition type (lower-cased) and parameters. */
  disposition?: { type: string; params: Params };
  /** Content-Language tags. */
  language?: string[];
  /** Number of lines (LF count) of the body: text/* and message/rfc822|global only. */
  lines?: number;
  /** Children of a multipart (absent or empty when the boundary never occurs). */
  parts?: BodyPart[];
  /**
   * The encapsulated message of message/rfc822 or message/global (absent when its
   * encoding is not 7bit/8bit/binary: such a body is not parsed, RFC 2046 §5.2.1).
   */
  message?: BodyPart;
}

/** The parsed structure of one message. */
export interface MessageStructure {
  /** Format version, for caches written to disk. */
  version: 1;
  /** Size of the message in octets. */
  size: number;
  /**
   * The file uses bare LF line endings (written by other Maildir software): a header
   * line, the first body line or the last line ends in LF without CR. Offsets and sizes
   * are those of the bytes as they are; serve `toCrlf(bytes)` (line_endings.ts) and parse
   * that instead.
   */
  bareLf: boolean;
  /** The message itself: its header is the RFC 5322 header. */
  root: BodyPart;
}

/** Current format version of MessageStructure. */
export const STRUCTURE_VERSION = 1;

/** Nesting limit (multiparts and embedded messages); deeper content is left unparsed. */
const MAX_DEPTH = 60;
/** Limit on the number of parts of one message; later delimiters are ignored. */
const MAX_PARTS = 10_000;

const encoder = new TextEncoder();

interface Ctx {
  bytes: Uint8Array;
  parts: number;
}

/** Parses a message; never throws. */
export function parseMessage(bytes: Uint8Array): MessageStructure {
  const ctx: Ctx = { bytes, parts: 0 };
  const root = parsePart(ctx, 0, bytes.length, false, 0);
  return {
    version: STRUCTURE_VERSION,
    size: bytes.length,
    bareLf: hasBareLf(bytes, root.bodyStart),
    root,
  };
}

function countLines(bytes: Uint8Array, start: number, end: number): number {
  let n = 0;
  for (let i = nextLf(bytes, start, end); i >= 0; i = nextLf(bytes, i + 1, end)) n++;
  return n;
}

/** True when the encoding leaves an embedded message readable as it is. */
function identityEncoding(encoding: string): boolean {
  const e = encoding.toLowerCase();
  return e === "7bit" || e === "8bit" || e === "binary";
}

/**
 * Parses the entity in [start, end). `digest` makes message/rfc822 the default type
 * (RFC 2046 §5.1.5).
 */
function parsePart(ctx: Ctx, start: number, end: number, digest: boolean, depth: number): BodyPart {
  const { bytes } = ctx;
  ctx.parts++;
  const bodyStart = headerEnd(bytes, start, end);
  const part: BodyPart = {
    headerStart: start,
    bodyStart,
    bodyEnd: end,
    type: digest ? "message" : "text",
    subtype: digest ? "rfc822" : "plain",
    params: [],
    encoding: "7bit",
  };
  let seenType = false;
  forEachField(bytes, start, bodyStart, (f) => {
    if (!f.name.startsWith("content-")) return;
    // The first occurrence of each field counts.
    switch (f.name) {
      case "content-type": {
        if (seenType) return;
        seenType = true;
        const ct = parseContentType(fieldValue(bytes, f));
        if (ct) {
          part.type = ct.type;
          part.subtype = ct.subtype;
          part.params = ct.params;
        } else {
          // RFC 2045 §5.2: an invalid Content-Type means text/plain; charset=us-ascii.
          part.type = "text";
          part.subtype = "plain";
        }
        return;
      }
      case "content-transfer-encoding":
        if (part.encoding === "7bit") part.encoding = firstToken(fieldValue(bytes, f)) || "7bit";
        return;
      case "content-id":
        part.id ??= fieldValue(bytes, f);
        return;
      case "content-description":
        part.description ??= fieldValue(bytes, f);
        return;
      case "content-md5":
        part.md5 ??= fieldValue(bytes, f);
        return;
      case "content-location":
        // RFC 2557 §4.4.2: folding white space inside the URI is not part of it.
        part.location ??= fieldValue(bytes, f).replace(/[ \t]+/g, "");
        return;
      case "content-disposition": {
        if (part.disposition) return;
        const d = parseDisposition(fieldValue(bytes, f));
        if (d) part.disposition = { type: d.value, params: d.params };
        return;
      }
      case "content-language": {
        if (part.language) return;
        const tags = parseLanguage(fieldValue(bytes, f));
        if (tags.length > 0) part.language = tags;
        return;
      }
    }
  });
  if (part.type === "text" && param(part.params, "charset") === undefined) {
    // RFC 2045 §5.2 default, as servers report it.
    part.params.push(["charset", "us-ascii"]);
  }

  if (part.type === "multipart") {
    if (depth < MAX_DEPTH) {
      const boundary = param(part.params, "boundary");
      part.parts = boundary
        ? parseMultipart(ctx, bodyStart, end, boundary, part.subtype === "digest", depth + 1)
        : [];
    } else part.parts = [];
  } else if (part.type === "message" && (part.subtype === "rfc822" || part.subtype === "global")) {
    part.lines = countLines(bytes, bodyStart, end);
    if (depth < MAX_DEPTH && identityEncoding(part.encoding)) {
      part.message = parsePart(ctx, bodyStart, end, false, depth + 1);
    }
  } else if (part.type === "text") {
    part.lines = countLines(bytes, bodyStart, end);
  }
  return part;
}

const DASH = 45;
const SP = 32;
const HT = 9;

/**
 * Splits a multipart body at its delimiter lines (RFC 2046 §5.1.1). A delimiter is
 * "--boundary" at the start of a line followed by "--" (the close delimiter), white
 * space or the line end; the line ending before it belongs to the delimiter. Missing
 * close delimiter: the last part runs to the end. Preamble and epilogue are dropped.
 */
function parseMultipart(
  ctx: Ctx,
  start: number,
  end: number,
  boundary: string,
  digest: boolean,
  depth: number,
): BodyPart[] {
  const { bytes } = ctx;
  const delim = encoder.encode("--" + boundary);
  const n = delim.length;
  const parts: BodyPart[] = [];
  let partStart = -1; // -1: still in the preamble
  let line = start;
  while (line < end) {
    if (bytes[line] === DASH && line + n <= end && matches(bytes, line, delim)) {
      const after = line + n;
      const close = after + 1 < end && bytes[after] === DASH && bytes[after + 1] === DASH;
      const c = after < end ? bytes[after] : LF;
      if (close || c === CR || c === LF || c === SP || c === HT) {
        if (partStart >= 0) {
          let partEnd = line;
          if (partEnd > partStart && bytes[partEnd - 1] === LF) partEnd--;
          if (partEnd > partStart && bytes[partEnd - 1] === CR) partEnd--;
          parts.push(parsePart(ctx, partStart, partEnd, digest, depth));
        }
        const lf = nextLf(bytes, after, end);
        partStart = lf < 0 ? end : lf + 1;
        if (close || ctx.parts >= MAX_PARTS) {
          if (!close) parts.push(parsePart(ctx, partStart, end, digest, depth));
          return parts;
        }
        line = partStart;
        continue;
      }
    }
    const lf = nextLf(bytes, line, end);
    if (lf < 0) break;
    line = lf + 1;
  }
  if (partStart >= 0) parts.push(parsePart(ctx, partStart, end, digest, depth));
  return parts;
}

function matches(bytes: Uint8Array, at: number, needle: Uint8Array): boolean {
  for (let i = 0; i < needle.length; i++) if (bytes[at + i] !== needle[i]) return false;
  return true;
}
