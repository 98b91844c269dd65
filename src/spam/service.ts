/**
 * SPEC §9 spam filtering, reached as `ctx.spam` (built by src/server/server.ts): the rspamd
 * client for the live `SpamFilter` setting (rebuilt when RELOAD changes it), DNSBL look-ups
 * through the server's resolver, and the SpamLearn queue.
 *
 * Learning (`/learnspam`, `/learnham` after an IMAP MOVE/COPY into or out of Junk) never
 * holds up the IMAP reply: requests wait in a bounded queue and are sent one at a time in
 * the background; a failure is logged and dropped (a lost lesson costs nothing but the
 * lesson). What the pipeline does with a verdict is src/delivery/spamcheck.ts.
 */
import type { Config } from "../config/schema.ts";
import { log } from "../log.ts";
import { checkDnsbl, type DnsblResolver, type DnsblResult } from "./dnsbl.ts";
import {
  type CheckEnvelope,
  type MessageBody,
  RspamdClient,
  SpamFilterUnavailable,
} from "./rspamd.ts";
import type { SpamVerdict } from "./rspamd_reply.ts";
import { parseFilterSetting } from "./setting.ts";

/** Learn requests waiting at most; beyond, new ones are dropped (and logged). */
const MAX_PENDING_LEARNS = 1000;

interface LearnJob {
  kind: "spam" | "ham";
  /** What the log calls the message (user, folder, UID). */
  label: string;
  /** Reads the message when its turn comes; null when it is gone meanwhile. */
  load: () => Promise<(MessageBody & { close?: () => void }) | null>;
}

export class SpamFilter {
  readonly #config: () => Readonly<Config>;
  readonly #resolver: DnsblResolver;
  #client: { key: string; client: RspamdClient | null } = { key: "\0", client: null };
  readonly #learns: LearnJob[] = [];
  #learning: Promise<void> | null = null;
  #stopped = false;
  readonly #abort = new AbortController();

  constructor(opts: { config: () => Readonly<Config>; resolver: DnsblResolver }) {
    this.#config = opts.config;
    this.#resolver = opts.resolver;
  }

  /** The client for the current configuration; null when SpamFilter is "". */
  get client(): RspamdClient | null {
    const c = this.#config();
    const key = `${c.SpamFilter}\0${c.SpamController}\0${c.SpamControllerPassword}`;
    if (this.#client.key !== key) {
      const base = parseFilterSetting(c.SpamFilter);
      const controller = c.SpamController ? new URL(c.SpamController) : base;
      this.#client = {
        key,
        client: base && controller
          ? new RspamdClient(base, controller, c.SpamControllerPassword)
          : null,
      };
    }
    return this.#client.client;
  }

  /** POST /checkv2; throws SpamFilterUnavailable when rspamd cannot answer in time. */
  check(body: MessageBody, env: CheckEnvelope): Promise<SpamVerdict> {
    const client = this.client;
    if (!client) return Promise.reject(new SpamFilterUnavailable("SpamFilter is not set"));
    return client.check(body, env, this.#config().TimeoutSpamFilter * 1000);
  }

  /** Is the client's address listed in one of the DNSBL zones? */
  dnsbl(ip: string): Promise<DnsblResult> {
    return checkDnsbl(this.#resolver, ip, this.#config().DNSBL);
  }

  /** Is SpamLearn on (and a filter configured to learn)? */
  get learning(): boolean {
    return this.#config().SpamLearn && this.client !== null && !this.#stopped;
  }

  /** Queues a learn request; returns at once. */
  learn(job: LearnJob): void {
    if (!this.learning) return;
    if (this.#learns.length >= MAX_PENDING_LEARNS) {
      log("spam").warn(`learn ${job.kind} ${job.label} dropped: ${MAX_PENDING_LEARNS} waiting`);
      return;
    }
    this.#learns.push(job);
    this.#learning ??= this.#drain().finally(() => (this.#learning = null));
  }

  async #drain(): Promise<void> {
    const logger = log("spam");
    for (let job = this.#learns.shift(); job && !this.#stopped; job = this.#learns.shift()) {
      const client = this.client;
      if (!client) return;
      let body: Awaited<ReturnType<LearnJob["load"]>> = null;
      try {
        body = await job.load();
        if (!body) {
          logger.info(`learn ${job.kind} ${job.label}: message gone, skipped`);
          continue;
        }
        const timeout = this.#config().TimeoutSpamFilter * 1000;
        await client.learn(job.kind, body, timeout, this.#abort.signal);
        logger.info(`learned ${job.label} as ${job.kind}`);
      } catch (e) {
        logger.warn(`learn ${job.kind} ${job.label} failed: ${(e as Error).message}`);
      } finally {
        body?.close?.();
      }
    }
  }

  /** Daemon shutdown: waiting requests are dropped, the one in flight abandoned. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#learns.length = 0;
    this.#abort.abort();
    await this.#learning;
  }
}
