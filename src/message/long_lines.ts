/**
 * Messages with text lines over 998 octets (SPEC §6: accepted and stored unchanged) made
 * fit for a next hop that does not offer CHUNKING (RFC 5321 §4.5.3.1.6 limits DATA lines
 * to 1000 octets with CRLF):
 *
 * - header lines are folded at white space (RFC 5322 §2.2.3: unfolding gives the same
 *   field back, and DKIM's relaxed header canonicalization is unchanged by it);
 * - body parts with long lines are re-encoded as quoted-printable (RFC 2045 §6.7),
 *   base64 parts re-wrapped at 76 characters, unless the message carries a signature of
 *   someone else (DKIM-Signature or ARC-Message-Signature): re-encoding would break it, so
 *   such a body is sent as it is and the next hop decides (docs/queue.md).
 */
import { forEachField, parseHeaderBlock } from "./header.ts";
import { concatBytes } from "./header_rewrite.ts";
import { MAX_TEXT_LINE } from "./line_endings.ts";
import { type BodyPart, parseMessage } from "./mime.ts";
import {
  decodeBase64,
  decodeQuotedPrintable,
  encodeBase64Lines,
  encodeQuotedPrintable,
} from "./transfer_encoding.ts";

const enc = new TextEncoder();
const CR = 13, LF = 10, SP = 32, HT = 9;

/** True when a line of [start, end) is longer than MAX_TEXT_LINE octets (without CRLF). */
export function hasLongLine(data: Uint8Array, start = 0, end = data.length): boolean {
  let i = start;
  while (i < end) {
    let lf = data.indexOf(LF, i);
    if (lf < 0 || lf >= end) lf = end;
    const content = lf > i && data[lf - 1] === CR ? lf - 1 : lf;
    if (content - i > MAX_TEXT_LINE) return true;
    i = lf + 1;
  }
  return false;
}

/**
 * hasLongLine for a message read in pieces (a queued message streamed from its file):
 * push() each piece in order; `found` once a line over MAX_TEXT_LINE octets was seen,
 * finish() for the last line when it has no line end.
 */
export class LongLineScan {
  /** Octets of the current line so far, its CR included. */
  #run = 0;
  #lastCr = false;
  found = false;

  push(piece: Uint8Array): void {
    let i = 0;
    while (!this.found && i < piece.length) {
      const lf = piece.indexOf(LF, i);
      if (lf < 0) {
        this.#run += piece.length - i;
        this.#lastCr = piece[piece.length - 1] === CR;
        // A CR at its end is not content; past that the line is too long whatever follows.
        if (this.#run > MAX_TEXT_LINE + 1) this.found = true;
        return;
      }
      const run = this.#run + lf - i;
      const cr = lf > i ? piece[lf - 1] === CR : this.#lastCr;
      if (run - (cr && run > 0 ? 1 : 0) > MAX_TEXT_LINE) this.found = true;
      this.#run = 0;
      this.#lastCr = false;
      i = lf + 1;
    }
  }

  /** The verdict, the last line (without a line end) included. */
  finish(): boolean {
    if (this.#run - (this.#lastCr ? 1 : 0) > MAX_TEXT_LINE) this.found = true;
    return this.found;
  }
}

/** Signed by someone else: re-encoding the body would break that signature. */
export function carriesSignature(data: Uint8Array): boolean {
  return parseHeaderBlock(data).fields.some((f) =>
    f.name === "dkim-signature" || f.name === "arc-message-signature"
  );
}

/** Header lines over the limit broken before white space (RFC 5322 §2.2.3 folding). */
function foldHeaderLines(header: Uint8Array): Uint8Array {
  if (!hasLongLine(header)) return header;
  const out: number[] = [];
  let lineStart = 0;
  for (let i = 0; i < header.length; i++) {
    const b = header[i];
    out.push(b);
    if (b === LF) {
      lineStart = out.length;
      continue;
    }
    if (out.length - lineStart < MAX_TEXT_LINE) continue;
    // Break before the last white space of this line, if it has one past its start.
    let k = out.length - 1;
    while (k > lineStart + 1 && out[k] !== SP && out[k] !== HT) k--;
    if (k <= lineStart + 1) continue; // no white space: the line stays as it is
    out.splice(k, 0, CR, LF);
    lineStart = k + 2;
  }
  return new Uint8Array(out);
}

interface Replacement {
  start: number;
  end: number;
  bytes: Uint8Array;
}

/** A leaf part's header and body rewritten with the given transfer encoding. */
function reencodedPart(
  data: Uint8Array,
  part: BodyPart,
  encoding: string,
  body: Uint8Array,
  isRoot: boolean,
): Replacement {
  const kept: Uint8Array[] = [];
  let hasMimeVersion = false;
  const fieldsEnd = forEachField(data, part.headerStart, part.bodyStart, (f) => {
    if (f.name === "mime-version") hasMimeVersion = true;
    if (f.name !== "content-transfer-encoding") kept.push(data.subarray(f.start, f.end));
  });
  const extra = `${isRoot && !hasMimeVersion ? "MIME-Version: 1.0\r\n" : ""}` +
    `Content-Transfer-Encoding: ${encoding}\r\n`;
  return {
    start: part.headerStart,
    end: part.bodyEnd,
    bytes: concatBytes([
      ...kept,
      enc.encode(extra),
      data.subarray(fieldsEnd, part.bodyStart),
      body,
    ]),
  };
}

function collect(data: Uint8Array, part: BodyPart, isRoot: boolean, out: Replacement[]): void {
  if (part.parts?.length) {
    for (const p of part.parts) collect(data, p, false, out);
    return;
  }
  if (part.message) {
    collect(data, part.message, false, out);
    return;
  }
  if (!hasLongLine(data, part.bodyStart, part.bodyEnd)) return;
  const raw = data.subarray(part.bodyStart, part.bodyEnd);
  const encoding = part.encoding.toLowerCase();
  if (encoding === "base64") {
    const wrapped = enc.encode(encodeBase64Lines(decodeBase64(raw)));
    out.push(reencodedPart(data, part, "base64", wrapped, isRoot));
    return;
  }
  const decoded = encoding === "quoted-printable" ? decodeQuotedPrintable(raw) : raw;
  out.push(reencodedPart(data, part, "quoted-printable", encodeQuotedPrintable(decoded), isRoot));
}

/**
 * The message with every line within 998 octets where that can be done without changing
 * what it says; the same array when no line is too long.
 */
export function wrapLongLines(data: Uint8Array): Uint8Array {
  if (!hasLongLine(data)) return data;
  const block = parseHeaderBlock(data);
  const header = foldHeaderLines(data.subarray(0, block.bodyStart));
  if (carriesSignature(data) || !hasLongLine(data, block.bodyStart)) {
    return header === data.subarray(0, block.bodyStart)
      ? data
      : concatBytes([header, data.subarray(block.bodyStart)]);
  }
  // Body parts first (offsets of the original), then the folded top header in front.
  const replacements: Replacement[] = [];
  collect(data, parseMessage(data).root, true, replacements);
  replacements.sort((a, b) => a.start - b.start);
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const r of replacements) {
    if (r.start < at) continue;
    pieces.push(data.subarray(at, r.start), r.bytes);
    at = r.end;
  }
  pieces.push(data.subarray(at));
  const rewritten = concatBytes(pieces);
  const top = parseHeaderBlock(rewritten);
  return concatBytes([
    foldHeaderLines(rewritten.subarray(0, top.bodyStart)),
    rewritten.subarray(top.bodyStart),
  ]);
}
