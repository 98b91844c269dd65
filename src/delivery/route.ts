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
 */
import { log } from "../log.ts";
import { buildDsn } from "../message/dsn.ts";
import type { HeaderBlock } from "../message/header.ts";
import { rewriteHeaders } from "../message/header_rewrite.ts";
import type { MessageContent } from "../store/content.ts";
import type { OutboundMessage } from "../queue/types.ts";
import { newQueueId } from "../queue/id.ts";
import type { ServerContext } from "../server/context.ts";
import type { MailStore } from "../store/mailstore.ts";
import type { UserRecord } from "../directory/records.ts";
import { autoReplyRefusal, buildAutoReply } from "./autoreply.ts";
import { ReceivedMessage } from "./incoming.ts";
import { autoReplyStore } from "./autoreply_store.ts";
import { expand } from "./expand.ts";
import { applyLimits, groupSender, mergeExpansions, type Plan, planIsEmpty } from "./plan.ts";
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

// Mailbox roots known to exist, valid while the directory does not change (a user
// deleted and re-added gets its Maildir created again).
const ensured = new WeakMap<MailStore, { generation: number; roots: Set<string> }>();

async function ensureMailboxes(ctx: ServerContext, roots: string[]): Promise<void> {
  let known = ensured.get(ctx.store);
  if (!known || known.generation !== ctx.directory.generation) {
    known = { generation: ctx.directory.generation, roots: new Set() };
    ensured.set(ctx.store, known);
  }
  const k = known;
  await Promise.all(
    roots.filter((r) => !k.roots.has(r)).map(async (r) => {
      await ctx.store.ensureMailbox(r);
      k.roots.add(r);
    }),
  );
}

/** Runs the plan; throws on an I/O failure (the caller answers 451 and logs it). */
export async function route(ctx: ServerContext, job: RouteJob, plan: Plan): Promise<RouteResult> {
  const failures = await applyLimits(ctx, plan, job.message.size);
  const failed = failures.map((f) => f.failed);
  if (planIsEmpty(plan) && failures.length > 0 && job.mode === "smtp") {
    return { reply: failures[0].failed.reply, localCopies: 0, queued: [], failed };
  }
  // DSNs go to each failed copy's envelope sender (a list's bounce address for members).
  const dsnTo = new Map<string, FailedRecipient[]>();
  for (const f of failures) {
    const sender = groupSender(f.group, job.from);
    if (sender !== "") dsnTo.set(sender, [...(dsnTo.get(sender) ?? []), f.failed]);
  }

  let localCopies = 0;
  const queued: string[] = [];
  const work: Promise<unknown>[] = [];
  for (const g of plan.groups) {
    if (g.users.length === 0 && g.remotes.length === 0) continue;
    const sender = groupSender(g, job.from);
    const head = g.list
      ? rewriteHeaders(job.block, LIST_FIELDS, listHeaderBytes(g.list))
      : job.head;
    const { message, added } = job;
    if (g.users.length > 0) {
      localCopies += g.users.length;
      const data = message.content([returnPathHeader(sender), added, message.trace], head);
      work.push(deliverLocal(ctx, g.users, data));
    }
    if (g.remotes.length > 0) {
      const id = queued.length === 0 ? job.queueId : newQueueId();
      queued.push(id);
      const data = message.content([added, message.trace], head);
      work.push(ctx.queue.enqueue({
        id,
        from: sender,
        to: g.remotes,
        data,
        smtpUtf8: job.smtpUtf8,
        eightBit: job.eightBit,
      }));
    }
  }
  await Promise.all(work);
  ctx.stats.delivered += localCopies;
  ctx.stats.queued += queued.length;
  ctx.metrics.delivered("local", job.arrival.getTime(), localCopies);
  ctx.metrics.messagesQueued.inc(undefined, queued.length);

  for (const [to, list] of dsnTo) await sendDsn(ctx, job, to, list);
  await sendAutoReplies(ctx, job, plan.autoReply);
  return { reply: queuedAs(job.queueId), localCopies, queued, failed };
}

async function deliverLocal(
  ctx: ServerContext,
  users: UserRecord[],
  data: Uint8Array | MessageContent,
): Promise<void> {
  const roots = users.map((u) => ctx.store.userRoot(u));
  await ensureMailboxes(ctx, roots);
  // One call: written and fsync'd once, hard-linked into every mailbox (SPEC §7).
  await ctx.store.deliver(roots.map((root) => ({ root })), data);
}

/** Follow-ups never undo the accepted message: their failures are logged. */
async function sendDsn(ctx: ServerContext, job: RouteJob, to: string, failed: FailedRecipient[]) {
  const logger = log("delivery", job.sid);
  try {
    const id = newQueueId();
    const data = buildDsn({
      reportingMta: ctx.config.HostName,
      queueId: job.queueId,
      sender: to,
      arrivalDate: job.arrival.getTime(),
      recipients: failed.map((f) => ({
        address: f.address,
        status: f.reply.enhanced || "5.0.0",
        diagnostic: f.reply.toString(),
      })),
      original: job.block.bytes,
      now: Date.now(),
      token: id,
    });
    await submitMessage(ctx, { id, from: "", to: [to], data });
    ctx.stats.bounced++;
    ctx.metrics.messagesBounced.inc();
    logger.info(
      `${job.queueId}: DSN ${id} to <${to}> for ${failed.map((f) => f.address).join(", ")}`,
    );
  } catch (e) {
    logger.error(`${job.queueId}: DSN to <${to}> failed: ${(e as Error).message}`);
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
      if (!(await autoReplyStore(ctx.config.DirBase).claim(user, job.from))) {
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
  const plan = mergeExpansions(
    message.to.map((to) => expand(ctx.directory, to, { sender: message.from })),
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
