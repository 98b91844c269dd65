/**
 * SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN, initial responses included
 * (SASL-IR, RFC 4954 4). Passwords are checked by the directory, so MAP login names
 * work (SPEC §5); src/auth/guard.ts throttles guessing and delays every refusal; nothing
 * secret is logged.
 */
import { LOGIN_PASSWORD_PROMPT, LOGIN_USERNAME_PROMPT } from "../sasl/login.ts";
import { authorizesSelf } from "../sasl/plain.ts";
import {
  AUTH_ENCRYPTION_REQUIRED,
  AUTH_FAILED,
  AUTH_OK,
  AUTH_THROTTLED,
  fail,
  reply,
  SmtpError,
} from "./replies.ts";
import {
  loginText,
  MAX_AUTH_LINE,
  type Mechanism,
  MECHANISMS,
  parseAuthCommand,
  plainCredentials,
} from "./sasl.ts";
import { sessionUser } from "../log.ts";
import type { SmtpSession } from "./session.ts";

const latin1 = new TextDecoder("latin1");

export async function auth(s: SmtpSession, arg: string): Promise<void> {
  s.requireGreeting();
  // RFC 4954 4: one successful AUTH per session; not inside a mail transaction.
  if (s.info.authUser) fail(503, "5.5.1", "Error: already authenticated");
  if (s.tx) fail(503, "5.5.1", "Error: AUTH not allowed during a mail transaction");
  const { mechanism, initial } = parseAuthCommand(arg);
  if (!(MECHANISMS as readonly string[]).includes(mechanism)) {
    fail(504, "5.5.4", "Error: unrecognized authentication type");
  }
  // SPEC §5 PlainAuthWithoutTLS; RFC 4954 6: 538 5.7.11.
  if (!s.ctx.plainAuthAllowed(s.conn)) throw new SmtpError(AUTH_ENCRYPTION_REQUIRED);
  const creds = await exchange(s, mechanism as Mechanism, initial);
  if (!creds) return; // the client went away
  const directory = s.ctx.directory;
  // The guard throttles guessing across SMTP, POP3 and IMAP and answers every refusal
  // after the same delay (SPEC §7); the session is not idle meanwhile.
  s.busy = true;
  s.flush();
  let result;
  try {
    result = await s.ctx.authGuard.login({
      protocol: "smtp",
      ip: s.conn.remoteAddress,
      login: creds.login,
      password: creds.password,
      // RFC 4616 2: no proxy authorization; an authzid must name the same account.
      authorize: (user) => authorizesSelf(creds.authzid, user, (l) => directory.findLogin(l)),
    });
  } finally {
    s.busy = false;
  }
  if (result.kind !== "ok") {
    s.ctx.metrics.authFailures.inc({ service: "smtp" });
    s.log.info`AUTH ${mechanism} ${result.kind} for ${JSON.stringify(creds.login.slice(0, 100))}`;
    throw new SmtpError(result.kind === "throttled" ? AUTH_THROTTLED : AUTH_FAILED);
  }
  const user = result.user;
  s.info.authUser = user;
  sessionUser(s.conn.id, `${user.name}@${user.domain}`);
  s.log.info`AUTH ${mechanism} as ${user.name}@${user.domain}`;
  s.reply(AUTH_OK);
}

/** Runs the mechanism's challenges; null when the connection ended meanwhile. */
async function exchange(
  s: SmtpSession,
  mechanism: Mechanism,
  initial: string | null,
): Promise<{ login: string; password: string; authzid: string } | null> {
  if (mechanism === "PLAIN") {
    const response = initial ?? await challenge(s, "");
    if (response === null) return null;
    const { authcid, password, authzid } = plainCredentials(response);
    return { login: authcid, password, authzid };
  }
  const login = initial ?? await challenge(s, LOGIN_USERNAME_PROMPT);
  if (login === null) return null;
  const user = loginText(login);
  const password = await challenge(s, LOGIN_PASSWORD_PROMPT);
  if (password === null) return null;
  return { login: user, password: loginText(password), authzid: "" };
}

/** RFC 4954 4: "334 <base64 challenge>", then one line of response. */
async function challenge(s: SmtpSession, text: string): Promise<string | null> {
  s.reply(reply(334, "", text));
  const line = await s.readContinuation(MAX_AUTH_LINE);
  return line === null ? null : latin1.decode(line).trim();
}
