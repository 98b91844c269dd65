/**
 * The searchable text of a message (IMAP SEARCH BODY, TEXT, HEADER and the address
 * keys): transfer encodings undone, charsets applied, RFC 2047 words decoded, HTML
 * reduced to its text.
 */
import { decodeCharset } from "./charset.ts";
import { decodeEncodedWords } from "./encoded_words.ts";
import { fieldValue, forEachField, text } from "./header.ts";
import { htmlToText } from "./html_text.ts";
import type { BodyPart, MessageStructure } from "./mime.ts";
import { param } from "./params.ts";
import { decodeBase64, decodeQuotedPrintable } from "./transfer_encoding.ts";

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
 * (UTF-8 when missing or unknown).
 */
export function decodeBodyText(bytes: Uint8Array, part: BodyPart): string {
  return decodeCharset(decodeBodyBytes(bytes, part), param(part.params, "charset"));
}

/** Decoded "Name: value" lines of a header section. */
function headerText(bytes: Uint8Array, part: BodyPart): string {
  let out = "";
  forEachField(bytes, part.headerStart, part.bodyStart, (f) => {
    const name = text(bytes, f.start, f.valueStart - 1).trim();
    out += `${name}: ${decodeEncodedWords(fieldValue(bytes, f))}\n`;
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
    const t = decodeBodyText(bytes, part);
    out.push(part.subtype === "html" ? htmlToText(t) : t);
  }
}

/**
 * The two pieces SEARCH text is made of: the decoded header of the message ("Name: value"
 * lines) and the searchable text of each body part in order (text parts decoded, HTML
 * reduced to text, embedded messages with their headers). messageText joins them; the
 * full-text index (src/store/fts/) indexes them apart.
 */
export function messageTextParts(
  bytes: Uint8Array,
  structure: MessageStructure,
): { header: string; parts: string[] } {
  const parts: string[] = [];
  bodyText(bytes, structure.root, parts);
  return { header: headerText(bytes, structure.root), parts };
}

/**
 * Text for SEARCH BODY ("BODY": the decoded text parts, including those of embedded
 * messages with their headers) or SEARCH TEXT ("TEXT": the decoded header, then the
 * body text), the pieces of messageTextParts joined by line breaks. Callers compare
 * case-insensitively (e.g. after toLowerCase()).
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
    if (f.name === lower) values.push(decodeEncodedWords(fieldValue(bytes, f)));
  });
  return values;
}
