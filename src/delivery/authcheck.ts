/**
 * The pipeline's hook into the inbound checks of SPEC §8 (src/mailauth via ctx.auth):
 * which sessions are checked, forged Authentication-Results removed, and what the
 * verdict means for the message (a refusal, the Junk folder, the header to add).
 *
 * Checked: port 25 sessions that did not authenticate and do not come from LocalIP
 * (trusted networks relay our own users' mail, which would fail its own SPF/DMARC before
 * it is signed; docs/delivery.md). Forged results in our name are removed from every
 * session but a LocalIP relay's, authenticated submissions included. The message is given
 * as bytes today; the seam takes a stream of chunks too (MessageSource), for a spool file
 * read in pieces.
 */
import { log } from "../log.ts";
import { type HeaderBlock, parseHeaderBlock } from "../message/header.ts";
import { withoutForgedResults } from "../mailauth/inbound.ts";
import type { InboundEnvelope, InboundVerdict, MessageSource } from "../mailauth/inbound.ts";
import type { ServerContext } from "../server/context.ts";
import { reply } from "./replies.ts";
import type { SessionInfo, SmtpReply, Transaction } from "./types.ts";

export interface InboundOutcome {
  /** The header to index from now on (forged Authentication-Results removed). */
  block: HeaderBlock;
  /** Null when no checks ran (trusted client, InboundAuth = off, a DNS library error). */
  verdict: InboundVerdict | null;
  /** The client as the checks saw it (ARC sealing uses it when no verdict exists). */
  client: InboundEnvelope;
  /** Set when enforce refuses the message (DMARC p=reject). */
  refusal: SmtpReply | null;
}

/** Mail from these sessions is checked. */
export function isCheckedSession(ctx: ServerContext, info: SessionInfo): boolean {
  return info.service === "smtp" && !info.authUser && !ctx.isLocalIp(info.clientIp);
}

/** A client in LocalIP that did not authenticate: an MTA of our own (SPEC §3 LocalIP). */
function isTrustedRelay(ctx: ServerContext, info: SessionInfo): boolean {
  return !info.authUser && ctx.isLocalIp(info.clientIp);
}

export async function inboundChecks(
  ctx: ServerContext,
  info: SessionInfo,
  tx: Transaction,
  message: MessageSource,
  block: HeaderBlock,
  queueId: string,
): Promise<InboundOutcome> {
  const client = { ip: info.clientIp, helo: info.helo, sender: tx.from };
  // RFC 8601 §5: results claiming our authserv-id cannot be ours yet, unless a trusted MTA
  // (a LocalIP relay that did not log in) hands on what we added before. A user's client
  // (AUTH) is no MTA: its message would otherwise reach a local mailbox "verified by us".
  const cleaned = isTrustedRelay(ctx, info)
    ? null
    : withoutForgedResults(block, ctx.config.HostName);
  const outBlock = cleaned ? parseHeaderBlock(cleaned) : block;
  if (!isCheckedSession(ctx, info)) {
    return { block: outBlock, verdict: null, client, refusal: null };
  }
  let verdict: InboundVerdict | null = null;
  try {
    verdict = await ctx.auth.check(message, client);
  } catch (e) {
    log("delivery", info.id).error(
      `${queueId}: authentication checks failed, message accepted unchecked: ${
        (e as Error).stack ?? e
      }`,
    );
  }
  if (!verdict) return { block: outBlock, verdict: null, client, refusal: null };
  log("delivery", info.id).info(`${queueId}: ${verdict.summary} -> ${verdict.action}`);
  const refusal = verdict.action === "reject"
    ? reply(
      550,
      "5.7.1",
      `Message refused: DMARC policy of ${verdict.dmarc.domain || "the From domain"} ` +
        "is reject and the message failed DMARC (RFC 7489)",
    )
    : null;
  return { block: outBlock, verdict, client, refusal };
}
