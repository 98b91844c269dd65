/**
 * Carrying out a delivery plan durably (SPEC §7): per envelope group, one
 * `store.deliver` for all its mailboxes (written and fsync'd once, hard-linked) and
 * one `queue.enqueue` for its remote addresses; then the follow-ups that are mail of
 * their own: DSNs for copies refused after acceptance and autoresponder answers.
 * What is stored is asked of the ReceivedMessage (incoming.ts): the trace fields in
 * front of the message, from memory or its spool file without reading the body in.
 *
 * `submitMessage` is the same path for mail the server generates (the queue's DSNs,
 * given to the queue by src/server/server.ts).
 *
 * Mail authentication (SPEC §8, src/mailauth via ctx.auth) hooks in per remote copy
 * (remote_copies.ts: SRS senders, ARC sets, the d= that signs a queued copy); local
 * copies are stored by local_copies.ts.
 */
import { log } from "../log.ts";
import type { DsnRecipient } from "../message/dsn.ts";
import type { HeaderBlock } from "../message/header.ts";
import type { SealBasis } from "../mailauth/arc.ts";
import type { InboundEnvelope } from "../mailauth/inbound.ts";
import { rewriteHeaders } from "../message/header_rewrite.ts";
import type { OutboundMessage } from "../queue/types.ts";
import { newQueueId } from "../queue/id.ts";
import type { ServerContext } from "../server/context.ts";
import type { UserRecord } from "../directory/records.ts";
import { autoReplyRefusal, buildAutoReply } from "./autoreply.ts";
import { ReceivedMessage } from "./incoming.ts";
import { autoReplyStore } from "./autoreply_store.ts";
import { claimOnHome } from "../cluster/remote_autoreply.ts";
import { expand } from "./expand.ts";
import {
  applyLimits,
  type Group,
  groupSender,
  mergeExpansions,
  type Plan,
  planIsEmpty,
} from "./plan.ts";
import { handOffHomedElsewhere } from "./home_nodes.ts";
import { deliverLocal } from "./local_copies.ts";
import { dkimDomainFor, remoteCopies } from "./remote_copies.ts";
import { type DsnPlan, queueDsn, sendReport, wantsFailure } from "./dsn_reports.ts";
import { returnPathHeader } from "./received.ts";
import { queuedAs } from "./replies.ts";
import type { FailedRecipient, SmtpReply } from "./types.ts";

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

export interface RouteJob {
  /** Session id for the log ("internal" for generated mail). */
  sid: string;
  queueId: string;
  from: string;
  /** The message as received (its trace: our Received, or empty; its size for limits). */
  message: ReceivedMessage;
  /** The message's first octets as to store (`message.head`, or a rewritten header). */
  head: Uint8Array;
  /** The header of `head`, indexed. */
  block: HeaderBlock;
  /**
   * Whole header fields computed at the end of DATA (mail authentication results, spam
   * verdicts), put between Return-Path and our Received in every copy; empty for none.
   */
  added: Uint8Array;
  smtpUtf8?: boolean;
  eightBit?: boolean;
  arrival: Date;
  /**
   * "smtp": when every copy fails, refuse (the client bounces). "internal": the
   * message is already ours, so failures always become a DSN to the sender.
   */
  mode: "smtp" | "internal";
  /**
   * The message comes from a client we vouch for (AUTH, LocalIP) or from the server:
   * its From domain's key may sign it (SPEC §8); mail from outside is never signed as ours.
   */
  trusted: boolean;
  /** SPEC §8: local copies go to the recipients' Junk folder (DMARC p=quarantine). */
  quarantine?: boolean;
  /** The inbound checks' results (ARC sealing repeats them), when they ran. */
  sealBasis?: SealBasis | null;
  /** The SMTP client, for ARC sealing when no checks ran at reception. */
  client?: InboundEnvelope;
  /** RFC 3461 parameters of the accepted recipients (SMTP only). */
  dsn?: DsnPlan;
  /** d= chosen by whoever generated the message (OutboundMessage.dkimDomain). */
  dkimDomain?: string;
}

export interface RouteResult {
  reply: SmtpReply;
  localCopies: number;
  /** Queue ids handed to the outbound queue. */
  queued: string[];
  failed: FailedRecipient[];
}

/** SPEC §5 list headers: RFC 2919 List-Id, RFC 2369 List-Post, and Precedence: list. */
export function listHeaderBytes(list: { name: string; domain: string }): Uint8Array {
  return encoder.encode(
    `List-Id: <${list.name}.${list.domain}>\r\n` +
      `List-Post: <mailto:${list.name}@${list.domain}>\r\n` +
      "Precedence: list\r\n",
  );
}
const LIST_FIELDS = ["list-id", "list-post", "precedence"];

/** Runs the plan; throws on an I/O failure (the caller answers 451 and logs it). */
export async function route(ctx: ServerContext, job: RouteJob, plan: Plan): Promise<RouteResult> {
  const failures = await applyLimits(ctx, plan, job.message.size);
  // SPEC §12: copies for users homed on other nodes first (home_nodes.ts): when none can
  // be handed over now, nothing has been stored yet and the whole delivery fails.
  const handed = await handOffHomedElsewhere(
    ctx,
    plan,
    (g) =>
      job.message.content([
        returnPathHeader(groupSender(g, job.from)),
        job.added,
        job.message.trace,
      ], groupHead(job, g)),
    (g) => groupSender(g, job.from),
    job.quarantine ? "Junk" : undefined,
  );
  failures.push(...handed.failures);
  const failed = failures.map((f) => f.failed);
  if (planIsEmpty(plan) && handed.copies === 0 && failures.length > 0 && job.mode === "smtp") {
    return { reply: failures[0].failed.reply, localCopies: 0, queued: [], failed };
  }
  // DSNs go to each failed copy's envelope sender (a list's bounce address for members),
  // unless the recipient's NOTIFY asked for none (RFC 3461 §4.1).
  const dsnTo = new Map<string, DsnRecipient[]>();
  for (const f of failures) {
    const sender = groupSender(f.group, job.from);
    const origin = f.group.list ? undefined : job.dsn?.local.get(f.failed.address.toLowerCase());
    if (sender === "" || (origin && !wantsFailure(origin.dsn))) continue;
    dsnTo.set(sender, [...(dsnTo.get(sender) ?? []), {
      address: f.failed.address,
      status: f.failed.reply.enhanced || "5.0.0",
      diagnostic: f.failed.reply.toString(),
      originalRecipient: origin?.dsn?.orcpt,
    }]);
  }

  let localCopies = 0;
  const queued: string[] = [];
  const work: Promise<unknown>[] = [];
  for (const g of plan.groups) {
    if (g.users.length === 0 && g.remotes.length === 0) continue;
    const sender = groupSender(g, job.from);
    const head = groupHead(job, g);
    const { message, added } = job;
    if (g.users.length > 0) {
      localCopies += g.users.length;
      const data = message.content([returnPathHeader(sender), added, message.trace], head);
      work.push(deliverLocal(ctx, g.users, data, job.quarantine ? "Junk" : undefined));
    }
    for (const copy of await remoteCopies(ctx, job, g, sender, head)) {
      const id = queued.length === 0 ? job.queueId : newQueueId();
      queued.push(id);
      work.push(ctx.queue.enqueue({
        id,
        from: copy.sender,
        to: copy.to,
        data: copy.data,
        smtpUtf8: job.smtpUtf8,
        eightBit: job.eightBit,
        dkimDomain: dkimDomainFor(ctx, job, g),
        dsn: g.list ? undefined : queueDsn(job.dsn, copy.to),
      }));
    }
  }
  // Every copy is finished before a failure is answered: with Promise.all a failing
  // enqueue answered 451 while the local copies were still being written (a test's
  // clean-up then met a Maildir file appearing under it).
  const settled = await Promise.allSettled(work);
  const failure = settled.find((r) => r.status === "rejected");
  if (failure) throw failure.reason;
  ctx.stats.delivered += localCopies;
  ctx.stats.queued += queued.length;
  ctx.metrics.delivered("local", job.arrival.getTime(), localCopies);
  ctx.metrics.messagesQueued.inc(undefined, queued.length);
  // Copies stored on their home nodes are counted there; the log line names them here.
  localCopies += handed.copies;

  const reportJob = { ...job, submit: submitMessage };
  for (const [to, list] of dsnTo) await sendReport(ctx, reportJob, to, list, "failed", job.dsn);
  await successReports(ctx, job, failed.map((f) => f.address.toLowerCase()));
  await sendAutoReplies(ctx, job, plan.autoReply);
  return { reply: queuedAs(job.queueId), localCopies, queued, failed };
}

/** The header a group's copies carry: a list's adds the list fields. */
function groupHead(job: RouteJob, g: Group): Uint8Array {
  return g.list ? rewriteHeaders(job.block, LIST_FIELDS, listHeaderBytes(g.list)) : job.head;
}

/** RFC 3461 "delivered" and "expanded" reports, once the copies are durable. */
async function successReports(ctx: ServerContext, job: RouteJob, failedKeys: string[]) {
  const plan = job.dsn;
  if (!plan || job.from === "") return;
  const reportJob = { ...job, submit: submitMessage };
  const delivered = plan.delivered.filter((d) => !failedKeys.includes(d.mailbox));
  const items = (list: { rcpt: string; orcpt?: DsnRecipient["originalRecipient"] }[]) =>
    list.map((d) => ({
      address: d.rcpt,
      status: "2.0.0",
      diagnostic: "",
      originalRecipient: d.orcpt,
    }));
  if (delivered.length) {
    await sendReport(ctx, reportJob, job.from, items(delivered), "delivered", plan);
  }
  if (plan.expanded.length) {
    await sendReport(ctx, reportJob, job.from, items(plan.expanded), "expanded", plan);
  }
}

/** SPEC §5 / RFC 3834: at most once per sender per 7 days, never to automated mail. */
async function sendAutoReplies(ctx: ServerContext, job: RouteJob, users: UserRecord[]) {
  const logger = log("delivery", job.sid);
  for (const u of users) {
    const user = ctx.directory.getUser(u.name, u.domain);
    if (!user?.autoReply) continue;
    const address = `${user.name}@${user.domain}`;
    const refusal = autoReplyRefusal(job.block, job.from, address);
    if (refusal) {
      logger.debug(`${job.queueId}: no autoreply from ${address}: ${refusal}`);
      continue;
    }
    try {
      // The record is kept where the mailbox is: one per user across the nodes (§12).
      const claimed = ctx.homeOf(user) === "local"
        ? await autoReplyStore(ctx.config.DirBase).claim(user, job.from)
        : await claimOnHome(ctx, user, job.from);
      if (!claimed) {
        logger.debug(
          `${job.queueId}: no autoreply from ${address}: <${job.from}> answered within 7 days`,
        );
        continue;
      }
      const data = buildAutoReply({
        from: address,
        to: job.from,
        subject: user.autoReplySubject,
        text: user.autoReplyText,
        original: job.block,
        hostName: ctx.config.HostName,
      });
      const id = newQueueId();
      await submitMessage(ctx, { id, from: "", to: [job.from], data });
      logger.info(`${job.queueId}: autoreply ${id} from ${address} to <${job.from}>`);
    } catch (e) {
      logger.error(`${job.queueId}: autoreply from ${address} failed: ${(e as Error).message}`);
    }
  }
}

/**
 * A message generated inside the server (DSN, autoreply, forward) goes
 * through the same expansion and delivery as received mail, without a Received
 * header of ours. Resolves when durable; rejects when it could not be made durable
 * (an I/O error in the queue or a Maildir), so the caller keeps it.
 */
export async function submitMessage(ctx: ServerContext, message: OutboundMessage): Promise<void> {
  const id = message.id || newQueueId();
  // A report to a forwarded message's SRS sender goes to the original sender (SPEC §8).
  const to = message.to.map((a) => {
    const r = ctx.auth.reverseSrs(a);
    return r.kind === "original" ? r.address : a;
  });
  const plan = mergeExpansions(
    to.map((a) =>
      expand(ctx.directory, a, { sender: message.from, postmaster: ctx.config.Postmaster })
    ),
  );
  const received = ReceivedMessage.fromBytes(message.data);
  const result = await route(ctx, {
    sid: "internal",
    queueId: id,
    from: message.from,
    message: received,
    head: received.head,
    block: received.block,
    added: EMPTY,
    smtpUtf8: message.smtpUtf8,
    eightBit: message.eightBit,
    arrival: new Date(),
    mode: "internal",
    trusted: true,
    dkimDomain: message.dkimDomain,
  }, plan);
  if (!result.reply.positive) throw new Error(`${id}: ${result.reply.toString().trim()}`);
  const logger = log("delivery", "internal");
  for (const n of plan.notes) logger.info(`${id}: ${n}`);
  if (result.failed.length > 0 && message.from === "") {
    logger.warn(
      `${id}: dropped for ${result.failed.map((f) => f.address).join(", ")} (null sender: no DSN)`,
    );
  }
  logger.info(
    `${id}: from=<${message.from}> size=${received.size} local=${result.localCopies} queued=${
      result.queued.join(",") || "-"
    }`,
  );
}
