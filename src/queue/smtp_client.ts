/**
 * One outbound SMTP connection (RFC 5321 client side): connect, read replies with the
 * per-stage timeouts of §4.5.3.2, write commands and message data with back-pressure,
 * and upgrade to TLS in place (RFC 3207).
 */
import net from "node:net";
import tls from "node:tls";
import { LineBuffer } from "../net/linebuffer.ts";
import { type Reply, ReplyParser } from "./wire.ts";

/** Milliseconds allowed for each stage. */
export interface ClientTimeouts {
  connect: number;
  /** §4.5.3.2.1 initial 220 message: 5 minutes. */
  greeting: number;
  /** EHLO/HELO, STARTTLS, AUTH and RSET (no RFC figure; the MAIL value is used). */
  command: number;
  /** TLS handshake after STARTTLS. */
  tls: number;
  /** §4.5.3.2.2 MAIL: 5 minutes. */
  mail: number;
  /** §4.5.3.2.3 RCPT: 5 minutes. */
  rcpt: number;
  /** §4.5.3.2.4 DATA initiation (the 354): 2 minutes. */
  dataInit: number;
  /** §4.5.3.2.5 each data block written: 3 minutes. */
  dataBlock: number;
  /** §4.5.3.2.6 reply to the final "." : 10 minutes. */
  dataEnd: number;
  /** QUIT is a courtesy: a short wait. */
  quit: number;
}

export const RFC5321_TIMEOUTS: Readonly<ClientTimeouts> = Object.freeze({
  connect: 30_000,
  greeting: 300_000,
  command: 300_000,
  tls: 60_000,
  mail: 300_000,
  rcpt: 300_000,
  dataInit: 120_000,
  dataBlock: 180_000,
  dataEnd: 600_000,
  quit: 10_000,
});

/** The connection failed or closed (network level). */
export class SmtpConnectionError extends Error {}
/** The server did not answer within the stage's timeout. */
export class SmtpTimeoutError extends SmtpConnectionError {}

/** "300 s", or "300 ms" for the short timeouts tests use. */
function span(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}

/** RFC 5321 §4.5.3.1.5 says 512; be lenient with servers that send longer lines. */
const MAX_REPLY_LINE = 8192;
const BLOCK = 64 * 1024;

export class SmtpClient {
  /** The MX or relay host name (for logs and DSN Remote-MTA). */
  readonly host: string;
  readonly address: string;
  readonly port: number;
  /** EHLO keywords of the current session (emptied by STARTTLS). */
  ext = new Map<string, string>();
  secure = false;
  /** Messages sent over this connection (connection reuse). */
  transactions = 0;
  #socket: net.Socket | tls.TLSSocket;
  #buf = new LineBuffer();
  #parser = new ReplyParser();
  #eof = false;
  #error: Error | null = null;
  #waiter: (() => void) | null = null;

  private constructor(socket: net.Socket, host: string, address: string, port: number) {
    this.#socket = socket;
    this.host = host;
    this.address = address;
    this.port = port;
    this.#attach(socket);
  }

  static connect(host: string, address: string, port: number, ms: number): Promise<SmtpClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: address, port });
      socket.setNoDelay(true);
      const fail = (e: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new SmtpConnectionError(`connect to ${host}[${address}]:${port}: ${e.message}`));
      };
      const timer = setTimeout(() => fail(new Error("connection timed out")), ms);
      socket.once("error", fail);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.off("error", fail);
        resolve(new SmtpClient(socket, host, address, port));
      });
    });
  }

  get name(): string {
    return `${this.host}[${this.address}]:${this.port}`;
  }

  /** Still connected with nothing unread: can carry another transaction. */
  get usable(): boolean {
    return !this.#eof && !this.#socket.destroyed && this.#buf.buffered === 0;
  }

  #attach(socket: net.Socket | tls.TLSSocket): void {
    socket.on("data", (chunk: Uint8Array) => {
      this.#buf.push(chunk);
      this.#wake();
    });
    socket.on("end", () => {
      this.#eof = true;
      this.#wake();
    });
    socket.on("error", (e: Error) => {
      this.#error = e;
      this.#eof = true;
      this.#wake();
    });
    socket.on("close", () => {
      this.#eof = true;
      this.#wake();
    });
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.();
  }

  /** Resolves true on new input or EOF, false when `ms` ran out first. */
  #wait(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        resolve(false);
      }, Math.max(0, ms));
      this.#waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  /** The next complete reply; `what` names the stage in errors ("greeting", "RCPT"). */
  async readReply(ms: number, what: string): Promise<Reply> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = this.#buf.nextLine(MAX_REPLY_LINE);
      if (r.kind === "line") {
        const reply = this.#parser.push(new TextDecoder().decode(r.line));
        if (reply) return reply;
        continue;
      }
      if (r.kind === "toolong") {
        this.destroy();
        throw new SmtpConnectionError(`${this.name}: reply line too long after ${what}`);
      }
      if (this.#eof) {
        const why = this.#error ? `: ${this.#error.message}` : "";
        throw new SmtpConnectionError(
          `lost connection with ${this.name} while waiting for ${what}${why}`,
        );
      }
      if (!(await this.#wait(deadline - Date.now())) && this.#buf.buffered === 0) {
        this.destroy();
        throw new SmtpTimeoutError(
          `timeout after ${span(ms)} waiting for ${what} from ${this.name}`,
        );
      }
    }
  }

  /** Writes and waits until the kernel took the bytes, at most `ms`. */
  write(data: string | Uint8Array, ms: number): Promise<void> {
    if (this.#socket.destroyed) {
      return Promise.reject(new SmtpConnectionError(`connection to ${this.name} is closed`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.destroy();
        reject(new SmtpTimeoutError(`timeout after ${span(ms)} sending to ${this.name}`));
      }, ms);
      this.#socket.write(data, (err?: Error | null) => {
        clearTimeout(timer);
        if (err) reject(new SmtpConnectionError(`write to ${this.name}: ${err.message}`));
        else resolve();
      });
    });
  }

  /** Sends one command line and reads its reply. */
  async command(line: string, ms: number, what: string): Promise<Reply> {
    await this.write(`${line}\r\n`, ms);
    return await this.readReply(ms, what);
  }

  /** Message data in blocks, each within the §4.5.3.2.5 data block timeout. */
  async writeData(data: Uint8Array, blockMs: number): Promise<void> {
    for (let off = 0; off < data.length; off += BLOCK) {
      await this.write(data.subarray(off, Math.min(off + BLOCK, data.length)), blockMs);
    }
  }

  /**
   * RFC 3207 §4: after "220 Ready to start TLS", the handshake; plaintext buffered before
   * it is discarded. Opportunistic TLS (RFC 7435) does not verify: `verify` false.
   */
  async startTls(servername: string, verify: boolean, ms: number): Promise<void> {
    this.#buf.clear();
    const plain = this.#socket;
    for (const ev of ["data", "end", "close", "error"]) plain.removeAllListeners(ev);
    const secure = tls.connect({
      socket: plain as net.Socket,
      servername: net.isIP(servername) ? undefined : servername,
      rejectUnauthorized: verify,
    });
    this.#socket = secure;
    this.#eof = false;
    this.#attach(secure);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        secure.destroy();
        reject(new SmtpTimeoutError(`TLS handshake with ${this.name} timed out`));
      }, ms);
      secure.once("secureConnect", () => {
        clearTimeout(timer);
        resolve();
      });
      secure.once("error", (e: Error) => {
        clearTimeout(timer);
        reject(new SmtpConnectionError(`TLS handshake with ${this.name} failed: ${e.message}`));
      });
      secure.once("close", () => {
        clearTimeout(timer);
        reject(new SmtpConnectionError(`${this.name} closed the connection during TLS handshake`));
      });
    });
    this.secure = true;
    this.ext = new Map();
  }

  /** QUIT (§4.1.1.10) and close; never throws. */
  async quit(ms: number): Promise<void> {
    try {
      if (!this.#socket.destroyed && !this.#eof) await this.command("QUIT", ms, "QUIT");
    } catch { /* a courtesy only */ }
    this.destroy();
  }

  destroy(): void {
    this.#eof = true;
    this.#socket.destroy();
    this.#wake();
  }
}
