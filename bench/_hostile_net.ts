/**
 * Raw loopback clients for bench/hostile.ts: lines with timeouts, writes that give up,
 * and a bound on everything (an attack must end even when the server stops reading).
 */
import net from "node:net";
import { TextLines } from "./_lines.ts";

const enc = new TextEncoder();
const dec = new TextDecoder("latin1");

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A client over node:net (a local source address can be chosen), never throwing on I/O. */
export class RawClient {
  #socket: net.Socket;
  readonly #lines = new TextLines();
  #waiters: (() => void)[] = [];
  closed = false;
  /** Bytes received in total (never-reading clients leave them unread in the kernel). */
  received = 0;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      this.received += chunk.length;
      if (this.#lines.length < 1 << 20) this.#lines.append(dec.decode(chunk));
      this.#wake();
    });
    const end = () => {
      this.closed = true;
      this.#wake();
    };
    socket.on("close", end);
    socket.on("end", end);
    socket.on("error", end);
  }

  static connect(port: number, opts: { from?: string; timeoutMs?: number } = {}) {
    return new Promise<RawClient>((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port, localAddress: opts.from });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error("connect timed out"));
      }, opts.timeoutMs ?? 10_000);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve(new RawClient(socket));
      });
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Stops reading from the socket (the kernel buffers fill, then the server's). */
  pause(): void {
    this.#socket.pause();
  }

  /** Writes; resolves when handed to the kernel, or false after `ms` (then destroyed). */
  write(data: string | Uint8Array, ms = 30_000): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.destroy();
        resolve(false);
      }, ms);
      this.#socket.write(typeof data === "string" ? enc.encode(data) : data, (err) => {
        clearTimeout(timer);
        resolve(!err);
      });
    });
  }

  /** The next line (without CRLF), or null at EOF or after `ms`. */
  async line(ms = 10_000): Promise<string | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      const line = this.#lines.next();
      if (line !== null) return line;
      const left = deadline - Date.now();
      if (this.closed || left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Lines until one satisfies `done` (inclusive); null at EOF or timeout. */
  async until(done: (line: string) => boolean, ms = 10_000): Promise<string[] | null> {
    const deadline = Date.now() + ms;
    const lines: string[] = [];
    for (;;) {
      const line = await this.line(Math.max(1, deadline - Date.now()));
      if (line === null) return null;
      lines.push(line);
      if (done(line)) return lines;
    }
  }

  /** An SMTP reply's last line. */
  async smtp(ms = 10_000): Promise<string | null> {
    const lines = await this.until((l) => !/^\d{3}-/.test(l), ms);
    return lines ? lines[lines.length - 1] : null;
  }

  destroy(): void {
    this.closed = true;
    this.#socket.destroy();
  }
}

/** Runs `fn` on `n` workers in parallel; failures are counted, not thrown. */
export async function parallel(n: number, fn: (i: number) => Promise<void>): Promise<number> {
  let failures = 0;
  await Promise.all(Array.from({ length: n }, (_, i) => fn(i).catch(() => failures++)));
  return failures;
}
