/**
 * Folding and unfolding of header fields (RFC 5322 §2.2.3), and comments in their
 * values (§3.2.2). Single passes, so a hostile value costs linear time.
 */

/**
 * A folded value unfolded: every CR and LF removed, the white space after them kept
 * (RFC 5322 §2.2.3). Stray CRs inside a line go too; they are not text either.
 */
export function unfold(value: string): string {
  if (value.indexOf("\n") < 0 && value.indexOf("\r") < 0) return value;
  let out = "";
  let from = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 10 || c === 13) {
      out += value.slice(from, i);
      from = i + 1;
    }
  }
  return out + value.slice(from);
}

/** RFC 5322 §2.1.1: lines SHOULD be at most 78 characters, without the CRLF. */
export const FOLD_WIDTH = 78;

/**
 * `Name: value` folded into lines of at most `width` characters where the value has
 * white space to break at (the break goes before it, so unfolding gives the value back).
 * A run without white space longer than a line stays whole: RFC 5322 allows up to 998.
 * `value` is one line (callers unfold or clean it first); no final CRLF.
 */
export function foldField(name: string, value: string, width = FOLD_WIDTH): string {
  const head = `${name}: `;
  if (head.length + value.length <= width) return head + value;
  let out = head;
  let lineLength = head.length;
  let lineHasText = false;
  let i = 0;
  while (i < value.length) {
    // The next piece: its leading white space, then the text up to the next white space.
    let end = i;
    while (end < value.length && isWsp(value.charCodeAt(end))) end++;
    while (end < value.length && !isWsp(value.charCodeAt(end))) end++;
    const piece = value.slice(i, end);
    if (lineHasText && lineLength + piece.length > width && isWsp(piece.charCodeAt(0))) {
      out += "\r\n" + piece;
      lineLength = piece.length;
    } else {
      out += piece;
      lineLength += piece.length;
    }
    lineHasText = true;
    i = end;
  }
  return out;
}

function isWsp(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * The value with its comments (RFC 5322 §3.2.2: parenthesized, nested, with quoted
 * pairs) replaced by `replacement`. An unclosed comment runs to the end. One pass.
 */
export function stripComments(value: string, replacement = ""): string {
  if (!value.includes("(")) return value;
  let out = "";
  let depth = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === "(") {
      if (depth++ === 0) out += replacement;
    } else if (depth > 0) {
      if (c === "\\") i++;
      else if (c === ")") depth--;
    } else out += c;
  }
  return out;
}
