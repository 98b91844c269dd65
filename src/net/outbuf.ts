/**
 * Reply buffers carved from shared slabs, as node's Buffer pool does: a reply of a few
 * KiB (a POP3 RETR of typical mail) costs a subarray instead of a fresh zero-filled
 * ArrayBuffer, which measured 1-2 µs each. Once a slab is full a new one is started, and
 * the old one is freed by the GC when the last reply carved from it has been written. So
 * a buffer stays valid for as long as anyone (a socket's write queue) holds it, exactly
 * like one allocated on its own.
 *
 * The last reply handed out can be given back (releaseReply) once the kernel has taken
 * its bytes, and the next reply is carved at the same place: a session answering one
 * command at a time then writes every reply from the same memory. Without that, a POP3
 * RETR load started a new 128 KiB slab every ~20 messages (about 100 MB/s of ArrayBuffers
 * at 17,000 RETR/s), and V8 answered that external memory with an incremental
 * mark-compact of the whole heap every 200-400 ms (--trace-gc: 13 in 4.4 s, 20-45 ms of
 * the event loop each).
 */
const SLAB_SIZE = 128 * 1024;
/** Larger replies get their own buffer: they would waste most of a slab. */
const MAX_POOLED = 32 * 1024;
/**
 * A large reply's buffer given back (releaseReply) is kept for the next large reply up to
 * this size (IMAP's batches flush at 1 MiB, output.ts). Fresh memory is not free on this
 * kind of machine: the first write to each page of a new 630 KB buffer (a SEARCH UNSEEN
 * answer of 90,000 numbers) cost 1.8 ms of page faults, against 3 µs for a buffer written
 * before, and the allocator gives such buffers back to the system when they are freed.
 */
const MAX_KEPT = 2 * 1024 * 1024;

let slab = new Uint8Array(0);
let used = 0;
/** Where the last buffer handed out starts in the slab (-1: none to give back). */
let lastStart = -1;
/** The large buffer kept for reuse (null: none, or it is handed out now). */
let kept: Uint8Array | null = null;
/** The large buffer handed out last, which releaseReply may take back. */
let largeOut: Uint8Array | null = null;

/**
 * A buffer of exactly `n` bytes for one reply, not in use by anyone else (its contents
 * are undefined: the caller writes all of what it sends).
 */
export function allocReply(n: number): Uint8Array {
  if (n > MAX_POOLED) return allocLarge(n);
  if (used + n > slab.length) {
    slab = new Uint8Array(SLAB_SIZE);
    used = 0;
  }
  const out = slab.subarray(used, used + n);
  lastStart = used;
  // Start the next one 8-aligned, so word-at-a-time scans line up with the data.
  used = (used + n + 7) & ~7;
  return out;
}

/**
 * Gives back `buf` when it is (a view from the start of) the last buffer allocReply()
 * handed out, so the next one reuses its memory; anything else is left alone. Only for a
 * buffer nobody reads any more: written, and taken by the kernel (the socket's
 * writableLength back at 0; in Deno 2.9 a write still in flight counts there, and the
 * runtime reads the buffer until then).
 */
export function releaseReply(buf: Uint8Array): void {
  if (largeOut !== null && buf.buffer === largeOut.buffer && buf.byteOffset === 0) {
    kept = largeOut;
    largeOut = null;
    return;
  }
  if (buf.byteOffset === lastStart && buf.buffer === slab.buffer) {
    used = lastStart;
    lastStart = -1;
  }
}

/** A buffer of `n` (> MAX_POOLED) bytes: the kept one when it is large enough. */
function allocLarge(n: number): Uint8Array {
  if (n > MAX_KEPT) return new Uint8Array(n);
  // The kept one is taken even when too small: the new one replaces it when given back.
  const reuse = kept !== null && kept.length >= n ? kept : null;
  kept = null;
  largeOut = reuse ?? new Uint8Array(n);
  return largeOut.subarray(0, n);
}
