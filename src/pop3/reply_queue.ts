/**
 * A POP3 session's queued replies: written in one write per batch of pipelined commands
 * (RFC 2449 §6.6 PIPELINING), else after each command, and without a promise when the
 * socket takes them at once. Apart from session.ts so the command loop reads in one sitting.
 */
import type { Connection } from "../net/connection.ts";
import { releaseReply } from "../net/outbuf.ts";

/** Replies are flushed at least this often while pipelined commands keep coming. */
export const FLUSH_THRESHOLD = 64 * 1024;

export class ReplyQueue {
  #out: Uint8Array[] = [];
  #bytes = 0;

  constructor(readonly conn: Connection) {}

  /** Octets queued and not yet written. */
  get bytes(): number {
    return this.#bytes;
  }

  push(data: Uint8Array): void {
    this.#out.push(data);
    this.#bytes += data.length;
  }

  /** Writes what is queued; false when the socket took it at once, else its promise. */
  flushNow(): false | Promise<void> {
    if (this.#bytes === 0) return false;
    const data = this.#take();
    const writing = this.conn.writeNow(data);
    // Taken by the kernel already (plain TCP, nothing queued): the reply's memory serves
    // the next one (outbuf.ts). TLS keeps its own rules about when a buffer is read.
    if (!writing && !this.conn.secure && this.conn.bufferedOutput === 0) releaseReply(data);
    return writing;
  }

  /** Sends what is queued plus a last line, then closes the connection. */
  sendAndClose(line: string): void {
    if (this.#bytes > 0) this.conn.send(this.#take());
    this.conn.send(line);
    this.conn.close();
  }

  #take(): Uint8Array {
    const chunks = this.#out;
    let data = chunks[0];
    if (chunks.length > 1) {
      data = new Uint8Array(this.#bytes);
      let at = 0;
      for (const c of chunks) {
        data.set(c, at);
        at += c.length;
      }
    }
    chunks.length = 0; // the same array for the next reply
    this.#bytes = 0;
    return data;
  }
}
