/**
 * The calls made with libc through FFI, for what neither Deno nor node:* offers or does as
 * cheaply: one library handle and one symbol table for the store's message reads
 * (store/read_small.ts) and delivery writes and syncs (store/libc_files.ts), and for the
 * socket options and the greeting write of accepted connections (net/quickack.ts,
 * net/greeting_write.ts). Loaded on first use; null where not allowed (no FFI permission)
 * or not Linux, and the callers then use the runtime's calls (or, for the socket calls,
 * do without).
 *
 * The syncs are `nonblocking` (they run on the runtime's blocking pool and return a
 * promise); every other call is a plain synchronous call on the calling thread.
 */

/** <fcntl.h> on Linux (x86-64 and arm64 alike). */
export const O_RDONLY = 0, O_WRONLY = 1, O_CREAT = 0o100, O_EXCL = 0o200;
export const O_CLOEXEC = 0o2000000, O_DIRECTORY = 0o200000, O_PATH = 0o10000000;
/** <sys/socket.h> send(2) flags on Linux: never block, no SIGPIPE on a closed peer. */
export const MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000;
/** <netinet/in.h>, <netinet/tcp.h>. */
export const IPPROTO_TCP = 6, TCP_QUICKACK = 12;

const encoder = new TextEncoder();

/**
 * Writes `text` into `buf` from `at` as the bytes of a C string (UTF-8, no NUL added) and
 * returns where they end. ASCII, nearly every path, by a loop (TextEncoder goes out to
 * native code); anything else encoded whole. `buf` must have room for `text.length * 3`
 * bytes from `at`; the caller checks that `text` has no NUL (it would end the string
 * early, and another file would be opened).
 */
export function cBytesInto(text: string, buf: Uint8Array, at: number): number {
  let end = at;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return at + encoder.encodeInto(text, buf.subarray(at)).written;
    buf[end++] = c;
  }
  return end;
}

/**
 * The 64-bit parameters (usize, i64) take a BigInt: the optimized FFI call (V8's fast API
 * call, made from TurboFan code) accepts only a BigInt there, and a number deoptimized
 * the calling function on every call once TurboFan had compiled it ("not a BigInt"),
 * leaving it and whatever inlined it in a lower tier with the FFI's slow calls (POP3 RETR
 * lost ~2 µs to it: docs/performance.md, "POP3 RETR: main-thread CPU per RETR"). The
 * results (isize, i64) come back as a number or a BigInt: callers take Number() of them.
 */
export interface Libc {
  /** open(2); `mode` matters only with O_CREAT (pass 0 otherwise). */
  open(path: Uint8Array, flags: number, mode: number): number;
  openat(dirFd: number, path: Uint8Array, flags: number, mode: number): number;
  read(fd: number, buf: Uint8Array, count: bigint): number | bigint;
  write(fd: number, buf: Uint8Array, count: bigint): number | bigint;
  close(fd: number): number;
  rename(from: Uint8Array, to: Uint8Array): number;
  link(from: Uint8Array, to: Uint8Array): number;
  lseek(fd: number, offset: bigint, whence: number): number | bigint;
  fstat(fd: number, buf: Uint8Array): number;
  fsync(fd: number): Promise<number>;
  fdatasync(fd: number): Promise<number>;
  syncfs(fd: number): Promise<number>;
  /** send(2): octets taken by the kernel, or -1. */
  send(fd: number, buf: Uint8Array, count: bigint, flags: number): number | bigint;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, len: number): number;
  /** nice(2): on Linux, raises the calling thread's nice value (not the process's). */
  nice(increment: number): number;
}

let libc: Libc | null | undefined;

function load(): Libc | null {
  if (Deno.build.os !== "linux") return null;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    const lib = Deno.dlopen("libc.so.6", {
      open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
      openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
      read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
      write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
      close: { parameters: ["i32"], result: "i32" },
      rename: { parameters: ["buffer", "buffer"], result: "i32" },
      link: { parameters: ["buffer", "buffer"], result: "i32" },
      lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
      fstat: { parameters: ["i32", "buffer"], result: "i32" },
      fsync: { parameters: ["i32"], result: "i32", nonblocking: true },
      fdatasync: { parameters: ["i32"], result: "i32", nonblocking: true },
      syncfs: { parameters: ["i32"], result: "i32", nonblocking: true },
      send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
      setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
      nice: { parameters: ["i32"], result: "i32" },
    });
    return lib.symbols as unknown as Libc;
  } catch {
    return null;
  }
}

/** The libc calls, or null where they are not used (no FFI permission, not Linux). */
export function systemLibc(): Libc | null {
  if (libc === undefined) libc = load();
  return libc;
}
