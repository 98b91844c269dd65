/**
 * The pipeline's hook into SPEC §9 spam filtering (src/spam via ctx.spam): which sessions
 * are filtered, the DNSBL refusal at RCPT, and what an rspamd verdict means for the
 * message at the end of DATA (a refusal, the Junk folder, header fields, a new Subject).
 *
 * Filtered: sessions that did not authenticate and do not come from LocalIP, or every
 * session with SpamFilterTrusted = true. rspamd runs after the mail authentication checks
 * (authcheck.ts) and is given the message as it will be stored, their
 * Authentication-Results and our Received included, streamed from the spool file.
 */
import { log } from "../log.ts";
import { toPrintableAscii } from "../message/controls.ts";
import { type HeaderBlock, parseHeaderBlock } from "../message/header.ts";
import { concatBytes, rewriteHeaders } from "../message/header_rewrite.ts";
import type { ServerContext } from "../server/context.ts";
import type { MessageBody } from "../spam/rspamd.ts";
import { SpamFilterUnavailable } from "../spam/rspamd.ts";
import {
  isJunk,
  rewrittenSubject,
  SPAM_FIELDS,
  type SpamVerdict,
  verdictFields,
} from "../spam/rspamd_reply.ts";
import type { DnsblResult } from "../spam/dnsbl.ts";
import { MessageContent } from "../store/content.ts";
import { isPostmasterLocalPart } from "./expand.ts";
import type { ReceivedMessage } from "./incoming.ts";
import { reply } from "./replies.ts";
import type { SessionInfo, SmtpReply, Transaction } from "./types.ts";

/** Is mail of this session checked by the spam filter? */
export function isFilteredSession(ctx: ServerContext, info: SessionInfo): boolean {
  if (!ctx.spam.client) return false;
  return ctx.config.SpamFilterTrusted || (!info.authUser && !ctx.isLocalIp(info.clientIp));
}

// One DNSBL look-up per connection (SPEC §9), started by the first RCPT that needs it.
const dnsblLookups = new WeakMap<SessionInfo, Promise<DnsblResult>>();

/**
 * Whether a DNSBL look-up decides this RCPT (dnsblRefusal): not without zones, for a
 * client in LocalIP or authenticated, nor for postmaster@ a local domain. Lets checkRcpt
 * answer every other RCPT without a promise.
 */
export function dnsblApplies(
  ctx: ServerContext,
  info: SessionInfo,
  recipient: { local: string; domain: string },
): boolean {
  if (ctx.config.DNSBL.length === 0 || info.authUser || ctx.isLocalIp(info.clientIp)) return false;
  // The same rule that routes postmaster@ (expand.ts): any local domain, any case.
  return !(isPostmasterLocalPart(recipient.local) &&
    ctx.directory.isLocalDomain(recipient.domain));
}

/**
 * SPEC §9 DNSBL at RCPT: `554 5.7.1` naming the zone when the client is listed; null when it
 * is not, the recipient is postmaster@ a local domain (RFC 5321 §4.5.1), or the client is
 * in LocalIP or authenticated. A zone that cannot be asked never refuses (logged).
 */
export async function dnsblRefusal(
  ctx: ServerContext,
  info: SessionInfo,
  recipient: { local: string; domain: string },
): Promise<SmtpReply | null> {
  if (!dnsblApplies(ctx, info, recipient)) return null;
  let lookup = dnsblLookups.get(info);
  if (!lookup) {
    lookup = ctx.spam.dnsbl(info.clientIp);
    dnsblLookups.set(info, lookup);
    lookup.then((r) => {
      const logger = log("smtp", info.id);
      for (const p of r.problems) logger.warn(`DNSBL ${p}: client ${info.clientIp} not refused`);
      if (r.listed) {
        logger.info(`client ${info.clientIp} listed in ${r.listed.zone} (${r.listed.code})`);
      }
    }, () => {});
  }
  let result: DnsblResult;
  try {
    result = await lookup;
  } catch (e) {
    log("smtp", info.id).error(`DNSBL look-up failed: ${(e as Error).message}`);
    return null;
  }
  if (!result.listed) return null;
  return reply(
    554,
    "5.7.1",
    `Service unavailable; client [${info.clientIp}] blocked using ${result.listed.zone}`,
  );
}

export interface SpamOutcome {
  /** Set when the message is refused (reject, soft reject, greylist, tempfail on failure). */
  refusal: SmtpReply | null;
  /** Local copies go to the recipients' Junk folder. */
  junk: boolean;
  /** Whole header fields to add above the others, CRLF-ended ("" for none). */
  fields: string;
  /** Field names to remove from the message's header (forged verdicts, rspamd's list). */
  drop: string[];
  /** A new Subject field (rewrite subject), or null. */
  subject: string | null;
}

const NOTHING: SpamOutcome = { refusal: null, junk: false, fields: "", drop: [], subject: null };

/** Verdict fields already in the header: written by someone else, removed before ours. */
function forgedSpamFields(block: HeaderBlock): string[] {
  return SPAM_FIELDS.filter((name) => block.fields.some((f) => f.name === name));
}

function bodyOf(content: Uint8Array | MessageContent): MessageBody {
  if (content instanceof MessageContent) return content;
  return {
    size: content.length,
    async *chunks() {
      yield content;
    },
  };
}

/** rspamd's action as the metrics label spells it. */
function actionLabel(v: SpamVerdict): string {
  return v.action.replace(" ", "_");
}

/**
 * End of DATA: asks rspamd about the message (`content`: what will be stored) and maps its
 * action (SPEC §9). Null outcome fields when the session is not filtered.
 */
async function spamCheck(
  ctx: ServerContext,
  info: SessionInfo,
  tx: Transaction,
  content: Uint8Array | MessageContent,
  queueId: string,
): Promise<SpamOutcome> {
  if (!isFilteredSession(ctx, info)) return NOTHING;
  const logger = log("delivery", info.id);
  let verdict: SpamVerdict;
  try {
    verdict = await ctx.spam.check(bodyOf(content), {
      ip: info.clientIp,
      helo: info.helo,
      from: tx.from,
      recipients: tx.recipients.map((r) => r.address),
      user: info.authUser ? `${info.authUser.name}@${info.authUser.domain}` : undefined,
      queueId,
      mtaName: ctx.config.HostName,
    });
  } catch (e) {
    if (!(e instanceof SpamFilterUnavailable)) throw e;
    const tempfail = ctx.config.SpamFilterFailure === "tempfail";
    logger.warn(
      `${queueId}: spam filter unavailable (${e.message}); message ${
        tempfail ? "refused with 451 (SpamFilterFailure = tempfail)" : "accepted unchecked"
      }`,
    );
    return tempfail
      ? { ...NOTHING, refusal: reply(451, "4.7.1", "Spam filter unavailable, try again later") }
      : NOTHING;
  }
  ctx.metrics.spamVerdicts.inc({ action: actionLabel(verdict) });
  logger.info(
    `${queueId}: rspamd ${verdict.action} score=${verdict.score.toFixed(2)}/${
      verdict.required.toFixed(2)
    } symbols=${verdict.symbols.slice(0, 10).map((s) => s.name).join(",") || "-"}`,
  );
  // rspamd's own text (e.g. "Gtube pattern"), printable and short, tells the sender why.
  const why = verdict.smtpMessage ? `: ${toPrintableAscii(verdict.smtpMessage).slice(0, 200)}` : "";
  switch (verdict.action) {
    case "reject":
      return { ...NOTHING, refusal: reply(550, "5.7.1", `Message refused as spam${why}`) };
    case "soft reject":
    case "greylist":
      return {
        ...NOTHING,
        refusal: reply(451, "4.7.1", `Message deferred by the spam filter, try again later${why}`),
      };
  }
  const subject = rewrittenSubject(verdict);
  return {
    refusal: null,
    junk: isJunk(verdict),
    fields: verdictFields(verdict),
    drop: [...verdict.removeHeaders, ...(subject ? ["subject"] : [])],
    subject,
  };
}

/**
 * The end of DATA step (pipeline.ts `deliver`): verdict fields someone else wrote are removed,
 * rspamd is asked about the message as it will be stored (`authFields`, our Received, `head`,
 * the rest), and its answer applied: a refusal, or the header to store (rspamd's removals, a
 * new Subject) and the fields to add above our Received: the verdict's on top (the newest),
 * then the authentication results.
 */
export async function spamFilter(
  ctx: ServerContext,
  info: SessionInfo,
  tx: Transaction,
  message: ReceivedMessage,
  parts: { head: Uint8Array; block: HeaderBlock; authFields: Uint8Array },
  queueId: string,
): Promise<{
  refusal: SmtpReply | null;
  head: Uint8Array;
  block: HeaderBlock;
  added: Uint8Array;
  junk: boolean;
}> {
  let { head, block } = parts;
  const unchanged = { refusal: null, head, block, added: parts.authFields, junk: false };
  if (!isFilteredSession(ctx, info)) return unchanged;
  const forged = forgedSpamFields(block);
  if (forged.length) {
    head = rewriteHeaders(block, forged, new Uint8Array(0));
    block = parseHeaderBlock(head);
  }
  const content = message.content([parts.authFields, message.trace], head);
  const spam = await spamCheck(ctx, info, tx, content, queueId);
  if (spam.refusal) return { ...unchanged, refusal: spam.refusal };
  if (spam.drop.length || spam.subject) {
    head = rewriteHeaders(block, spam.drop, new TextEncoder().encode(spam.subject ?? ""));
    block = parseHeaderBlock(head);
  }
  // SPEC §8: the Authentication-Results header at the top, rspamd's fields below it.
  const added = concatBytes([parts.authFields, new TextEncoder().encode(spam.fields)]);
  return { refusal: null, head, block, added, junk: spam.junk };
}
