/**
 * An in-process outbound queue for tests, built as src/server/server.ts builds it (fresh
 * DirBase): the queue pointed at a fake DNS server, short SMTP client timeouts, and the
 * DSNs it submits captured (or handed back to the queue, as the pipeline does for a
 * remote sender).
 *
 *   const h = await startQueueHarness({ DNSServer: [dns.server], OutboundPort: sink.port });
 *   try { await h.queue.enqueue(...) } finally { await h.close(); }
 */
import { ok } from "node:assert/strict";
import { join } from "node:path";
import { devDefaults } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { Resolver } from "../../src/dns/resolver.ts";
import { MailAuth } from "../../src/mailauth/service.ts";
import { SpamFilter } from "../../src/spam/service.ts";
import { setupLogging } from "../../src/log.ts";
import { newQueueId } from "../../src/queue/id.ts";
import { Queue, type QueueOptions } from "../../src/queue/runner.ts";
import type { OutboundMessage } from "../../src/queue/types.ts";
import { newStats, ServerContext } from "../../src/server/context.ts";
import { AdminPassword } from "../../src/directory/adminpass.ts";
import { Directory } from "../../src/directory/directory.ts";
import { IncomingFiles } from "../../src/store/incoming.ts";
import { MailStore } from "../../src/store/mailstore.ts";
import { ServerMetrics } from "../../src/metrics/server_metrics.ts";

export interface QueueHarness {
  ctx: ServerContext;
  queue: Queue;
  resolver: Resolver;
  dirBase: string;
  /** DSNs the queue submitted. */
  bounces: OutboundMessage[];
  waitForBounces(count: number, ms?: number): Promise<OutboundMessage[]>;
  /** Enqueues a simple message; returns its id. */
  send(
    from: string,
    to: string[],
    body?: string,
    extra?: Partial<OutboundMessage>,
  ): Promise<string>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** DSNs go back into the queue (what the pipeline does for a remote sender). */
  bouncesToQueue?: boolean;
  dirBase?: string;
  queue?: Partial<QueueOptions>;
}

if (Deno.env.get("QUEUE_TEST_LOG")) await setupLogging({ LogLevel: "debug", LogFile: "" });

export function simpleMessage(from: string, to: string[], body: string, id: string): Uint8Array {
  return new TextEncoder().encode(
    [
      `From: <${from || "mailer-daemon@origin.test"}>`,
      `To: ${to.map((t) => `<${t}>`).join(", ")}`,
      `Subject: test ${id}`,
      `Message-ID: <${id}@origin.test>`,
      "",
      body,
      "",
    ].join("\r\n"),
  );
}

export async function startQueueHarness(
  config: Partial<Config>,
  opts: HarnessOptions = {},
): Promise<QueueHarness> {
  const dirBase = opts.dirBase ?? await Deno.makeTempDir({ prefix: "extremail-queue-" });
  const full: Config = {
    ...devDefaults(),
    DirBase: join(dirBase, "data"),
    HostName: "mail.test.example",
    QueueRetry: [1],
    ...config,
  };
  await Deno.mkdir(full.DirBase, { recursive: true });
  const directory = Directory.open(full.DirBase);
  const bounces: OutboundMessage[] = [];
  const stats = newStats();
  const resolver = new Resolver({
    servers: () => ctx.config.DNSServer,
    timeoutMs: 500,
    budgetMs: 500,
  });
  const metrics = new ServerMetrics();
  const auth = await MailAuth.open(full.DirBase, {
    config: () => ctx.config,
    resolver,
    isLocalDomain: (d) => directory.isLocalDomain(d),
  }, (text) => console.warn(text));
  const queue: Queue = new Queue({
    config: () => ctx.config,
    dirBase: full.DirBase,
    directory,
    stats,
    metrics,
    resolver,
    submit: opts.bouncesToQueue
      ? (m) => queue.enqueue(m)
      : (m) => Promise.resolve(void bounces.push(m)),
    sign: (data, domain) => auth.signature(data, domain),
  }, {
    timeouts: {
      connect: 2000,
      greeting: 3000,
      command: 3000,
      tls: 3000,
      mail: 3000,
      rcpt: 3000,
      dataInit: 3000,
      dataBlock: 3000,
      dataEnd: 3000,
      quit: 500,
    },
    stopGraceMs: 3000,
    ...opts.queue,
  });
  const ctx: ServerContext = new ServerContext({
    config: full,
    configSource: null,
    directory,
    store: new MailStore(full.DirBase, full.HashDirs),
    incoming: new IncomingFiles(full.DirBase),
    adminPassword: new AdminPassword(full.DirBase),
    tlsContext: null,
    metrics,
    stats,
    queue,
    dnsCache: resolver.cache,
    auth,
    spam: new SpamFilter({ config: () => ctx.config, resolver }),
  });
  await queue.start();
  return {
    ctx,
    queue,
    resolver,
    dirBase,
    bounces,
    async waitForBounces(count, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (bounces.length < count) {
        if (Date.now() > deadline) throw new Error(`${bounces.length} of ${count} bounces`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return bounces;
    },
    async send(from, to, body = "Hello.", extra = {}) {
      const id = newQueueId();
      await queue.enqueue({ id, from, to, data: simpleMessage(from, to, body, id), ...extra });
      return id;
    },
    async close() {
      await queue.stop();
      directory.close();
      ctx.incoming.close();
      if (!opts.dirBase) await Deno.remove(dirBase, { recursive: true }).catch(() => {});
    },
  };
}

export interface ParsedDsn {
  headers: Map<string, string>;
  contentType: string;
  parts: { type: string; body: string }[];
  perMessage: Map<string, string>;
  recipients: Map<string, string>[];
}

function headerMap(block: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of block.replace(/\r\n[ \t]+/g, " ").split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) map.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
  }
  return map;
}

/** A small, strict RFC 3464 reader: enough to check every field the queue writes. */
export function parseDsn(bytes: Uint8Array): ParsedDsn {
  const text = new TextDecoder().decode(bytes);
  ok(!/[^\r]\n/.test(text), "every line ends in CRLF");
  const split = text.indexOf("\r\n\r\n");
  const headers = headerMap(text.slice(0, split));
  const contentType = headers.get("content-type") ?? "";
  const boundary = /boundary="([^"]+)"/.exec(contentType)![1];
  const body = text.slice(split + 4);
  ok(body.includes(`\r\n--${boundary}--\r\n`), "closing boundary");
  const parts = body.split(`--${boundary}`).slice(1, -1).map((raw) => {
    const p = raw.replace(/^\r\n/, "");
    const end = p.indexOf("\r\n\r\n");
    const h = headerMap(p.slice(0, end));
    return { type: (h.get("content-type") ?? "").split(";")[0].trim(), body: p.slice(end + 4) };
  });
  const status = parts.find((p) => /^message\/(global-)?delivery-status$/.test(p.type))!;
  const groups = status.body.trim().split(/\r\n\r\n/).map(headerMap);
  return { headers, contentType, parts, perMessage: groups[0], recipients: groups.slice(1) };
}
