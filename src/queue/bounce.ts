/**
 * The queue's delivery reports (RFC 3464), from the null sender `<>` to the envelope
 * sender (RFC 5321 §4.5.5, §6.1), through the mail pipeline (`submit`) so a local sender
 * gets them in its Maildir and a remote one through the queue. Mail from `<>` is never
 * answered with another report to its (null) sender: a failure of such a message is a
 * double bounce, reported once to the local postmaster as Postfix does; a double bounce
 * that fails in turn is logged and dropped, so reports never loop.
 *
 * RFC 3461 decides who gets what: a failure report for recipients whose NOTIFY is absent
 * or includes FAILURE; a "delayed" notice for NOTIFY=DELAY; a "relayed" success report
 * for NOTIFY=SUCCESS when the next hop does not take DSN parameters (§4.2); nothing for
 * NOTIFY=NEVER. RET=FULL returns the whole message, else its header; ENVID and ORCPT are
 * written into the report.
 */
import { log } from "../log.ts";
import type { Config } from "../config/schema.ts";
import type { Directory } from "../directory/directory.ts";
import type { Stats } from "../server/context.ts";
import type { ServerMetrics } from "../metrics/server_metrics.ts";
import type { OutboundMessage } from "./types.ts";
import { buildDsn, type DsnAction, isDoubleBounce } from "../message/dsn.ts";
import { isAscii } from "../message/controls.ts";
import { newQueueId } from "./id.ts";
import type { EnvelopeRecord, RecipientRecord } from "./spool.ts";
import type { EnvelopeDsn } from "../smtpclient/transaction.ts";

export interface BounceContext {
  config: Readonly<Config>;
  stats: Stats;
  metrics: ServerMetrics;
  /** The mail pipeline's entry for mail the server generates (it chooses the DKIM d=). */
  submit(message: OutboundMessage): Promise<void>;
  /** Local domains: where a double bounce goes (postmasterAddress). */
  directory: Pick<Directory, "isLocalDomain" | "domains">;
}

/** A double bounce returns the whole failed message up to this size, else its header. */
const DOUBLE_BOUNCE_WHOLE_LIMIT = 256 * 1024;

/**
 * Where a double bounce goes: postmaster@ HostName when that is a local domain, else
 * postmaster@ the first local domain (the rule of RCPT TO:<postmaster>, RFC 5321 §4.5.1),
 * which the pipeline routes by SPEC §5 (the domain's postmaster, the `Postmaster` key,
 * else DirBase/postmaster/). Without local domains, the `Postmaster` key itself; null
 * when that is empty too.
 */
export function postmasterAddress(
  config: Pick<Config, "HostName" | "Postmaster">,
  directory: Pick<Directory, "isLocalDomain" | "domains">,
): string | null {
  const host = config.HostName.toLowerCase();
  const domain = directory.isLocalDomain(host) ? host : directory.domains()[0];
  if (domain) return `postmaster@${domain}`;
  return config.Postmaster.trim() || null;
}

/** RFC 3461 §4.1: is a report of this kind wanted for this recipient? */
export function wantsReport(r: RecipientRecord, action: DsnAction): boolean {
  const notify = r.notify;
  if (notify?.includes("NEVER")) return false;
  if (action === "failed") return !notify || notify.includes("FAILURE");
  if (action === "delayed") return notify?.includes("DELAY") === true;
  return notify?.includes("SUCCESS") === true;
}

export interface ReportOptions {
  now?: number;
  /** "failed" when absent. */
  action?: DsnAction;
  /** For "delayed": Will-Retry-Until. */
  retryUntil?: number;
  /** A double bounce: the postmaster address it goes to instead of the (null) sender. */
  doubleBounceTo?: string;
  /** The whole message is attached; RET=FULL decides when absent. */
  returnFull?: boolean;
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
  options: ReportOptions = {},
): Promise<string> {
  const { now = Date.now(), action = "failed", retryUntil, doubleBounceTo, returnFull } = options;
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
    returnFull: returnFull ?? (env.ret === "FULL" && action === "failed"),
    doubleBounceTo,
  });
  const to = doubleBounceTo ?? env.from;
  await ctx.submit({
    id,
    from: "",
    to: [to],
    data,
    eightBit: !isAscii(data),
  });
  if (action === "failed") {
    ctx.stats.bounced++;
    ctx.metrics.messagesBounced.inc();
  }
  const word = doubleBounceTo
    ? "double bounce"
    : action === "failed"
    ? "bounce"
    : `${action} notice`;
  log("queue").info(
    `${env.id}: ${word} ${id} to <${to}> for ${recipients.map((r) => `<${r.addr}>`).join(", ")}`,
  );
  return id;
}

/**
 * Failure reports at the end of an attempt. RFC 3461 §4.1: recipients whose NOTIFY lacks
 * FAILURE are settled without one; a bounce is never bounced to its null sender (RFC 5321
 * §6.1, RFC 3464 §2) but goes to the postmaster once (doubleBounce). A report that cannot
 * be made durable leaves its recipients "failed", to be tried again at the next attempt
 * time.
 */
export async function failureReports(
  ctx: BounceContext,
  env: EnvelopeRecord,
  readMessage: (whole: boolean) => Promise<Uint8Array>,
  saveEnvelope: () => Promise<void>,
): Promise<void> {
  const logger = log("queue");
  const failed = env.rcpts.filter((r) => r.state === "failed");
  const unwanted = failed.filter((r) => !wantsReport(r, "failed"));
  const who = (list: RecipientRecord[]) => list.map((r) => `<${r.addr}>`).join(", ");
  if (unwanted.length > 0) {
    logger.info(`${env.id}: no bounce for ${who(unwanted)} (NOTIFY without FAILURE)`);
    for (const r of unwanted) r.state = "reported";
  }
  const reported = failed.filter((r) => r.state === "failed");
  if (reported.length === 0) return;
  let doubleBounceTo: string | undefined;
  if (env.from === "") {
    const drop = (why: string) => {
      logger.warn(`${env.id}: undeliverable ${why} dropped for ${who(reported)}`);
      for (const r of reported) r.state = "reported";
    };
    // A double bounce that fails is the end of the line: reporting it would loop.
    if (isDoubleBounce(await readMessage(false))) return drop("double bounce");
    const postmaster = postmasterAddress(ctx.config, ctx.directory);
    if (!postmaster) return drop("bounce (no local domain, no Postmaster key)");
    doubleBounceTo = postmaster;
  }
  // Failures durable before the DSN goes out, when the entry stays queued.
  if (env.rcpts.some((r) => r.state === "pending")) await saveEnvelope();
  try {
    // RFC 3461 §4.3: the whole message only for RET=FULL; else its header is all it takes.
    // The postmaster gets the whole failed report (its reasons are in its body) unless large.
    const whole = doubleBounceTo ? env.size <= DOUBLE_BOUNCE_WHOLE_LIMIT : env.ret === "FULL";
    await sendBounce(ctx, env, reported, await readMessage(whole), {
      doubleBounceTo,
      returnFull: whole,
    });
    for (const r of reported) r.state = "reported";
  } catch (e) {
    logger.error(`${env.id}: could not send the bounce: ${(e as Error).message}`);
  }
}

/**
 * RFC 3461 reports other than failures, at the end of an attempt: "relayed" for
 * NOTIFY=SUCCESS recipients a next hop took without DSN support (§4.2), and one "delayed"
 * notice per NOTIFY=DELAY recipient still waiting QueueDelayWarning seconds after the
 * message arrived (marked `delayed`, saved with the envelope). Never for mail from <>.
 */
export async function progressReports(
  ctx: BounceContext,
  env: EnvelopeRecord,
  relayed: RecipientRecord[],
  now: number,
  readMessage: (whole: boolean) => Promise<Uint8Array>,
): Promise<void> {
  const delayAfter = env.createdAt + ctx.config.QueueDelayWarning * 1000;
  const delayed = now < delayAfter
    ? []
    : env.rcpts.filter((r) => r.state === "pending" && !r.delayed && wantsReport(r, "delayed"));
  if (env.from === "" || (relayed.length === 0 && delayed.length === 0)) return;
  // These reports quote the header only (buildDsn returns the whole message on failure).
  const data = await readMessage(false);
  if (relayed.length > 0) await sendBounce(ctx, env, relayed, data, { now, action: "relayed" });
  if (delayed.length > 0) {
    const retryUntil = env.createdAt + ctx.config.QueueExpire * 1000;
    await sendBounce(ctx, env, delayed, data, { now, action: "delayed", retryUntil });
    for (const r of delayed) r.delayed = true;
  }
}

/** The RFC 3461 parameters of a job's recipients, for a next hop that announces DSN. */
export function dsnParameters(env: EnvelopeRecord, recipients: string[]): EnvelopeDsn | undefined {
  const rcpts: EnvelopeDsn["rcpts"] = {};
  for (const r of env.rcpts) {
    if (!recipients.includes(r.addr) || (!r.notify && !r.orcpt)) continue;
    rcpts[r.addr] = {
      ...(r.notify ? { notify: r.notify } : {}),
      ...(r.orcpt ? { orcpt: r.orcpt } : {}),
    };
  }
  if (!env.ret && !env.envid && Object.keys(rcpts).length === 0) return undefined;
  return { ret: env.ret, envid: env.envid, rcpts };
}
