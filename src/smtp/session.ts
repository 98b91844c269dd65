/**
 * One SMTP session (RFC 5321): a small state machine driven by a table of command
 * handlers (handlers.ts, auth.ts, transfer.ts), its reply queue and its life (greeting,
 * timeouts, shutdown, close). Its command phase, reading and answering commands in
 * batches (RFC 2920 3.1 PIPELINING), is command_loop.ts.
 *
 * Policy and delivery are the mail pipeline's (src/delivery/pipeline.ts), reached
 * through the SmtpPipeline interface so tests can drive the protocol alone.
 */
import { startLoginDeadline } from "../auth/login_deadline.ts";
import type {
  AcceptedRecipient,
  MailParams,
  SessionInfo,
  SmtpReply,
  Transaction,
} from "../delivery/types.ts";
import { log, type Logger } from "../log.ts";
import { type Connection, LineTooLongError } from "../net/connection.ts";
import type { ServerContext } from "../server/context.ts";
import type { MessageSink, ReceivedMessage } from "../delivery/incoming.ts";
import type { LineChecker } from "../message/line_endings.ts";
import { CommandLoop } from "./command_loop.ts";
import { BARE_LF_COMMAND, LINE_TOO_LONG, NEED_HELO, reply, SmtpError } from "./replies.ts";

/** The mail pipeline as the session uses it (the exports of src/delivery/pipeline.ts). */
export interface SmtpPipeline {
  checkConnect(ctx: ServerContext, info: SessionInfo): SmtpReply | null;
  checkMailFrom(
    ctx: ServerContext,
    info: SessionInfo,
    from: string,
    params: MailParams,
  ): SmtpReply | null;
  checkRcpt(
    ctx: ServerContext,
    info: SessionInfo,
    tx: Transaction,
    rcpt: string,
  ):
    | { reply: SmtpReply; accepted?: AcceptedRecipient }
    | Promise<{ reply: SmtpReply; accepted?: AcceptedRecipient }>;
  /** Where the content of DATA/BDAT goes as it arrives (memory, then a spool file). */
  openMessage(
    ctx: ServerContext,
    info: SessionInfo,
    tx: Transaction,
    queueId: string,
  ): MessageSink;
  deliver(
    ctx: ServerContext,
    info: SessionInfo,
    tx: Transaction,
    message: ReceivedMessage,
    queueId: string,
  ): Promise<SmtpReply>;
}

export type ServiceName = SessionInfo["service"];

/** A command handler: reads `arg`, replies through the session (or throws SmtpError). */
export type Handler = (s: SmtpSession, arg: string) => void | Promise<void>;

/** Protocol errors after which the session is closed (421 4.7.0). */
export const MAX_ERRORS = 10;

/** BDAT state between chunks of one message (RFC 3030). */
export interface ChunkState {
  /** Where the chunks go (memory, then a spool file). */
  sink: MessageSink;
  /** Bare CR/LF and line lengths, checked as the chunks pass (RFC 3030 3). */
  lines: LineChecker;
  size: number;
  queueId: string;
}

export class SmtpSession {
  readonly info: SessionInfo;
  readonly log: Logger;
  /** HELO or EHLO was accepted (and not forgotten by STARTTLS). */
  greeted = false;
  tx: Transaction | null = null;
  chunks: ChunkState | null = null;
  /** After a BDAT chunk was refused for size: later chunks are read and dropped. */
  chunksFailed = false;
  errors = 0;
  /** Set by QUIT, fatal errors and shutdown: the loop ends after flushing. */
  closing = false;
  /** The client said QUIT (RFC 5321 4.1.1.10). */
  quit = false;
  /** A DATA/BDAT transfer or its delivery is under way (shutdown waits for it). */
  transferring = false;
  /** The server is working (delivery, AUTH delay): no idle timeout meanwhile. */
  busy = false;
  #out: string[] = [];
  #outLength = 0;
  #lastCode = 0;
  #goodbyePending = false;
  readonly #commands: CommandLoop;

  constructor(
    readonly ctx: ServerContext,
    readonly conn: Connection,
    readonly service: ServiceName,
    readonly pipeline: SmtpPipeline,
    commands: Readonly<Record<string, Handler>>,
  ) {
    this.#commands = new CommandLoop(this, commands);
    this.log = log("smtp", conn.id);
    this.info = {
      id: conn.id,
      service,
      clientIp: conn.remoteAddress,
      helo: "",
      esmtp: false,
      tls: conn.secure ? conn.tlsInfo : null,
      authUser: null,
    };
  }

  get hostName(): string {
    return this.ctx.config.HostName;
  }

  /** Submission and SMTPS require AUTH before MAIL (RFC 6409 4.3, RFC 8314). */
  get submission(): boolean {
    return this.service !== "smtp";
  }

  async run(): Promise<void> {
    const unregister = this.ctx.register({
      family: "smtp",
      conn: this.conn,
      goodbye: () => this.goodbye(),
    });
    const started = Date.now();
    this.log.info`connect from ${this.conn.remoteAddress} to ${this.service}${
      this.conn.secure ? " (TLS)" : ""
    }`;
    // SPEC §7 TimeoutLogin: submission (587/465) clients must AUTH in time; port 25 not.
    const loginTimeout = this.ctx.config.TimeoutLogin;
    const deadline = this.submission
      ? startLoginDeadline(loginTimeout, {
        authenticated: () => this.info.authUser !== null || this.conn.closed,
        busy: () => this.busy,
        expire: () => this.#closeTimedOut(`not authenticated within ${loginTimeout} s`),
      })
      : null;
    try {
      this.conn.setIdleTimeout(this.ctx.config.TimeoutSMTP, () => this.#onIdle());
      if (this.#greet()) await this.#commands.run();
    } catch (e) {
      this.log.error`session failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`;
    } finally {
      deadline?.cancel();
      this.flush();
      this.resetTransaction(); // the chunks of an unfinished BDAT transfer go
      unregister();
      this.#close();
      this.log.info`disconnect from ${this.conn.remoteAddress} after ${Date.now() - started} ms`;
    }
  }

  /**
   * After QUIT the client has nothing more to say: once the 221 is with the kernel and no
   * input is left over, the socket is closed at once (the FIN follows the reply). That
   * spares a shutdown and the reset many clients close with (smtp-source sets SO_LINGER
   * 0), which cost an error object with a formatted stack per connection. Otherwise
   * Connection.close(): the output drained, then a FIN, the socket destroyed 5 s later.
   */
  #close(): void {
    if (this.closesAtOnce) this.conn.destroy();
    else this.conn.close();
  }

  /**
   * The session said 221 to QUIT, the reply is with the kernel and nothing else came: the
   * socket is destroyed when the session ends, without waiting for the client's close.
   * Not under TLS: its layer may still hold the reply (and owes a close_notify).
   */
  get closesAtOnce(): boolean {
    return this.quit && !this.conn.secure && this.conn.bufferedOutput === 0 &&
      this.conn.bufferedInput === 0;
  }

  /** RFC 5321 4.2 / 3.1: the greeting, or a refusal (IPIN deny, shutdown) and close. */
  #greet(): boolean {
    let refusal: SmtpReply | null = null;
    if (this.ctx.stopping) refusal = reply(421, "4.3.2", `${this.hostName} Service shutting down`);
    else refusal = this.pipeline.checkConnect(this.ctx, this.info);
    if (refusal) {
      this.reply(refusal);
      this.log.info`refused at connect: ${refusal.toString().trimEnd()}`;
      return false;
    }
    // Sent now, not with the first batch of replies: on plain TCP it then leaves in the
    // turn of the accept (net/greeting_write.ts). Nothing is queued before it.
    this.conn.sendGreeting(`220 ${this.hostName} ESMTP eXtremail\r\n`);
    return true;
  }

  /**
   * One more error of the client (syntax, sequence, failed AUTH, unknown recipient): at
   * MAX_ERRORS the session ends with 421 4.7.0 (SPEC §7).
   */
  countError(): void {
    this.errors++;
    if (this.errors >= MAX_ERRORS && !this.closing) {
      this.reply(
        reply(421, "4.7.0", `${this.hostName} Error: too many errors, closing connection`),
      );
      this.log.info`closing after ${this.errors} errors`;
      this.closing = true;
    }
  }

  /** Queues a reply; it is written with the next flush, in order. */
  reply(r: SmtpReply | string): void {
    const text = typeof r === "string" ? r : r.toString();
    this.#lastCode = typeof r === "string" ? Number(r.slice(0, 3)) : r.code;
    this.#out.push(text);
    this.#outLength += text.length;
  }

  /** The code of the last reply queued (for the debug log of commands). */
  get lastReplyCode(): number {
    return this.#lastCode;
  }

  /** Octets of replies queued and not yet written. */
  get queuedReplyLength(): number {
    return this.#outLength;
  }

  /** Writes the queued replies (one socket write). */
  flush(): void {
    if (this.#out.length === 0) return;
    const text = this.#out.length === 1 ? this.#out[0] : this.#out.join("");
    this.#out = [];
    this.#outLength = 0;
    this.conn.send(text);
  }

  /** Writes the queued replies and waits until they are handed to the kernel. */
  async flushNow(): Promise<void> {
    const text = this.#out.join("");
    this.#out = [];
    this.#outLength = 0;
    if (text) await this.conn.write(text);
  }

  requireGreeting(): void {
    if (!this.greeted) throw new SmtpError(NEED_HELO);
  }

  /** RFC 5321 4.1.1.5: forget the mail transaction (RSET, HELO/EHLO, after DATA). */
  resetTransaction(): void {
    this.tx = null;
    // BDAT chunks received so far (a spool file, maybe) are dropped.
    this.chunks?.sink.discard().catch((e) => this.log.warn`dropping BDAT chunks: ${e}`);
    this.chunks = null;
    this.chunksFailed = false;
  }

  /** RFC 3207 4.2: after STARTTLS the server forgets everything the client said. */
  resetAfterTls(): void {
    this.resetTransaction();
    this.greeted = false;
    this.info.helo = "";
    this.info.esmtp = false;
    this.info.authUser = null;
    this.info.tls = this.conn.tlsInfo;
  }

  /**
   * Reads one line for a multi-step exchange (AUTH). Replies are flushed first.
   * Null at end of input (the session then ends).
   */
  async readContinuation(max: number): Promise<Uint8Array | null> {
    this.flush();
    let line: { line: Uint8Array; bareLf: boolean } | null;
    try {
      line = await this.conn.readLine(max);
    } catch (e) {
      if (e instanceof LineTooLongError) throw new SmtpError(LINE_TOO_LONG);
      throw e;
    }
    if (line === null) {
      this.closing = true;
      return null;
    }
    if (line.bareLf) throw new SmtpError(BARE_LF_COMMAND);
    return line.line;
  }

  /** Graceful shutdown (SessionHandle.goodbye): now, or after the current transfer. */
  goodbye(): void {
    if (this.#commands.waitingForCommand && !this.transferring) this.sayGoodbye();
    else this.#goodbyePending = true;
  }

  /** goodbye() came while a command ran: the command loop says it next. */
  get goodbyePending(): boolean {
    return this.#goodbyePending;
  }

  /** RFC 5321 3.8: 421 4.3.2, and the connection closes. */
  sayGoodbye(): void {
    this.reply(reply(421, "4.3.2", `${this.hostName} Service shutting down`));
    this.flush();
    this.closing = true;
    this.conn.close();
  }

  /** RFC 5321 4.5.3.2: an idle client is told 421 4.4.2 and disconnected. */
  #onIdle(): void {
    if (this.busy || this.conn.closed) {
      this.conn.setIdleTimeout(this.ctx.config.TimeoutSMTP, () => this.#onIdle());
      return;
    }
    this.#closeTimedOut(`idle for ${this.ctx.config.TimeoutSMTP} s`);
  }

  /** RFC 5321 4.5.3.2 / SPEC §7: 421 4.4.2 and close (idle, or no AUTH in time). */
  #closeTimedOut(why: string): void {
    this.log.info`${why}: closing`;
    this.reply(reply(421, "4.4.2", `${this.hostName} Error: timeout exceeded`));
    this.flush();
    this.closing = true;
    this.conn.close();
  }
}
