/**
 * How a node follows the changes other nodes make (SPEC §12: within 1 s):
 *
 * - LISTEN on one dedicated connection: every commit NOTIFYs its sequence number, and a
 *   number above the last one applied starts a catch-up at once (milliseconds).
 * - A poll every `pollMs` (2 s): catches up too, so a lost notification costs at most that
 *   long; it also notices a lost connection and re-establishes LISTEN.
 * - A full re-read after the connection to PostgreSQL was lost (whatever happened
 *   meanwhile, the mirror then equals the database again) and every `resyncMs` (30 min)
 *   as a safety net; the periodic one also removes change-log rows older than
 *   `keepChangesMs` (1 day).
 *
 * While PostgreSQL cannot be reached the node goes on serving from its mirror; one line is
 * logged when the connection is lost and one when it is back.
 */
import postgres from "postgres";
import { CHANGE_CHANNEL } from "./schema.ts";

export interface FollowerOptions {
  /** Milliseconds between two looks at the change log. */
  pollMs?: number;
  /** Milliseconds between two full re-reads. */
  resyncMs?: number;
  /** Change-log rows older than this (ms) are removed at a periodic re-read. */
  keepChangesMs?: number;
}

export interface FollowerHooks {
  /** Applies the changes after the last one seen (serialized with writes). */
  catchUp(): Promise<void>;
  /** Reads everything again (serialized with writes). */
  resync(): Promise<void>;
  lastSeq(): number;
  log: { info(text: string): void; warn(text: string): void };
}

export class Follower {
  readonly #sql: postgres.Sql;
  readonly #listenSql: postgres.Sql;
  readonly #hooks: FollowerHooks;
  readonly #pollMs: number;
  readonly #resyncMs: number;
  readonly #keepChangesMs: number;
  #listening = false;
  #listenedBefore = false;
  #reachable = true;
  #needResync = false;
  #nextResync = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #tick: Promise<void> = Promise.resolve();
  #wakeRunning = false;
  #wakeAgain = false;

  constructor(url: string, sql: postgres.Sql, hooks: FollowerHooks, options: FollowerOptions) {
    this.#sql = sql;
    this.#hooks = hooks;
    this.#pollMs = options.pollMs ?? 2000;
    this.#resyncMs = options.resyncMs ?? 30 * 60_000;
    this.#keepChangesMs = options.keepChangesMs ?? 86_400_000;
    // onnotify is the client's hook for every NOTIFY on the connection (its typings omit
    // it; its own listen() helper re-listens on its own and hides connection losses).
    const listenOptions = {
      max: 1,
      connect_timeout: 5,
      idle_timeout: 0,
      max_lifetime: null,
      onnotice: () => {},
      connection: { application_name: "extremail-listen" },
      onnotify: (_channel: string, payload: string) => {
        if (Number(payload) > this.#hooks.lastSeq()) this.#wake();
      },
      onclose: () => {
        this.#listening = false;
      },
    };
    this.#listenSql = postgres(url, listenOptions);
  }

  start(): void {
    this.#nextResync = Date.now() + this.#resyncMs;
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
    await this.#listenSql.end({ timeout: 1 }).catch(() => {});
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#tick = this.#poll().finally(() => this.#schedule(this.#pollMs));
    }, ms);
  }

  async #poll(): Promise<void> {
    try {
      if (!this.#listening) {
        await this.#listenSql`LISTEN ${this.#listenSql(CHANGE_CHANNEL)}`;
        this.#listening = true;
        // Notifications sent while the connection was down are gone: read everything.
        if (this.#listenedBefore) this.#needResync = true;
        this.#listenedBefore = true;
      }
      if (this.#needResync || Date.now() >= this.#nextResync) {
        const periodic = !this.#needResync;
        await this.#hooks.resync();
        this.#needResync = false;
        this.#nextResync = Date.now() + this.#resyncMs;
        if (periodic) await this.#prune();
      } else {
        await this.#hooks.catchUp();
      }
      if (!this.#reachable) {
        this.#reachable = true;
        this.#hooks.log.info("directory database reachable again; the directory was re-read");
      }
    } catch (e) {
      if (this.#stopped) return;
      this.#needResync = true;
      if (this.#reachable) {
        this.#reachable = false;
        this.#hooks.log.warn(
          `directory database unreachable (${(e as Error).message}); serving from the` +
            ` directory in memory, admin changes fail until it is back; retrying every` +
            ` ${this.#pollMs / 1000} s`,
        );
      }
    }
  }

  /** A notification: catch up now (one at a time; a second one runs once more after). */
  #wake(): void {
    if (this.#wakeRunning) {
      this.#wakeAgain = true;
      return;
    }
    this.#wakeRunning = true;
    (async () => {
      do {
        this.#wakeAgain = false;
        // A failure is the poll's to notice; it retries.
        await this.#hooks.catchUp().catch(() => {});
      } while (this.#wakeAgain && !this.#stopped);
      this.#wakeRunning = false;
    })();
  }

  /** Removes old change-log rows; `pruned_upto` tells nodes that saw less to re-read. */
  async #prune(): Promise<void> {
    const seconds = Math.floor(this.#keepChangesMs / 1000);
    await this.#sql`WITH gone AS (
        DELETE FROM changes WHERE at < now() - make_interval(secs => ${seconds}) RETURNING seq)
      UPDATE extremail_meta
        SET value = GREATEST(value::bigint, COALESCE((SELECT MAX(seq) FROM gone), 0))::text
        WHERE name = 'pruned_upto'`;
  }
}
