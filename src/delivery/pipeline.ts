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
import { inboundChecks, isCheckedSession } from "./authcheck.ts";
import { planDsn } from "./dsn_reports.ts";
import { spamFilter } from "./spamcheck.ts";
import { expand, type Expansion } from "./expand.ts";
import { mergeExpansions } from "./plan.ts";
import { MessageSink, type ReceivedMessage } from "./incoming.ts";
import { receivedHeader, returnPathHeader } from "./received.ts";
import * as R from "./replies.ts";
import { isResolution } from "./rcpt_check.ts";
import { route } from "./route.ts";
import { HomeUnreachableError } from "./home_nodes.ts";
import type {
  AcceptedRecipient,
  MailParams,
  SessionInfo,
  SmtpReply,
  Transaction,
} from "./types.ts";

const encoder = new TextEncoder();
const NO_FIELDS = new Uint8Array(0);

/** RFC 5321 6.3: more Received headers than this means a mail loop. */
export const MAX_RECEIVED = 50;

export { checkRcpt } from "./rcpt_check.ts";

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
  const authHeaders = checks.verdict?.headers;
  const authFields = authHeaders ? encoder.encode(authHeaders) : NO_FIELDS;
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
