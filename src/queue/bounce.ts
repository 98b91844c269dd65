/**
 * Sends a DSN (RFC 3464) for recipients that failed: from the null sender `<>` to the
 * envelope sender (RFC 5321 §4.5.5, §6.1), through the mail pipeline (ctx.submit) so a
 * local sender gets it in its Maildir and a remote one through the queue. Mail from `<>`
 * is never answered with another bounce.
 */
import { log } from "../log.ts";
import type { ServerContext } from "../server/context.ts";
import type { OutboundMessage } from "./types.ts";
import { buildDsn } from "../message/dsn.ts";
import { newQueueId } from "./id.ts";
import type { EnvelopeRecord, RecipientRecord } from "./spool.ts";
import { domainOf } from "./deliver.ts";

export type BounceContext = Pick<
  ServerContext,
  "config" | "directory" | "store" | "stats" | "metrics" | "submit"
>;

/**
 * Hands the DSN over; resolves once it is durable (in the queue or a Maildir).
 * `enqueue` is the queue's own, used when no pipeline is installed.
 */
export async function sendBounce(
  ctx: BounceContext,
  env: EnvelopeRecord,
  failed: RecipientRecord[],
  original: Uint8Array,
  enqueue: (m: OutboundMessage) => Promise<void>,
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
  const message: OutboundMessage = { id, from: "", to: [env.from], data };
  const submit = ctx.submit;
  if (submit) {
    await submit(message);
  } else if (ctx.directory.isLocalDomain(domainOf(env.from))) {
    await deliverLocally(ctx, env.from, data);
  } else {
    await enqueue(message);
    ctx.stats.queued++; // the pipeline counts what it queues; here the queue does
    ctx.metrics.messagesQueued.inc();
  }
  ctx.stats.bounced++;
  ctx.metrics.messagesBounced.inc();
  log("queue").info(
    `${env.id}: bounce ${id} to <${env.from}> for ${failed.map((r) => `<${r.addr}>`).join(", ")}`,
  );
  return id;
}

/** Without a pipeline: straight into the sender's INBOX when it is a local user. */
async function deliverLocally(
  ctx: BounceContext,
  address: string,
  data: Uint8Array,
): Promise<void> {
  const at = address.lastIndexOf("@");
  const target = ctx.directory.resolveLocal(address.slice(0, at), address.slice(at + 1));
  if (target.kind !== "user") {
    throw new Error(`no local mailbox for <${address}> and no mail pipeline to expand it`);
  }
  const root = ctx.store.userRoot(target.user);
  await ctx.store.ensureMailbox(root);
  await ctx.store.deliver([{ root }], data);
}
