/**
 * Reply buffers carved from shared slabs, as node's Buffer pool does: a reply of a few
 * KiB (a POP3 RETR of typical mail) costs a subarray instead of a fresh zero-filled
 * ArrayBuffer, which measured 1-2 µs each. A slab is never reused: once it is full a new
 * one is started, and the old one is freed by the GC when the last reply carved from it
 * has been written. So a buffer stays valid for as long as anyone (a socket's write
 * queue) holds it, exactly like one allocated on its own.
 */
const SLAB_SIZE = 128 * 1024;
/** Larger replies get their own buffer: they would waste most of a slab. */
const MAX_POOLED = 32 * 1024;

let slab = new Uint8Array(0);
let used = 0;

/** A buffer of exactly `n` zero bytes for one reply, never handed out before. */
export function allocReply(n: number): Uint8Array {
  if (n > MAX_POOLED) return new Uint8Array(n);
  if (used + n > slab.length) {
    slab = new Uint8Array(SLAB_SIZE);
    used = 0;
  }
  const out = slab.subarray(used, used + n);
  // Start the next one 8-aligned, so word-at-a-time scans line up with the data.
  used = (used + n + 7) & ~7;
  return out;
}
