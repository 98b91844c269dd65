/**
 * The mail pipeline's entry points for the SMTP session (src/delivery/types.ts is the
 * contract): policy at connect, MAIL and RCPT (SPEC §5 deny entries, relay, sizes,
 * recipients), and delivery at the end of DATA/BDAT. The SMTP module sequences
 * commands; every decision about mail is made here.
 */
import { log } from "../log.ts";
import { isAscii } from "../message/controls.ts";
import { countHeaders, type HeaderBlock, parseHeaderBlock } from "../message/header.ts";
import { rewriteHeaders } from "../message/header_rewrite.ts";
import type { ServerContext } from "../server/context.ts";
import { NameError, parseAddress } from "../directory/names.ts";
import type { UserRecord } from "../directory/records.ts";
import { isSrsLocalPart } from "../mailauth/srs.ts";
import { inboundChecks, isCheckedSession } from "./authcheck.ts";
import { planDsn } from "./dsn_reports.ts";
import { dnsblRefusal, spamFilter } from "./spamcheck.ts";
import { expand, type Expansion, isEmpty, isListMember, isPostmasterLocalPart } from "./expand.ts";
import { mergeExpansions, userLimit } from "./plan.ts";
import { MessageSink, type ReceivedMessage } from "./incoming.ts";
import { receivedHeader, returnPathHeader } from "./received.ts";
import * as R from "./replies.ts";
import { route } from "./route.ts";
import { HomeUnreachableError } from "./home_nodes.ts";
import type {
  AcceptedRecipient,
  MailParams,
  SessionInfo,
  SmtpReply,
  Transaction,
} from "./types.ts";

/** RFC 5321 6.3: more Received headers than this means a mail loop. */
export const MAX_RECEIVED = 50;

/** What checkRcpt stores in AcceptedRecipient.resolution. */
export interface Resolution {
  /** Normalized `local@domain` (domain lower-case, A-labels), for duplicate checks. */
  key: string;
  expansion: Expansion;
}

function isResolution(x: unknown): x is Resolution {
  return typeof x === "object" && x !== null && "expansion" in x && "key" in x;
}

/** SPEC §5 IPIN: refused networks get `554 5.7.1` and the session closes. */
export function checkConnect(ctx: ServerContext, info: SessionInfo): SmtpReply | null {
  return ctx.directory.isDenied("IPIN", info.clientIp) ? R.connectDenied() : null;
}

/**
 * The user whose MAXOUT applies: the authenticated user, else the local user named
 * by the reverse-path (so the limit holds for trusted-network clients too).
 */
function sendingUser(ctx: ServerContext, info: SessionInfo, from: string): UserRecord | null {
  if (info.authUser) {
    return ctx.directory.getUser(info.authUser.name, info.authUser.domain) ?? info.authUser;
  }
  if (from === "") return null;
  const at = from.lastIndexOf("@");
  return ctx.directory.getUser(from.slice(0, at), from.slice(at + 1)) ?? null;
}

/**
 * MAIL FROM (SPEC §5): reverse-path syntax, DOMAININ/MAILBOXIN (550 5.7.1), SIZE
 * against MaxMailSize and the sender's MAXOUT (552 5.3.4). Submission requires AUTH
 * (RFC 8314); the envelope sender is not required to be the login (aliases, lists
 * and shared addresses are sent from legitimately; see docs/delivery.md).
 */
export function checkMailFrom(
  ctx: ServerContext,
  info: SessionInfo,
  from: string,
  params: MailParams,
): SmtpReply | null {
  if (info.service !== "smtp" && !info.authUser) return R.authRequired();
  if (from !== "") {
    if (!isAscii(from) && !params.smtpUtf8) return R.needUtf8(from);
    let local: string, domain: string;
    try {
      ({ local, domain } = parseAddress(from));
    } catch (e) {
      if (e instanceof NameError) return R.badSender(from);
      throw e;
    }
    if (
      ctx.directory.isDenied("DOMAININ", domain) ||
      ctx.directory.isDenied("MAILBOXIN", `${local}@${domain}`)
    ) {
      return R.senderDenied(from);
    }
  }
  const size = params.size;
  if (size !== undefined) {
    if (size > ctx.config.MaxMailSize) return R.tooBig();
    const user = sendingUser(ctx, info, from);
    if (user && user.maxOut > 0 && size > user.maxOut) return R.tooBigForSender();
  }
  return null;
}

/**
 * RFC 5321 4.5.1: `<postmaster>` without a domain is a local recipient, and so is postmaster
 * at HostName when that is not a local domain: it is the name of our greeting and of our
 * DSNs' MAILER-DAEMON@HostName, where a remote admin's reply goes (Postfix: $myhostname).
 */
function isOurPostmaster(ctx: ServerContext, rcpt: string): boolean {
  if (/^postmaster$/i.test(rcpt)) return true;
  const at = rcpt.lastIndexOf("@");
  if (at <= 0 || !isPostmasterLocalPart(rcpt.slice(0, at))) return false;
  const domain = rcpt.slice(at + 1).toLowerCase();
  return domain === ctx.config.HostName.toLowerCase() && !ctx.directory.isLocalDomain(domain);
}

/** Where `<postmaster>` goes: postmaster@ HostName when local, else @ the first domain. */
function postmasterAddress(ctx: ServerContext): string | null {
  const host = ctx.config.HostName.toLowerCase();
  const domain = ctx.directory.isLocalDomain(host) ? host : ctx.directory.domains()[0];
  return domain ? `postmaster@${domain}` : null;
}

/**
 * RCPT TO (SPEC §5): deny entries, relay rules, local resolution (user, alias,
 * catch-all, list with ACCESS), QUOTA/MAXIN when SIZE was given, duplicates.
 * postmaster@ a local domain always resolves (expand.ts: its own address, else the
 * `Postmaster` key, else DirBase/postmaster/) and is exempt from DNSBL refusals; deny
 * entries and a real postmaster user's QUOTA/MAXIN still apply (docs/delivery.md).
 */
export async function checkRcpt(
  ctx: ServerContext,
  info: SessionInfo,
  tx: Transaction,
  rcpt: string,
): Promise<{ reply: SmtpReply; accepted?: AcceptedRecipient }> {
  let target = rcpt;
  if (isOurPostmaster(ctx, rcpt)) {
    const pm = postmasterAddress(ctx);
    if (!pm) return { reply: R.unknownUser(rcpt) };
    target = pm;
  }
  if (!isAscii(target) && !tx.params.smtpUtf8) return { reply: R.needUtf8(rcpt) };
  let local: string, domain: string;
  try {
    ({ local, domain } = parseAddress(target));
  } catch (e) {
    if (e instanceof NameError) return { reply: R.badRecipient(rcpt) };
    throw e;
  }
  // SPEC §9: a client listed in a DNSBL zone is refused here (postmaster@ excepted).
  const listed = await dnsblRefusal(ctx, info, { local, domain });
  if (listed) return { reply: listed };
  let address = `${local}@${domain}`;
  const dir = ctx.directory;
  // SPEC §8: a bounce to an SRS address of ours goes to the original sender; forged or
  // expired ones are unknown users.
  let reversed = false;
  if (isSrsLocalPart(local) && dir.isLocalDomain(domain)) {
    const srs = ctx.auth.reverseSrs(address);
    if (srs.kind === "invalid") {
      return { reply: R.reply(550, "5.1.1", `<${R.safe(rcpt)}>: ${srs.reason}`) };
    }
    if (srs.kind === "original") {
      ({ local, domain } = parseAddress(srs.address));
      address = `${local}@${domain}`;
      reversed = true;
    }
  }
  // RFC 5321 §2.4: remote local parts are case-sensitive; local users are not.
  const key = dir.isLocalDomain(domain) ? address.toLowerCase() : address;
  if (dir.isDenied("DOMAINOUT", domain) || dir.isDenied("MAILBOXOUT", address)) {
    return { reply: R.recipientDenied(rcpt) };
  }
  // Duplicate recipients collapse to one copy: accepted again, delivered once.
  if (
    tx.recipients.some((r) => (isResolution(r.resolution) ? r.resolution.key : r.address) === key)
  ) {
    return { reply: R.duplicateRecipient(rcpt) };
  }
  const isLocal = dir.isLocalDomain(domain);
  if (!isLocal) {
    // SPEC §5 "No open relay": only trusted networks and authenticated clients.
    if (!ctx.isLocalIp(info.clientIp) && !info.authUser && !reversed) {
      return { reply: R.relayDenied(rcpt) };
    }
  } else {
    const resolved = dir.resolveLocal(local, domain);
    if (
      resolved.kind === "list" && resolved.list.access === "MEMBERS" &&
      !isListMember(resolved.list, tx.from)
    ) {
      return { reply: R.membersOnly(rcpt) };
    }
  }
  const expansion = expand(dir, address, { sender: tx.from, postmaster: ctx.config.Postmaster });
  if (isEmpty(expansion)) {
    if (expansion.loop) return { reply: R.aliasLoop(rcpt) };
    if (expansion.denied && !expansion.unknown) return { reply: R.recipientDenied(rcpt) };
    return { reply: R.unknownUser(rcpt) };
  }
  // SPEC §12: a user homed on a node that cannot be reached waits at the sender (451);
  // the message's other recipients are not affected.
  const down = await unreachableHome(ctx, expansion);
  if (down) return { reply: R.homeUnreachable(rcpt, down) };
  // SPEC §5: with SIZE, QUOTA and MAXIN are enforced at RCPT; refuse when no copy could be stored.
  const size = tx.params.size;
  if (size !== undefined && expansion.locals.length > 0 && expansion.remotes.length === 0) {
    let limits: (SmtpReply | null)[];
    try {
      limits = await Promise.all(expansion.locals.map((l) => userLimit(ctx, l.user, size)));
    } catch (e) {
      log("delivery", info.id).error(`RCPT <${rcpt}>: quota check failed: ${(e as Error).message}`);
      return { reply: R.localError() };
    }
    if (limits.every((r) => r !== null)) return { reply: limits[0]! };
  }
  return {
    reply: R.recipientOk(rcpt),
    accepted: { address: rcpt, resolution: { key, expansion } satisfies Resolution },
  };
}

/** The first home node of the recipient's own mailboxes (not list members') that is down. */
async function unreachableHome(ctx: ServerContext, e: Expansion): Promise<string | null> {
  const nodes = new Set<string>();
  for (const l of e.locals) {
    const home = l.group === null ? ctx.homeOf(l.user) : "local";
    if (home !== "local") nodes.add(home);
  }
  for (const node of nodes) if (!(await ctx.peers.reachable(node))) return node;
  return null;
}

function expansionOf(ctx: ServerContext, tx: Transaction, r: AcceptedRecipient): Expansion {
  if (isResolution(r.resolution)) return r.resolution.expansion;
  // A recipient accepted without checkRcpt (should not happen): resolve it now.
  return expand(ctx.directory, r.address, { sender: tx.from, postmaster: ctx.config.Postmaster });
}

/**
 * Where the content of DATA/BDAT goes as it arrives: memory, then a spool file that
 * starts with the trace fields of this transaction (src/delivery/incoming.ts). They are
 * made now: the Received field depends only on the session, the envelope and the
 * queue id, so the file can become a Maildir file as it is (docs/delivery.md).
 */
export function openMessage(
  ctx: ServerContext,
  info: SessionInfo,
  tx: Transaction,
  queueId: string,
): MessageSink {
  const trace = receivedHeader({
    info,
    hostName: ctx.config.HostName,
    queueId,
    recipient: tx.recipients.length === 1 ? tx.recipients[0].address : undefined,
    smtpUtf8: tx.params.smtpUtf8,
  });
  return new MessageSink(ctx.incoming, {
    label: queueId,
    returnPath: returnPathHeader(tx.from),
    trace,
    sizeHint: tx.params.size,
  });
}

/**
 * End of DATA/BDAT: `message` is the message as received (CRLF, dot-unstuffed), from
 * openMessage. Loop and size checks, then every local copy and the outbound queue made
 * durable before `250 2.0.0 Ok: queued as <id>` (SPEC §5, §7).
 *
 * Copies refused here (QUOTA/MAXIN reached since RCPT): when every copy is refused the
 * message is refused with the first reason; when only some are, the rest is delivered
 * and the sender gets a DSN for the refused ones (the client cannot be told per
 * recipient after DATA, RFC 5321 4.2.5; refusing all would bounce good recipients too).
 */
export async function deliver(
  ctx: ServerContext,
  info: SessionInfo,
  tx: Transaction,
  message: ReceivedMessage,
  queueId: string,
): Promise<SmtpReply> {
  const logger = log("delivery", info.id);
  let head = message.head;
  let block: HeaderBlock = message.block;
  // RFC 5321 4.4: final delivery adds Return-Path, and a message should not arrive with
  // one; a Return-Path already present is dropped (as Postfix does) so ours is the only one.
  if (block.fields.some((f) => f.name === "return-path")) {
    head = rewriteHeaders(block, ["return-path"], new Uint8Array(0));
    block = parseHeaderBlock(head);
  }
  const size = message.size;
  const refuse = (reply: SmtpReply) => {
    logger.info(
      `${queueId}: refused from=<${tx.from}> size=${size}: ${reply.toString().trim()}`,
    );
    return reply;
  };
  if (tx.recipients.length === 0) {
    return refuse(R.reply(554, "5.5.1", "Error: no valid recipients"));
  }
  // The header is kept in memory for these checks; one too long to keep is refused.
  if (message.headerTooLarge) return refuse(R.headerTooLarge());
  const hops = countHeaders(block, "received");
  if (hops > MAX_RECEIVED) return refuse(R.tooManyHops(hops));
  if (size > ctx.config.MaxMailSize) return refuse(R.tooBig());
  const sender = sendingUser(ctx, info, tx.from);
  if (sender && sender.maxOut > 0 && size > sender.maxOut) {
    return refuse(R.tooBigForSender());
  }

  // SPEC §8 inbound checks (port 25, untrusted clients) read the message as received,
  // in chunks from the spool file when it is there (src/delivery/authcheck.ts).
  const checks = await inboundChecks(ctx, info, tx, message.chunks(), block, queueId);
  if (checks.refusal) return refuse(checks.refusal);
  if (checks.block !== block) {
    // Authentication-Results claiming our authserv-id were removed (RFC 8601 §5).
    head = checks.block.bytes;
    block = checks.block;
  }
  // RFC 8601 §5: Authentication-Results (and Received-SPF) above our Received.
  const authFields = new TextEncoder().encode(checks.verdict?.headers ?? "");
  // SPEC §9: rspamd, after the checks above (src/delivery/spamcheck.ts).
  const spam = await spamFilter(ctx, info, tx, message, { head, block, authFields }, queueId);
  if (spam.refusal) return refuse(spam.refusal);
  ({ head, block } = spam);

  const expansions = tx.recipients.map((r) => ({ r, expansion: expansionOf(ctx, tx, r) }));
  const plan = mergeExpansions(expansions.map((e) => e.expansion));
  let result;
  try {
    result = await route(ctx, {
      sid: info.id,
      queueId,
      from: tx.from,
      message,
      head,
      block,
      // Header fields computed at the end of DATA from the whole message (mail
      // authentication results, spam verdicts) go here; see docs/delivery.md.
      added: spam.added,
      smtpUtf8: tx.params.smtpUtf8,
      eightBit: tx.params.body !== undefined && tx.params.body !== "7BIT",
      arrival: new Date(),
      mode: "smtp",
      trusted: !isCheckedSession(ctx, info),
      quarantine: checks.verdict?.action === "quarantine" || spam.junk,
      sealBasis: checks.verdict,
      client: checks.client,
      dsn: planDsn(tx.params, expansions),
    }, plan);
  } catch (e) {
    if (e instanceof HomeUnreachableError) {
      logger.warn(`${queueId}: answered 451: ${e.message}`);
      return R.reply(451, "4.3.0", "Mailbox server unreachable, try again later");
    }
    logger.error(`${queueId}: delivery failed, answered 451: ${(e as Error).stack ?? e}`);
    return R.localError();
  }
  for (const n of plan.notes) logger.info(`${queueId}: ${n}`);
  if (!result.reply.positive) return refuse(result.reply);
  ctx.stats.received++;
  ctx.metrics.messagesReceived.inc();
  const failed = result.failed.length
    ? ` failed=${result.failed.map((f) => f.address).join(",")}`
    : "";
  const auth = info.authUser ? ` auth=${info.authUser.name}@${info.authUser.domain}` : "";
  // The one line per accepted message (SMTP logs no second "accepted" line).
  logger.info(
    `${queueId}: from=<${tx.from}> to=${tx.recipients.map((r) => `<${r.address}>`).join(",")} ` +
      `size=${size} local=${result.localCopies} queued=${result.queued.join(",") || "-"}` +
      `${failed}${auth}`,
  );
  return result.reply;
}
