/**
 * RFC 3461 in the mail pipeline: what each accepted recipient's NOTIFY and ORCPT mean for
 * the copies it expands to, and the reports the pipeline itself sends.
 *
 * - A recipient that reaches exactly one mailbox with NOTIFY=SUCCESS gets a "delivered"
 *   report once the copy is on disk (§6.2.7.1 of RFC 3461 calls this final delivery).
 * - One that expands to several targets or a mailing list gets one "expanded" report
 *   (§6.2.7.3); its remote copies go on without SUCCESS, so the sender is not flooded.
 * - One that goes on to a single remote address keeps its NOTIFY and ORCPT for the queue,
 *   which passes them to the next hop (or reports "relayed" itself, §4.2).
 * - Copies refused after DATA (QUOTA, MAXIN) are reported as "failed" unless NOTIFY says
 *   otherwise; RET and ENVID apply to every report.
 * List copies are new submissions (sender `<list>-bounces`): no parameters go with them.
 */
import { addressKey } from "../directory/names.ts";
import { log } from "../log.ts";
import { buildDsn, type DsnAction, type DsnRecipient } from "../message/dsn.ts";
import type { HeaderBlock } from "../message/header.ts";
import { newQueueId } from "../queue/id.ts";
import type { OutboundDsn } from "../queue/types.ts";
import type { OutboundMessage } from "../queue/types.ts";
import type { ServerContext } from "../server/context.ts";
import { type Expansion, remoteKey } from "./expand.ts";
import type { AcceptedRecipient, MailParams, RcptDsn } from "./types.ts";

type Orcpt = RcptDsn["orcpt"];

export interface DsnPlan {
  ret?: "FULL" | "HDRS";
  envid?: string;
  /** Parameters for the queue, by remoteKey of each remote copy of the original envelope. */
  remote: Map<string, RcptDsn>;
  /** By addressKey of each mailbox copy: the recipient it came from and its parameters. */
  local: Map<string, { rcpt: string; dsn?: RcptDsn }>;
  /** Recipients to report "delivered" for, with the mailbox key their copy went to. */
  delivered: { rcpt: string; orcpt?: Orcpt; mailbox: string }[];
  /** Recipients to report "expanded" for. */
  expanded: { rcpt: string; orcpt?: Orcpt }[];
}

/** Reads the parameters of every accepted recipient against what it expanded to. */
export function planDsn(
  params: MailParams,
  recipients: readonly { r: AcceptedRecipient; expansion: Expansion }[],
): DsnPlan {
  const plan: DsnPlan = {
    ret: params.ret,
    envid: params.envid,
    remote: new Map(),
    local: new Map(),
    delivered: [],
    expanded: [],
  };
  for (const { r, expansion } of recipients) {
    const notify = r.dsn?.notify;
    const orcpt = r.dsn?.orcpt;
    const targets = expansion.locals.length + expansion.remotes.length;
    const several = targets > 1 || expansion.lists.size > 0;
    const success = notify?.includes("SUCCESS") === true;
    let onward = notify;
    if (success && several) {
      plan.expanded.push({ rcpt: r.address, orcpt });
      const rest = notify!.filter((n) => n !== "SUCCESS");
      onward = rest.length ? rest : ["NEVER"];
    }
    for (const copy of expansion.remotes) {
      if (copy.group !== null) continue;
      const key = remoteKey(copy.address);
      if (plan.remote.has(key)) continue;
      // ORCPT: the sender's, or the address the sender wrote when an alias changed it.
      const original = orcpt ??
        (remoteKey(r.address) === key ? undefined : { type: "rfc822", address: r.address });
      plan.remote.set(key, {
        ...(onward ? { notify: onward } : {}),
        ...(original ? { orcpt: original } : {}),
      });
    }
    for (const copy of expansion.locals) {
      if (copy.group !== null) continue;
      const key = addressKey(copy.user.name, copy.user.domain);
      if (!plan.local.has(key)) plan.local.set(key, { rcpt: r.address, dsn: r.dsn });
      if (success && !several) plan.delivered.push({ rcpt: r.address, orcpt, mailbox: key });
    }
  }
  return plan;
}

/** The parameters of one queue entry: the plan's, for the given remote addresses. */
export function queueDsn(plan: DsnPlan | undefined, remotes: string[]): OutboundDsn | undefined {
  if (!plan) return undefined;
  const rcpts: Record<string, RcptDsn> = {};
  for (const a of remotes) {
    const d = plan.remote.get(remoteKey(a));
    if (d) rcpts[a] = d;
  }
  if (!plan.ret && !plan.envid && Object.keys(rcpts).length === 0) return undefined;
  return { ret: plan.ret, envid: plan.envid, rcpts };
}

/** RFC 3461 §4.1: does this recipient want a failure report? */
export function wantsFailure(dsn: RcptDsn | undefined): boolean {
  return !dsn?.notify || dsn.notify.includes("FAILURE");
}

export interface ReportJob {
  sid: string;
  queueId: string;
  arrival: Date;
  block: HeaderBlock;
  /** What pipeline.route hands generated mail to (submitMessage). */
  submit: (ctx: ServerContext, message: OutboundMessage) => Promise<void>;
}

/**
 * One report from `<>` to `to` about `recipients`. Never undoes the accepted message:
 * failures are logged.
 */
export async function sendReport(
  ctx: ServerContext,
  job: ReportJob,
  to: string,
  recipients: DsnRecipient[],
  action: DsnAction,
  plan?: Pick<DsnPlan, "ret" | "envid">,
): Promise<void> {
  const logger = log("delivery", job.sid);
  try {
    const id = newQueueId();
    const data = buildDsn({
      reportingMta: ctx.config.HostName,
      queueId: job.queueId,
      sender: to,
      arrivalDate: job.arrival.getTime(),
      recipients: recipients.map((r) => ({ ...r, action })),
      original: job.block.bytes,
      now: Date.now(),
      token: id,
      envid: plan?.envid,
      returnFull: action === "failed" && plan?.ret === "FULL",
    });
    await job.submit(ctx, { id, from: "", to: [to], data });
    if (action === "failed") {
      ctx.stats.bounced++;
      ctx.metrics.messagesBounced.inc();
    }
    logger.info(
      `${job.queueId}: DSN ${id} (${action}) to <${to}> for ${
        recipients.map((r) => r.address).join(", ")
      }`,
    );
  } catch (e) {
    logger.error(`${job.queueId}: DSN to <${to}> failed: ${(e as Error).message}`);
  }
}
