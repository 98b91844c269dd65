/**
 * The visible text of an HTML body, for SEARCH BODY/TEXT: tags, comments, scripts and
 * styles dropped (each leaves one space), the common entities decoded. A "<" that does
 * not open a tag (before a space, a digit, another "<") is text. A scanner: every
 * search for a closing ">", "-->" or "</script>" either moves the scan past what it found
 * or is remembered as failed, so hostile markup (80 KB of "<") costs linear time.
 */
import {
  isAsciiDigit as isDigit,
  isAsciiLetter as isLetter,
  isAsciiSpace as isSpace,
} from "./controls.ts";

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
};

const LT = 60, GT = 62, AMP = 38, SEMI = 59, HASH = 35;

function isWordChar(c: number): boolean {
  return isLetter(c) || isDigit(c) || c === 95;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** True when `html` has `word` (lower-case ASCII) at `at`, in any case. */
function hasWordAt(html: string, at: number, word: string): boolean {
  if (at + word.length > html.length) return false;
  for (let k = 0; k < word.length; k++) {
    let c = html.charCodeAt(at + k);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== word.charCodeAt(k)) return false;
  }
  return true;
}

/** One pass over an HTML text; see htmlToText. */
class HtmlScanner {
  out = "";
  /** Searches known to fail from here on (the text ahead has no such end). */
  #noGt = false;
  #noCommentEnd = false;
  #noClose = new Set<string>();

  constructor(readonly html: string) {}

  /** End (exclusive) of the tag that starts at `at` ("<" ... ">"), or -1. */
  tagEnd(at: number): number {
    if (this.#noGt) return -1;
    const gt = this.html.indexOf(">", at + 1);
    if (gt < 0) this.#noGt = true;
    return gt < 0 ? -1 : gt + 1;
  }

  /** End of the comment `<!-- ... -->` that starts at `at`, or -1. */
  commentEnd(at: number): number {
    if (this.#noCommentEnd) return -1;
    const end = this.html.indexOf("-->", at + 4);
    if (end < 0) this.#noCommentEnd = true;
    return end < 0 ? -1 : end + 3;
  }

  /** End of `</name\s*>` at or after `from`, or -1. */
  closeEnd(name: string, from: number): number {
    if (this.#noClose.has(name)) return -1;
    const html = this.html;
    for (let at = html.indexOf("</", from); at >= 0; at = html.indexOf("</", at + 2)) {
      if (!hasWordAt(html, at + 2, name)) continue;
      let k = at + 2 + name.length;
      while (k < html.length && isSpace(html.charCodeAt(k))) k++;
      if (html.charCodeAt(k) === GT) return k + 1;
    }
    this.#noClose.add(name);
    return -1;
  }

  /** The element `<script ...>...</script>` (or style) at `at`: its end, or -1. */
  rawTextEnd(at: number): number {
    const html = this.html;
    for (const name of ["script", "style"]) {
      if (!hasWordAt(html, at + 1, name)) continue;
      if (isWordChar(html.charCodeAt(at + 1 + name.length))) continue;
      const open = this.tagEnd(at);
      return open < 0 ? -1 : this.closeEnd(name, open);
    }
    return -1;
  }

  /** The entity at `at` ("&...;") decoded, with its end; null when there is none. */
  entity(at: number): { text: string; end: number } | null {
    const html = this.html;
    let k = at + 1;
    let value: string | undefined;
    if (html.charCodeAt(k) === HASH) {
      const hex = (html.charCodeAt(k + 1) | 0x20) === 120; // "x"
      k += hex ? 2 : 1;
      const start = k;
      while (k < html.length && (hex ? isHex : isDigit)(html.charCodeAt(k))) k++;
      if (k === start || html.charCodeAt(k) !== SEMI) return null;
      const cp = parseInt(html.slice(start, k), hex ? 16 : 10);
      if (cp > 0 && cp <= 0x10ffff) value = String.fromCodePoint(cp);
    } else {
      const start = k;
      while (k < html.length && isLetter(html.charCodeAt(k))) k++;
      if (k === start || html.charCodeAt(k) !== SEMI) return null;
      value = ENTITIES[html.slice(start, k).toLowerCase()];
    }
    // A well-formed but unknown entity stays as written.
    return { text: value ?? html.slice(at, k + 1), end: k + 1 };
  }

  run(): string {
    const html = this.html;
    let text = 0; // start of the text not yet copied to `out`
    let i = 0;
    while (i < html.length) {
      const c = html.charCodeAt(i);
      if (c !== LT && c !== AMP) {
        i++;
        continue;
      }
      let end = -1;
      let replacement = " ";
      if (c === AMP) {
        const e = this.entity(i);
        if (e) {
          end = e.end;
          replacement = e.text;
        }
      } else if (startsTag(html.charCodeAt(i + 1))) {
        if (hasWordAt(html, i + 1, "!--")) end = this.commentEnd(i);
        if (end < 0) end = this.rawTextEnd(i);
        if (end < 0) end = this.tagEnd(i);
      }
      if (end < 0) {
        i++; // a lone "<" or "&" is text
        continue;
      }
      this.out += html.slice(text, i) + replacement;
      i = text = end;
    }
    return this.out + html.slice(text);
  }
}

/** A "<" opens a tag only before a letter, "/", "!" or "?" (else it is text, as in HTML). */
function startsTag(c: number): boolean {
  return isLetter(c) || c === 47 || c === 33 || c === 63;
}

/** Visible text of an HTML body (tags, scripts and styles dropped; common entities). */
export function htmlToText(html: string): string {
  return new HtmlScanner(html).run();
}
