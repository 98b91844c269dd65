/**
 * The greeting of a plain-TCP server connection (SMTP 220, POP3 +OK, IMAP * OK), sent
 * through the socket's descriptor as the connection is accepted.
 *
 * Why: Deno's TCP handle (tokio) does not try a write on a socket its event loop has not
 * yet seen writable; it queues the write until the next poll reports the socket's first
 * EPOLLOUT, one more turn of the loop behind every other session's work. strace showed
 * accept4, epoll_ctl ADD, then the greeting's sendto only after the next epoll_wait; at
 * one message per connection (smtp-source -s 4) SYN -> 220 took 0.4-0.65 ms p50
 * (docs/performance.md, "Greeting at accept"). A send(2) on the descriptor leaves in the
 * turn of the accept.
 *
 * Order: this is the connection's first write, made while the runtime has nothing queued
 * for the socket (the caller checks), and the kernel takes it before send(2) returns, so
 * whatever the runtime writes later follows it. Input is untouched: a client that talks
 * before the greeting is read by the runtime as before.
 *
 * MSG_DONTWAIT: never block the event loop (a fresh socket's buffer takes a greeting at
 * once; if not, the rest goes the runtime's way). MSG_NOSIGNAL: a client already gone
 * gives EPIPE, not SIGPIPE. Where the descriptor or libc is not available (no FFI
 * permission, not Linux, the handle changed), or send(2) fails or takes only part, the
 * caller writes what is left through the runtime as before.
 */
import type { Socket } from "node:net";
import { type Libc, MSG_DONTWAIT, MSG_NOSIGNAL } from "../sys/libc.ts";
import { withSocketFd } from "./socket_fd.ts";

/** send(2) as made here: octets taken by the kernel, or -1. Tests inject their own. */
export type SendCall = (
  libc: Libc,
  fd: number,
  bytes: Uint8Array,
  length: number,
) => number | bigint;

const encoder = new TextEncoder();
/** Greetings are short (an IMAP one with its CAPABILITY list is a few hundred octets). */
const scratch = new Uint8Array(2048);

function libcSend(libc: Libc, fd: number, bytes: Uint8Array, length: number): number | bigint {
  return libc.send(fd, bytes, BigInt(length), MSG_DONTWAIT | MSG_NOSIGNAL);
}

/**
 * Sends `text` on the plain TCP `socket` through its descriptor now. Returns what is
 * left for the runtime to write: "" when the kernel took all of it, `text` when nothing
 * was sent (not possible here, EAGAIN, an error), the unsent octets after a partial send.
 */
export function sendAtAccept(
  socket: Socket,
  text: string,
  send: SendCall = libcSend,
): string | Uint8Array {
  const { read, written } = encoder.encodeInto(text, scratch);
  if (read !== text.length) return text; // longer than any greeting: the usual path
  const sent = withSocketFd(socket, (libc, fd) => Number(send(libc, fd, scratch, written)));
  if (sent === null || sent <= 0) return text;
  if (sent >= written) return "";
  return scratch.slice(sent, written);
}
