/**
 * The client end of the admin protocol: a TCP connection that reads replies (data lines,
 * then a +OK/-ERR status line, SPEC §4). Lines are pumped in the background so that a
 * line the server sends on its own (idle timeout, shutdown) is seen when it arrives.
 */
import { unescapeDataLine } from "./reply.ts";

export interface ClientReply {
  ok: boolean;
  /** The status line, e.g. "+OK user alice@example.com added". */
  status: string;
  /** Data lines with the protocol's leading space before + and - removed. */
  data: string[];
}

const isStatus = (line: string) => line.startsWith("+OK") || line.startsWith("-ERR");

export class AdminClientConnection {
  readonly #conn: Deno.Conn;
  readonly #lines: string[] = [];
  #closed = false;
  #waiter: (() => void) | null = null;
  readonly #encoder = new TextEncoder();
  /** Called for lines that arrive while no reply is awaited. */
  onUnsolicited: ((line: string) => void) | null = null;
  #awaiting = false;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#pump();
  }

  static async connect(hostname: string, port: number): Promise<AdminClientConnection> {
    return new AdminClientConnection(await Deno.connect({ hostname, port }));
  }

  get closed(): boolean {
    return this.#closed && this.#lines.length === 0;
  }

  async #pump(): Promise<void> {
    const decoder = new TextDecoder();
    const chunk = new Uint8Array(16384);
    let partial = "";
    try {
      for (;;) {
        const n = await this.#conn.read(chunk);
        if (n === null) break;
        partial += decoder.decode(chunk.subarray(0, n), { stream: true });
        const parts = partial.split("\n");
        partial = parts.pop()!;
        for (const p of parts) this.#accept(p.replace(/\r$/, ""));
      }
    } catch {
      // reset or closed by us: the end of input either way
    }
    if (partial) this.#accept(partial);
    this.#closed = true;
    this.#wake();
  }

  #accept(line: string): void {
    if (!this.#awaiting && this.onUnsolicited && this.#lines.length === 0 && isStatus(line)) {
      this.onUnsolicited(line);
      return;
    }
    this.#lines.push(line);
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.();
  }

  /** The next line from the server, or null once it closed the connection. */
  async readLine(): Promise<string | null> {
    for (;;) {
      const line = this.#lines.shift();
      if (line !== undefined) return line;
      if (this.#closed) return null;
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
  }

  /** Data lines up to the status line; null when the connection closed before it. */
  async readReply(): Promise<ClientReply | null> {
    this.#awaiting = true;
    try {
      const data: string[] = [];
      for (;;) {
        const line = await this.readLine();
        if (line === null) return null;
        if (isStatus(line)) return { ok: line.startsWith("+OK"), status: line, data };
        data.push(unescapeDataLine(line));
      }
    } finally {
      this.#awaiting = false;
    }
  }

  async send(line: string): Promise<void> {
    let bytes = this.#encoder.encode(line + "\r\n");
    while (bytes.length > 0) bytes = bytes.subarray(await this.#conn.write(bytes));
  }

  /** Sends a command and waits for its reply (null: the server closed the connection). */
  async command(line: string): Promise<ClientReply | null> {
    this.#awaiting = true;
    try {
      await this.send(line);
    } catch {
      return null;
    }
    return await this.readReply();
  }

  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }
}
