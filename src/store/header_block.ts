/**
 * Reading the header block of a message file (up to its empty line, or a cap) without
 * reading the body: FETCH of headers, the message keys, the queue's envelope checks.
 * Split from fsutil.ts, which re-exports it.
 */

/** What readHeaderBlock returns: the bytes, and whether they are the whole file. */
export interface HeaderBlock {
  bytes: Uint8Array;
  whole: boolean;
}

/**
 * The start of a message file up to and including the empty line that ends its header
 * (CRLF or bare LF), or up to `cap` bytes when the header is longer, or the whole file
 * when it has no empty line. `whole`: the end of the file was reached (the bytes are the
 * message). Reads grow from 16 KiB, so a typical header costs one read.
 */
export async function readHeaderBlock(file: Deno.FsFile, cap: number): Promise<HeaderBlock> {
  const h = new HeaderBuffer(cap);
  for (;;) {
    const done = h.took(await file.read(h.space()));
    if (done) return done;
  }
}

/** readHeaderBlock for a worker thread (blocking reads). */
export function readHeaderBlockSync(file: Deno.FsFile, cap: number): HeaderBlock {
  const h = new HeaderBuffer(cap);
  for (;;) {
    const done = h.took(file.readSync(h.space()));
    if (done) return done;
  }
}

/** The bytes read so far of a header block, and where it ends. */
class HeaderBuffer {
  #buf: Uint8Array;
  #n = 0;

  constructor(readonly cap: number) {
    this.#buf = new Uint8Array(Math.min(cap, 16 << 10));
  }

  /** Where the next read goes. */
  space(): Uint8Array {
    return this.#buf.subarray(this.#n);
  }

  /** Takes the result of a read into space() (null: end of file); the block once complete. */
  took(got: number | null): HeaderBlock | null {
    if (got === null) return { bytes: this.#buf.subarray(0, this.#n), whole: true };
    const from = Math.max(0, this.#n - 2);
    this.#n += got;
    const end = blankLineEnd(this.#buf, from, this.#n);
    if (end >= 0) return { bytes: this.#buf.subarray(0, end), whole: false };
    if (this.#n === this.#buf.length) {
      if (this.#n >= this.cap) return { bytes: this.#buf, whole: false };
      const bigger = new Uint8Array(Math.min(this.cap, this.#buf.length * 2));
      bigger.set(this.#buf);
      this.#buf = bigger;
    }
    return null;
  }
}

/**
 * Where the header ends in bytes[0, end) when its empty line starts at or after `from`
 * (the end of that line), else -1. A message may begin with the empty line (no header).
 */
function blankLineEnd(bytes: Uint8Array, from: number, end: number): number {
  if (from === 0) {
    if (end >= 1 && bytes[0] === 10) return 1;
    if (end >= 2 && bytes[0] === 13 && bytes[1] === 10) return 2;
  }
  for (let i = from; i < end; i++) {
    if (bytes[i] !== 10) continue;
    // The line starting after this LF is empty: LF, or CR LF.
    if (i + 1 < end && bytes[i + 1] === 10) return i + 2;
    if (i + 2 < end && bytes[i + 1] === 13 && bytes[i + 2] === 10) return i + 3;
  }
  return -1;
}
