/**
 * A node:net socket's descriptor, for the few socket calls neither node:net nor Deno
 * offers (net/quickack.ts: TCP_QUICKACK; net/greeting_write.ts: the greeting sent at
 * accept; net/socket_write.ts: replies of a long session), made through libc (sys/libc.ts).
 *
 * Deno 2.9's TCP handle does not expose its descriptor (`_handle.fd` is undefined); it
 * hands out a duplicate for IPC (`fdForIpc`, a dup(2)). withSocketFd() closes the
 * duplicate right after the call, so the socket's lifetime stays the runtime's: a
 * duplicate kept open would keep the connection open (no FIN) after the runtime closed
 * its own descriptor. duplicateSocketFd() hands one out to a caller that closes it itself.
 */
import type { Socket } from "node:net";
import { type Libc, systemLibc } from "../sys/libc.ts";

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
 * Runs `call` with libc and a descriptor of `socket` (closed afterwards when it is a
 * duplicate); null when this platform or runtime cannot (no FFI permission, not Linux,
 * no fdForIpc, the socket already closed), without calling it.
 */
export function withSocketFd<T>(socket: Socket, call: (libc: Libc, fd: number) => T): T | null {
  const libc = systemLibc();
  if (libc === null) return null;
  const fd = socketFd(libc, socket);
  if (fd < 0) return null;
  try {
    return call(libc, fd);
  } finally {
    if (duplicates) libc.close(fd);
  }
}

/** fdForIpc() of `socket`'s handle, or -1 (none, or the socket already closed). */
function socketFd(libc: Libc, socket: Socket): number {
  const handle = (socket as unknown as { _handle?: DupHandle })._handle;
  if (typeof handle?.fdForIpc !== "function") return -1;
  let fd: number;
  try {
    fd = handle.fdForIpc();
    if (duplicates === undefined && Number.isInteger(fd) && fd >= 0) {
      const again = handle.fdForIpc();
      duplicates = again !== fd;
      if (duplicates) libc.close(again);
    }
  } catch {
    return -1; // the socket is already closed
  }
  return Number.isInteger(fd) && fd >= 0 ? fd : -1;
}

/**
 * A duplicate of `socket`'s descriptor for the caller to keep (net/socket_write.ts sends
 * replies through it) and to close with libc.close() no later than the runtime closes
 * the socket: until then the connection stays open (no FIN). -1 when there is none to
 * keep: no libc, no fdForIpc, or a runtime whose fdForIpc gives the socket's own
 * descriptor (which must never be closed by us, nor used once the runtime closed it).
 */
export function duplicateSocketFd(socket: Socket): number {
  const libc = systemLibc();
  if (libc === null) return -1;
  const fd = socketFd(libc, socket);
  if (fd >= 0 && !duplicates) return -1;
  return fd;
}
