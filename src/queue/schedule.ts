/**
 * The queue's bookkeeping rules, pure: how a job's replies change each recipient's state,
 * when a message expires (SPEC §5: Status 4.4.7 at QueueExpire), and when the next
 * attempt is due (SPEC §3 QueueRetry: the last interval repeats).
 */
import type { Config } from "../config/schema.ts";
import { destinationKey, domainOf } from "./deliver.ts";
import type { RecipientOutcome } from "../smtpclient/transaction.ts";
import type { EnvelopeRecord, RecipientRecord } from "./spool.ts";
import type { QueueEntryReport } from "./types.ts";

/** Recipients per transaction: RFC 5321 §4.5.3.1.8 has servers take 100, no more. */
export const MAX_RCPTS = 100;

export interface PlannedJob {
  /** Connection-sharing key: the domain's MX, or the smart host. */
  key: string;
  /** "" when going through RelayHost. */
  domain: string;
  recipients: string[];
}

/**
 * One attempt's jobs: the pending recipients grouped by domain (all in one group through
 * RelayHost), at most MAX_RCPTS per job.
 */
export function planJobs(
  env: EnvelopeRecord,
  config: Pick<Config, "RelayHost">,
): PlannedJob[] {
  const groups = new Map<string, string[]>();
  for (const r of env.rcpts) {
    if (r.state !== "pending") continue;
    const domain = config.RelayHost ? "" : domainOf(r.addr);
    const list = groups.get(domain) ?? [];
    list.push(r.addr);
    groups.set(domain, list);
  }
  const jobs: PlannedJob[] = [];
  for (const [domain, recipients] of groups) {
    const key = destinationKey(config, domain);
    for (let i = 0; i < recipients.length; i += MAX_RCPTS) {
      jobs.push({ key, domain, recipients: recipients.slice(i, i + MAX_RCPTS) });
    }
  }
  return jobs;
}

/** What `QUEUE SHOW` prints about an entry. */
export function reportOf(env: EnvelopeRecord): QueueEntryReport {
  return {
    id: env.id,
    from: env.from,
    pending: env.rcpts.filter((r) => r.state === "pending").map((r) => r.addr),
    attempts: env.attempts,
    nextAttempt: env.nextAttempt,
    lastError: env.lastError,
    createdAt: env.createdAt,
  };
}

export interface Recorded {
  /** Recipients that reached a final state (sent or failed) in this job. */
  settled: number;
  sent: number;
  /** One log line per recipient: "to=<a> relay=mx status=sent (250 ...)". */
  lines: string[];
}

/** Applies one job's outcomes to the recipients still pending. */
export function recordOutcomes(env: EnvelopeRecord, outcomes: RecipientOutcome[]): Recorded {
  const out: Recorded = { settled: 0, sent: 0, lines: [] };
  for (const o of outcomes) {
    const rec = env.rcpts.find((r) => r.addr === o.rcpt && r.state === "pending");
    if (!rec) continue;
    rec.status = o.status;
    rec.diag = o.diagnostic;
    rec.mta = o.remoteMta;
    let word: string;
    if (o.kind === "sent") {
      rec.state = "sent";
      out.sent++;
      out.settled++;
      word = "sent";
    } else if (o.kind === "perm") {
      rec.state = "failed";
      out.settled++;
      word = "bounced";
    } else {
      env.lastError = o.diagnostic;
      word = "deferred";
    }
    const via = o.remoteMta ? ` relay=${o.remoteMta}` : "";
    out.lines.push(`to=<${o.rcpt}>${via} status=${word} (${o.diagnostic})`);
  }
  return out;
}

export function expiresAt(env: EnvelopeRecord, queueExpireSeconds: number): number {
  return env.createdAt + queueExpireSeconds * 1000;
}

/**
 * At QueueExpire every recipient still pending fails with Status 4.4.7, keeping its
 * last reply as the diagnostic. Returns the recipients that expired.
 */
export function expire(
  env: EnvelopeRecord,
  now: number,
  queueExpireSeconds: number,
): RecipientRecord[] {
  if (now < expiresAt(env, queueExpireSeconds)) return [];
  const expired = env.rcpts.filter((r) => r.state === "pending");
  for (const r of expired) {
    r.state = "failed";
    r.status = "4.4.7";
    if (!r.diag) r.diag = `421 4.4.7 message expired after ${queueExpireSeconds} s in the queue`;
  }
  return expired;
}

/** The retry interval after `attempts` attempts: QueueRetry[n-1], the last one repeating. */
export function retryInterval(attempts: number, queueRetry: readonly number[]): number {
  return queueRetry[Math.min(Math.max(attempts, 1), queueRetry.length) - 1];
}

/**
 * When to try again: after the retry interval, but no later than the expiry time so the
 * bounce is not late (and never sooner than a second from now).
 */
export function nextAttemptAt(
  env: EnvelopeRecord,
  now: number,
  queueRetry: readonly number[],
  queueExpireSeconds: number,
): number {
  const after = now + retryInterval(env.attempts, queueRetry) * 1000;
  if (!env.rcpts.some((r) => r.state === "pending")) return after;
  return Math.max(now + 1000, Math.min(after, expiresAt(env, queueExpireSeconds)));
}
