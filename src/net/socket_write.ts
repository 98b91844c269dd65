/**
 * Writes to a plain TCP socket straight through its handle (writeBuffer and
 * writeUtf8String, what node:net's own write path ends in), without the Writable stream
 * layer above: no WriteWrap (a native object with an async id), no Writable state
 * machine, no completion callback for a write the kernel took at once.
 *
 * Why: a reply is a fixed cost per command in that layer; a fake server answering a 6.5 KB
 * reply per command line measured ~1-2 µs less CPU per command with it, on top of the
 * shared-buffer reads (docs/performance.md, "socket layer").
 *
 * The handle's contract is Node's stream_base (Deno 2.9.6 implements it natively): a
 * write returns 0 or a negative errno; `streamBaseState[kLastWriteWasAsync]` says whether
 * the kernel took everything now (0) or the runtime queued the rest, in which case it
 * calls `req.oncomplete(status)` later, in order, and still reads the buffer until then.
 * The state array comes from process.binding("stream_wrap"); anything missing makes
 * directWriter() return null and the caller writes through the socket as before.
 *
 * Ordering: the runtime queues a handle's writes in order, so direct writes and the
 * socket's own (end(), TLS, a compression layer) stay in order as long as a direct write
 * is made only while the socket's Writable holds nothing (writableLength 0): the caller
 * checks that.
 */
import process from "node:process";
import type { Socket } from "node:net";

interface StreamHandle {
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  writeUtf8String(req: WriteReq, data: string): number;
}

interface WriteReq {
  oncomplete(status: number): void;
}

interface StreamState {
  state: Int32Array;
  lastWriteWasAsync: number;
}

let streamState: StreamState | null | undefined;

function loadState(): StreamState | null {
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> })
      .binding("stream_wrap");
    const state = binding.streamBaseState;
    const lastWriteWasAsync = binding.kLastWriteWasAsync;
    if (!(state instanceof Int32Array) || typeof lastWriteWasAsync !== "number") return null;
    return { state, lastWriteWasAsync };
  } catch {
    return null;
  }
}

export class DirectWriter {
  /** Octets queued by the runtime (writes the kernel did not take at once), not yet done. */
  pending = 0;
  /** The queued writes, oldest first: their buffers stay referenced until written. */
  #queued: (Uint8Array | string)[] = [];
  readonly #req: WriteReq;

  constructor(
    private readonly handle: StreamHandle,
    private readonly state: StreamState,
    /** A queued write completed and nothing is queued any more. */
    onDrained: () => void,
    /** A queued write failed (negative errno). */
    onError: (status: number) => void,
  ) {
    this.#req = {
      oncomplete: (status: number) => {
        const done = this.#queued.shift();
        if (done !== undefined) this.pending -= done.length;
        if (status < 0) onError(status);
        else if (this.pending === 0) onDrained();
      },
    };
  }

  /** Writes `data`; 0, or the negative errno of a write that failed at once. */
  write(data: Uint8Array | string): number {
    const status = typeof data === "string"
      ? this.handle.writeUtf8String(this.#req, data)
      : this.handle.writeBuffer(this.#req, data);
    if (status === 0 && this.state.state[this.state.lastWriteWasAsync] !== 0) {
      this.#queued.push(data);
      this.pending += data.length;
    }
    return status;
  }
}

/**
 * A DirectWriter for `socket` (plain TCP, connected), or null when the runtime does not
 * offer what it needs.
 */
export function directWriter(
  socket: Socket,
  onDrained: () => void,
  onError: (status: number) => void,
): DirectWriter | null {
  if (streamState === undefined) streamState = loadState();
  if (streamState === null) return null;
  const handle = (socket as unknown as { _handle?: Partial<StreamHandle> })._handle;
  if (typeof handle?.writeBuffer !== "function" || typeof handle.writeUtf8String !== "function") {
    return null;
  }
  return new DirectWriter(handle as StreamHandle, streamState, onDrained, onError);
}
