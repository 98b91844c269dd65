/**
 * Reads of a plain TCP socket without node:net's stream layer: the bytes of each read are
 * handed to a callback as a view of one shared buffer, as Node's documented `onread`
 * socket option does (net.Socket({ onread: { buffer, callback } })), instead of a new
 * Buffer per read pushed through Readable and emitted as a 'data' event.
 *
 * Why: under a POP3 RETR load the read path (onStreamRead, Buffer.from, Readable.push,
 * addChunk, emit) is a fixed cost per command; a fake server answering a 6.5 KB reply per
 * command line measured 16.7 -> 13.5 µs of CPU per command with it (docs/performance.md,
 * "socket layer").
 *
 * The option exists only for sockets a program makes itself; a server's accepted sockets
 * are made by node:net. So this sets on an accepted socket what the option would set: the
 * two symbol-keyed fields (kBuffer, kBufferCb) that Deno's onStreamRead
 * (ext/node/polyfills/internal/stream_base_commons.ts, as Node's) checks on every read,
 * found by making a socket with the option once, and the handle's useUserBuffer() so the
 * runtime reads into the buffer. Checked against Deno 2.9.6 (a native TCPWrap since 2.7).
 * Anything missing (another runtime, a changed polyfill) makes install() return false,
 * and the caller keeps its 'data' listener.
 *
 * One buffer serves every connection: the runtime calls the callback right after each
 * read(2), before it reads any socket again, so the bytes are consumed (copied into the
 * connection's line buffer) before the buffer is reused. Callers must not keep the view.
 */
import net, { type Socket } from "node:net";

/** What one read may deliver: the runtime's own read size for node:net (64 KiB). */
export const SHARED_READ_SIZE = 64 * 1024;

interface Fields {
  kBuffer: symbol;
  kBufferCb: symbol;
}

let fields: Fields | null | undefined;
let shared: Uint8Array | null = null;

/** The symbols, learned from a socket made with the onread option (null: not available). */
function learnFields(): Fields | null {
  try {
    const buffer = new Uint8Array(1);
    const callback = () => true;
    // deno-lint-ignore no-explicit-any
    const probe = new net.Socket({ onread: { buffer, callback } } as any);
    let kBuffer: symbol | undefined;
    let kBufferCb: symbol | undefined;
    for (const s of Object.getOwnPropertySymbols(probe)) {
      const v = (probe as unknown as Record<symbol, unknown>)[s];
      if (v === buffer) kBuffer = s;
      else if (v === callback) kBufferCb = s;
    }
    probe.destroy();
    return kBuffer && kBufferCb ? { kBuffer, kBufferCb } : null;
  } catch {
    return null;
  }
}

interface UserBufferHandle {
  useUserBuffer?: (buffer: Uint8Array) => unknown;
  reading?: boolean;
}

/**
 * Makes `socket` (a plain, connected TCP socket) deliver its input to `onBytes(buffer,
 * length)`: the first `length` octets of `buffer`, valid only during the call. 'end',
 * 'close' and 'error' events, pause() and resume() are unchanged; 'data' is no longer
 * emitted. False (nothing changed) when the runtime does not offer this.
 */
export function readIntoShared(
  socket: Socket,
  onBytes: (buffer: Uint8Array, length: number) => void,
): boolean {
  if (fields === undefined) fields = learnFields();
  if (fields === null) return false;
  const handle = (socket as unknown as { _handle?: UserBufferHandle })._handle;
  if (typeof handle?.useUserBuffer !== "function") return false;
  // Input the stream layer already holds would never reach the callback.
  if (socket.readableLength > 0) return false;
  shared ??= new Uint8Array(SHARED_READ_SIZE);
  const target = socket as unknown as Record<symbol, unknown>;
  target[fields.kBuffer] = shared;
  target[fields.kBufferCb] = (length: number, buffer: Uint8Array) => {
    onBytes(buffer, length);
    return true; // pausing is the caller's, through socket.pause()
  };
  try {
    handle.useUserBuffer(shared);
  } catch {
    target[fields.kBuffer] = null;
    target[fields.kBufferCb] = null;
    return false;
  }
  return true;
}

/**
 * Before `socket` is wrapped in TLS: its reads stop going to the callback. Returns what to
 * call once the TLS socket is made. Deno's TLS layer installs its own read callback on the
 * TCP handle, which takes the bytes from the buffer it is given; with a user buffer the
 * handle passes none (the bytes are in the buffer), so the TLS callback is given the
 * shared buffer, where they are (checked with Deno 2.9.6: STARTTLS tests).
 */
export function beforeTlsWrap(socket: Socket): () => void {
  const target = socket as unknown as Record<symbol, unknown>;
  if (!fields || !target[fields.kBuffer]) return () => {};
  target[fields.kBuffer] = null;
  target[fields.kBufferCb] = null;
  const handle = (socket as unknown as { _handle?: { onread?: OnRead } })._handle;
  const before = handle?.onread;
  return () => {
    const tlsOnRead = handle?.onread;
    if (!handle || typeof tlsOnRead !== "function" || tlsOnRead === before) return;
    handle.onread = function (this: unknown, buffer: unknown, nread: unknown) {
      return tlsOnRead.call(this, buffer ?? shared, nread);
    };
  };
}

type OnRead = (this: unknown, buffer: unknown, nread: unknown) => unknown;
