/**
 * Character checks for text that comes from clients, messages or remote servers and
 * goes into replies, headers, logs, file names or config: control characters (C0 and
 * DEL, RFC 5234 CTL) and the ASCII ranges RFC 5322 and RFC 5321 name. One scan each,
 * so that every service asks the same question the same way.
 */

/** RFC 5234 CTL: %x00-1F and %x7F. */
export function isControl(code: number): boolean {
  return code < 0x20 || code === 0x7f;
}

/**
 * Index of the first control character of `text`, or -1. `allowTab`: HTAB is not
 * counted (typed command lines, where it separates words).
 */
export function firstControl(text: string, allowTab = false): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isControl(c) && !(allowTab && c === 9)) return i;
  }
  return -1;
}

/** True when `text` holds a control character (see firstControl). */
export function hasControl(text: string, allowTab = false): boolean {
  return firstControl(text, allowTab) >= 0;
}

/**
 * `text` with each control character replaced: by `replacement`, or by what it returns
 * for the character. `collapse`: a run of them is replaced once (one line out of a
 * multi-line diagnostic).
 */
export function replaceControls(
  text: string,
  replacement: string | ((char: string) => string),
  collapse = false,
): string {
  const at = firstControl(text);
  if (at < 0) return text;
  let out = text.slice(0, at);
  for (let i = at; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!isControl(c)) {
      out += text[i];
      continue;
    }
    if (collapse && i > at && isControl(text.charCodeAt(i - 1))) continue;
    out += typeof replacement === "string" ? replacement : replacement(text[i]);
  }
  return out;
}

/** True when every character (or byte) is US-ASCII (below 0x80). */
export function isAscii(text: string | Uint8Array): boolean {
  if (typeof text === "string") {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
    return true;
  }
  for (let i = 0; i < text.length; i++) if (text[i] > 0x7f) return false;
  return true;
}

function inRange(text: string, low: number): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < low || c > 0x7e) return false;
  }
  return true;
}

/** Printable ASCII with space (%x20-7E): text a header or reply line can carry as is. */
export function isPrintableAscii(text: string): boolean {
  return inRange(text, 0x20);
}

/** Visible ASCII (RFC 5234 VCHAR, %x21-7E): a token without spaces. */
export function isVisibleAscii(text: string): boolean {
  return inRange(text, 0x21);
}

function replaceOutside(text: string, low: number, replacement: string): string {
  if (inRange(text, low)) return text;
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out += c < low || c > 0x7e ? replacement : text[i];
  }
  return out;
}

/** `text` with every character outside %x20-7E replaced (a safe header or log value). */
export function toPrintableAscii(text: string, replacement = "?"): string {
  return replaceOutside(text, 0x20, replacement);
}

/** `text` with every character outside VCHAR (%x21-7E) replaced: one safe token. */
export function toVisibleAscii(text: string, replacement = "?"): string {
  return replaceOutside(text, 0x21, replacement);
}

/** RFC 5234 ALPHA: A-Z, a-z. */
export function isAsciiLetter(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

/** RFC 5234 DIGIT: 0-9. */
export function isAsciiDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** ASCII white space: SP, HT, LF, VT, FF, CR (what `\s` matches below 0x80). */
export function isAsciiSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}

/**
 * Characters a terminal or a log reader may act on: C0 and DEL, the C1 controls
 * (U+0080-U+009F: an 8-bit CSI is U+009B) and the Unicode line and paragraph separators.
 */
function needsLogEscape(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029;
}

const SHORT_LOG_ESCAPES: Record<number, string> = { 9: "\\t", 10: "\\n", 13: "\\r" };

/**
 * `text` with every control character written as text: CR, LF and HT as `\r`, `\n`, `\t`,
 * the others as `\xHH` (`\u2028` for the separators). One log event stays one line, and
 * client input cannot send a terminal escape sequence or fake a line to whoever reads the log.
 */
export function escapeControls(text: string): string {
  let i = 0;
  while (i < text.length && !needsLogEscape(text.charCodeAt(i))) i++;
  if (i === text.length) return text;
  let out = text.slice(0, i);
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!needsLogEscape(c)) out += text[i];
    else if (SHORT_LOG_ESCAPES[c]) out += SHORT_LOG_ESCAPES[c];
    else if (c < 0x100) out += "\\x" + c.toString(16).padStart(2, "0");
    else out += "\\u" + c.toString(16);
  }
  return out;
}
