/**
 * The end of a delivery attempt (Queue, runner.ts): each job's recipient outcomes are
 * recorded and made durable right after the reply (RFC 5321 §6.1) while the message's
 * other destinations still run; once its last job is back, recipients past QueueExpire
 * expire (Status 4.4.7), failures and relayed/delayed reports go out (bounce.ts), and
 * the entry is removed or given its next try on the QueueRetry ladder. Split from
 * runner.ts: what an attempt's results do, apart from scheduling and running workers.
 */
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import type { RecipientOutcome } from "../smtpclient/transaction.ts";
import { type BounceContext, failureReports, progressReports, wantsReport } from "./bounce.ts";
import type { Entry, Job } from "./entry.ts";
import type { QueueDeps } from "./runner.ts";
import { expire, nextAttemptAt, recordOutcomes } from "./schedule.ts";
import type { Spool } from "./spool.ts";

/** What the end of an attempt uses of its queue (Queue hands over its own). */
export interface AttemptEnd {
  spool: Spool;
  log: Logger;
  /** The running configuration, read at each use (RELOAD replaces it). */
  config(): Readonly<Config>;
  deps: Pick<QueueDeps, "stats" | "metrics" | "submit" | "directory">;
  /** Forgets a finished message (the queue's entries). */
  forget(id: string): void;
  /** Arms the queue's timer for an entry's next attempt. */
  arm(at: number): void;
}

/**
 * One job's outcomes (one destination): recorded, relayed reports noted, and made durable
 * now when other destinations are still running; the last job ends the attempt.
 */
export async function applyOutcomes(
  q: AttemptEnd,
  job: Job,
  outcomes: RecipientOutcome[],
): Promise<void> {
  const { entry } = job;
  const env = entry.env;
  const recorded = recordOutcomes(env, outcomes);
  for (const o of outcomes) {
    if (o.kind !== "sent" || o.dsnPassed) continue;
    const r = env.rcpts.find((x) => x.addr === o.rcpt && x.state === "sent");
    if (r && wantsReport(r, "relayed")) entry.relayed.push(r);
  }
  q.deps.metrics.attempted(outcomes.map((o) => o.kind), env.createdAt);
  for (const line of recorded.lines) q.log.info(`${env.id}: ${line}`);
  if (recorded.sent > 0) q.deps.stats.delivered++;
  entry.outstanding--;
  if (entry.outstanding > 0) {
    // Other destinations are still running: make these results durable now (§6.1).
    if (recorded.settled > 0 && !entry.removed) await q.spool.save(env);
    return;
  }
  await finishAttempt(q, entry, true);
}

/** The attempt is over: expire, bounce, then remove the entry or schedule the next try. */
export async function finishAttempt(
  q: AttemptEnd,
  entry: Entry,
  attempted: boolean,
): Promise<void> {
  const env = entry.env;
  entry.data = null;
  entry.longLines = null;
  if (entry.removed) return;
  const { QueueRetry, QueueExpire } = q.config();
  if (attempted) env.attempts++;
  const now = Date.now();
  for (const r of expire(env, now, QueueExpire)) {
    q.log.info(`${env.id}: to=<${r.addr}> status=expired (${r.diag})`);
  }
  env.nextAttempt = nextAttemptAt(env, now, QueueRetry, QueueExpire);
  // DSNs (failures, then relayed/delayed reports) before the entry may go; the
  // failures are made durable first when the entry stays queued.
  const read = (whole: boolean) => q.spool.reportCopy(env.id, whole);
  await failureReports(bounceContext(q), env, read, () => q.spool.save(env));
  try {
    await progressReports(bounceContext(q), env, entry.relayed.splice(0), now, read);
  } catch (e) {
    q.log.error(`${env.id}: could not send a delivery report: ${(e as Error).message}`);
  }
  if (env.rcpts.every((r) => r.state === "sent" || r.state === "reported")) {
    q.forget(env.id);
    entry.removed = true;
    await q.spool.remove(env.id);
    q.log.info(`${env.id}: removed (${env.attempts} attempt(s))`);
    return;
  }
  await q.spool.save(env);
  if (attempted) q.deps.metrics.messagesDeferred.inc();
  entry.busy = false;
  q.arm(env.nextAttempt);
}

function bounceContext(q: AttemptEnd): BounceContext {
  const { stats, metrics, submit, directory } = q.deps;
  return { config: q.config(), stats, metrics, submit, directory };
}
