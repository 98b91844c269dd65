/**
 * TCP_QUICKACK (Linux tcp(7)): acknowledge what was received now instead of after the
 * delayed-ACK timer (40 ms and more).
 *
 * Why: a client with Nagle's algorithm on (TCP_NODELAY off, the default of Python's
 * imaplib and of most libraries) that sends a command in two small writes, e.g. an
 * APPEND literal and then the CRLF ending the command line, holds the second write until
 * the first is acknowledged (RFC 896). Between commands our reply carries that ACK; in
 * the middle of a command there is no reply to carry it, so the kernel waits for its
 * delayed-ACK timer (RFC 1122 §4.2.3.2) and each such command costs 40 ms. Dovecot sets
 * TCP_QUICKACK after its reads for the same reason. Sessions call quickAck() when they
 * wait for the rest of a command they have started to receive.
 *
 * Neither node:net nor Deno has an API for it, so this calls setsockopt(2) through FFI on
 * a duplicate of the socket's descriptor (closed at once, so the socket's lifetime is
 * untouched). Without FFI permission, on other systems, or if the runtime stops
 * providing the descriptor, it does nothing and returns false: a stall, not an error.
 */
import type { Socket } from "node:net";

const IPPROTO_TCP = 6;
/** <netinet/tcp.h>: TCP_QUICKACK. */
const TCP_QUICKACK = 12;

interface Libc {
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, len: number): number;
  close(fd: number): number;
}

let libc: Libc | null | undefined;
const ONE = new Uint8Array(new Int32Array([1]).buffer);

function loadLibc(): Libc | null {
  if (Deno.build.os !== "linux") return null;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    const lib = Deno.dlopen("libc.so.6", {
      setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
    });
    return {
      setsockopt: (fd, level, name, value, len) =>
        lib.symbols.setsockopt(fd, level, name, value, len),
      close: (fd) => lib.symbols.close(fd),
    };
  } catch {
    return null;
  }
}

/** Deno's TCP handle hands out a duplicate of the socket's descriptor (for IPC). */
interface DupHandle {
  fdForIpc?: () => number;
}

/**
 * Whether fdForIpc() returns a fresh duplicate each time (Deno 2.x: then it is closed
 * after use) or the socket's own descriptor (then it must never be closed); learned on
 * the first call by asking twice.
 */
let duplicates: boolean | undefined;

/**
 * Sends the ACK for everything received on `socket` now (TCP_QUICKACK). True when the
 * option was set; false when this platform or runtime cannot (nothing is changed then).
 */
export function quickAck(socket: Socket): boolean {
  if (libc === undefined) libc = loadLibc();
  if (libc === null) return false;
  const handle = (socket as unknown as { _handle?: DupHandle })._handle;
  if (typeof handle?.fdForIpc !== "function") return false;
  let fd: number;
  try {
    fd = handle.fdForIpc();
    if (duplicates === undefined && Number.isInteger(fd) && fd >= 0) {
      const again = handle.fdForIpc();
      duplicates = again !== fd;
      if (duplicates) libc.close(again);
    }
  } catch {
    return false; // the socket is already closed
  }
  if (!Number.isInteger(fd) || fd < 0) return false;
  try {
    return libc.setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, ONE, 4) === 0;
  } finally {
    if (duplicates) libc.close(fd);
  }
}
