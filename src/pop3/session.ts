/**
 * One POP3 session (RFC 1939): a state machine AUTHORIZATION -> TRANSACTION -> UPDATE
 * with a table from keyword to handler and the states it is valid in. Replies are
 * queued and written in one batch while pipelined commands are waiting (RFC 2449 §6.6
 * PIPELINING), else after each command.
 */
import { startLoginDeadline } from "../auth/login_deadline.ts";
import { log, type Logger } from "../log.ts";
import { type Connection, LineTooLongError } from "../net/connection.ts";
import { CommandPhase, type CommandStep, ENDED, NEEDS_INPUT } from "../net/connection_input.ts";
import type { ServerContext } from "../server/context.ts";
import type { ServiceSpec } from "../server/services.ts";
import type { UserRecord } from "../directory/records.ts";
import { AUTHORIZATION_COMMANDS, openMaildrop } from "./authorization.ts";
import type { Maildrop, Pop3Maildrop } from "./maildrop.ts";
import {
  capabilities,
  errLine,
  MAX_COMMAND_LINE,
  multilineText,
  okLine,
  parseCommandLine,
  Pop3Error,
  printableVerb,
} from "./protocol.ts";
import { FLUSH_THRESHOLD, ReplyQueue } from "./reply_queue.ts";
import { TRANSACTION_COMMANDS } from "./transaction.ts";
import { endMaildrop, quitSession } from "./update.ts";

export type SessionState = "authorization" | "transaction" | "update";

export interface Pop3Command {
  /** States the command is valid in (RFC 1939 §3-6). */
  states: readonly SessionState[];
  run(session: Pop3Session, rest: string): void | Promise<void>;
  /**
   * Never run inside the socket's read callback (CommandPhase): STLS. Its reply would
   * reach the client before the runtime reads the socket again, and that read would take
   * the client's TLS ClientHello as plaintext input, which the upgrade then discards.
   */
  changesStream?: true;
}

const encoder = new TextEncoder();

export class Pop3Session {
  readonly ctx: ServerContext;
  readonly conn: Connection;
  readonly service: ServiceSpec;
  readonly commands: ReadonlyMap<string, Pop3Command>;
  readonly logger: Logger;
  state: SessionState = "authorization";
  /** The name given by USER, waiting for PASS (RFC 1939 §7). */
  pendingUser: string | null = null;
  failedLogins = 0;
  user: UserRecord | null = null;
  maildrop: Pop3Maildrop | null = null;
  readonly #replies: ReplyQueue;
  /** A command is running (TimeoutLogin lets a login being checked finish). */
  #running = false;
  /** The command loop (net/connection_input.ts), run by #commandLoop. */
  readonly #phase: CommandPhase;
  /** Logged in on the main thread: the maildrop the second event loop may take (loop.ts). */
  #handOver: Maildrop | null = null;
  /** The session runs on the second event loop now. */
  #inLoop = false;
  /** Ends the count of this session among the main thread's (Pop3Loop.stayed). */
  #leaveMain: (() => void) | null = null;

  constructor(
    ctx: ServerContext,
    conn: Connection,
    service: ServiceSpec,
    commands: ReadonlyMap<string, Pop3Command>,
  ) {
    this.ctx = ctx;
    this.conn = conn;
    this.service = service;
    this.commands = commands;
    this.logger = log("pop3", conn.id);
    this.#replies = new ReplyQueue(conn);
    this.#phase = new CommandPhase(conn, () => this.#runBuffered());
  }

  /** Queues a reply (text already CRLF-terminated). */
  reply(text: string): void {
    this.#replies.push(encoder.encode(text));
  }

  replyBytes(data: Uint8Array): void {
    this.#replies.push(data);
  }

  /** Writes everything queued in one write, waiting for socket back-pressure. */
  async flush(): Promise<void> {
    const pending = this.#replies.flushNow();
    if (pending) await pending;
  }

  /** Sends what is queued plus a last line, then closes (shutdown, timeout, too many failures). */
  closeWith(line: string): void {
    this.#replies.sendAndClose(line);
  }

  capabilityList(): string[] {
    return capabilities({
      plainAuthAllowed: this.ctx.plainAuthAllowed(this.conn),
      // RFC 2595 §4: STLS only before authentication and only once.
      stlsAvailable: this.ctx.tlsContext !== null && !this.conn.secure &&
        this.state === "authorization",
      implementation: `eXtremail-ts ${this.ctx.version}`,
    });
  }

  /**
   * Runs the session. `preauth` (SPEC §12, on a user's home node): the login was made
   * on the node the client is connected to, which proxies this session; it starts with
   * the answer to that login (the maildrop locked) instead of a greeting.
   */
  async run(preauth?: UserRecord): Promise<void> {
    const unregister = this.#register();
    this.#startIdleTimeout();
    // SPEC §7 TimeoutLogin: counted from connect, for the AUTHORIZATION state.
    const loginTimeout = this.ctx.config.TimeoutLogin;
    const deadline = startLoginDeadline(loginTimeout, {
      authenticated: () => this.state !== "authorization" || this.conn.closed,
      busy: () => this.#running,
      expire: () => {
        this.logger.info(`not logged in within ${loginTimeout} s, closing`);
        this.closeWith(errLine(`login timeout: not logged in within ${loginTimeout} seconds`));
      },
    });
    this.logger.info(
      `${this.service.name} connection from ${this.conn.remoteAddress}${
        this.conn.secure ? " (TLS)" : ""
      }`,
    );
    try {
      if (preauth) {
        try {
          await openMaildrop(this, preauth, "proxied");
        } catch (e) {
          this.reply(e instanceof Pop3Error ? e.line : errLine("try again later", "SYS/TEMP"));
          await this.flush();
          return;
        }
      } else {
        // Sent now (on plain TCP in the turn of the accept: net/greeting_write.ts).
        this.conn.sendGreeting(okLine(`${this.ctx.config.HostName} eXtremail POP3 server ready`));
      }
      await this.flush();
      await this.#commandLoop();
    } finally {
      deadline.cancel();
      this.#leaveMain?.();
      // Unregistered only after the flags are written, so a shutdown waits for them.
      await endMaildrop(this);
      unregister();
      this.conn.close();
      this.logger.info("session closed");
    }
  }

  /**
   * Runs a session logged in on the main thread and handed to this thread, the POP3
   * second event loop (loop_worker.ts): TRANSACTION from its next command, no greeting.
   * Its end (endMaildrop) tells the main thread, which logs "session closed".
   */
  async resume(user: UserRecord, maildrop: Pop3Maildrop): Promise<void> {
    this.enterTransaction(user, maildrop);
    const unregister = this.#register();
    this.#startIdleTimeout();
    try {
      await this.#commandLoop();
    } finally {
      await endMaildrop(this);
      unregister();
      this.conn.close();
    }
  }

  #register(): () => void {
    return this.ctx.register({
      family: "pop3",
      conn: this.conn,
      user: () => (this.user ? `${this.user.name}@${this.user.domain}` : null),
      goodbye: () => {
        if (this.#inLoop) this.ctx.pop3Loop?.goodbye(this.conn.id);
        // A session in UPDATE is finishing its QUIT: let it answer and close by itself.
        else if (this.state !== "update") {
          this.closeWith(errLine("server shutting down", "SYS/TEMP"));
        }
      },
    });
  }

  #startIdleTimeout(): void {
    const timeout = this.ctx.config.TimeoutPOP3;
    // RFC 1939 §3 autologout: an idle session ends without entering UPDATE.
    const onIdle = () => {
      // A command still running (a login's password check) is not the client being idle.
      if (this.#running) {
        this.conn.setIdleTimeout(timeout, onIdle);
        return;
      }
      this.logger.info(`idle for ${timeout} s, closing`);
      this.closeWith(errLine(`autologout: idle for ${timeout} seconds`));
    };
    this.conn.setIdleTimeout(timeout, onIdle);
  }

  /** After login on the main thread: the second event loop may take the session. */
  offerToLoop(maildrop: Maildrop): void {
    this.#handOver = maildrop;
  }

  /**
   * The session moves to the second event loop (loop.ts) when the loop takes it and the
   * connection can move; resolves when it ended there (its connection then counts as
   * closed here). False when it stays on this thread.
   */
  #toLoop(): false | Promise<void> {
    const md = this.#handOver!;
    this.#handOver = null;
    const loop = this.ctx.pop3Loop;
    if (!loop?.takes() || this.conn.hasBufferedLine) {
      if (loop) this.#leaveMain = loop.stayed();
      return false;
    }
    const t0 = performance.now();
    const snapshot = md.handOver();
    const fd = snapshot ? this.conn.detach() : -1;
    if (!snapshot || fd < 0) {
      this.#leaveMain = loop.stayed();
      return false;
    }
    this.#inLoop = true;
    this.logger.debug(
      `the session goes on in the POP3 second event loop (snapshot of ${md.count} messages in ${
        (performance.now() - t0).toFixed(1)
      } ms)`,
    );
    return loop.run({
      id: this.conn.id,
      fd,
      user: this.user!,
      snapshot,
      maildrop: md,
      plainAuth: this.ctx.plainAuthAllowed(this.conn),
    }).then(() => this.conn.close());
  }

  /**
   * Reads, runs and answers commands until QUIT or end of input. What completes
   * synchronously (a buffered command line, RETR of a small message, a reply the
   * socket takes at once) is not awaited: each await costs a turn of the microtask
   * queue, and lock-step clients wait for every one of them. Between commands, input is
   * answered inside the socket's read callback when it can be (CommandPhase).
   */
  #commandLoop(): Promise<void> {
    return this.#phase.run();
  }

  /**
   * Runs the command lines already buffered, as far as they complete synchronously:
   * NEEDS_INPUT when no complete line is left (or the client is not reading its
   * replies), ENDED at the end of input, else the rest of a command still running
   * (or of a write waiting for the client) as a promise.
   */
  #runBuffered(): CommandStep {
    for (;;) {
      if (this.conn.closed) return ENDED;
      let line: Uint8Array;
      try {
        // Borrowed: the line is parsed before the next await (#dispatch), so it need not
        // be copied out of the input buffer.
        const read = this.conn.readLineNow(MAX_COMMAND_LINE, true);
        if (read === undefined) return NEEDS_INPUT;
        if (read === null) return ENDED;
        line = read.line;
      } catch (e) {
        if (!(e instanceof LineTooLongError)) throw e;
        this.reply(errLine(`command line too long (at most ${MAX_COMMAND_LINE} octets)`));
        const writing = this.#replies.flushNow();
        if (writing) return writing;
        continue;
      }
      const running = this.#dispatch(line);
      if (running) return this.#finishCommand(running);
      const writing = this.#afterCommand();
      if (writing) return writing;
    }
  }

  /** A command that did not complete at once: its end, then its reply. */
  async #finishCommand(running: Promise<void>): Promise<void> {
    this.#running = true;
    try {
      await running;
    } finally {
      this.#running = false;
    }
    const writing = this.#afterCommand();
    if (writing) await writing;
  }

  /** After a command: its reply written, unless pipelined commands wait (RFC 2449 §6.6). */
  #afterCommand(): false | Promise<void> {
    if (this.conn.closed) return false;
    // Pipelined commands waiting: answer them all in one write.
    if (!this.conn.hasBufferedLine || this.#replies.bytes >= FLUSH_THRESHOLD) {
      const writing = this.#replies.flushNow();
      // Just logged in, the reply sent: the session may move (loop.ts).
      if (this.#handOver && writing === false) return this.#toLoop();
      return writing;
    }
    return false;
  }

  /** Runs one command line; a promise only while a command is still running. */
  #dispatch(line: Uint8Array): void | Promise<void> {
    const { verb, rest } = parseCommandLine(line);
    this.#logCommand(verb, rest);
    if (verb === "") {
      this.reply(errLine("empty command line"));
      return;
    }
    const command = this.commands.get(verb);
    if (!command) {
      this.reply(errLine(`unknown command ${printableVerb(verb)}`));
      return;
    }
    if (!command.states.includes(this.state)) {
      this.reply(errLine(
        this.state === "authorization"
          ? `${verb} is only valid after login (use USER/PASS or AUTH first)`
          : `${verb} is not valid after login`,
      ));
      return;
    }
    if (command.changesStream && this.#phase.inReadCallback) {
      // After the runtime's read loop, as from the command loop (see changesStream).
      return Promise.resolve().then(() => this.#run(verb, command, rest));
    }
    return this.#run(verb, command, rest);
  }

  #run(verb: string, command: Pop3Command, rest: string): void | Promise<void> {
    let pending: void | Promise<void>;
    try {
      pending = command.run(this, rest);
    } catch (e) {
      this.#commandFailed(verb, e);
      return;
    }
    if (pending) return pending.catch((e) => this.#commandFailed(verb, e));
  }

  /** A Pop3Error is the client's answer; anything else is logged and answered SYS/TEMP. */
  #commandFailed(verb: string, e: unknown): void {
    if (e instanceof Pop3Error) {
      this.reply(e.line);
      return;
    }
    this.logger.error(`${verb} failed: ${e instanceof Error ? e.stack ?? e.message : e}`);
    this.reply(errLine(`${verb} failed on a server error; try again later`, "SYS/TEMP"));
  }

  #logCommand(verb: string, rest: string): void {
    if (!this.logger.isEnabledFor("debug")) return;
    // Never log passwords: PASS and AUTH arguments are credentials.
    const shown = verb === "PASS" ? "****" : verb === "AUTH" ? rest.split(" ")[0] + " ****" : rest;
    this.logger.debug(`C: ${printableVerb(verb)}${rest ? " " + shown : ""}`);
  }

  /** After login: the maildrop is locked and its snapshot taken (RFC 1939 §4). */
  enterTransaction(user: UserRecord, maildrop: Pop3Maildrop): void {
    this.user = user;
    this.maildrop = maildrop;
    this.state = "transaction";
    this.pendingUser = null;
  }
}

const SESSION_COMMANDS: Record<string, Pop3Command> = {
  // RFC 2449 §5: CAPA is valid in AUTHORIZATION and TRANSACTION.
  CAPA: {
    states: ["authorization", "transaction"],
    run(s) {
      s.reply(multilineText("capability list follows", s.capabilityList()));
    },
  },
  QUIT: { states: ["authorization", "transaction"], run: (s) => quitSession(s) },
};

/**
 * The POP3 command table (RFC 1939, RFC 2449, RFC 2595, RFC 5034); the service hands it
 * to each session.
 */
export const POP3_COMMANDS: ReadonlyMap<string, Pop3Command> = new Map(Object.entries({
  ...SESSION_COMMANDS,
  ...AUTHORIZATION_COMMANDS,
  ...TRANSACTION_COMMANDS,
}));
