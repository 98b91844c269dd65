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
 * Neither node:net nor Deno has an API for it, so this calls setsockopt(2) through FFI
 * (sys/libc.ts) on a duplicate of the socket's descriptor (socket_fd.ts: closed at once,
 * so the socket's lifetime is untouched). Without FFI permission, on other systems, or if
 * the runtime stops providing the descriptor, it does nothing and returns false: a
 * stall, not an error.
 */
import type { Socket } from "node:net";
import { IPPROTO_TCP, type Libc, TCP_QUICKACK } from "../sys/libc.ts";
import { withSocketFd } from "./socket_fd.ts";

const ONE = new Uint8Array(new Int32Array([1]).buffer);

function setQuickAck(libc: Libc, fd: number): boolean {
  return libc.setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, ONE, 4) === 0;
}

/**
 * Sends the ACK for everything received on `socket` now (TCP_QUICKACK). True when the
 * option was set; false when this platform or runtime cannot (nothing is changed then).
 */
export function quickAck(socket: Socket): boolean {
  return withSocketFd(socket, setQuickAck) ?? false;
}
