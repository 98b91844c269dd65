/**
 * A message in transfer (MessageSink) and once received (ReceivedMessage), SPEC §7:
 * at most MEMORY_LIMIT of it in memory. A message that grows past that goes to a spool
 * file in `<DirBase>/incoming/` (src/store/incoming.ts) as it arrives, the file written
 * as our trace fields (Return-Path, Received: both known before the first byte of
 * content, they depend only on the envelope and the session) followed by the message.
 * Its header is kept in memory for the policy checks (hops, Return-Path, lists,
 * autoresponder rules, DSNs); a header over HEADER_LIMIT is refused.
 *
 * Delivery asks for the bytes to store (content()): in front of the message any header
 * fields (Return-Path, fields computed at the end of DATA, Received), and the message
 * with its header possibly rewritten. When that is exactly what the spool file holds,
 * the file itself is fsync'd once and hard-linked into every Maildir; otherwise the
 * pieces are copied into the Maildir file or queue entry in chunks (one copy on disk,
 * never the body in memory). docs/delivery.md describes this seam.
 */
import { ByteBuffer } from "../message/byte_buffer.ts";
import { type HeaderBlock, parseHeaderBlock } from "../message/header.ts";
import { concatBytes } from "../message/header_rewrite.ts";
import { type ContentPart, COPY_CHUNK, MessageContent, readSlice } from "../store/content.ts";
import { BlockPool } from "../net/block_pool.ts";
import type { IncomingFiles } from "../store/incoming.ts";
import type { OffThreadFile } from "../store/spool_writer.ts";

/** A message growing past this many octets goes to a spool file (SPEC §7: 1 MiB at most). */
export const MEMORY_LIMIT = 256 * 1024;
/** The header is kept in memory for policy checks; one longer than this is refused. */
export const HEADER_LIMIT = 256 * 1024;
/** Octets collected in memory between two writes to the spool file. */
const WRITE_CHUNK = 128 * 1024;
/** Readers append at most this much before they check wantsFlush. */
export const FEED_SLICE = 64 * 1024;
/**
 * Where a message's content goes once it outgrows its first buffer: blocks of
 * MEMORY_LIMIT and one slice more, touched before (net/block_pool.ts), given back once
 * the message spilled to its file, or when it ends in memory (copied out at its size
 * first: its bytes are kept by delivery), or is dropped. 8, one per message slot
 * (net/bulk_input.ts); 2.5 MiB when all are free.
 */
export const contentBlocks = new BlockPool(MEMORY_LIMIT + FEED_SLICE, 8);
const LF = 10;
const EMPTY = new Uint8Array(0);

/** The spool file of a message, as MessageSink wrote it: `returnPath`, `trace`, message. */
interface SpoolFile {
  path: string;
  file: OffThreadFile;
  returnPath: Uint8Array;
  trace: Uint8Array;
}

/** A received message: in memory (small), or its header in memory and all of it in a file. */
export class ReceivedMessage {
  /** The first octets of the message: all of it when in memory, else at least its header. */
  readonly head: Uint8Array;
  /** The header of the message, over `head`. */
  readonly block: HeaderBlock;
  /** Octets of the message as received (our trace fields not counted). */
  readonly size: number;
  /** Our Received field (RFC 5321 §4.4), empty for mail the server generates. */
  readonly trace: Uint8Array;
  /** The header was longer than HEADER_LIMIT: `head` holds only its start. */
  readonly headerTooLarge: boolean;
  readonly #spool: SpoolFile | null;
  #synced: Promise<void> | null = null;
  #gone = false;

  constructor(init: {
    head: Uint8Array;
    size: number;
    trace?: Uint8Array;
    headerTooLarge?: boolean;
    spool?: SpoolFile | null;
  }) {
    this.head = init.head;
    this.block = parseHeaderBlock(init.head);
    this.size = init.size;
    this.trace = init.trace ?? EMPTY;
    this.headerTooLarge = init.headerTooLarge ?? false;
    this.#spool = init.spool ?? null;
  }

  /** A message held in memory (generated mail, small transfers). */
  static fromBytes(bytes: Uint8Array, trace: Uint8Array = EMPTY): ReceivedMessage {
    return new ReceivedMessage({ head: bytes, size: bytes.length, trace });
  }

  /** The spool file's path, or null when the message is in memory. */
  get spoolPath(): string | null {
    return this.#spool?.path ?? null;
  }

  /**
   * The bytes to store: `front` (whole header fields to put before the message) and the
   * message, with `head` (a rewritten header, src/message/header_rewrite.ts) in place of
   * its first `this.head.length` octets when given. In memory: one array. Spooled: the
   * pieces, linkable when they are exactly the spool file.
   */
  content(front: readonly Uint8Array[], head: Uint8Array = this.head): Uint8Array | MessageContent {
    const spool = this.#spool;
    if (!spool) {
      if (head === this.head && front.every((f) => f.length === 0)) return head;
      return concatBytes([...front, head]);
    }
    const fileStart = spool.returnPath.length + spool.trace.length;
    const tail = this.size - this.head.length;
    const parts: ContentPart[] = [...front];
    if (head === this.head && front.length > 0 && front[front.length - 1] === this.trace) {
      // Our Received and the message as received are in the file, one after the other.
      parts.pop();
      const fromTrace = { path: spool.path, offset: spool.returnPath.length };
      if (parts.every((p) => p.length === 0)) {
        const whole = { ...fromTrace, length: spool.trace.length + this.size };
        return new MessageContent([whole], null, head);
      }
      const front0 = parts.filter((p) => p.length > 0);
      if (front0.length === 1 && sameBytes(front0[0] as Uint8Array, spool.returnPath)) {
        const whole = { path: spool.path, offset: 0, length: fileStart + this.size };
        return new MessageContent([whole], { path: spool.path, sync: () => this.sync() }, head);
      }
      parts.push({ ...fromTrace, length: spool.trace.length + this.size });
      return new MessageContent(parts, null, head);
    }
    parts.push(head, { path: spool.path, offset: fileStart + this.head.length, length: tail });
    return new MessageContent(parts, null, head);
  }

  /** fsync of the spool file, once, before it is linked into a Maildir. */
  sync(): Promise<void> {
    this.#synced ??= this.#spool ? this.#spool.file.sync() : Promise.resolve();
    return this.#synced;
  }

  /**
   * Every octet of the message as received, in order, in chunks (each valid until the
   * next is asked for): for checks that need the whole message (DKIM body hashes, spam
   * scores) without holding it in memory.
   */
  async *chunks(): AsyncGenerator<Uint8Array> {
    yield this.head;
    const spool = this.#spool;
    const tail = this.size - this.head.length;
    if (!spool || tail === 0) return;
    const offset = spool.returnPath.length + spool.trace.length + this.head.length;
    yield* readSlice({ path: spool.path, offset, length: tail }, new Uint8Array(COPY_CHUNK));
  }

  /** Removes the spool file (delivered or refused); idempotent. */
  async discard(): Promise<void> {
    const spool = this.#spool;
    if (!spool || this.#gone) return;
    this.#gone = true;
    await this.#synced?.catch(() => {});
    await spool.file.close();
    await Deno.remove(spool.path).catch(() => {});
  }
}

/** Receives the content of DATA or BDAT: memory first, then the spool file. */
export class MessageSink {
  readonly #files: IncomingFiles;
  readonly #label: string;
  readonly #returnPath: Uint8Array;
  readonly #trace: Uint8Array;
  /** Content not written yet: all of it until it spills, then the next chunk. */
  #mem: ByteBuffer;
  #size = 0;
  #spool: SpoolFile | null = null;
  /** The first octets of the message until its header is complete (spooled only). */
  #headBuf: ByteBuffer | null = null;
  #head: Uint8Array | null = null;
  #headerTooLarge = false;
  #discarded = false;
  /** finish() gave the spool file to a ReceivedMessage. */
  #handedOver = false;
  /** A write to the spool file failed: the rest is read and dropped, finish() throws. */
  #failed: Error | null = null;
  /** A write is under way: it reads the collected content, which must stay where it is. */
  #writing = false;

  /**
   * `label` names the spool file (the queue id); `returnPath` and `trace` are the fields
   * the file starts with, which delivery puts in front of the message anyway.
   */
  constructor(
    files: IncomingFiles,
    init: { label: string; returnPath: Uint8Array; trace: Uint8Array; sizeHint?: number },
  ) {
    this.#files = files;
    this.#label = init.label;
    this.#returnPath = init.returnPath;
    this.#trace = init.trace;
    const hint = Math.min(init.sizeHint ?? 0, MEMORY_LIMIT);
    // Never more room than a spill needs (readers append at most FEED_SLICE at a time);
    // without a SIZE hint the first append decides (most messages come in one read).
    this.#mem = new ByteBuffer(
      hint > 0 ? hint + 1024 : 0,
      MEMORY_LIMIT + FEED_SLICE,
      contentBlocks,
    );
  }

  /** Octets of content received so far. */
  get size(): number {
    return this.#size;
  }

  append(bytes: Uint8Array): void {
    this.#size += bytes.length;
    if (this.#failed === null) this.#mem.append(bytes);
  }

  /** Enough is collected to write it out: the reader should await flush() now. */
  get wantsFlush(): boolean {
    return this.#mem.length >= (this.#spool ? WRITE_CHUNK : MEMORY_LIMIT);
  }

  /**
   * Writes what is collected to the spool file (starting it) when wantsFlush says so.
   * Never throws: after a failed write (disk full) the reader goes on reading the
   * content to its end, so none of it is taken for commands, and finish() reports it.
   */
  async flush(): Promise<void> {
    if (!this.wantsFlush || this.#failed) return;
    try {
      await this.#write(false);
    } catch (e) {
      this.#failed = e instanceof Error ? e : new Error(String(e));
      this.#mem.release(); // the write is over: its block back (nothing more is kept)
      await this.#removeSpool();
    }
  }

  async #write(final: boolean): Promise<void> {
    this.#writing = true;
    try {
      await this.#writeCollected(final);
    } finally {
      this.#writing = false;
      if (this.#discarded) this.#mem.release();
    }
  }

  async #writeCollected(final: boolean): Promise<void> {
    if (this.#discarded) return;
    const data = this.#mem.bytes();
    let spool = this.#spool;
    const parts = [data];
    if (!spool) {
      const { path, file } = await this.#files.create(this.#label);
      spool = this.#spool = { path, file, returnPath: this.#returnPath, trace: this.#trace };
      if (this.#discarded) return await this.#removeSpool();
      parts.unshift(this.#returnPath, this.#trace);
    }
    this.#captureHead(data, final);
    const shared = spool.file.buffer;
    if (this.#mem.isIn(shared)) {
      await spool.file.writeBuffer(data.length);
      this.#mem.clear();
      return;
    }
    // The first spill (or a chunk that outgrew the shared buffer): through the shared buffer
    // piece by piece, nothing else copied (the memory is not touched until this is done).
    await writeThrough(spool.file, parts);
    // Spilled: from now on a chunk is collected in the buffer the writing thread shares
    // (it is not touched while a write is under way: readers await flush()). The memory
    // so far is no longer looked at (the head was copied out): back to the blocks.
    this.#mem.release();
    this.#mem = new ByteBuffer(shared, shared.length);
  }

  /**
   * Keeps the message's first octets until the header is complete: the last complete
   * line read ends past the header's end (an empty line, or a line that is no field).
   */
  #captureHead(data: Uint8Array, final: boolean): void {
    if (this.#head || this.#headerTooLarge) return;
    // The first chunk is looked at where it is: a header that ends in it (nearly every
    // one) is the only part copied. Copying the whole chunk first took a new 256 KiB per
    // spooled message, faulted in page by page on the event loop (docs/performance.md).
    const buf = this.#headBuf;
    if (buf) buf.append(data.subarray(0, HEADER_LIMIT + 1 - buf.length));
    const got = buf ? buf.bytes() : data.subarray(0, HEADER_LIMIT + 1);
    const lines = final ? got : got.subarray(0, got.lastIndexOf(LF) + 1);
    const block = parseHeaderBlock(lines);
    if (block.end < lines.length || (final && got.length <= HEADER_LIMIT)) {
      const end = block.bodyStart > block.end
        ? block.bodyStart
        : Math.min(lines.length, lines.indexOf(LF, block.end) + 1 || lines.length);
      this.#head = got.slice(0, end);
      this.#headBuf = null;
    } else if (got.length > HEADER_LIMIT) {
      this.#headerTooLarge = true;
      this.#head = got.slice(0, HEADER_LIMIT);
      this.#headBuf = null;
    } else if (!buf) {
      // Not complete yet: kept (a copy: `data` is reused for the next chunk).
      this.#headBuf = new ByteBuffer(got.length + 1);
      this.#headBuf.append(got);
    }
  }

  /** The content is complete (the reader says it is acceptable): the message as received. */
  async finish(): Promise<ReceivedMessage> {
    if (this.#failed) throw this.#failed;
    if (this.#discarded) throw new Error("the message was discarded");
    if (!this.#spool) {
      this.#handedOver = true;
      // Out of its block (if it grew into one) before anyone else sees the bytes: the
      // queue, the journal, the Maildir writer and the checks keep views of `head`.
      return new ReceivedMessage({
        head: this.#mem.detach(),
        size: this.#size,
        trace: this.#trace,
      });
    }
    await this.#write(true);
    this.#handedOver = true;
    return new ReceivedMessage({
      head: this.#head ?? EMPTY,
      size: this.#size,
      trace: this.#trace,
      headerTooLarge: this.#headerTooLarge,
      spool: this.#spool,
    });
  }

  /** The transfer failed or was refused: the spool file goes. Idempotent. */
  async discard(): Promise<void> {
    if (this.#discarded || this.#handedOver) return;
    this.#discarded = true;
    // Its block back, unless a write still reads the content (it stops at #discarded).
    if (this.#writing) this.#mem.clear();
    else this.#mem.release();
    await this.#removeSpool();
  }

  async #removeSpool(): Promise<void> {
    const spool = this.#spool;
    if (!spool) return;
    this.#spool = null;
    await spool.file.close();
    await Deno.remove(spool.path).catch(() => {});
  }
}

/** Writes `parts` one after the other through `file`'s shared buffer, as full as it goes. */
async function writeThrough(file: OffThreadFile, parts: Uint8Array[]): Promise<void> {
  const buffer = file.buffer;
  let used = 0;
  for (const part of parts) {
    for (let at = 0; at < part.length;) {
      const n = Math.min(part.length - at, buffer.length - used);
      buffer.set(part.subarray(at, at + n), used);
      used += n;
      at += n;
      if (used === buffer.length) {
        await file.writeBuffer(used);
        used = 0;
      }
    }
  }
  if (used > 0) await file.writeBuffer(used);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
