/** Line framing for the benchmarks' small text clients (IMAP, SMTP, POP3 over sockets). */

/**
 * Text received so far, taken a line at a time. A long line arriving in many reads (a
 * SEARCH of 90,000 numbers is 530 KB in 64 KB reads) is not rescanned whole at each read:
 * pieces without a line end wait in a list and are joined once, when its end arrives.
 * Before, `+=` plus `indexOf` on the whole text cost the client 6-12 ms per such reply,
 * and 20-27 ms on its first (stop 35), which the figures counted as the server's time.
 */
export class TextLines {
  /** Text that holds a line end, or is all there is. */
  #text = "";
  /** Pieces after #text, none holding a line end. */
  #waiting: string[] = [];
  #waitingLength = 0;

  /** Octets buffered and not yet taken as lines. */
  get length(): number {
    return this.#text.length + this.#waitingLength;
  }

  append(text: string): void {
    if (!text.includes("\n")) {
      this.#waiting.push(text);
      this.#waitingLength += text.length;
      return;
    }
    this.#text += this.#waiting.join("") + text;
    this.#waiting = [];
    this.#waitingLength = 0;
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
