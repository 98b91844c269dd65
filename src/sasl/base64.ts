/**
 * Base64 as SASL carries it (RFC 4422 §3.3 leaves the encoding to the profile; SMTP
 * RFC 4954 §4, POP3 RFC 5034 §4 and IMAP RFC 3501 §6.2.2 all use RFC 4648 §4). Decoding is
 * strict: only the canonical encoding of some bytes is accepted (RFC 4648 §3.5: no missing
 * padding, pad bits zero; §3.3: no characters outside the alphabet), so one response has
 * exactly one meaning. node:buffer does the arithmetic.
 */
import { Buffer } from "node:buffer";

/** The bytes `text` encodes, or null unless it is canonical RFC 4648 §4 base64. */
export function decodeBase64Strict(text: string): Uint8Array | null {
  if (text.length % 4 !== 0) return null;
  const decoded = Buffer.from(text, "base64");
  // node's decoder skips characters outside the alphabet, accepts base64url's "-" and "_",
  // missing padding and non-zero pad bits; the canonical re-encoding shows any of them.
  if (decoded.toString("base64") !== text) return null;
  return new Uint8Array(decoded);
}

/** RFC 4648 §4 base64 with padding; a string is encoded as UTF-8 first. */
export function encodeBase64(data: Uint8Array | string): string {
  const bytes = typeof data === "string"
    ? Buffer.from(data, "utf8")
    : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return bytes.toString("base64");
}
