/**
 * The not-authenticated state (RFC 3501 §6.2, RFC 9051 §6.2): STARTTLS, LOGIN and
 * AUTHENTICATE PLAIN (RFC 4616) with SASL-IR (RFC 4959). Cleartext passwords follow
 * PlainAuthWithoutTLS (SPEC §3/§5): where forbidden we advertise LOGINDISABLED and
 * refuse with [PRIVACYREQUIRED] (RFC 5530).
 */
import { sessionUser } from "../log.ts";
import { LineTooLongError } from "../net/connection.ts";
import { authorizesSelf, decodePlain } from "../sasl/plain.ts";
import { decodeResponse } from "../sasl/response.ts";
import type { LoginResult } from "../auth/guard.ts";
import type { UserRecord } from "../directory/records.ts";
import { pipeSessions } from "../cluster/proxy.ts";
import { bad, ImapError, no } from "./args.ts";
import { type CommandSpec, type Done, NOT_AUTHED } from "./command_table.ts";
import type { Session } from "./session.ts";

/** After this many failures the connection is closed. */
const MAX_FAILURES = 5;

const starttlsCommand: CommandSpec = {
  states: NOT_AUTHED,
  async run(s, { tag, args }) {
    args.end();
    const tls = s.ctx.tlsContext;
    if (!tls) throw no("TLS is not configured on this server", "CANNOT");
    if (s.conn.secure) throw bad("TLS is already active");
    s.out.text(`${tag} OK Begin TLS negotiation now\r\n`);
    await s.out.flush();
    // RFC 3501 §6.2.1: anything pipelined after STARTTLS is discarded (CVE-2011-0411).
    s.parser.reset();
    try {
      await s.conn.startTls(tls);
    } catch (e) {
      s.log.info(`TLS handshake failed: ${(e as Error).message}`);
      s.state = "logout";
      s.conn.destroy();
    }
    return { text: "", silent: true };
  },
};

const loginCommand: CommandSpec = {
  states: NOT_AUTHED,
  async run(s, { tag, args }) {
    const login = args.astring("user name");
    const password = args.astring("password");
    args.end();
    requirePlainAllowed(s);
    return await finishAuth(s, tag, login, await guardedLogin(s, login, password));
  },
};

const authenticateCommand: CommandSpec = {
  states: NOT_AUTHED,
  async run(s, { tag, args }) {
    const mech = args.atom("mechanism").toUpperCase();
    let initial = args.more ? args.astring("initial response") : null;
    args.end();
    if (mech !== "PLAIN") {
      throw no(`Unsupported authentication mechanism ${mech.slice(0, 30)}`, "CANNOT");
    }
    requirePlainAllowed(s);
    if (initial === null) {
      // RFC 3501 §6.2.2: an empty continuation request, then one line of base64.
      s.out.text("+ \r\n");
      await s.out.flush();
      let line;
      try {
        line = await s.conn.readLine(8192);
      } catch (e) {
        if (e instanceof LineTooLongError) throw bad("Authentication response too long");
        throw e;
      }
      if (line === null) {
        s.state = "logout";
        return { text: "", silent: true };
      }
      initial = new TextDecoder().decode(line.line).trim();
    }
    // RFC 3501 §6.2.2: "*" cancels; RFC 4959 §3: "=" is an empty initial response.
    const response = decodeResponse(initial);
    if (response.kind === "cancel") throw bad("Authentication cancelled");
    const plain = response.kind === "data" ? decodePlain(response.bytes) : null;
    if (!plain?.ok) throw bad("Invalid SASL PLAIN response");
    const creds = plain.credentials;
    const result = await guardedLogin(s, creds.authcid, creds.password, creds.authzid);
    return await finishAuth(s, tag, creds.authcid, result);
  },
};

function requirePlainAllowed(s: Session): void {
  if (!s.ctx.plainAuthAllowed(s.conn)) {
    throw no(
      "Cleartext authentication is not allowed without TLS; use STARTTLS",
      "PRIVACYREQUIRED",
    );
  }
}

/** SPEC §7: the daemon's guard counts failures across SMTP, POP3 and IMAP. */
function guardedLogin(s: Session, login: string, password: string, authzid = "") {
  const directory = s.ctx.directory;
  return s.ctx.authGuard.login({
    protocol: "imap",
    ip: s.conn.remoteAddress,
    login,
    password,
    // Acting as another user is not offered; as oneself (any login name) is fine.
    authorize: (user) => authorizesSelf(authzid, user, (name) => directory.findLogin(name)),
  });
}

async function finishAuth(
  s: Session,
  tag: string,
  login: string,
  result: LoginResult,
): Promise<Done> {
  if (result.kind !== "ok") {
    s.ctx.metrics.authFailures.inc({ service: "imap" });
    s.authFailures++;
    s.log.info(`authentication ${result.kind} for ${JSON.stringify(login.slice(0, 100))}`);
    if (s.authFailures >= MAX_FAILURES) {
      s.out.text("* BYE Too many authentication failures\r\n");
      s.state = "logout";
    }
    // RFC 5530 §3: UNAVAILABLE, a temporary failure; AUTHENTICATIONFAILED, wrong credentials.
    if (result.kind === "throttled") {
      throw new ImapError("NO", "Too many failed logins; try again later", "UNAVAILABLE");
    }
    throw new ImapError("NO", "Authentication failed", "AUTHENTICATIONFAILED");
  }
  const user = result.user;
  // SPEC §12: the mailbox is on another node; the session goes on there, through us.
  const home = s.ctx.homeOf(user);
  if (home !== "local") return await proxyToHome(s, tag, user, home);
  const root = s.ctx.store.userRoot(user);
  await s.ctx.store.ensureMailbox(root);
  s.user = user;
  s.root = root;
  s.state = "auth";
  sessionUser(s.conn.id, `${user.name}@${user.domain}`);
  s.log.info(`login ${user.name}@${user.domain}`);
  return { text: "Logged in", code: `CAPABILITY ${s.capabilities()}` };
}

/**
 * SPEC §12: the user's home node runs the session; its first words are the tagged OK of
 * this login (the client saw our greeting, and sees no other), then every byte both
 * ways goes through, IDLE and COMPRESS included. A home node that cannot be reached:
 * NO [UNAVAILABLE] (RFC 5530), the client may try again.
 */
async function proxyToHome(s: Session, tag: string, user: UserRecord, node: string) {
  const address = `${user.name}@${user.domain}`;
  let link;
  try {
    link = await s.ctx.peers.open(node, {
      kind: "imap",
      tag,
      address,
      clientIp: s.conn.remoteAddress,
    });
  } catch (e) {
    s.log.warn(`login ${address}: home node unreachable: ${(e as Error).message}`);
    throw new ImapError("NO", "Your mailbox is not reachable now; try again later", "UNAVAILABLE");
  }
  await s.out.flush();
  s.state = "auth";
  sessionUser(s.conn.id, address);
  s.log.info(`login ${address}: proxied to node ${node}`);
  await pipeSessions(s.conn, link);
  s.state = "logout";
  return { text: "", silent: true };
}

export const AUTH_COMMANDS: Record<string, CommandSpec> = {
  STARTTLS: starttlsCommand,
  LOGIN: loginCommand,
  AUTHENTICATE: authenticateCommand,
};
