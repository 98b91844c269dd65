/**
 * Blocks of one size kept for reuse: the 192 KiB input buffers of connections that stream a
 * message (linebuffer.ts STREAM_HOLD), taken when a transfer starts and given back when
 * its session waits for the next command.
 *
 * Why: new memory costs its first touch, not its allocation. A buffer this large is mapped
 * fresh by malloc and given back to the kernel when freed, so each one is zeroed and
 * faulted in page by page when it is filled, 48 faults of about 8-12 µs each on this
 * machine (PVM: docs/performance.md). When 100 transfers start at once (bench hostile
 * many-25mib, many-append) that was paid on the event loop, in one piece per round of
 * reads; a block that was filled before costs none of it.
 *
 * Bounded: at most `keep` free blocks are held (what more is given back is left to the
 * collector), so the idle cost is keep x size of memory; fill() touches blocks ahead of
 * need (daemon start), so that the first burst after a start finds them too.
 */
export class BlockPool {
  readonly #free: Uint8Array<ArrayBuffer>[] = [];

  constructor(readonly size: number, readonly keep: number) {}

  /** Free blocks held now. */
  get free(): number {
    return this.#free.length;
  }

  /**
   * A block of `size` octets: one given back earlier (its old content still in it: the
   * taker owns every octet it reads, so it reads only what it wrote), else a new one.
   */
  take(): Uint8Array<ArrayBuffer> {
    return this.#free.pop() ?? new Uint8Array(this.size);
  }

  /** Gives a block back; it must no longer be used by anyone (views of it included). */
  give(block: Uint8Array): void {
    if (block.length !== this.size || block.byteOffset !== 0) return;
    // Never one shared with another thread (a spool file's buffer).
    if (!(block.buffer instanceof ArrayBuffer)) return;
    const own = block as Uint8Array<ArrayBuffer>;
    if (this.#free.length < this.keep && !this.#free.includes(own)) this.#free.push(own);
  }

  /** Makes and touches blocks until `count` are free (at most `keep`): their pages exist. */
  fill(count = this.keep): void {
    while (this.#free.length < Math.min(count, this.keep)) {
      // Written, not only allocated: a new mapping gets its pages at the first write.
      this.#free.push(new Uint8Array(this.size).fill(0));
    }
  }
}
