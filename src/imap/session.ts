/**
 * One IMAP connection (RFC 3501 / RFC 9051): a state machine (not authenticated,
 * authenticated, selected, logout) that reads commands through the pure parser,
 * dispatches them through the command table, and sends untagged updates of the
 * selected mailbox at the points §7 allows. One write per response batch.
 */
import { startLoginDeadline } from "../auth/login_deadline.ts";
import type { Connection } from "../net/connection.ts";
import { LineTooLongError } from "../net/connection.ts";
import type { ServerContext } from "../server/context.ts";
import type { UserRecord } from "../directory/records.ts";
import type { MessageEntry } from "../store/folder/folder.ts";
import { log, type Logger, sessionUser } from "../log.ts";
import { bad, ImapError } from "./args.ts";
import type { CommandTable, SessionState } from "./command_table.ts";
import { executeCommand } from "./dispatch.ts";
import { CommandParser } from "./parser.ts";
import { LITERAL_IN_MEMORY, readLiteral, spoolLiteral } from "./literal_file.ts";
import { Outbox } from "./output.ts";
import { EXTENSION_CAPABILITIES } from "./extensions.ts";
import type { Notifier } from "./notify.ts";
import { contextHooks, contextUpdatesPending, sendContextUpdates } from "./search_context.ts";
import type { MailboxView } from "./view.ts";

/** Longest command line accepted (literals not counted). */
export const MAX_LINE = 1 << 20;
/** SPEC §7: literals of a command before authentication, all together (MaxMailSize after). */
export const MAX_LITERAL_BEFORE_AUTH = 8 * 1024;

export class Session {
  state: SessionState = "notauth";
  user: UserRecord | null = null;
  /** The user's Maildir root once authenticated. */
  root = "";
  /** ENABLE UTF8=ACCEPT or IMAP4rev2 (RFC 6855, RFC 9051): UTF-8 mailbox names. */
  utf8 = false;
  /** ENABLE IMAP4rev2: rev2 response forms (no \Recent, ESEARCH). */
  rev2 = false;
  /**
   * RFC 7162 §3.1: a CONDSTORE enabling command was used; untagged FETCH responses for
   * flag changes carry MODSEQ (and UID) from then on.
   */
  condstore = false;
  /** RFC 7162 §3.2: ENABLE QRESYNC; expunges are reported as VANISHED. */
  qresync = false;
  view: MailboxView | null = null;
  authFailures = 0;
  readonly out: Outbox;
  readonly log: Logger;
  readonly parser: CommandParser;
  /** Set while IDLE runs, so shutdown and updates know. */
  idling = false;
  /** NOTIFY (RFC 5465): what to report unasked, and when (notify.ts). */
  notifier: Notifier | null = null;
  #busy = false;
  #stopping = false;
  /** Files of APPEND literals of the command being read (removed after it ran). */
  #spooled: string[] = [];

  constructor(
    readonly ctx: ServerContext,
    readonly conn: Connection,
    readonly commands: CommandTable,
  ) {
    this.out = new Outbox(conn);
    this.log = log("imap", conn.id);
    this.parser = new CommandParser({
      maxLiteral: MAX_LITERAL_BEFORE_AUTH,
      maxLine: MAX_LINE,
      spoolAbove: LITERAL_IN_MEMORY,
    });
  }

  /** A command is being run (IDLE included). */
  get busy(): boolean {
    return this.#busy;
  }

  /** Between commands: unsolicited responses may be sent now (NOTIFY). */
  get between(): boolean {
    return !this.#busy && !this.parser.inCommand && this.state !== "logout" && !this.conn.closed;
  }

  /** CAPABILITY list for the current state (RFC 3501 §7.2.1). */
  capabilities(): string {
    const caps = [
      "IMAP4rev1",
      "IMAP4rev2",
      "LITERAL+",
      "SASL-IR",
      "IDLE",
      "UIDPLUS",
      "MOVE",
      "NAMESPACE",
      "ID",
      "ENABLE",
      "SPECIAL-USE",
      "QUOTA",
      "UNSELECT",
      "CHILDREN",
      "ESEARCH",
      "CONDSTORE",
      "QRESYNC",
      "SEARCHRES",
      "WITHIN",
      "LIST-EXTENDED",
      "LIST-STATUS",
      "STATUS=SIZE",
      "UTF8=ACCEPT",
      // RFC 9208 §4.1: the resources a QUOTA server supports.
      "QUOTA=RES-STORAGE",
      // RFC 5256, RFC 5957, RFC 5267 §3 (sort.ts, thread.ts).
      "SORT",
      "SORT=DISPLAY",
      "THREAD=ORDEREDSUBJECT",
      "THREAD=REFERENCES",
      "ESORT",
      // RFC 5267 §4 (esearch.ts, search_context.ts).
      "CONTEXT=SEARCH",
      "CONTEXT=SORT",
      // RFC 8474 (objectid.ts).
      "OBJECTID",
      ...EXTENSION_CAPABILITIES,
    ];
    if (this.state === "notauth") {
      if (this.ctx.tlsContext && !this.conn.secure) caps.push("STARTTLS");
      if (this.ctx.plainAuthAllowed(this.conn)) caps.push("AUTH=PLAIN");
      else caps.push("LOGINDISABLED");
    }
    return caps.join(" ");
  }

  /** Flags of a message for FETCH FLAGS: system flags, keywords, \Recent for rev1. */
  flagText(uid: number, entry: MessageEntry): string {
    const view = this.view!;
    const text = view.folder.flagText(entry.flags);
    if (this.rev2 || !view.recent.has(uid)) return text;
    return text ? `${text} \\Recent` : "\\Recent";
  }

  /**
   * RFC 7162 §3.1: a CONDSTORE enabling command (ENABLE, SELECT/EXAMINE (CONDSTORE),
   * STATUS HIGHESTMODSEQ, FETCH MODSEQ or CHANGEDSINCE, SEARCH MODSEQ, STORE
   * UNCHANGEDSINCE). The first one with a mailbox selected reports its HIGHESTMODSEQ.
   */
  enableCondstore(): void {
    if (this.condstore) return;
    this.condstore = true;
    if (this.view && this.state === "selected") {
      this.out.text(`* OK [HIGHESTMODSEQ ${this.view.modseq}] Highest mailbox mod-sequence\r\n`);
    }
  }

  /**
   * Runs the session. `preauth` (SPEC §12, on a user's home node): the login was made on
   * the node the client is connected to, which proxies this session; it starts
   * authenticated with the tagged OK of that login instead of a greeting.
   */
  async run(preauth?: { user: UserRecord; tag: string }): Promise<void> {
    const conn = this.conn;
    const unregister = this.ctx.register({
      family: "imap",
      conn,
      user: () => (this.user ? `${this.user.name}@${this.user.domain}` : null),
      goodbye: () => {
        // Mid-response, the BYE waits for the command to finish (at most 5 s), so it
        // never lands inside a literal; waiting for input or in IDLE, it goes now.
        if (this.#busy && !this.idling) {
          this.#stopping = true;
          Deno.unrefTimer(setTimeout(() => this.#bye(), 5000));
        } else this.#bye();
      },
    });
    const onIdle = () => {
      // A command still running (a LOGIN's password check, a long SEARCH) is not the
      // client being idle; IDLE is (RFC 2177: clients re-issue it within 29 minutes).
      if (this.#busy && !this.idling) {
        conn.setIdleTimeout(this.ctx.config.TimeoutIMAP, onIdle);
        return;
      }
      this.log.info("idle timeout");
      conn.send("* BYE Autologout; idle for too long\r\n");
      conn.close();
    };
    conn.setIdleTimeout(this.ctx.config.TimeoutIMAP, onIdle);
    // SPEC §7 TimeoutLogin: a session still not authenticated is closed (from connect).
    const loginTimeout = this.ctx.config.TimeoutLogin;
    const deadline = startLoginDeadline(loginTimeout, {
      authenticated: () => this.state !== "notauth",
      busy: () => this.#busy,
      expire: () => {
        this.log.info(`not authenticated within ${loginTimeout} s, closing`);
        conn.send(`* BYE Login timeout: not authenticated within ${loginTimeout} seconds\r\n`);
        conn.close();
      },
    });
    this.log.info(`connect from ${conn.remoteAddress}${conn.secure ? " (TLS)" : ""}`);
    try {
      if (preauth) {
        const user = preauth.user;
        this.root = this.ctx.store.userRoot(user);
        await this.ctx.store.ensureMailbox(this.root);
        this.user = user;
        this.state = "auth";
        sessionUser(conn.id, `${user.name}@${user.domain}`);
        this.out.text(`${preauth.tag} OK [CAPABILITY ${this.capabilities()}] Logged in\r\n`);
      } else {
        // Sent now (on plain TCP in the turn of the accept: net/greeting_write.ts).
        conn.sendGreeting(
          `* OK [CAPABILITY ${this.capabilities()}] eXtremail IMAP4rev1/rev2 ready\r\n`,
        );
      }
      await this.loop();
    } finally {
      this.notifier?.close();
      deadline.cancel();
      this.view?.close();
      this.view = null;
      await this.#dropSpooled();
      unregister();
      conn.close();
      this.log.info("disconnect");
    }
  }

  async loop(): Promise<void> {
    const conn = this.conn;
    const parser = this.parser;
    while (this.state !== "logout" && !conn.closed) {
      // SPEC §7: 8 KiB of literals before authentication, MaxMailSize after.
      parser.maxLiteral = this.state === "notauth"
        ? MAX_LITERAL_BEFORE_AUTH
        : this.ctx.config.MaxMailSize;
      const ev = parser.next();
      switch (ev.kind) {
        case "more": {
          const remaining = parser.literalRemaining;
          if (remaining > 0) {
            if (!(await readLiteral(conn, remaining, (bytes) => parser.push(bytes)))) return;
            break;
          }
          if (!conn.hasBufferedLine) {
            // A promise only when the socket is backed up: each await is a turn of the
            // microtask queue that a lock-step client waits for.
            const writing = this.out.flushNow();
            if (writing) await writing;
            // The rest of a command after its literal (APPEND's CRLF): ACK the literal now,
            // or a client with Nagle on holds that CRLF for our delayed ACK (40 ms).
            if (parser.inCommand) conn.ackInput();
          }
          let line;
          try {
            // lineWait() rather than an async readLine(): no function frame and promise
            // of its own per command. The line is a view of the input buffer (no copy),
            // parsed below before any wait or copied by the parser when it keeps it.
            line = conn.readLineNow(MAX_LINE, true);
            while (line === undefined) {
              await conn.lineWait();
              line = conn.readLineNow(MAX_LINE, true);
            }
          } catch (e) {
            if (!(e instanceof LineTooLongError)) throw e;
            parser.reset();
            this.out.text("* BAD [TOOBIG] Command line too long\r\n");
            break;
          }
          if (line === null) return;
          parser.pushLine(line.line, true);
          break;
        }
        case "continue":
          // RFC 3501 §7.5: the client waits for this before sending the literal.
          this.out.text("+ Ready for literal data\r\n");
          await this.out.flush();
          break;
        case "spool": {
          // A large APPEND message goes to a file as it arrives, not into memory.
          const r = await spoolLiteral(conn, this.ctx.incoming, ev.size, conn.id);
          if (r.kind === "eof") return;
          if (r.kind === "stored") {
            this.#spooled.push(r.literal.path);
            parser.spooled(r.literal);
            break;
          }
          this.log.error(`cannot store an APPEND literal: ${r.error.message}`);
          const refused = parser.spoolFailed();
          this.out.text(`${refused.tag ?? "*"} NO [${refused.code}] ${refused.text}\r\n`);
          break;
        }
        case "error":
          await this.#dropSpooled();
          if (ev.literal) {
            this.#literalRefused(ev.tag, ev.text, ev.literal);
            break;
          }
          this.out.text(`${ev.tag ?? "*"} BAD ${ev.code ? `[${ev.code}] ` : ""}${ev.text}\r\n`);
          break;
        case "command":
          this.#busy = true;
          try {
            // A notification being written goes out whole before the command runs.
            if (this.notifier) await this.notifier.settled();
            // A promise only when the command had to wait (dispatch.ts).
            const running = executeCommand(this, ev.command);
            if (running) await running;
          } finally {
            this.#busy = false;
            if (this.#spooled.length > 0) await this.#dropSpooled();
          }
          // News that came after the command's updates were written goes now.
          this.notifier?.poke();
          if (this.#stopping) {
            await this.out.flush();
            this.#bye();
            return;
          }
          break;
      }
    }
    await this.out.flush();
  }

  /**
   * A literal over the limit, refused before any "+" (RFC 9051 §7.5). Authenticated: a
   * synchronizing one gets NO [TOOBIG] (RFC 9051 §7.1), a LITERAL+ one BAD [TOOBIG] and its
   * octets are skipped (RFC 7888 §4). Before authentication BAD [TOOBIG]; after a
   * LITERAL+ one the connection is closed rather than reading its octets for nothing.
   */
  #literalRefused(tag: string | null, text: string, literal: "sync" | "nonsync"): void {
    const status = this.state !== "notauth" && literal === "sync" ? "NO" : "BAD";
    this.out.text(`${tag ?? "*"} ${status} [TOOBIG] ${text}\r\n`);
    if (this.state === "notauth" && literal === "nonsync") {
      this.log.info("literal too large before authentication: closing");
      this.out.text("* BYE Literal too large before authentication\r\n");
      this.state = "logout"; // the loop ends, flushes, and the session closes
    }
  }

  async #dropSpooled(): Promise<void> {
    for (const path of this.#spooled.splice(0)) await Deno.remove(path).catch(() => {});
  }

  #bye(): void {
    this.conn.send("* BYE [UNAVAILABLE] server shutting down\r\n");
    this.conn.close();
  }

  /** Untagged EXISTS/EXPUNGE/FETCH for changes made by others (RFC 3501 §7). */
  async sendUpdates(expunge: boolean, force = false): Promise<void> {
    const view = this.view;
    if (!view || this.state !== "selected") return;
    try {
      const text = await view.sync({
        expunge,
        force,
        rev1: !this.rev2,
        flags: (uid, entry) => this.flagText(uid, entry),
        modseq: this.condstore,
        vanished: this.qresync,
        ...contextHooks(view),
      });
      if (text) this.out.text(text);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      // The mailbox was deleted or renamed under us (RFC 3501 §7.1.5: BYE is allowed;
      // we stay connected and fall back to the authenticated state).
      this.out.text("* OK [CLOSED] Selected mailbox no longer exists\r\n");
      view.close();
      this.view = null;
      this.state = "auth";
    }
  }

  /**
   * RFC 5267 §4.3: the ADDTO / REMOVEFROM of the selected mailbox's updating contexts for
   * what the syncs since the last call reported. Called after the untagged data those
   * updates follow (EXISTS, flag FETCHes, NOTIFY's MessageNew FETCH).
   */
  sendSearchUpdates(): Promise<void> | undefined {
    if (this.searchUpdatesDue()) return sendContextUpdates(this);
  }

  /** sendSearchUpdates() has something to send. */
  searchUpdatesDue(): boolean {
    return this.view !== null && this.state === "selected" && contextUpdatesPending(this.view);
  }

  /** Raised by handlers that need a selected, writable mailbox. */
  requireWritable(): MailboxView {
    const v = this.view;
    if (!v) throw bad("No mailbox selected");
    if (v.readOnly) throw new ImapError("NO", "Mailbox is read-only (EXAMINE)");
    return v;
  }
}
