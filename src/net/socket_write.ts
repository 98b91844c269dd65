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
 *
 * A long session (past SEND_OWN_AFTER writes: a POP3 maildrop being downloaded, an IMAP
 * client fetching) then sends its byte replies with send(2) on a duplicate of the
 * socket's descriptor that it holds (net/socket_fd.ts), a fast FFI call, instead of the
 * handle's writeBuffer: about 1.4 µs less of the event loop per POP3 RETR
 * (docs/performance.md, "POP3 RETR: main-thread CPU per RETR"). Only while the runtime
 * has nothing queued (pending 0), so the order stays; what send(2) does not take
 * (EAGAIN, a partial send, an error) is written through the handle as before, which
 * queues it or reports the error. The duplicate is closed by release(), which the
 * connection calls when it closes or upgrades (before the runtime closes its own
 * descriptor: a duplicate left open would hold the connection open, no FIN).
 */
import process from "node:process";
import type { Socket } from "node:net";
import { type Libc, MSG_DONTWAIT, MSG_NOSIGNAL, systemLibc } from "../sys/libc.ts";
import { duplicateSocketFd } from "./socket_fd.ts";

/**
 * Byte writes through the handle after which a connection takes its own descriptor: the
 * dup(2) and close(2) it costs pay off over a long session, not for a one-message SMTP
 * connection.
 */
export const SEND_OWN_AFTER = 16;

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
    private readonly socket: Socket,
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

  /** Byte writes so far, until the descriptor is taken (then -1: not counted further). */
  #byteWrites = 0;
  /** The held duplicate of the socket's descriptor (-1: none). */
  #fd = -1;
  #libc: Libc | null = null;

  /** Writes `data`; 0, or the negative errno of a write that failed at once. */
  write(data: Uint8Array | string): number {
    if (typeof data !== "string" && this.pending === 0) {
      if (this.#fd < 0 && this.#byteWrites >= 0 && ++this.#byteWrites > SEND_OWN_AFTER) {
        this.#takeDescriptor();
      }
      if (this.#fd >= 0) {
        const flags = MSG_DONTWAIT | MSG_NOSIGNAL;
        const sent = Number(this.#libc!.send(this.#fd, data, BigInt(data.length), flags));
        if (sent === data.length) return 0;
        if (sent > 0) data = data.subarray(sent); // the rest through the handle
      }
    }
    const status = typeof data === "string"
      ? this.handle.writeUtf8String(this.#req, data)
      : this.handle.writeBuffer(this.#req, data);
    if (status === 0 && this.state.state[this.state.lastWriteWasAsync] !== 0) {
      this.#queued.push(data);
      this.pending += data.length;
    }
    return status;
  }

  /** Whether replies now leave through a descriptor of its own (tests). */
  get ownDescriptor(): boolean {
    return this.#fd >= 0;
  }

  /** The descriptor held, or -1 (tests: what it refers to must be gone after close). */
  get descriptor(): number {
    return this.#fd;
  }

  /**
   * Closes the held descriptor, and takes none from now on: the connection is closing or
   * is handed to a TLS or compression layer.
   */
  release(): void {
    this.#byteWrites = -1;
    if (this.#fd >= 0) this.#libc!.close(this.#fd);
    this.#fd = -1;
  }

  #takeDescriptor(): void {
    this.#byteWrites = -1; // one try per connection
    this.#libc = systemLibc();
    if (this.#libc !== null) this.#fd = duplicateSocketFd(this.socket);
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
  return new DirectWriter(socket, handle as StreamHandle, streamState, onDrained, onError);
}
