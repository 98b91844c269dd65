/**
 * The session's outgoing bytes: responses are collected and sent with one write per
 * batch (a command's untagged data plus its tagged reply, or several pipelined
 * commands), which is what keeps a full re-sync cheap. Large responses (many message
 * bodies) are flushed in pieces so memory stays bounded and back-pressure applies.
 */
import type { Connection } from "../net/connection.ts";
import { allocReply } from "../net/outbuf.ts";
import { ResponseBuilder } from "./wire.ts";
/** Flush early past this many buffered bytes. */
const HIGH_WATER = 1 << 20;

export class Outbox {
  #builder = new ResponseBuilder();
  #text = "";

  constructor(readonly conn: Connection) {}

  get pending(): number {
    return this.#builder.length + this.#text.length;
  }

  /** Queues response text (ASCII or UTF-8). */
  text(s: string): void {
    this.#text += s;
  }

  /** Queues raw bytes (literal contents: message data as stored). */
  bytes(b: Uint8Array): void {
    this.#closeText();
    this.#builder.add(b);
  }

  #closeText(): void {
    if (this.#text.length === 0) return;
    this.#builder.add(this.#text);
    this.#text = "";
  }

  /** The batch has grown large enough to be sent now (inside long FETCH responses). */
  get full(): boolean {
    return this.pending >= HIGH_WATER;
  }

  /** Sends when the batch has grown large (inside long FETCH responses). */
  async maybeFlush(): Promise<void> {
    if (this.full) await this.flush();
  }

  /** Sends everything queued in one write and waits for back-pressure. */
  async flush(): Promise<void> {
    const writing = this.flushNow();
    if (writing) await writing;
  }

  /**
   * flush() without a promise when there is nothing to wait for (nothing queued, or the
   * socket took the batch under its high-water mark: the usual reply); else the wait.
   */
  flushNow(): false | Promise<void> {
    this.#closeText();
    if (this.#builder.length === 0) return false;
    // One buffer per batch, carved from a shared slab (outbuf.ts) when it is small.
    return this.conn.writeNow(this.#builder.bytes(allocReply));
  }

  /** Drops whatever is queued (the connection is going away). */
  discard(): void {
    this.#builder.bytes();
    this.#text = "";
  }
}
