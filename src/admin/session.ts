/**
 * One admin session (SPEC §4): a small state machine, "login" until LOGIN succeeds,
 * then "ready", then "closed". Each line is parsed, checked against the command table
 * and run; any failure of one command becomes a specific -ERR and the session goes on.
 */
import type { Connection } from "../net/connection.ts";
import { LineTooLongError } from "../net/connection.ts";
import { log, type Logger } from "../log.ts";
import type { ServerContext } from "../server/context.ts";
import { DirectoryError } from "../directory/records.ts";
import { NameError } from "../directory/names.ts";
import { FolderNameError } from "../store/maildir_names.ts";
import { checkArguments, findCommand, help, unknownCommand } from "./commands/table.ts";
import { type CommandInput, Params, type SessionControl } from "./commands/types.ts";
import { LoginGuard } from "./lockout.ts";
import { sourceKey } from "../net/source.ts";
import { AdminSyntaxError, parseLine, redactForLog, splitVerb } from "./parse.ts";
import { AdminError, fail, formatReply, ok, type Reply, statusLine } from "./reply.ts";
import { isoTime } from "./values.ts";

export const GREETING = "+OK eXtremail admin ready\r\n";
/** Longest accepted command line in octets, without CRLF. */
export const MAX_LINE = 4096;
/** SPEC §4: each failed login is answered after at least 1 s. */
export const FAILURE_DELAY_MS = 1000;

/** Failed logins per client address, shared by all sessions of this process. */
export const loginGuard = new LoginGuard();

type State = "login" | "ready" | "closed";

const utf8 = new TextDecoder("utf-8", { fatal: true });

export class AdminSession implements SessionControl {
  readonly #ctx: ServerContext;
  readonly #conn: Connection;
  readonly #log: Logger;
  #state: State = "login";

  constructor(ctx: ServerContext, conn: Connection) {
    this.#ctx = ctx;
    this.#conn = conn;
    this.#log = log("admin", conn.id);
  }

  get id(): string {
    return this.#conn.id;
  }

  get remoteAddress(): string {
    return this.#conn.remoteAddress;
  }

  async run(): Promise<void> {
    const unregister = this.#ctx.register({
      family: "admin",
      conn: this.#conn,
      goodbye: () => this.#goodbye(),
    });
    this.#log.info(`connection from ${this.remoteAddress}`);
    try {
      this.#conn.send(GREETING);
      while (this.#state !== "closed") {
        this.#armIdleTimeout();
        let read;
        try {
          read = await this.#conn.readLine(MAX_LINE);
        } catch (e) {
          if (!(e instanceof LineTooLongError)) throw e;
          this.#log.info(`${this.remoteAddress}: line longer than ${MAX_LINE} octets refused`);
          await this.#conn.write(formatReply(fail(`line too long (at most ${MAX_LINE} octets)`)));
          continue;
        }
        if (read === null) break;
        this.#conn.setIdleTimeout(0, () => {}); // a long command is not idleness
        const reply = await this.#execute(read.line);
        if (reply.after === "stop") await this.#stopServer(reply);
        else await this.#conn.write(formatReply(reply));
        if (reply.after) this.#state = "closed";
      }
    } finally {
      unregister();
      this.#conn.close();
      this.#log.info(`${this.remoteAddress}: session closed`);
    }
  }

  #armIdleTimeout(): void {
    const seconds = this.#ctx.config.AdminIdleTimeout;
    this.#conn.setIdleTimeout(seconds, () => {
      this.#log.info(`${this.remoteAddress}: idle for ${seconds} s, closing`);
      this.#conn.send(`-ERR idle for ${seconds} seconds, closing the session\r\n`);
      this.#state = "closed";
      this.#conn.close();
    });
  }

  /** Shutdown of the daemon: the protocol's goodbye to a session that is still open. */
  #goodbye(): void {
    this.#state = "closed";
    this.#conn.send("-ERR eXtremail is shutting down, closing the session\r\n");
    this.#conn.close();
  }

  /** SMTPD STOP: the +OK reaches the client before the shutdown begins. */
  async #stopServer(reply: Reply): Promise<void> {
    this.#state = "closed";
    await this.#conn.write(formatReply(reply));
    this.#conn.close();
    this.#ctx.requestStop();
  }

  /** Runs one command line; never throws. Logs the command (passwords redacted) and reply. */
  async #execute(bytes: Uint8Array): Promise<Reply> {
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      const reply = fail("the command line is not valid UTF-8");
      this.#log.info(`${this.remoteAddress}: <invalid UTF-8> -> ${statusLine(reply)}`);
      return reply;
    }
    let reply: Reply;
    try {
      reply = await this.#dispatch(text);
    } catch (e) {
      reply = this.#errorReply(e);
    }
    this.#log.info(`${this.remoteAddress}: ${redactForLog(text)} -> ${statusLine(reply)}`);
    return reply;
  }

  #errorReply(e: unknown): Reply {
    const known = e instanceof AdminError || e instanceof AdminSyntaxError ||
      e instanceof DirectoryError || e instanceof NameError || e instanceof FolderNameError;
    if (known) return fail((e as Error).message);
    this.#log.error(`${this.remoteAddress}: command failed: ${(e as Error)?.stack ?? e}`);
    return fail(`internal error: ${(e as Error)?.message ?? e}; see the server log`);
  }

  async #dispatch(text: string): Promise<Reply> {
    const { verb, rest } = splitVerb(text);
    if (verb === "") return fail("empty command line; HELP lists the commands");
    // LOGIN takes the rest of the line as it is: a password may contain quotes or "=".
    if (verb === "LOGIN") return await this.#run(["LOGIN"], new Map(), rest);
    const parsed = parseLine(text);
    const words = parsed.words;
    if (words.length === 0) throw new AdminError("the command line has no verb, only parameters");
    if (words.length >= 2 && words[words.length - 1] === "HELP") {
      return help(words.slice(0, -1));
    }
    return await this.#run(words, parsed.params, rest);
  }

  /** Runs the command named by `words`; `rest` is the line after its first word. */
  async #run(words: string[], map: Map<string, string>, rest: string): Promise<Reply> {
    const found = findCommand(words);
    if (!found) throw unknownCommand(words);
    const { spec } = found;
    if (this.#state === "login" && !spec.beforeLogin) {
      throw new AdminError(`LOGIN first; before it only HELP and QUIT work`);
    }
    const extra = words.slice(found.length);
    const params = spec.rawArgs
      ? new Params(spec.path, new Map())
      : checkArguments(spec, extra, map);
    const input: CommandInput = {
      ctx: this.#ctx,
      session: this,
      spec,
      words: extra,
      params,
      raw: rest,
    };
    return await spec.run(input);
  }

  async login(password: string): Promise<Reply> {
    if (this.#state === "ready") throw new AdminError("already logged in");
    if (password.trim() === "") throw new AdminError("LOGIN needs the password: LOGIN <password>");
    const ip = this.remoteAddress;
    const source = sourceKey(ip); // an IPv6 client is counted per /64 (SPEC §7)
    const verdict = await loginGuard.exclusive(source, async () => {
      const lockedUntil = loginGuard.lockedUntil(source);
      if (lockedUntil) return { result: "locked" as const, until: lockedUntil };
      if (await this.#passwordMatches(password)) {
        loginGuard.recordSuccess(source);
        return { result: "ok" as const, until: 0 };
      }
      return { result: "wrong" as const, until: loginGuard.recordFailure(source) };
    });
    if (verdict.result === "ok") {
      this.#state = "ready";
      return ok("logged in");
    }
    this.#ctx.metrics.authFailures.inc({ service: "admin" });
    // Outside the per-address queue: the delay slows every failure without serializing them.
    await this.failureDelay();
    if (verdict.result === "locked") {
      return fail(
        `too many failed logins from ${ip}; locked out until ${
          isoTime(verdict.until)
        } (10 minutes)`,
      );
    }
    if (verdict.until) {
      this.#log.warn(`${ip}: 5 failed admin logins; locked out until ${isoTime(verdict.until)}`);
      return fail(`wrong password; too many failures, ${ip} is locked out for 10 minutes`);
    }
    return fail("wrong password");
  }

  /**
   * The password is the rest of the line (SPEC §4); a typed line may carry stray spaces
   * around it, so the trimmed form is tried as well.
   */
  async #passwordMatches(password: string): Promise<boolean> {
    if (await this.#ctx.adminPassword.verify(password)) return true;
    const trimmed = password.trim();
    return trimmed !== password && await this.#ctx.adminPassword.verify(trimmed);
  }

  failureDelay(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, FAILURE_DELAY_MS));
  }
}
