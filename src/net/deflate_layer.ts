/**
 * A byte layer that a Connection puts between its socket and its reader/writer: raw
 * DEFLATE (RFC 1951) in both directions, as IMAP COMPRESS=DEFLATE (RFC 4978) asks.
 * node:zlib does the work; this class keeps order and bounds memory:
 *
 * - Output: each write is compressed and followed by a Z_SYNC_FLUSH (RFC 4978 §4: the
 *   peer must be able to read a response batch without waiting for more), and the
 *   compressed bytes reach the socket in the order written. `output()` resolves once
 *   they have been handed to the socket, so the Connection's back-pressure (the
 *   socket's buffer) still applies.
 * - Input: compressed bytes are queued and inflated a small slice at a time, only while
 *   the reader has room. One slice of 1 KiB inflates to at most about 1 MiB (deflate's
 *   ratio is bounded near 1:1032), so a "zip bomb" cannot outgrow the per-client bound.
 */
import zlib from "node:zlib";

/** What the layer needs from its connection. */
export interface LayerSink {
  /** Decoded input, in order. */
  deliver(bytes: Uint8Array): void;
  /** Whether the reader can take more decoded input now (else wait for resume()). */
  room(): boolean;
  /** Encoded output, in order, for the socket. */
  emit(bytes: Uint8Array): void;
  /** The input was undecodable (corrupt stream): the connection is failed. */
  fail(error: Error): void;
  /** All input before the peer's end of stream was delivered. */
  inputEnded(): void;
}

/** Compressed input inflated per step (see the bound above). */
const SLICE = 1024;

export class DeflateLayer {
  readonly #sink: LayerSink;
  readonly #deflate = zlib.createDeflateRaw();
  readonly #inflate = zlib.createInflateRaw();
  #queue: Uint8Array[] = [];
  #queued = 0;
  #pumping = false;
  #inputEnd = false;
  #failed = false;

  constructor(sink: LayerSink) {
    this.#sink = sink;
    this.#deflate.on("data", (b: Uint8Array) => sink.emit(b));
    this.#inflate.on("data", (b: Uint8Array) => sink.deliver(b));
    const fail = (e: Error) => {
      if (this.#failed) return;
      this.#failed = true;
      this.#queue = [];
      this.#queued = 0;
      sink.fail(e);
    };
    this.#deflate.on("error", fail);
    this.#inflate.on("error", fail);
  }

  /** Compressed bytes received and not yet inflated (the socket pauses past a limit). */
  get pendingInput(): number {
    return this.#queued;
  }

  /** Bytes written and not yet compressed and handed on. */
  get pendingOutput(): number {
    return this.#deflate.writableLength;
  }

  /** Takes compressed bytes from the socket. */
  input(chunk: Uint8Array): void {
    if (this.#failed || chunk.length === 0) return;
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    this.#pump();
  }

  /** The peer ended its stream: inputEnded() follows once the queue is inflated. */
  endInput(): void {
    this.#inputEnd = true;
    this.#pump();
  }

  /** The reader made room: inflating goes on. */
  resume(): void {
    this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queued > 0 && !this.#failed && this.#sink.room()) {
        const slice = this.#take(SLICE);
        await new Promise<void>((resolve) => this.#inflate.write(slice, () => resolve()));
      }
    } finally {
      this.#pumping = false;
    }
    if (this.#inputEnd && this.#queued === 0) {
      this.#inputEnd = false;
      this.#sink.inputEnded();
    }
  }

  #take(n: number): Uint8Array {
    const first = this.#queue[0];
    let out: Uint8Array;
    if (first.length <= n) {
      this.#queue.shift();
      out = first;
    } else {
      out = first.subarray(0, n);
      this.#queue[0] = first.subarray(n);
    }
    this.#queued -= out.length;
    return out;
  }

  /**
   * Compresses `data` and flushes (Z_SYNC_FLUSH); resolves when the compressed bytes
   * have gone to emit(). Calls are kept in order by the stream.
   */
  output(data: string | Uint8Array): Promise<void> {
    if (this.#failed) return Promise.resolve();
    this.#deflate.write(data);
    return new Promise((resolve) => {
      this.#deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve());
    });
  }

  /** Resolves when everything written so far has been emitted. */
  drained(): Promise<void> {
    if (this.#failed || this.#deflate.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve());
    });
  }

  destroy(): void {
    this.#failed = true;
    this.#deflate.destroy();
    this.#inflate.destroy();
  }
}
