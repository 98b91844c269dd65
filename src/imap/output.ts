/**
 * The session's outgoing bytes: responses are collected and sent with one write per
 * batch (a command's untagged data plus its tagged reply, or several pipelined
 * commands), which is what keeps a full re-sync cheap. Large responses (many message
 * bodies) are flushed in pieces so memory stays bounded and back-pressure applies.
 */
import type { Connection } from "../net/connection.ts";
import { allocReply, releaseReply } from "../net/outbuf.ts";
import { ResponseBuilder } from "./wire.ts";
/** Flush early past this many buffered bytes. */
const HIGH_WATER = 1 << 20;
/**
 * Room left after a message read in place (literalInPlace) for what follows it in the
 * same write: the response's close, the tagged reply, a few untagged updates.
 */
const TAIL_ROOM = 256;
/** Text up to this length is tried as ASCII before TextEncoder (copyAscii). */
const SHORT_TEXT = 256;
const encoder = new TextEncoder();

export class Outbox {
  #builder = new ResponseBuilder();
  #text = "";
  /**
   * The last buffer queued, still with room (literalInPlace): text queued after it is
   * encoded into that room, so a FETCH of one message and its tagged reply go out as one
   * buffer without being joined (copied) first. `#used` octets of it are queued.
   */
  #open: Uint8Array | null = null;
  #used = 0;

  constructor(readonly conn: Connection) {}

  get pending(): number {
    return this.#builder.length + this.#used + this.#text.length;
  }

  /** Queues response text (ASCII or UTF-8). */
  text(s: string): void {
    this.#text += s;
  }

  /** Queues raw bytes (literal contents: message data as stored). */
  bytes(b: Uint8Array): void {
    this.#closeText();
    this.#seal();
    this.#builder.add(b);
  }

  /**
   * Queues the octets `write` puts straight into the output buffer: it asks `alloc(n)` for
   * room for at most n octets, once, and returns how many it wrote. Text queued next goes
   * into the room after them (a SEARCH of 90,000 numbers and its tagged reply leave as
   * one buffer, with no copy of the numbers to join them).
   */
  written(write: (alloc: (n: number) => Uint8Array) => number): void {
    this.#closeText();
    this.#seal();
    let buf: Uint8Array | null = null;
    const used = write((n) => (buf = allocReply(n + TAIL_ROOM)));
    if (buf === null) return;
    this.#open = buf;
    this.#used = used;
  }

  /**
   * Queues `prefix`, then `size` octets that `read(buf, at)` puts straight into the
   * output buffer at `at` (a message file read in place: no buffer of its own, no copy),
   * then `suffix`; prefix and suffix are ASCII. `read` gets `size + 1` octets of room
   * and returns false when it could not read exactly `size`: then nothing is queued.
   */
  literalInPlace(
    prefix: string,
    size: number,
    read: (buf: Uint8Array, at: number) => boolean,
    suffix: string,
  ): boolean {
    const buf = allocReply(prefix.length + size + 1 + suffix.length + TAIL_ROOM);
    const at = writeAscii(buf, 0, prefix);
    if (!read(buf, at)) return false;
    this.#closeText();
    this.#seal();
    this.#open = buf;
    this.#used = writeAscii(buf, at + size, suffix);
    return true;
  }

  #closeText(): void {
    const text = this.#text;
    if (text.length === 0) return;
    this.#text = "";
    if (this.#open) {
      // Into the open buffer's room when it fits whole (it usually does: a tagged reply).
      // Short ASCII is copied by a loop: TextEncoder goes out to native code.
      const end = text.length <= SHORT_TEXT ? copyAscii(text, this.#open, this.#used) : -1;
      if (end >= 0) {
        this.#used = end;
        return;
      }
      const r = encoder.encodeInto(text, this.#open.subarray(this.#used));
      if (r.read === text.length) {
        this.#used += r.written;
        return;
      }
      this.#seal();
    }
    this.#builder.add(text);
  }

  /** The open buffer joins the queued chunks as it is; text goes after it from now on. */
  #seal(): void {
    if (!this.#open) return;
    this.#builder.add(this.#open.subarray(0, this.#used));
    this.#open = null;
    this.#used = 0;
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
    this.#seal();
    if (this.#builder.length === 0) return false;
    // One buffer per batch, carved from a shared slab (outbuf.ts) when it is small.
    const data = this.#builder.bytes(allocReply);
    const conn = this.conn;
    const writing = conn.writeNow(data);
    // Taken by the kernel already (plain TCP, nothing queued): its memory serves the next
    // reply (outbuf.ts). TLS and COMPRESS keep their own rules about when it is read.
    if (!writing && !conn.secure && !conn.compressed && conn.bufferedOutput === 0) {
      releaseReply(data);
    }
    return writing;
  }

  /** Drops whatever is queued (the connection is going away). */
  discard(): void {
    this.#builder.bytes();
    this.#text = "";
    this.#open = null;
    this.#used = 0;
  }
}

/**
 * Copies `text` into `buf` at `at` when it is all ASCII and fits: the end offset, or -1
 * (then nothing the caller counts was written).
 */
function copyAscii(text: string, buf: Uint8Array, at: number): number {
  if (at + text.length > buf.length) return -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return -1;
    buf[at + i] = c;
  }
  return at + text.length;
}

/** Writes ASCII `text` into `buf` at `at`; returns the end offset. */
function writeAscii(buf: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) buf[at++] = text.charCodeAt(i);
  return at;
}
