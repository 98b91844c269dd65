/**
 * The outbound queue (SPEC §1, §3, §7): accepts messages durably, schedules attempts on
 * the QueueRetry ladder (the last value repeats), runs ThreadsQueue delivery workers that
 * each hold one connection and reuse it for the next message to the same destination,
 * records each recipient's fate durably right after the reply (RFC 5321 §6.1), and
 * bounces failed recipients and those still pending at QueueExpire (Status 4.4.7); what
 * an attempt's results do (recorded, expired, reported, the next try) is attempt_end.ts.
 */
import type { Config } from "../config/schema.ts";
import type { Directory } from "../directory/directory.ts";
import { log } from "../log.ts";
import type { Resolver } from "../dns/resolver.ts";
import { type ClientTimeouts, RFC5321_TIMEOUTS, type SmtpClient } from "../smtpclient/client.ts";
import type { RecipientOutcome } from "../smtpclient/transaction.ts";
import type { Stats } from "../server/context.ts";
import type { ServerMetrics } from "../metrics/server_metrics.ts";
import { MessageContent } from "../store/content.ts";
import { contentHasLongLine } from "../smtpclient/transaction.ts";
import { isQueueId } from "./id.ts";
import type { OutboundMessage, OutboundQueue, QueuedMessage, QueueEntryReport } from "./types.ts";
import { dsnParameters } from "./bounce.ts";
import { applyOutcomes, type AttemptEnd, finishAttempt } from "./attempt_end.ts";
import { deliverJob, type DeliveryDeps, domainOf } from "./deliver.ts";
import { type Entry, type Job, newEntry, newEnvelope } from "./entry.ts";
import { planJobs, reportOf } from "./schedule.ts";
import { READ_WHOLE_LIMIT, Spool } from "./spool.ts";

/** What the queue works with, given by the composition root (src/server/server.ts). */
export interface QueueDeps {
  /** The running configuration, read at each use (RELOAD replaces it). */
  config: () => Readonly<Config>;
  /** The spool is `<DirBase>/queue/` (DirBase changes only with a restart). */
  dirBase: string;
  /**
   * Deny entries (SPEC §5 IPOUT) checked before connecting; local domains, where a double
   * bounce goes (bounce.ts postmasterAddress).
   */
  directory: Pick<Directory, "isDenied" | "isLocalDomain" | "domains">;
  /** Counters the queue adds to (delivered, bounced). */
  stats: Stats;
  /** The series of /metrics: attempts by result, deferrals, bounces. */
  metrics: ServerMetrics;
  /** MX and address lookups; its cache is what DNS CACHE SHOW lists. */
  resolver: Resolver;
  /** The mail pipeline's entry for generated mail: DSNs go through it. */
  submit: (message: OutboundMessage) => Promise<void>;
  /**
   * SPEC §8: the DKIM-Signature field for a message as it leaves, signed by `domain`'s
   * key ("" for none); src/mailauth's MailAuth.signature.
   */
  sign: (data: Uint8Array | MessageContent, domain: string | undefined) => Promise<string>;
}

export interface QueueOptions {
  /** Shorter SMTP client timeouts (tests); RFC 5321 §4.5.3.2 values otherwise. */
  timeouts?: Partial<ClientTimeouts>;
  /** How long stop() lets in-flight deliveries finish before cutting them (ms). */
  stopGraceMs?: number;
}

/** Messages sent over one connection before it is renewed. */
const MAX_PER_CONNECTION = 100;
/** Longest timer; the due list is simply re-examined when it fires. */
const MAX_TIMER_MS = 3600_000;

export class Queue implements OutboundQueue {
  readonly spool: Spool;
  readonly #queueDeps: QueueDeps;
  readonly #deps: DeliveryDeps;
  readonly #opts: QueueOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #enqueuing = new Set<string>();
  readonly #sessions = new Set<SmtpClient>();
  /** State writes still running (a worker does not wait for them to move on). */
  readonly #writes = new Set<Promise<void>>();
  #ready: Job[] = [];
  #workers = 0;
  #idle: (() => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;
  #timerAt = Infinity;
  #stopping = false;
  #loaded: Promise<void> | null = null;
  readonly #log = log("queue");
  /** What the end of an attempt uses (attempt_end.ts). */
  readonly #end: AttemptEnd;

  constructor(deps: QueueDeps, opts: QueueOptions = {}) {
    this.#queueDeps = deps;
    this.#opts = opts;
    this.spool = new Spool(deps.dirBase);
    this.#deps = {
      config: deps.config,
      isDenied: (kind, value) => deps.directory.isDenied(kind, value),
      resolver: deps.resolver,
      timeouts: { ...RFC5321_TIMEOUTS, ...opts.timeouts },
    };
    this.#end = {
      spool: this.spool,
      log: this.#log,
      config: () => this.#config,
      deps,
      forget: (id) => this.#entries.delete(id),
      arm: (at) => this.#arm(at),
    };
  }

  get #config(): Readonly<Config> {
    return this.#queueDeps.config();
  }

  /** Loads the spool and starts delivering; resolves when the spool is loaded. */
  start(): Promise<void> {
    this.#loaded ??= (async () => {
      const busy = (id: string) => this.#enqueuing.has(id) || this.#entries.has(id);
      const { entries, problems } = await this.spool.load(busy);
      for (const p of problems) this.#log.warn(`spool: ${p}`);
      for (const env of entries) {
        if (!this.#entries.has(env.id)) this.#entries.set(env.id, newEntry(env, null));
      }
      this.#log.info(`${this.#entries.size} queued message(s) in ${this.spool.dir}`);
      this.#onTimer();
    })();
    return this.#loaded;
  }

  async enqueue(message: QueuedMessage): Promise<void> {
    if (!isQueueId(message.id)) throw new Error(`bad queue id "${message.id}"`);
    if (this.#entries.has(message.id) || this.#enqueuing.has(message.id)) {
      throw new Error(`queue id ${message.id} is already in use`);
    }
    const rcpts = [...new Set(message.to)];
    if (rcpts.length === 0) throw new Error("a queued message needs at least one recipient");
    const env = newEnvelope(message, rcpts, Date.now());
    this.#enqueuing.add(message.id);
    try {
      await this.spool.create(env, message.data);
    } finally {
      this.#enqueuing.delete(message.id);
    }
    // Content in pieces is read back from the queue's file when an attempt needs it.
    const entry = newEntry(
      env,
      message.data instanceof Uint8Array && message.data.length <= READ_WHOLE_LIMIT
        ? Promise.resolve(new MessageContent([message.data]))
        : null,
    );
    this.#entries.set(env.id, entry);
    this.#log.info(`${env.id}: from=<${env.from}> size=${env.size} nrcpt=${rcpts.length} queued`);
    if (!this.#stopping) this.#startAttempt(entry);
  }

  list(filter: { id?: string; domain?: string } = {}): QueueEntryReport[] {
    const domain = filter.domain?.toLowerCase();
    const out: QueueEntryReport[] = [];
    for (const { env } of this.#entries.values()) {
      if (filter.id && env.id !== filter.id.toUpperCase()) continue;
      const report = reportOf(env);
      if (domain && !report.pending.some((a) => domainOf(a) === domain)) continue;
      out.push(report);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  flush(id?: string): boolean {
    const targets = id ? [this.#entries.get(id.toUpperCase())] : [...this.#entries.values()];
    if (targets.some((e) => e === undefined)) return false;
    const now = Date.now();
    for (const e of targets as Entry[]) if (!e.busy) e.env.nextAttempt = now;
    this.#onTimer();
    return true;
  }

  async remove(id: string): Promise<boolean> {
    const entry = this.#entries.get(id.toUpperCase());
    if (!entry) return false;
    entry.removed = true;
    this.#entries.delete(entry.env.id);
    this.#ready = this.#ready.filter((j) => j.entry !== entry);
    await entry.lock.run(() => this.spool.remove(entry.env.id));
    this.#log.info(`${entry.env.id}: removed by the administrator`);
    return true;
  }

  size(): number {
    return this.#entries.size;
  }

  async stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      this.#ready = [];
    }
    await this.#loaded?.catch(() => {});
    if (!(await this.#waitIdle(this.#opts.stopGraceMs ?? 15_000))) {
      // Cut what is still running; those recipients stay pending (§6.1 window).
      for (const s of this.#sessions) s.destroy();
      await this.#waitIdle(5_000);
    }
    while (this.#writes.size > 0) await Promise.all([...this.#writes]);
  }

  #waitIdle(ms: number): Promise<boolean> {
    if (this.#workers === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  // ---------------------------------------------------------------- scheduling

  #arm(at: number): void {
    if (this.#stopping || at >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Infinity;
      this.#onTimer();
    }, Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS));
  }

  /** Starts every due idle entry and arms the timer for the earliest of the rest. */
  #onTimer(): void {
    if (this.#stopping) return;
    const now = Date.now();
    let next = Infinity;
    for (const entry of this.#entries.values()) {
      if (entry.busy) continue;
      if (entry.env.nextAttempt <= now) this.#startAttempt(entry);
      else next = Math.min(next, entry.env.nextAttempt);
    }
    if (next < Infinity) this.#arm(next);
  }

  #startAttempt(entry: Entry): void {
    entry.busy = true;
    const jobs: Job[] = planJobs(entry.env, this.#config).map((j) => ({ entry, ...j }));
    entry.outstanding = jobs.length;
    if (jobs.length === 0) {
      void entry.lock.run(() => finishAttempt(this.#end, entry, false));
      return;
    }
    this.#ready.push(...jobs);
    this.#pump();
  }

  #pump(): void {
    while (
      !this.#stopping && this.#ready.length > 0 && this.#workers < this.#config.ThreadsQueue
    ) {
      this.#workers++;
      void this.#worker().finally(() => {
        this.#workers--;
        if (this.#workers === 0) { for (const f of this.#idle.splice(0)) f(); }
        this.#pump();
      });
    }
  }

  /** One delivery thread: takes jobs, keeping its connection for jobs to the same place. */
  async #worker(): Promise<void> {
    let session: SmtpClient | null = null;
    let key = "";
    try {
      while (!this.#stopping) {
        let job: Job | undefined;
        if (session?.usable && session.transactions < MAX_PER_CONNECTION) {
          const i = this.#ready.findIndex((j) => j.key === key);
          if (i >= 0) job = this.#ready.splice(i, 1)[0];
        }
        if (!job) {
          if (session) this.#closeSession(session);
          session = null;
          job = this.#ready.shift();
        }
        if (!job) break;
        key = job.key;
        session = await this.#runJob(job, session);
      }
    } finally {
      if (session) this.#closeSession(session);
    }
  }

  #closeSession(session: SmtpClient): void {
    void session.quit(this.#deps.timeouts.quit).finally(() => this.#sessions.delete(session));
  }

  async #runJob(job: Job, session: SmtpClient | null): Promise<SmtpClient | null> {
    const { entry } = job;
    if (entry.removed) return session;
    let outcomes: RecipientOutcome[];
    let next: SmtpClient | null = null;
    try {
      // Jobs of one attempt (one per destination) share the content, its scan and signature.
      const data = await (entry.data ??= this.spool.content(entry.env.id));
      entry.longLines ??= contentHasLongLine(data);
      const env = entry.env;
      const result = await deliverJob(this.#deps, {
        id: env.id,
        from: env.from,
        domain: job.domain,
        recipients: job.recipients,
        data,
        longLines: await entry.longLines,
        eightBit: env.eightBit,
        smtpUtf8: env.smtpUtf8,
        dsn: dsnParameters(env, job.recipients),
        sign: (data) => {
          let signature = entry.signatures.get(data);
          if (!signature) {
            signature = this.#queueDeps.sign(data, env.dkim);
            entry.signatures.set(data, signature);
          }
          return signature;
        },
      }, session);
      outcomes = result.outcomes;
      next = result.session;
      if (next) this.#sessions.add(next);
    } catch (e) {
      // A bug or an unreadable spool file: the recipients wait for the next attempt.
      this.#log.error(`${entry.env.id}: delivery failed: ${(e as Error).stack ?? e}`);
      outcomes = job.recipients.map((rcpt) => ({
        rcpt,
        kind: "temp",
        status: "4.3.0",
        diagnostic: `451 4.3.0 local error: ${(e as Error).message}`,
        remoteMta: "",
      }));
    }
    if (session && session !== next) this.#sessions.delete(session);
    // The worker goes on with its next message while these results are made durable:
    // concurrent writes then share their directory syncs (fsutil group commit).
    const write = entry.lock.run(() => applyOutcomes(this.#end, job, outcomes)).catch((e) => {
      this.#log.error(`${entry.env.id}: cannot record delivery state: ${(e as Error).stack ?? e}`);
      if (entry.outstanding <= 0 && !entry.removed) {
        // Try the whole message again later rather than leave it stuck as "busy".
        entry.busy = false;
        entry.env.nextAttempt = Date.now() + 60_000;
        this.#arm(entry.env.nextAttempt);
      }
    }).finally(() => this.#writes.delete(write));
    this.#writes.add(write);
    return next;
  }
}
