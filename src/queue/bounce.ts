/**
 * Sends a DSN (RFC 3464) for recipients that failed: from the null sender `<>` to the
 * envelope sender (RFC 5321 §4.5.5, §6.1), through the mail pipeline (`submit`) so a
 * local sender gets it in its Maildir and a remote one through the queue. Mail from `<>`
 * is never answered with another bounce.
 */
import { log } from "../log.ts";
import type { Config } from "../config/schema.ts";
import type { Stats } from "../server/context.ts";
import type { ServerMetrics } from "../metrics/server_metrics.ts";
import type { OutboundMessage } from "./types.ts";
import { buildDsn } from "../message/dsn.ts";
import { newQueueId } from "./id.ts";
import type { EnvelopeRecord, RecipientRecord } from "./spool.ts";

export interface BounceContext {
  config: Readonly<Config>;
  stats: Stats;
  metrics: ServerMetrics;
  /** The mail pipeline's entry for mail the server generates. */
  submit(message: OutboundMessage): Promise<void>;
}

/** Hands the DSN to the pipeline; resolves once it is durable (in the queue or a Maildir). */
export async function sendBounce(
  ctx: BounceContext,
  env: EnvelopeRecord,
  failed: RecipientRecord[],
  original: Uint8Array,
  now = Date.now(),
): Promise<string> {
  const id = newQueueId(now);
  const data = buildDsn({
    reportingMta: ctx.config.HostName,
    queueId: env.id,
    sender: env.from,
    arrivalDate: env.createdAt,
    recipients: failed.map((r) => ({
      address: r.addr,
      status: r.status,
      diagnostic: r.diag,
      remoteMta: r.mta,
      lastAttempt: now,
    })),
    original,
    now,
    token: id,
  });
  await ctx.submit({ id, from: "", to: [env.from], data });
  ctx.stats.bounced++;
  ctx.metrics.messagesBounced.inc();
  log("queue").info(
    `${env.id}: bounce ${id} to <${env.from}> for ${failed.map((r) => `<${r.addr}>`).join(", ")}`,
  );
  return id;
}
