/**
 * RFC 2047 encoded words: the one decoder (header values for SEARCH, the autoresponder's
 * subject) and the encoder for unstructured values the server writes.
 */
import { decoderFor } from "./charset.ts";
import { unfold } from "./fold.ts";
import { isPrintableAscii } from "./controls.ts";
import { decodeBase64, decodeQuotedPrintable, encodeBase64 } from "./transfer_encoding.ts";

/**
 * `=?charset?encoding?text?=` (RFC 2047 §2). Linear: each attempt stops at the next "?"
 * or white space, and every attempt starts at a "=?" of its own.
 */
const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;
const utf8Encoder = new TextEncoder();

/** Bytes of a JS string whose characters are all < 256 (an encoded word's text). */
function latin1Bytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9) return false;
  }
  return true;
}

/**
 * Decodes the RFC 2047 encoded words of a header value and unfolds it. White space
 * between adjacent encoded words is dropped (§6.2), and adjacent words in the same
 * charset are decoded together (a character may be split across them). Words with an
 * unknown charset stay as they are; a charset may carry an RFC 2231 §5 "*language".
 * Lenient: also decodes words not separated from other text, and broken base64.
 */
export function decodeEncodedWords(raw: string): string {
  const value = unfold(raw);
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
    const charset = m[1].split("*")[0];
    const decoder = decoderFor(charset);
    if (!decoder) continue;
    const between = value.slice(last, m.index);
    const adjacent = last > 0 && pending !== null && isBlank(between);
    if (!adjacent) {
      flush();
      out += between;
    }
    const text = m[3];
    const data = m[2] === "b" || m[2] === "B"
      ? decodeBase64(latin1Bytes(text))
      : decodeQuotedPrintable(
        // Encoded text is ASCII; anything else is passed through as UTF-8.
        isPrintableAscii(text) ? latin1Bytes(text) : utf8Encoder.encode(text),
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

/**
 * UTF-8 octets per encoded word: 39 become 52 base64 characters, 64 with `=?UTF-8?B?`
 * and `?=`, so that even after `Subject: ` a line stays within the 76 characters RFC
 * 2047 §2 allows lines with encoded words (and the word within its 75).
 */
const WORD_OCTETS = 39;

/**
 * An unstructured value (RFC 5322 §3.2.5) for a header the server writes: unchanged when
 * it is printable ASCII that cannot be mistaken for an encoded word, else UTF-8 "B"
 * encoded words split on character boundaries and separated by spaces (fold the field
 * with foldField to break the line there).
 */
export function encodeUnstructured(value: string): string {
  if (isPrintableAscii(value) && !value.includes("=?")) return value;
  const words: string[] = [];
  let chunk: number[] = [];
  for (const ch of value) {
    const bytes = utf8Encoder.encode(ch);
    if (chunk.length + bytes.length > WORD_OCTETS) {
      words.push(`=?UTF-8?B?${encodeBase64(Uint8Array.from(chunk))}?=`);
      chunk = [];
    }
    chunk.push(...bytes);
  }
  if (chunk.length > 0) words.push(`=?UTF-8?B?${encodeBase64(Uint8Array.from(chunk))}?=`);
  return words.join(" ");
}
