/**
 * What the full-text index stores of a message, and how a SEARCH BODY/TEXT string becomes
 * an index query with exactly the answer of the scanning search (src/imap/search.ts:
 * `fold(messageText(...)).includes(fold(needle))`, RFC 3501 §6.4.4). Pure functions.
 *
 * The scanning search compares against
 *   BODY: B' = fold(parts.join("\n"))
 *   TEXT: T' = fold([header, ...parts].join("\n"))
 * (messageTextParts). The index keeps three columns, each a string the FTS5 trigram
 * tokenizer (case_sensitive 1: exact code points) indexes at every position:
 *   h = fold(header), b = B', s = the seam: the last SEAM characters of h (its trailing
 *   space dropped), a space, the first SEAM characters of b (its leading space dropped),
 *   only when there are body parts.
 * Why that is exact: the join line break is neither cased nor case-ignorable nor
 * composing, so lower-casing (the final-sigma rule included) and NFC act on each side
 * alone, and the white-space run around it folds to one space. So with body parts
 * T' = Hs + " " + Bs (Hs: h without a trailing space, Bs: b without a leading space), and
 * without them T' = h. A needle is in T' iff it is in h (a prefix of T'), in b (" " + Bs
 * or Bs, a suffix of T'), or covers the middle space, which for a needle of at most
 * SEAM + 1 characters lies inside s. Longer TEXT needles are left to the scanning path.
 *
 * Needles shorter than 3 characters have no trigram: scanning path. Text with U+0000 is
 * indexed with U+FFFD there (and lone surrogates become U+FFFD in UTF-8), so a needle
 * with U+FFFD may meet false candidates: the index then only filters, and the scanning
 * path confirms.
 */
import { messageTextParts } from "../../message/body_text.ts";
import { toCrlf } from "../../message/line_endings.ts";
import { parseMessage } from "../../message/mime.ts";
import { fold } from "../../message/search_fold.ts";

/** Characters kept on each side of the header/body seam. */
export const SEAM = 128;

export interface FtsColumns {
  h: string;
  b: string;
  s: string;
}

/** The index columns of a stored message (its file bytes, parsed as IMAP serves them). */
export function ftsColumns(file: Uint8Array): FtsColumns {
  let bytes = file;
  let structure = parseMessage(bytes);
  // As msgcache.ts: a file with bare LFs is served, parsed and searched in CRLF form.
  if (structure.bareLf) {
    bytes = toCrlf(bytes);
    structure = parseMessage(bytes);
  }
  const { header, parts } = messageTextParts(bytes, structure);
  const h = fold(header);
  const b = parts.length ? fold(parts.join("\n")) : "";
  let s = "";
  if (parts.length) {
    const hs = h.endsWith(" ") ? h.slice(0, -1) : h;
    const bs = b.startsWith(" ") ? b.slice(1) : b;
    s = lastChars(hs, SEAM) + " " + firstChars(bs, SEAM);
  }
  return { h: clean(h), b: clean(b), s: clean(s) };
}

/**
 * U+0000 and lone surrogates (from an HTML entity such as "&#xD800;") as U+FFFD, which is
 * what SQLite would store for the latter: a needle never holds either, and U+FFFD
 * needles are confirmed by scanning.
 */
function clean(s: string): string {
  const t = s.isWellFormed() ? s : s.toWellFormed();
  return t.includes("\0") ? t.replaceAll("\0", "\uFFFD") : t;
}

/** The last `n` code points of `s`. */
function lastChars(s: string, n: number): string {
  let i = s.length;
  for (let k = 0; k < n && i > 0; k++) {
    i--;
    if (i > 0 && isLow(s.charCodeAt(i)) && isHigh(s.charCodeAt(i - 1))) i--;
  }
  return s.slice(i);
}

/** The first `n` code points of `s`. */
function firstChars(s: string, n: number): string {
  let i = 0;
  for (let k = 0; k < n && i < s.length; k++) {
    i += isHigh(s.charCodeAt(i)) && isLow(s.charCodeAt(i + 1)) ? 2 : 1;
  }
  return s.slice(0, i);
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    if (!(isLow(s.charCodeAt(i)) && i > 0 && isHigh(s.charCodeAt(i - 1)))) n++;
  }
  return n;
}

/** An FTS5 query for a folded needle; `exact` false: candidates to confirm by scanning. */
export interface FtsQuery {
  match: string;
  exact: boolean;
}

/**
 * The FTS5 MATCH expression for SEARCH BODY/TEXT `needle` (already folded), or null when
 * the index cannot answer it (shorter than a trigram, a TEXT needle longer than the seam).
 * A quoted string is one phrase: its trigrams at consecutive positions, which is a
 * substring match (FTS5 trigram tokenizer); a quote inside is doubled.
 */
export function ftsQuery(which: "BODY" | "TEXT", needle: string): FtsQuery | null {
  const n = codePoints(needle);
  if (n < 3 || (which === "TEXT" && n > SEAM + 1)) return null;
  // U+0000 ends an SQL string, a lone surrogate becomes U+FFFD in UTF-8: an IMAP string
  // (UTF-8) never holds either, but such a needle is scanned all the same.
  if (needle.includes("\0") || !needle.isWellFormed()) return null;
  const phrase = `"${needle.replaceAll('"', '""')}"`;
  return {
    match: which === "BODY" ? `b : ${phrase}` : `{h b s} : ${phrase}`,
    exact: !needle.includes("\uFFFD"),
  };
}
