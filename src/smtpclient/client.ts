/**
 * One outbound SMTP connection (RFC 5321 client side) on net/Connection: connect, read
 * replies within the per-stage timeouts of §4.5.3.2, write commands and message data
 * with back-pressure (a write waits until the kernel took the bytes, so a server that
 * stops reading holds at most one block of ours), and STARTTLS in place (RFC 3207).
 */
import { Connection, LineTooLongError } from "../net/connection.ts";
import { type Reply, ReplyParser, SmtpProtocolError } from "./reply.ts";

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

/** Where to connect: the MX or relay host's name and one of its addresses. */
export interface Target {
  host: string;
  address: string;
  port: number;
}

/** The connection failed, closed, or the server stopped making sense (network level). */
export class SmtpConnectionError extends Error {}
/** The server did not answer, or did not read, within the stage's timeout. */
export class SmtpTimeoutError extends SmtpConnectionError {}

/** "300 s", or "300 ms" for the short timeouts tests use. */
function span(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}

/** RFC 5321 §4.5.3.1.5 says 512; be lenient with servers that send longer lines. */
const MAX_REPLY_LINE = 8192;
/** Message data goes out in blocks of this size, each awaited (§4.5.3.2.5). */
const BLOCK = 64 * 1024;

export class SmtpClient {
  /** The MX or relay host name (for logs and DSN Remote-MTA). */
  readonly host: string;
  readonly address: string;
  readonly port: number;
  /** EHLO keywords of the current session (emptied by STARTTLS). */
  ext = new Map<string, string>();
  /** Messages sent over this connection (connection reuse). */
  transactions = 0;
  readonly #conn: Connection;
  #parser = new ReplyParser();

  private constructor(conn: Connection, target: Target) {
    this.#conn = conn;
    this.host = target.host;
    this.address = target.address;
    this.port = target.port;
  }

  static async connect(target: Target, ms: number): Promise<SmtpClient> {
    try {
      return new SmtpClient(await Connection.connect(target.address, target.port, ms), target);
    } catch (e) {
      const where = `${target.host}[${target.address}]:${target.port}`;
      throw new SmtpConnectionError(`connect to ${where}: ${(e as Error).message}`);
    }
  }

  /**
   * A client over a connection already set up by the caller (the LMTP link between
   * cluster nodes, SPEC §12, after its TLS and secret handshake).
   */
  static over(conn: Connection, target: Target): SmtpClient {
    return new SmtpClient(conn, target);
  }

  get name(): string {
    return `${this.host}[${this.address}]:${this.port}`;
  }

  get secure(): boolean {
    return this.#conn.secure;
  }

  /** Still connected with nothing unread: can carry another transaction. */
  get usable(): boolean {
    return !this.#conn.closed && !this.#conn.inputEnded && this.#conn.bufferedInput === 0;
  }

  /** Bytes handed to the socket and not yet to the kernel (bounded by back-pressure). */
  get bufferedOutput(): number {
    return this.#conn.bufferedOutput;
  }

  /**
   * Awaits `work`, at most `ms`: past that the connection is destroyed (so `work`, a
   * read or a write on it, ends too) and the error `timeout()` names is thrown.
   */
  async #within<T>(ms: number, work: Promise<T>, timeout: () => SmtpTimeoutError): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Rejected first: destroying settles `work` too, and the race takes the first.
        reject(timeout());
        this.destroy();
      }, Math.max(0, ms));
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The next complete reply; `what` names the stage in errors ("greeting", "RCPT"). */
  async readReply(ms: number, what: string): Promise<Reply> {
    const deadline = Date.now() + ms;
    for (;;) {
      let read;
      try {
        read = this.#conn.readLineNow(MAX_REPLY_LINE);
        const reply = read ? this.#parser.push(read.line) : null;
        if (reply) return reply;
      } catch (e) {
        if (!(e instanceof LineTooLongError) && !(e instanceof SmtpProtocolError)) throw e;
        // The reply stream is out of step: nothing later on it can be trusted.
        this.destroy();
        throw new SmtpConnectionError(`${this.name} answered ${what} badly: ${e.message}`);
      }
      if (read === null) {
        const error = this.#conn.socketError;
        throw new SmtpConnectionError(
          `lost connection with ${this.name} while waiting for ${what}` +
            (error ? `: ${error.message}` : ""),
        );
      }
      if (read === undefined) {
        await this.#within(
          deadline - Date.now(),
          this.#conn.waitForInput(),
          () =>
            new SmtpTimeoutError(`timeout after ${span(ms)} waiting for ${what} from ${this.name}`),
        );
      }
    }
  }

  /** Writes and waits until the kernel took the bytes, at most `ms`. */
  async write(data: string | Uint8Array, ms: number): Promise<void> {
    if (this.#conn.closed) {
      throw new SmtpConnectionError(`connection to ${this.name} is closed`);
    }
    await this.#within(
      ms,
      this.#conn.write(data),
      () => new SmtpTimeoutError(`timeout after ${span(ms)} sending to ${this.name}`),
    );
    // A write that ended with the connection did not reach the server.
    if (this.#conn.closed) {
      const error = this.#conn.socketError;
      throw new SmtpConnectionError(
        `lost connection with ${this.name} while sending` + (error ? `: ${error.message}` : ""),
      );
    }
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
   * RFC 3207 §4: after "220 Ready to start TLS", the handshake; replies buffered before
   * it are discarded and the EHLO keywords forgotten (§4.2). Opportunistic TLS
   * (RFC 7435) does not verify the certificate: `verify` false.
   */
  async startTls(servername: string, verify: boolean, ms: number): Promise<void> {
    try {
      await this.#conn.startTlsClient(servername, verify, ms);
    } catch (e) {
      this.destroy();
      throw new SmtpConnectionError(
        `TLS handshake with ${this.name} failed: ${(e as Error).message}`,
      );
    }
    this.#parser = new ReplyParser();
    this.ext = new Map();
  }

  /** QUIT (§4.1.1.10) and close; never throws. */
  async quit(ms: number): Promise<void> {
    try {
      if (this.usable) await this.command("QUIT", ms, "QUIT");
    } catch { /* a courtesy only */ }
    this.destroy();
  }

  destroy(): void {
    this.#conn.destroy();
  }
}
