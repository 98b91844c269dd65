/**
 * The series of SPEC §10, declared in one place so that docs/operations.md, the code and
 * a dashboard agree. Recording sites call one method or counter each
 * (`ctx.metrics.authFailures.inc({ service: "imap" })`); values that already live
 * elsewhere (open connections, queue length, memory) are read when /metrics is scraped.
 *
 * Names carry their unit (`_seconds`, `_bytes`) and counters end in `_total`.
 */
import { VERSION } from "../version.ts";
import { type Counter, type Gauge, type Histogram, Registry } from "./registry.ts";

/** rspamd's actions (SPEC §9), the values of the spam verdict label. */
export const SPAM_ACTIONS = [
  "reject",
  "soft_reject",
  "greylist",
  "add_header",
  "rewrite_subject",
  "no_action",
] as const;

/** Per-recipient results of one outbound delivery attempt. */
export const ATTEMPT_RESULTS = ["sent", "deferred", "failed"] as const;
export type AttemptResult = typeof ATTEMPT_RESULTS[number];

/** Where a delivered copy went: a local Maildir or a remote server's 250. */
export type Destination = "local" | "remote";

/** The services whose logins can fail (the `service` label, as on the connection series). */
export const AUTH_PROTOCOLS = ["smtp", "pop3", "imap", "admin"] as const;
export type AuthProtocol = typeof AUTH_PROTOCOLS[number];

/**
 * Seconds from a message's acceptance to each copy's delivery: milliseconds for local
 * Maildirs, up to the retry ladder (hours) and QueueExpire (days) for remote ones.
 */
export const LATENCY_BUCKETS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
  900,
  3600,
  14400,
  86400,
];

/** What is read at scrape time from the running server (set once it is built). */
export interface LiveState {
  /** The outbound queue's length and its oldest message (ms since the epoch). */
  queue?: () => { length: number; oldestCreatedAt: number | null } | null;
  /** Answers held in the DNS cache. */
  dnsCacheEntries?: () => number | null;
}

export class ServerMetrics {
  readonly registry = new Registry();
  readonly startedAt = Date.now();
  /** Sources of scrape-time gauges; filled by the server as its parts start. */
  readonly live: LiveState = {};

  readonly connectionsAccepted: Counter;
  readonly connectionsOpen: Gauge;
  /** The two connection series of each service, looked up once (connectionOpened). */
  readonly #perService = new Map<
    string,
    { accepted: () => void; open: { inc(): void; dec(): void } }
  >();
  /** The delivery series of each destination, looked up once (delivered(), per message). */
  readonly #perDestination = new Map<
    Destination,
    { delivered: (by: number) => void; latency: (value: number, times: number) => void }
  >();
  readonly messagesReceived: Counter;
  readonly messagesDelivered: Counter;
  readonly messagesQueued: Counter;
  readonly messagesBounced: Counter;
  readonly messagesDeferred: Counter;
  readonly deliveryAttempts: Counter;
  readonly deliveryLatency: Histogram;
  readonly authFailures: Counter;
  readonly dnsCacheHits: Counter;
  readonly dnsCacheMisses: Counter;
  readonly spamVerdicts: Counter;

  constructor() {
    const r = this.registry;
    r.gauge("extremail_build_info", "Version of the running server (value 1)", ["version"])
      .set(1, { version: VERSION });
    r.gauge("extremail_start_time_seconds", "Start of the daemon, seconds since the epoch")
      .set(this.startedAt / 1000);
    this.connectionsAccepted = r.counter(
      "extremail_connections_accepted_total",
      "Connections accepted per listener (refusals at the connection limits not counted)",
      ["service"],
    );
    this.connectionsOpen = r.gauge(
      "extremail_connections_open",
      "Connections open now per listener",
      ["service"],
    );
    this.messagesReceived = r.counter(
      "extremail_messages_received_total",
      "Messages accepted by SMTP (250 after DATA/BDAT)",
    );
    this.messagesDelivered = r.counter(
      "extremail_messages_delivered_total",
      "Copies delivered: into a local Maildir, or accepted (250) by a remote server, per recipient",
      ["destination"],
    );
    this.messagesQueued = r.counter(
      "extremail_messages_queued_total",
      "Messages handed to the outbound queue",
    );
    this.messagesBounced = r.counter(
      "extremail_messages_bounced_total",
      "Delivery status notifications (bounces) generated",
    );
    this.messagesDeferred = r.counter(
      "extremail_messages_deferred_total",
      "Outbound delivery attempts that ended with the message kept for a later retry",
    );
    this.deliveryAttempts = r.counter(
      "extremail_delivery_attempts_total",
      "Outbound delivery results per recipient and attempt: sent, deferred (4xx, network), failed (5xx)",
      ["result"],
    );
    this.deliveryLatency = r.histogram(
      "extremail_delivery_latency_seconds",
      "Seconds from a message's acceptance to a copy's local delivery or remote 250",
      LATENCY_BUCKETS,
      ["destination"],
    );
    this.authFailures = r.counter(
      "extremail_auth_failures_total",
      "Failed logins per service (SMTP AUTH, POP3, IMAP, admin LOGIN)",
      ["service"],
    );
    this.dnsCacheHits = r.counter(
      "extremail_dns_cache_hits_total",
      "DNS look-ups of outbound delivery answered from the cache",
    );
    this.dnsCacheMisses = r.counter(
      "extremail_dns_cache_misses_total",
      "DNS look-ups of outbound delivery that had to ask a resolver",
    );
    this.spamVerdicts = r.counter(
      "extremail_spam_verdicts_total",
      "Spam filter (rspamd) verdicts per action",
      ["action"],
    );
    const queueLength = r.gauge("extremail_queue_messages", "Messages in the outbound queue");
    const queueOldest = r.gauge(
      "extremail_queue_oldest_message_age_seconds",
      "Age of the oldest message in the outbound queue (0 when empty)",
    );
    const dnsEntries = r.gauge("extremail_dns_cache_entries", "Answers held in the DNS cache");
    const rss = r.gauge(
      "extremail_process_resident_memory_bytes",
      "Resident memory of the daemon process",
    );
    const heap = r.gauge(
      "extremail_process_heap_used_bytes",
      "JavaScript heap in use (V8)",
    );
    const uptime = r.gauge("extremail_uptime_seconds", "Seconds since the daemon started");

    // Series that exist from the start, so a dashboard shows 0 rather than "no data".
    for (const p of AUTH_PROTOCOLS) this.authFailures.touch({ service: p });
    for (const a of SPAM_ACTIONS) this.spamVerdicts.touch({ action: a });
    for (const result of ATTEMPT_RESULTS) this.deliveryAttempts.touch({ result });
    for (const d of ["local", "remote"]) {
      this.messagesDelivered.touch({ destination: d });
      this.deliveryLatency.touch({ destination: d });
    }

    r.onCollect(() => {
      const q = this.live.queue?.();
      queueLength.set(q?.length ?? 0);
      queueOldest.set(
        q?.oldestCreatedAt ? Math.max(0, (Date.now() - q.oldestCreatedAt) / 1000) : 0,
      );
      dnsEntries.set(this.live.dnsCacheEntries?.() ?? 0);
      const memory = Deno.memoryUsage();
      rss.set(memory.rss);
      heap.set(memory.heapUsed);
      uptime.set((Date.now() - this.startedAt) / 1000);
    });
  }

  /** A listener accepted a connection: counted, and open until it closes. */
  connectionOpened(service: string, onClose: (fn: () => void) => void): void {
    let c = this.#perService.get(service);
    if (!c) {
      const labels = { service };
      c = {
        accepted: this.connectionsAccepted.bound(labels),
        open: this.connectionsOpen.bound(labels),
      };
      this.#perService.set(service, c);
    }
    c.accepted();
    c.open.inc();
    onClose(c.open.dec);
  }

  /** A listener that is running shows 0 connections rather than nothing. */
  listenerStarted(service: string): void {
    this.connectionsAccepted.touch({ service });
    this.connectionsOpen.touch({ service });
  }

  /** `count` copies delivered at once, accepted `since` (ms since the epoch). */
  delivered(destination: Destination, since: number, count = 1): void {
    if (count <= 0) return;
    let cells = this.#perDestination.get(destination);
    if (!cells) {
      const labels = { destination };
      cells = {
        delivered: this.messagesDelivered.bound(labels),
        latency: this.deliveryLatency.bound(labels),
      };
      this.#perDestination.set(destination, cells);
    }
    cells.delivered(count);
    cells.latency(Math.max(0, Date.now() - since) / 1000, count);
  }

  /**
   * Per-recipient results of one outbound attempt (the queue's outcome kinds); each sent
   * copy is a remote delivery of a message accepted at `acceptedAt`.
   */
  attempted(kinds: readonly ("sent" | "temp" | "perm")[], acceptedAt: number): void {
    let sent = 0;
    for (const kind of kinds) {
      const result: AttemptResult = kind === "sent"
        ? "sent"
        : kind === "temp"
        ? "deferred"
        : "failed";
      this.deliveryAttempts.inc({ result });
      if (kind === "sent") sent++;
    }
    this.delivered("remote", acceptedAt, sent);
  }

  render(): string {
    return this.registry.render();
  }
}
