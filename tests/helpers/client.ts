/**
 * A raw line client for protocol tests: connect, send lines, read lines, upgrade to
 * TLS (Deno.startTls is fine on the client side).
 */
import { TEST_CERT } from "./server.ts";

export class LineClient {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  readonly #dec = new TextDecoder();
  readonly #enc = new TextEncoder();

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  static async connect(port: number, opts: { tls?: boolean } = {}): Promise<LineClient> {
    const conn = opts.tls
      ? await Deno.connectTls({
        hostname: "127.0.0.1",
        port,
        caCerts: [await Deno.readTextFile(TEST_CERT)],
      })
      : await Deno.connect({ hostname: "127.0.0.1", port });
    return new LineClient(conn);
  }

  async #fill(ms: number): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<null>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`read timed out after ${ms} ms`)), ms);
    });
    try {
      const n = await Promise.race([this.#conn.read(chunk), timeout]);
      if (n === null) return false;
      const next = new Uint8Array(this.#buf.length + n);
      next.set(this.#buf);
      next.set(chunk.subarray(0, n), this.#buf.length);
      this.#buf = next;
      return true;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Next line without CRLF; null at EOF. */
  async readLine(ms = 10_000): Promise<string | null> {
    for (;;) {
      const i = this.#buf.indexOf(10);
      if (i >= 0) {
        const line = this.#buf.subarray(0, i);
        this.#buf = this.#buf.slice(i + 1);
        return this.#dec.decode(line).replace(/\r$/, "");
      }
      if (!(await this.#fill(ms))) {
        if (this.#buf.length === 0) return null;
        const rest = this.#dec.decode(this.#buf);
        this.#buf = new Uint8Array(0);
        return rest;
      }
    }
  }

  /** Exactly n raw bytes. */
  async readBytes(n: number, ms = 10_000): Promise<Uint8Array> {
    while (this.#buf.length < n) {
      if (!(await this.#fill(ms))) throw new Error("EOF before all bytes arrived");
    }
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  /** Lines until one matches `done` (inclusive). */
  async readUntil(done: (line: string) => boolean, ms = 10_000): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.readLine(ms);
      if (line === null) throw new Error(`EOF; got so far:\n${lines.join("\n")}`);
      lines.push(line);
      if (done(line)) return lines;
    }
  }

  /** Writes raw text or bytes (no CRLF added). */
  async write(data: string | Uint8Array): Promise<void> {
    let bytes = typeof data === "string" ? this.#enc.encode(data) : data;
    while (bytes.length > 0) {
      const n = await this.#conn.write(bytes);
      bytes = bytes.subarray(n);
    }
  }

  /** Writes one line with CRLF. */
  send(line: string): Promise<void> {
    return this.write(line + "\r\n");
  }

  async startTls(): Promise<void> {
    this.#conn = await Deno.startTls(this.#conn as Deno.TcpConn, {
      hostname: "localhost",
      caCerts: [await Deno.readTextFile(TEST_CERT)],
    });
    this.#buf = new Uint8Array(0);
  }

  /** True when the server closed the connection (reads EOF within ms). */
  async closedByPeer(ms = 5000): Promise<boolean> {
    try {
      while (await this.readLine(ms) !== null) { /* drain */ }
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}
