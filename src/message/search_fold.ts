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
  return t.replace(/\s+/g, " ");
}
