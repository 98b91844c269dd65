/**
 * The SMTP command table (RFC 5321 4.1.1) and the handlers for the session-level
 * and envelope commands. AUTH is in auth.ts, DATA and BDAT in transfer.ts.
 */
import { hasControl } from "../message/controls.ts";
import {
  type AcceptedRecipient,
  type RcptDsn,
  SmtpReply,
  type Transaction,
} from "../delivery/types.ts";
import { mailParams, parsePathArgument, rcptParams } from "./command.ts";
import {
  AUTH_REQUIRED,
  fail,
  NEED_MAIL,
  NESTED_MAIL,
  OK,
  refuse,
  reply,
  SENDER_OK,
  SmtpError,
  TOO_LARGE,
  TOO_MANY_RECIPIENTS,
} from "./replies.ts";
import type { Handler, SmtpSession } from "./session.ts";
import { auth } from "./auth.ts";
import { bdat, data } from "./transfer.ts";

/** RFC 5321 4.1.1.1: HELO/EHLO take a domain or address literal. Leniently checked. */
function heloName(arg: string, verb: string): string {
  if (arg === "" || /\s/.test(arg) || hasControl(arg) || arg.length > 255) {
    fail(501, "5.5.4", `Syntax: ${verb} hostname`);
  }
  return arg;
}

/** The ESMTP keywords of the EHLO reply (RFC 5321 4.1.1.1, 2.2.2). */
export function ehloKeywords(s: SmtpSession): string[] {
  const max = s.ctx.config.MaxMailSize;
  const keywords = [
    max > 0 ? `SIZE ${max}` : "SIZE", // RFC 1870
    "8BITMIME", // RFC 6152
    "PIPELINING", // RFC 2920
    "ENHANCEDSTATUSCODES", // RFC 2034
    "SMTPUTF8", // RFC 6531
    "CHUNKING", // RFC 3030
    "DSN", // RFC 3461
  ];
  if (s.ctx.tlsContext && !s.conn.secure) keywords.push("STARTTLS"); // RFC 3207
  // RFC 4954; SPEC §5 PlainAuthWithoutTLS decides where cleartext passwords are offered.
  if (s.ctx.plainAuthAllowed(s.conn)) keywords.push("AUTH PLAIN LOGIN");
  return keywords;
}

/**
 * The EHLO reply's keyword lines ("250-SIZE ...\r\n" ... "250 DSN\r\n"), made once per
 * configuration (RELOAD makes a new frozen one, so a reload is seen at once) and per
 * STARTTLS offered and AUTH offered, instead of at every EHLO.
 */
const ehloTails = new WeakMap<object, Map<string, string>>();

function ehloTail(s: SmtpSession): string {
  const starttls = s.ctx.tlsContext !== null && !s.conn.secure;
  const key = `${starttls} ${s.ctx.plainAuthAllowed(s.conn)}`;
  let byConfig = ehloTails.get(s.ctx.config);
  if (!byConfig) ehloTails.set(s.ctx.config, byConfig = new Map());
  let tail = byConfig.get(key);
  if (tail === undefined) {
    const keywords = ehloKeywords(s);
    tail = keywords.map((k, i) => `250${i < keywords.length - 1 ? "-" : " "}${k}\r\n`).join("");
    byConfig.set(key, tail);
  }
  return tail;
}

function ehlo(s: SmtpSession, arg: string): void {
  const name = heloName(arg, "EHLO");
  s.resetTransaction(); // RFC 5321 4.1.4: EHLO implies RSET
  s.greeted = true;
  s.info.helo = name;
  s.info.esmtp = true;
  // RFC 2034 3: no enhanced code on the EHLO reply.
  s.reply(`250-${s.hostName} Hello ${name} [${s.conn.remoteAddress}]\r\n${ehloTail(s)}`);
}

function helo(s: SmtpSession, arg: string): void {
  const name = heloName(arg, "HELO");
  s.resetTransaction();
  s.greeted = true;
  s.info.helo = name;
  s.info.esmtp = false;
  s.reply(new SmtpReply(250, "", s.hostName));
}

/** RFC 5321 4.1.1.2. */
function mail(s: SmtpSession, arg: string): void {
  s.requireGreeting();
  if (s.tx) throw new SmtpError(NESTED_MAIL);
  if (s.submission && !s.info.authUser) throw new SmtpError(AUTH_REQUIRED);
  const { address, params } = parsePathArgument(arg, "FROM");
  const mp = mailParams(params);
  const max = s.ctx.config.MaxMailSize;
  // RFC 1870 6.1: a declared size over the fixed maximum is refused at MAIL.
  if (mp.size !== undefined && max > 0 && mp.size > max) throw new SmtpError(TOO_LARGE, false);
  const refusal = s.pipeline.checkMailFrom(s.ctx, s.info, address, mp);
  if (refusal) {
    s.reply(refusal);
    return;
  }
  s.tx = { from: address, params: mp, recipients: [] };
  s.reply(SENDER_OK);
}

/**
 * RFC 5321 4.1.1.3. Synchronous unless the pipeline's check waits (DNSBL, a home node,
 * a quota): such RCPTs are answered inside the read callback (command_loop.ts).
 */
function rcpt(s: SmtpSession, arg: string): void | Promise<void> {
  s.requireGreeting();
  const tx = s.tx;
  if (!tx) throw new SmtpError(NEED_MAIL);
  if (s.chunks) fail(503, "5.5.1", "Error: RCPT not allowed during a BDAT transfer");
  const { address, params } = parsePathArgument(arg, "TO", { smtpUtf8: tx.params.smtpUtf8 });
  const dsn = rcptParams(params);
  const max = s.ctx.config.MaxRecipients;
  // RFC 5321 4.5.3.1.10: 452 4.5.3 and the client sends the rest in another transaction.
  if (max > 0 && tx.recipients.length >= max) throw new SmtpError(TOO_MANY_RECIPIENTS, false);
  const check = s.pipeline.checkRcpt(s.ctx, s.info, tx, address);
  if (check instanceof Promise) return check.then((c) => rcptChecked(s, tx, dsn, c));
  rcptChecked(s, tx, dsn, check);
}

function rcptChecked(
  s: SmtpSession,
  tx: Transaction,
  dsn: RcptDsn,
  { reply: answer, accepted }: { reply: SmtpReply; accepted?: AcceptedRecipient },
): void {
  if (accepted && s.tx === tx) tx.recipients.push({ ...accepted, dsn });
  s.reply(answer);
  // SPEC §7: recipients nobody here knows count toward the session's error limit, so a
  // dictionary of guessed addresses ends with 421 after MAX_ERRORS of them.
  if (isUnknownRecipient(answer)) s.countError();
}

/** 550 5.1.1 (no such user), 553 5.1.3 (malformed), 554 5.7.1 relay refused. */
function isUnknownRecipient(answer: SmtpReply): boolean {
  return (answer.enhanced === "5.1.1" || answer.enhanced === "5.1.3" ||
    (answer.code === 554 && answer.enhanced === "5.7.1"));
}

/** RFC 5321 4.1.1.5. */
function rset(s: SmtpSession, arg: string): void {
  if (arg !== "") fail(501, "5.5.4", "Syntax: RSET");
  s.resetTransaction();
  s.reply(OK);
}

/** RFC 5321 4.1.1.9: NOOP may carry a string, which is ignored. */
function noop(s: SmtpSession): void {
  s.reply(OK);
}

/** RFC 5321 4.1.1.10. */
function quit(s: SmtpSession): void {
  s.reply(reply(221, "2.0.0", `${s.hostName} closing connection`));
  s.closing = true;
  s.quit = true;
}

/** RFC 5321 3.5.3 / 7.3: VRFY is answered without disclosing anything. */
function vrfy(s: SmtpSession, arg: string): void {
  if (arg === "") fail(501, "5.5.4", "Syntax: VRFY address");
  s.reply(
    reply(252, "2.1.5", "Cannot VRFY user, but will accept message and attempt delivery"),
  );
}

/** RFC 5321 7.3: EXPN may be disabled; it would disclose list members. */
function expn(): void {
  refuse(502, "5.5.1", "Error: EXPN is disabled");
}

/** RFC 5321 4.2.4: recognized but not implemented. */
function notImplemented(): void {
  fail(502, "5.5.1", "Error: command not implemented");
}

/** RFC 5321 4.1.1.8. */
function help(s: SmtpSession): void {
  s.reply(
    reply(
      214,
      "2.0.0",
      `Commands: ${Object.keys(COMMANDS).filter((v) => COMMANDS[v] !== notImplemented).join(" ")}` +
        "\nSee RFC 5321; this is eXtremail",
    ),
  );
}

/** RFC 3207 4: STARTTLS; on success the session starts over (4.2). */
async function starttls(s: SmtpSession, arg: string): Promise<void> {
  if (arg !== "") fail(501, "5.5.4", "Syntax: STARTTLS");
  if (s.conn.secure) fail(503, "5.5.1", "Error: TLS already active");
  const context = s.ctx.tlsContext;
  if (!context) fail(502, "5.5.1", "Error: STARTTLS not available");
  if (s.tx) fail(503, "5.5.1", "Error: STARTTLS not allowed during a mail transaction");
  s.reply(reply(220, "2.0.0", "Ready to start TLS"));
  await s.flushNow();
  try {
    // Plaintext pipelined after STARTTLS is discarded by startTls (CVE-2011-0411).
    await s.conn.startTls(context);
  } catch (e) {
    s.log.info`TLS handshake failed: ${e instanceof Error ? e.message : String(e)}`;
    s.closing = true;
    s.conn.destroy();
    return;
  }
  s.resetAfterTls();
  s.log.info`TLS established: ${s.conn.tlsInfo?.protocol} ${s.conn.tlsInfo?.cipher}`;
}

export const COMMANDS: Readonly<Record<string, Handler>> = {
  HELO: helo,
  EHLO: ehlo,
  MAIL: mail,
  RCPT: rcpt,
  DATA: data,
  BDAT: bdat,
  RSET: rset,
  NOOP: noop,
  QUIT: quit,
  VRFY: vrfy,
  EXPN: expn,
  HELP: help,
  STARTTLS: starttls,
  AUTH: auth,
  TURN: notImplemented,
  ETRN: notImplemented,
  SEND: notImplemented,
  SOML: notImplemented,
  SAML: notImplemented,
};
