/**
 * MIME charsets (RFC 2045 §5.1, RFC 2047 §2) to text through WHATWG TextDecoder labels,
 * with the fallbacks real mail needs: unknown or missing labels and 8-bit text marked
 * us-ascii are read as UTF-8 when valid, else as windows-1252 (which accepts any byte).
 */

const decoders = new Map<string, TextDecoder | null>();

// Labels seen in mail that WHATWG does not know under that name.
const ALIASES: Record<string, string> = {
  "cp936": "gbk",
  "utf_8": "utf-8",
  "unknown-8bit": "windows-1252",
  "x-unknown": "windows-1252",
};

/** A TextDecoder for a MIME charset label, or null when the charset is unknown. */
export function decoderFor(charset: string): TextDecoder | null {
  const label = charset.trim().toLowerCase();
  let d = decoders.get(label);
  if (d !== undefined) return d;
  try {
    d = new TextDecoder(ALIASES[label] ?? label);
  } catch {
    d = null;
  }
  // Labels come from messages: remember a bounded number of them.
  if (decoders.size < 200) decoders.set(label, d);
  return d;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Bytes in a charset to text. A missing, unknown or us-ascii charset is read as UTF-8
 * when the bytes are valid UTF-8, else as windows-1252.
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
