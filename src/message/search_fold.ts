/**
 * The form in which IMAP SEARCH strings and searched text are compared (RFC 3501 §6.4.4
 * leaves case-insensitive matching to the server): lower-cased, NFC when not ASCII, and
 * every run of white space (line breaks, tabs, the spaces left where HTML tags were) made
 * one space, so a phrase matches across lines. Shared by the scanning search
 * (src/imap/search_eval.ts) and the full-text index (src/store/fts/), which must agree.
 */
import { isAscii } from "./controls.ts";

export function fold(s: string): string {
  let t = s.toLowerCase();
  if (!isAscii(t)) t = t.normalize("NFC");
  // Most text has single spaces only: the replace (which builds the result from every
  // match, hundreds of thousands in a folder's subjects) is skipped then.
  return SPACE_TO_FOLD.test(t) ? t.replace(/\s+/g, " ") : t;
}

/** White space other than a single space: a tab, a line break, a run of two. */
const SPACE_TO_FOLD = /[^\S ]|\s\s/;
