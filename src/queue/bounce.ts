/**
 * The queue's delivery reports (RFC 3464), from the null sender `<>` to the envelope
 * sender (RFC 5321 §4.5.5, §6.1), through the mail pipeline (`submit`) so a local sender
 * gets them in its Maildir and a remote one through the queue. Mail from `<>` is never
 * answered with another report.
 *
 * RFC 3461 decides who gets what: a failure report for recipients whose NOTIFY is absent
 * or includes FAILURE; a "delayed" notice for NOTIFY=DELAY; a "relayed" success report
 * for NOTIFY=SUCCESS when the next hop does not take DSN parameters (§4.2); nothing for
 * NOTIFY=NEVER. RET=FULL returns the whole message, else its header; ENVID and ORCPT are
 * written into the report.
 */
import { log } from "../log.ts";
import type { Config } from "../config/schema.ts";
import type { Stats } from "../server/context.ts";
import type { ServerMetrics } from "../metrics/server_metrics.ts";
import type { OutboundMessage } from "./types.ts";
import { buildDsn, type DsnAction } from "../message/dsn.ts";
import { isAscii } from "../message/controls.ts";
import { newQueueId } from "./id.ts";
import type { EnvelopeRecord, RecipientRecord } from "./spool.ts";

export interface BounceContext {
  config: Readonly<Config>;
  stats: Stats;
  metrics: ServerMetrics;
  /** The mail pipeline's entry for mail the server generates (it chooses the DKIM d=). */
  submit(message: OutboundMessage): Promise<void>;
}

/** RFC 3461 §4.1: is a report of this kind wanted for this recipient? */
export function wantsReport(r: RecipientRecord, action: DsnAction): boolean {
  const notify = r.notify;
  if (notify?.includes("NEVER")) return false;
  if (action === "failed") return !notify || notify.includes("FAILURE");
  if (action === "delayed") return notify?.includes("DELAY") === true;
  return notify?.includes("SUCCESS") === true;
}

/**
 * Hands the report to the pipeline; resolves once it is durable (in the queue or a
 * Maildir). Returns its queue id.
 */
export async function sendBounce(
  ctx: BounceContext,
  env: EnvelopeRecord,
  recipients: RecipientRecord[],
  original: Uint8Array,
  now = Date.now(),
  action: DsnAction = "failed",
  retryUntil?: number,
): Promise<string> {
  const id = newQueueId(now);
  const data = buildDsn({
    reportingMta: ctx.config.HostName,
    queueId: env.id,
    sender: env.from,
    arrivalDate: env.createdAt,
    recipients: recipients.map((r) => ({
      address: r.addr,
      action,
      status: action === "failed" || action === "delayed" ? r.status || "4.0.0" : "2.0.0",
      diagnostic: r.diag,
      remoteMta: r.mta,
      lastAttempt: now,
      originalRecipient: r.orcpt,
      willRetryUntil: action === "delayed" ? retryUntil : undefined,
    })),
    original,
    now,
    token: id,
    envid: env.envid,
    returnFull: env.ret === "FULL" && action === "failed",
  });
  await ctx.submit({
    id,
    from: "",
    to: [env.from],
    data,
    eightBit: !isAscii(data),
  });
  if (action === "failed") {
    ctx.stats.bounced++;
    ctx.metrics.messagesBounced.inc();
  }
  const word = action === "failed" ? "bounce" : `${action} notice`;
  log("queue").info(
    `${env.id}: ${word} ${id} to <${env.from}> for ${
      recipients.map((r) => `<${r.addr}>`).join(", ")
    }`,
  );
  return id;
}
