/**
 * Content-Transfer-Encodings (RFC 2045 §6.7, §6.8) of message bodies and encoded words.
 * Lenient on decoding, as readers of broken mail must be (IMAP BINARY and SEARCH never
 * fail on a bad body); strict base64 for protocol exchanges (SASL) lives elsewhere.
 */
import { Buffer } from "node:buffer";

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * Quoted-printable to bytes (RFC 2045 §6.7; `header` for RFC 2047 §4.2 "Q", where "_" is
 * a space). Soft line breaks are removed; a malformed "=" sequence is kept as it is, as
 * the RFC suggests. node:buffer has no quoted-printable, hence this loop.
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

/**
 * Base64 to bytes (RFC 2045 §6.8), as node:buffer decodes it: characters outside the
 * alphabet (line breaks, junk) are skipped, the URL-safe alphabet is accepted, decoding
 * stops at the first "=", and a dangling last character is dropped. Never throws.
 */
export function decodeBase64(data: Uint8Array): Uint8Array {
  if (data.length === 0) return new Uint8Array(0);
  const latin1 = Buffer.from(data.buffer, data.byteOffset, data.length).toString("latin1");
  const out = Buffer.from(latin1, "base64");
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Base64 of `data` without line breaks (RFC 4648 §4). */
export function encodeBase64(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.length).toString("base64");
}

/** Base64 in lines of 76 characters, each ending in CRLF (RFC 2045 §6.8 body text). */
export function encodeBase64Lines(data: Uint8Array): string {
  const b64 = encodeBase64(data);
  let out = "";
  for (let i = 0; i < b64.length; i += 76) out += b64.slice(i, i + 76) + "\r\n";
  return out;
}

const HEX = "0123456789ABCDEF";

/**
 * Bytes to quoted-printable (RFC 2045 §6.7) for a text body with CRLF line ends: line
 * breaks stay hard breaks, every encoded line is at most 76 characters (soft breaks "="),
 * "=", controls and 8-bit octets become "=XX", and white space before a line end too.
 */
export function encodeQuotedPrintable(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  let column = 0;
  const put = (text: string) => {
    // Soft break when the piece would pass 75 characters (76 with the "=").
    if (column + text.length > 75) {
      out.push(61, 13, 10);
      column = 0;
    }
    for (let k = 0; k < text.length; k++) out.push(text.charCodeAt(k));
    column += text.length;
  };
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === 13 && data[i + 1] === 10) {
      out.push(13, 10);
      column = 0;
      i++;
      continue;
    }
    const atLineEnd = i + 1 === data.length || (data[i + 1] === 13 && data[i + 2] === 10);
    const literal = (b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !atLineEnd);
    put(literal ? String.fromCharCode(b) : `=${HEX[b >> 4]}${HEX[b & 15]}`);
  }
  return new Uint8Array(out);
}
