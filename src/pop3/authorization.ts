/**
 * AUTHORIZATION state commands: USER/PASS (RFC 1939 §7), AUTH PLAIN (RFC 5034, RFC 4616)
 * and STLS (RFC 2595 §4). Logins go through the directory (user@domain or a MAP name,
 * SPEC §5) and are refused outside TLS where PlainAuthWithoutTLS forbids cleartext.
 *
 * APOP (RFC 1939 §7) is deliberately not offered: it needs MD5(timestamp + password)
 * computed from the cleartext password, and the directory stores only salted scrypt
 * hashes (SPEC §7), so the server cannot verify an APOP digest.
 */
import { sessionUser } from "../log.ts";
import { LineTooLongError } from "../net/connection.ts";
import { authorizesSelf, decodePlain } from "../sasl/plain.ts";
import { decodeResponse } from "../sasl/response.ts";
import { FolderNameError } from "../store/maildir_names.ts";
import { Maildrop } from "./maildrop.ts";
import { errLine, MAX_SASL_LINE, multilineText, okLine, Pop3Error, splitArgs } from "./protocol.ts";
import type { Pop3Command, Pop3Session } from "./session.ts";
import type { UserRecord } from "../directory/records.ts";
import { pipeSessions } from "../cluster/proxy.ts";
import { lineWithin } from "../cluster/peers.ts";

/** After this many failed logins the session is closed. */
export const MAX_FAILED_LOGINS = 5;

const SASL_MECHANISMS = ["PLAIN"];

function requirePlainAuth(s: Pop3Session): void {
  if (!s.ctx.plainAuthAllowed(s.conn)) {
    const hint = s.ctx.tlsContext ? "; use STLS first" : "";
    throw new Pop3Error(`cleartext login is not allowed on this connection${hint}`, "AUTH");
  }
}

/**
 * Checks credentials and, on success, locks and opens the maildrop. A SASL authzid must
 * name the same account (RFC 4616 §2: we offer no proxy authorization).
 */
async function login(
  s: Pop3Session,
  loginName: string,
  password: string,
  how: string,
  authzid = "",
) {
  const directory = s.ctx.directory;
  // SPEC §7: guessing is throttled across SMTP, POP3 and IMAP; refusals come after a delay.
  const result = await s.ctx.authGuard.login({
    protocol: "pop3",
    ip: s.conn.remoteAddress,
    login: loginName,
    password,
    authorize: (user) => authorizesSelf(authzid, user, (name) => directory.findLogin(name)),
  });
  if (result.kind !== "ok") {
    s.ctx.metrics.authFailures.inc({ service: "pop3" });
    s.failedLogins++;
    s.logger.info(
      `${how} login ${result.kind} for ${
        JSON.stringify(loginName.slice(0, 100))
      } from ${s.conn.remoteAddress}`,
    );
    if (s.failedLogins >= MAX_FAILED_LOGINS) {
      s.closeWith(errLine("too many failed logins, closing connection", "AUTH"));
      return;
    }
    // RFC 3206 §4: SYS/TEMP, a temporary condition; AUTH, the credentials are wrong.
    if (result.kind === "throttled") {
      throw new Pop3Error("too many failed logins; try again later", "SYS/TEMP");
    }
    throw new Pop3Error("invalid login name or password", "AUTH");
  }
  const user = result.user;
  // SPEC §12: the mailbox is on another node; the session goes on there, through us.
  const home = s.ctx.homeOf(user);
  if (home !== "local") return await proxyToHome(s, user, home);
  await openMaildrop(s, user, how);
}

/**
 * SPEC §12: the home node locks the maildrop and answers this login (+OK, or -ERR
 * [IN-USE] and the client may try again here); after a +OK every byte both ways goes
 * through. A home node that cannot be reached: -ERR [SYS/TEMP] (RFC 3206).
 */
async function proxyToHome(s: Pop3Session, user: UserRecord, node: string): Promise<void> {
  const address = `${user.name}@${user.domain}`;
  let link;
  try {
    link = await s.ctx.peers.open(node, { kind: "pop3", address, clientIp: s.conn.remoteAddress });
    const first = await lineWithin(link, 30_000, "login reply");
    if (!first.startsWith("+OK")) {
      link.close();
      s.reply(`${first}\r\n`);
      return;
    }
    s.reply(`${first}\r\n`);
  } catch (e) {
    link?.destroy();
    s.logger.warn(`login ${address}: home node unreachable: ${(e as Error).message}`);
    throw new Pop3Error("your mailbox is not reachable now; try again later", "SYS/TEMP");
  }
  await s.flush();
  s.state = "transaction";
  sessionUser(s.conn.id, address);
  s.logger.info(`login ${address}: proxied to node ${node}`);
  await pipeSessions(s.conn, link);
}

/** After a login: locks and opens the maildrop, enters TRANSACTION and answers +OK. */
export async function openMaildrop(s: Pop3Session, user: UserRecord, how: string): Promise<void> {
  const address = `${user.name}@${user.domain}`;
  let maildrop: Maildrop;
  try {
    maildrop = await Maildrop.open(s.ctx.store, s.ctx.store.userRoot(user), s.conn.id);
  } catch (e) {
    if (e instanceof Pop3Error) {
      s.logger.info(`${address}: ${e.message}`);
      throw e;
    }
    if (e instanceof FolderNameError) {
      s.logger.error(`${address}: ${e.message}`);
      throw new Pop3Error("the mailbox location is invalid; ask the administrator", "SYS/PERM");
    }
    s.logger.error(`${address}: cannot open maildrop: ${e}`);
    throw new Pop3Error("cannot open the maildrop; try again later", "SYS/TEMP");
  }
  s.enterTransaction(user, maildrop);
  sessionUser(s.conn.id, address);
  s.logger.info(
    `${how} login ${address} from ${s.conn.remoteAddress}: ` +
      `${maildrop.visibleCount} messages, ${maildrop.visibleSize} octets`,
  );
  s.reply(
    okLine(`${address} has ${maildrop.visibleCount} messages (${maildrop.visibleSize} octets)`),
  );
  // A session proxied from another node (SPEC §12) runs over the link between nodes.
  if (how !== "proxied") s.offerToLoop(maildrop);
}

/** RFC 5034 §4: the server's empty challenge is "+ ", the client's answer one base64 line. */
async function readSaslResponse(s: Pop3Session): Promise<string | null> {
  s.reply("+ \r\n");
  await s.flush();
  try {
    const read = await s.conn.readLine(MAX_SASL_LINE);
    return read === null ? null : new TextDecoder().decode(read.line);
  } catch (e) {
    if (e instanceof LineTooLongError) throw new Pop3Error("SASL response too long");
    throw e;
  }
}

export const AUTHORIZATION_COMMANDS: Record<string, Pop3Command> = {
  USER: {
    states: ["authorization"],
    run(s, rest) {
      requirePlainAuth(s);
      const name = rest.trim();
      if (name === "") throw new Pop3Error("usage: USER name");
      s.pendingUser = name;
      // The same answer for every name, so USER cannot probe which accounts exist.
      s.reply(okLine("send PASS"));
    },
  },

  PASS: {
    states: ["authorization"],
    async run(s, rest) {
      requirePlainAuth(s);
      const name = s.pendingUser;
      if (name === null) throw new Pop3Error("send USER first");
      s.pendingUser = null;
      // RFC 1939 §7: the password is the whole rest of the line, spaces included.
      if (rest === "") throw new Pop3Error("usage: PASS password");
      await login(s, name, rest, "USER");
    },
  },

  AUTH: {
    states: ["authorization"],
    async run(s, rest) {
      const [mechanism, initial, ...extra] = splitArgs(rest);
      if (mechanism === undefined) {
        // Pre-RFC 5034 clients (RFC 1734 era) send a bare AUTH to list mechanisms.
        const allowed = s.ctx.plainAuthAllowed(s.conn) ? SASL_MECHANISMS : [];
        s.reply(multilineText("SASL mechanisms follow", allowed));
        return;
      }
      if (extra.length > 0) throw new Pop3Error("usage: AUTH mechanism [initial-response]");
      if (!SASL_MECHANISMS.includes(mechanism.toUpperCase())) {
        throw new Pop3Error(`unsupported SASL mechanism ${mechanism.slice(0, 20)}`);
      }
      requirePlainAuth(s);
      const response = initial ?? await readSaslResponse(s);
      if (response === null) return;
      // RFC 5034 §4: "*" cancels the exchange; "=" is an empty initial response.
      const decoded = decodeResponse(response);
      if (decoded.kind === "cancel") throw new Pop3Error("authentication cancelled");
      if (decoded.kind === "malformed") throw new Pop3Error("invalid base64 in SASL response");
      const plain = decodePlain(decoded.bytes);
      if (!plain.ok) throw new Pop3Error(plain.reason);
      const { authzid, authcid, password } = plain.credentials;
      await login(s, authcid, password, "AUTH PLAIN", authzid);
    },
  },

  // Not advertised (see the top of this file); answered specifically rather than as unknown.
  APOP: {
    states: ["authorization"],
    run() {
      throw new Pop3Error(
        "APOP is not supported (passwords are stored hashed); use USER/PASS or AUTH PLAIN",
      );
    },
  },

  STLS: {
    states: ["authorization"],
    changesStream: true,
    async run(s) {
      const tls = s.ctx.tlsContext;
      if (!tls) throw new Pop3Error("STLS is not available: no certificate configured");
      if (s.conn.secure) throw new Pop3Error("the connection already uses TLS");
      s.reply(okLine("begin TLS negotiation"));
      await s.flush();
      try {
        await s.conn.startTls(tls);
      } catch (e) {
        s.logger.info(`TLS handshake failed: ${e instanceof Error ? e.message : e}`);
        s.conn.destroy();
        return;
      }
      // RFC 2595 §4: forget what the client said before TLS.
      s.pendingUser = null;
      s.logger.info(`TLS started: ${s.conn.tlsInfo?.protocol} ${s.conn.tlsInfo?.cipher}`);
    },
  },
};
