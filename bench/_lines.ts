/** Line framing for the benchmarks' small text clients (IMAP, SMTP, POP3 over sockets). */

/** Text received so far, taken a line at a time. */
export class TextLines {
  #text = "";

  /** Octets buffered and not yet taken as lines. */
  get length(): number {
    return this.#text.length;
  }

  append(text: string): void {
    this.#text += text;
  }

  /** The next whole line without its LF or CRLF; null until one has arrived. */
  next(): string | null {
    const i = this.#text.indexOf("\n");
    if (i < 0) return null;
    const line = this.#text.slice(0, i).replace(/\r$/, "");
    this.#text = this.#text.slice(i + 1);
    return line;
  }
}
