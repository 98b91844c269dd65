/** Line framing for the benchmarks' small text clients (IMAP, SMTP, POP3 over sockets). */

/** The first line of `text` without its LF or CRLF, and the text after it; null until an LF. */
export function takeLine(text: string): { line: string; rest: string } | null {
  const i = text.indexOf("\n");
  if (i < 0) return null;
  return { line: text.slice(0, i).replace(/\r$/, ""), rest: text.slice(i + 1) };
}
