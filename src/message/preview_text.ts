/**
 * A message's preview (RFC 8970 §3.1 and §4): the start of its first readable text, as
 * a client shows under the subject. Pure, single pass over at most PREVIEW_SOURCE octets
 * of one part, whatever the message's size.
 *
 * Rules: the first text/plain part that is not an attachment (a multipart/alternative
 * prefers text/plain over text/html; HTML is reduced to its text), its transfer encoding
 * and charset undone; quoted lines ("> ...") left out; white space, line breaks and
 * control characters folded to single spaces; at most 256 characters. A message with
 * no such text has the empty preview.
 */
import { decodeBodyText } from "./body_text.ts";
import { isControl } from "./controls.ts";
import { htmlToText } from "./html_text.ts";
import type { BodyPart, MessageStructure } from "./mime.ts";

/** RFC 8970 §3.1: the preview is at most this many characters. */
export const PREVIEW_LENGTH = 256;
/** Octets of a part's body decoded for its preview (a long prefix is plenty). */
const PREVIEW_SOURCE = 16 * 1024;

function isAttachment(p: BodyPart): boolean {
  return p.disposition?.type === "attachment";
}

/** The part whose text becomes the preview, or null. */
function textPart(p: BodyPart): BodyPart | null {
  if (p.parts) {
    if (p.subtype === "alternative") {
      const plain = p.parts.find((c) => c.type === "text" && c.subtype === "plain");
      if (plain && !isAttachment(plain)) return plain;
    }
    for (const c of p.parts) {
      const found = textPart(c);
      if (found) return found;
    }
    return null;
  }
  if (p.type !== "text" || isAttachment(p)) return null;
  return p.subtype === "plain" || p.subtype === "html" ? p : null;
}

/** Folds white space and controls to single spaces, drops quoted lines, cuts to `max`. */
function normalize(text: string, max: number): string {
  let out = "";
  let count = 0;
  let space = false;
  for (const line of text.split("\n")) {
    if (line.trimStart().startsWith(">")) continue;
    for (const ch of line) {
      const code = ch.codePointAt(0)!;
      if (code === 0x20 || code === 0xa0 || isControl(code) || /\s/.test(ch)) {
        space = out !== "";
        continue;
      }
      if (space) {
        if (count + 1 >= max) return out;
        out += " ";
        count++;
        space = false;
      }
      out += ch;
      if (++count >= max) return out;
    }
    space = out !== "";
  }
  return out;
}

/** The preview text of a message (possibly ""). */
export function previewText(bytes: Uint8Array, structure: MessageStructure): string {
  const part = textPart(structure.root);
  if (!part) return "";
  const limited: BodyPart = {
    ...part,
    bodyEnd: Math.min(part.bodyEnd, part.bodyStart + PREVIEW_SOURCE),
  };
  let text = decodeBodyText(bytes, limited);
  if (part.subtype === "html") text = htmlToText(text);
  return normalize(text, PREVIEW_LENGTH);
}
