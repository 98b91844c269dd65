/**
 * Message content that is not (all) in memory: bytes in memory and ranges of files,
 * one after the other. A message received into a spool file (src/delivery/incoming.ts)
 * is stored as the trace fields in memory plus the file's bytes, so its body is never
 * held whole in memory: a Maildir file or a queue entry is written from the pieces in
 * chunks (one copy on disk), or, when the spool file already holds exactly the bytes to
 * store, that file is hard-linked as it is (no copy at all). See docs/delivery.md.
 */
import { writeAll } from "./fsutil.ts";

/** `length` bytes of the file at `path`, from `offset`. */
export interface FileSlice {
  path: string;
  offset: number;
  length: number;
}

export type ContentPart = Uint8Array | FileSlice;

/** Bytes read from files per read (and the most a copy holds in memory at once). */
export const COPY_CHUNK = 256 * 1024;

export class MessageContent {
  readonly parts: readonly ContentPart[];
  readonly size: number;
  /**
   * The one file that holds exactly these bytes and may be linked instead of copied,
   * with the fsync to run (once) before it is; null when the pieces must be copied.
   */
  readonly linkable: { path: string; sync: () => Promise<void> } | null;
  /**
   * The message's header block (and maybe more) when it is in memory, for what is
   * computed from the header as the message is stored (the SORT/SEARCH keys).
   */
  readonly header: Uint8Array | null;

  constructor(
    parts: readonly ContentPart[],
    linkable: { path: string; sync: () => Promise<void> } | null = null,
    header: Uint8Array | null = null,
  ) {
    this.parts = parts.filter((p) => p.length > 0);
    this.size = this.parts.reduce((n, p) => n + p.length, 0);
    this.linkable = linkable;
    this.header = header;
  }

  /** Writes the pieces to `file` at its current position, file ranges in chunks. */
  async writeTo(file: Deno.FsFile): Promise<void> {
    let buf: Uint8Array | null = null;
    for (const part of this.parts) {
      if (part instanceof Uint8Array) {
        await writeAll(file, part);
        continue;
      }
      buf ??= new Uint8Array(Math.min(COPY_CHUNK, part.length));
      for await (const chunk of readSlice(part, buf)) await writeAll(file, chunk);
    }
  }

  /**
   * The content in pieces of at most COPY_CHUNK octets, each a new array (a reader may
   * keep them), for readers that need all of it once (DKIM body hashes, ARC).
   */
  async *chunks(): AsyncGenerator<Uint8Array> {
    for (const part of this.parts) {
      if (part instanceof Uint8Array) {
        yield part;
        continue;
      }
      const buf = new Uint8Array(Math.min(COPY_CHUNK, part.length));
      for await (const chunk of readSlice(part, buf)) yield chunk.slice();
    }
  }

  /**
   * The content as views of one buffer that is reused: each is valid until the next is
   * asked for (scans and hashes that keep nothing), so reading a large file makes no
   * garbage. `inUse()` is asked before each read: true (a socket still holds the last
   * view) takes a new buffer instead.
   */
  async *views(
    buf = new Uint8Array(COPY_CHUNK),
    inUse: () => boolean = () => false,
  ): AsyncGenerator<Uint8Array> {
    for (const part of this.parts) {
      if (part instanceof Uint8Array) {
        yield part;
        continue;
      }
      const file = await Deno.open(part.path, { read: true });
      try {
        await file.seek(part.offset, Deno.SeekMode.Start);
        for (let left = part.length; left > 0;) {
          if (inUse()) buf = new Uint8Array(buf.length);
          const n = await file.read(buf.subarray(0, Math.min(buf.length, left)));
          if (n === null || n === 0) {
            throw new Error(`${part.path} ended ${left} bytes before the expected end`);
          }
          left -= n;
          yield buf.subarray(0, n);
        }
      } finally {
        file.close();
      }
    }
  }

  /** The content in one array (small content, tests). */
  async bytes(): Promise<Uint8Array> {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const part of this.parts) {
      if (part instanceof Uint8Array) {
        out.set(part, at);
        at += part.length;
        continue;
      }
      for await (const chunk of readSlice(part, out.subarray(at, at + part.length))) {
        at += chunk.length;
      }
    }
    return out;
  }
}

/**
 * The bytes of a file slice, read into `buf` (reused: each chunk is valid until the
 * next one is asked for). Throws when the file is shorter than the slice says.
 */
export async function* readSlice(slice: FileSlice, buf: Uint8Array): AsyncGenerator<Uint8Array> {
  const file = await Deno.open(slice.path, { read: true });
  try {
    yield* readRange(file, slice.offset, slice.length, buf);
  } finally {
    file.close();
  }
}

/** `length` bytes of an open file from `offset`, in chunks read into `buf`. */
export async function* readRange(
  file: Deno.FsFile,
  offset: number,
  length: number,
  buf: Uint8Array,
): AsyncGenerator<Uint8Array> {
  if (length <= 0) return;
  await file.seek(offset, Deno.SeekMode.Start);
  let left = length;
  while (left > 0) {
    const n = await file.read(buf.subarray(0, Math.min(buf.length, left)));
    if (n === null || n === 0) throw new Error(`file ended ${left} bytes before the expected end`);
    left -= n;
    yield buf.subarray(0, n);
  }
}
