/**
 * The command phase of an SMTP session (session.ts): reads command lines, runs their
 * handlers (handlers.ts, auth.ts, transfer.ts) and answers them in order, writing the
 * replies in batches: only when no further complete command is waiting in the input,
 * before it waits on the client, and before long work (RFC 2920 3.1 PIPELINING).
 *
 * What completes synchronously (EHLO, MAIL, RCPT without DNSBL or quota checks, RSET,
 * NOOP, QUIT, a pipelined group of them) is not awaited, and while the loop waits for a
 * command, arriving input is answered inside the socket's read callback
 * (net/connection_input.ts CommandPhase, shared with POP3): the reply then reaches the client before the runtime reads
 * the socket again, which usually finds the client's next command instead of EAGAIN
 * (docs/performance.md, "SMTP commands in the read callback"). A command that does not
 * complete at once (DATA, BDAT, AUTH, a DNSBL lookup, delivery) is handed to the loop,
 * which awaits it as before.
 */
import { type Connection, LineTooLongError } from "../net/connection.ts";
import { CommandPhase, type CommandStep, ENDED, NEEDS_INPUT } from "../net/connection_input.ts";
import { nextTurn, turnSpent } from "../net/turns.ts";
import { type Command, parseCommandLine } from "./command.ts";
import {
  BARE_LF_COMMAND,
  INTERNAL_ERROR,
  LINE_TOO_LONG,
  SmtpError,
  UNKNOWN_COMMAND,
} from "./replies.ts";
import { MAX_AUTH_LINE } from "./sasl.ts";
import type { Handler, SmtpSession } from "./session.ts";

/** RFC 5321 4.5.3.1.4 names 512; ESMTP parameters need more: 1000 octets with CRLF. */
export const MAX_COMMAND_LINE = 998;

/**
 * Queued replies are written once they reach this size even while pipelined commands
 * keep coming, so a flood of commands never piles up replies in memory; the
 * connection then takes no further command until the client reads them (SPEC §7).
 */
const FLUSH_THRESHOLD = 16 * 1024;

export class CommandLoop {
  readonly #conn: Connection;
  readonly #phase: CommandPhase;

  constructor(
    private readonly session: SmtpSession,
    private readonly commands: Readonly<Record<string, Handler>>,
  ) {
    this.#conn = session.conn;
    this.#phase = new CommandPhase(this.#conn, () => this.#runBuffered(), () => {
      // A QUIT answered in the read callback: the runtime would read the socket again as
      // soon as the callback returns, before the session ends, and find the client's
      // close. smtp-source and many clients close with a reset (SO_LINGER 0), which
      // node:net turns into an error object with a formatted stack (about 25 µs of a 180
      // µs connection, V8 profile). Nothing after QUIT is read anyway: the session
      // destroys the socket when it ends.
      if (this.session.closesAtOnce) this.#conn.pauseInput();
    });
  }

  /** The loop waits for a command (a shutdown may say goodbye at once). */
  get waitingForCommand(): boolean {
    return this.#phase.waiting;
  }

  /** Runs commands until QUIT, a fatal error, shutdown or the end of input. */
  run(): Promise<void> {
    return this.#phase.run();
  }

  /**
   * Runs the command lines already buffered, as far as they complete synchronously:
   * NEEDS_INPUT when no complete line is left (the replies are written then), ENDED when
   * the session ends, else the rest of a command still running (or the wait for the
   * event loop's next turn) as a promise.
   */
  #runBuffered(): CommandStep {
    const s = this.session;
    const conn = this.#conn;
    // In the read callback the first command of what was read runs without asking for
    // the turn's budget: a lock-step client's command then starts no budget, whose end
    // costs a timer (about 10 µs per message at one message per connection, V8
    // profile). What follows it in the same read asks, as everything in the loop does.
    let free = this.#phase.inReadCallback;
    for (;;) {
      if (s.closing || conn.closed) {
        s.flush(); // a QUIT answered in the read callback: its 221 goes now
        return ENDED;
      }
      if (s.goodbyePending) {
        s.sayGoodbye();
        return ENDED;
      }
      // RFC 2920 3.1: reply in batches, but never wait on the client with replies held.
      const pipelined = conn.hasBufferedLine;
      if (s.queuedReplyLength >= FLUSH_THRESHOLD || !pipelined) s.flush();
      // SPEC §7: a flood of pipelined commands is served in slices of the event loop's
      // turns, shared with every other session's (net/turns.ts), so that their replies
      // never wait behind it.
      if (pipelined && !free && turnSpent()) {
        s.flush();
        return nextTurn();
      }
      free = false;
      let read: { line: Uint8Array; bareLf: boolean } | null | undefined;
      try {
        // Borrowed: the line is parsed before anything awaits (#execute), so it need not
        // be copied out of the input buffer.
        read = conn.readLineNow(MAX_AUTH_LINE, true);
      } catch (e) {
        if (!(e instanceof LineTooLongError)) throw e;
        this.#fail(new SmtpError(LINE_TOO_LONG), "(line too long)");
        continue;
      }
      if (read === undefined) return NEEDS_INPUT;
      if (read === null) return ENDED;
      const running = this.#execute(read.line, read.bareLf);
      if (running) return running;
    }
  }

  /** Runs one command line; a promise only while its handler is still running. */
  #execute(bytes: Uint8Array, bareLf: boolean): void | Promise<void> {
    let cmd: Command | null = null;
    try {
      // RFC 5321 2.3.8: only CRLF ends a line (see docs/rfc-status.md "SMTP").
      if (bareLf) throw new SmtpError(BARE_LF_COMMAND);
      cmd = parseCommandLine(bytes);
      if (cmd.verb !== "AUTH" && bytes.length > MAX_COMMAND_LINE) {
        throw new SmtpError(LINE_TOO_LONG);
      }
      const handler = Object.hasOwn(this.commands, cmd.verb) ? this.commands[cmd.verb] : undefined;
      if (!handler) throw new SmtpError(UNKNOWN_COMMAND);
      if (this.#phase.inReadCallback && cmd.verb === "STARTTLS") {
        // RFC 3207: never inside the read callback. Its 220 would reach the client before
        // the runtime reads the socket again, and that read would take the client's
        // ClientHello as plaintext, which the upgrade discards. A microtask later it runs
        // as from the loop, before the runtime reads again (as POP3's STLS).
        const verb = cmd;
        return Promise.resolve().then(() => this.#start(handler, verb));
      }
      return this.#start(handler, cmd);
    } catch (e) {
      this.#failed(e, cmd);
    }
  }

  #start(handler: Handler, cmd: Command): void | Promise<void> {
    let pending: void | Promise<void>;
    try {
      pending = handler(this.session, cmd.arg);
    } catch (e) {
      this.#failed(e, cmd);
      return;
    }
    if (!pending) {
      this.#logCommand(cmd);
      return;
    }
    return pending.then(() => this.#logCommand(cmd), (e) => this.#failed(e, cmd));
  }

  /** A handler's error: SmtpError is the client's (its reply), anything else ours (451). */
  #failed(e: unknown, cmd: Command | null): void {
    if (e instanceof SmtpError) {
      this.#fail(e, cmd ? describe(cmd) : "(unparsable line)");
      return;
    }
    this.session.log.error`${cmd?.verb ?? "command"} failed: ${
      e instanceof Error ? e.stack ?? e.message : String(e)
    }`;
    this.session.reply(INTERNAL_ERROR);
  }

  #fail(e: SmtpError, what: string): void {
    const s = this.session;
    s.reply(e.reply);
    if (s.log.isEnabledFor("debug")) s.log.debug`${what} -> ${e.reply.code}`;
    if (e.protocolError) s.countError();
  }

  #logCommand(cmd: Command): void {
    // The line is made only at LogLevel debug: at info a command costs no string.
    const s = this.session;
    if (s.log.isEnabledFor("debug")) s.log.debug`${describe(cmd)} -> ${s.lastReplyCode}`;
  }
}

/** The command as logged: never AUTH data (no secrets in logs). */
function describe(cmd: Command): string {
  if (cmd.verb === "AUTH") return `AUTH ${cmd.arg.split(/[ \t]/)[0]}`;
  const text = cmd.arg ? `${cmd.verb} ${cmd.arg}` : cmd.verb;
  return text.length > 200 ? text.slice(0, 200) + "..." : text;
}
