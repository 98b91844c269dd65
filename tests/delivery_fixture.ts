/**
 * In-process fixture for the mail pipeline tests: a real ServerContext (SQLite
 * directory, Maildir store) in a temp DirBase, a fake outbound queue that captures
 * what is enqueued, and a tiny SMTP-like driver that calls the pipeline the way the
 * SMTP session does (MAIL, RCPT..., end of DATA).
 */
import { devDefaults } from "../src/config/load.ts";
import type { Config } from "../src/config/schema.ts";
import { checkMailFrom, checkRcpt, deliver, openMessage } from "../src/delivery/pipeline.ts";
import { submitMessage } from "../src/delivery/route.ts";
import { Resolver } from "../src/dns/resolver.ts";
import { MailAuth } from "../src/mailauth/service.ts";
import { SpamFilter } from "../src/spam/service.ts";
import { DnsCache } from "../src/dns/cache.ts";
import type {
  MailParams,
  RcptDsn,
  SessionInfo,
  SmtpReply,
  Transaction,
} from "../src/delivery/types.ts";
import { newQueueId } from "../src/queue/id.ts";
import type {
  OutboundMessage,
  OutboundQueue,
  QueuedMessage,
  QueueEntryReport,
} from "../src/queue/types.ts";
import { newStats, ServerContext } from "../src/server/context.ts";
import { AdminPassword } from "../src/directory/adminpass.ts";
import { Directory } from "../src/directory/directory.ts";
import { MailStore } from "../src/store/mailstore.ts";
import { IncomingFiles } from "../src/store/incoming.ts";
import { ServerMetrics } from "../src/metrics/server_metrics.ts";
import type { UserRecord } from "../src/directory/records.ts";

export class FakeQueue implements OutboundQueue {
  readonly messages: OutboundMessage[] = [];
  /** When set, enqueue fails as a spool that cannot be written would. */
  failing = false;
  async enqueue(message: QueuedMessage): Promise<void> {
    if (this.failing) throw new Error("spool: no space left on device");
    const data = message.data instanceof Uint8Array ? message.data : await message.data.bytes();
    this.messages.push({ ...message, data });
  }
  list(): QueueEntryReport[] {
    return [];
  }
  flush(): boolean {
    return false;
  }
  remove(): Promise<boolean> {
    return Promise.resolve(false);
  }
  size(): number {
    return this.messages.length;
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

export const text = (b: Uint8Array) => new TextDecoder().decode(b);
export const bytes = (s: string) => new TextEncoder().encode(s);

export interface Fixture {
  ctx: ServerContext;
  queue: FakeQueue;
  /** The pipeline's entry for generated mail (what the queue's DSNs go through). */
  submit(message: OutboundMessage): Promise<void>;
  dir: string;
  close(): Promise<void>;
  /** The INBOX messages of a user, as text, in UID order. */
  inbox(name: string, domain: string): Promise<string[]>;
}

export async function fixture(overrides: Partial<Config> = {}): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "extremail-delivery-" });
  const config: Config = {
    ...devDefaults(),
    DirBase: dir,
    HostName: "mx.test.example",
    // The checks of SPEC §8 ask DNS; tests of them turn them on with a fake server.
    InboundAuth: "off",
    ...overrides,
  };
  const directory = Directory.open(dir);
  const store = new MailStore(dir, config.HashDirs);
  const queue = new FakeQueue();
  const resolver = new Resolver({ servers: () => ctx.config.DNSServer });
  const auth = await MailAuth.open(dir, {
    config: () => ctx.config,
    resolver,
    isLocalDomain: (d) => directory.isLocalDomain(d),
  }, (text) => console.warn(text));
  const ctx: ServerContext = new ServerContext({
    config,
    configSource: null,
    directory,
    store,
    incoming: new IncomingFiles(dir),
    adminPassword: new AdminPassword(dir),
    tlsContext: null,
    metrics: new ServerMetrics(),
    stats: newStats(),
    queue,
    dnsCache: new DnsCache(),
    auth,
    spam: new SpamFilter({ config: () => ctx.config, resolver }),
  });
  return {
    ctx,
    queue,
    submit: (message) => submitMessage(ctx, message),
    dir,
    async close() {
      directory.close();
      ctx.incoming.close();
      // The keys spool writes a delivered message's keys into its folder's index a moment
      // later (a worker): removing the directory before it is done failed now and then
      // with "Directory not empty" when other test files loaded the machine.
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
    async inbox(name, domain) {
      const user = directory.getUser(name, domain);
      if (!user) throw new Error(`no user ${name}@${domain}`);
      const folder = await store.openFolder(store.userRoot(user), "INBOX");
      if (!folder) return [];
      const out: string[] = [];
      for (const m of folder.messages.values()) out.push(text(await folder.read(m)));
      return out;
    },
  };
}

export function session(over: Partial<SessionInfo> = {}): SessionInfo {
  return {
    id: "test1",
    service: "smtp",
    clientIp: "192.0.2.10",
    helo: "client.example.net",
    esmtp: true,
    tls: null,
    authUser: null,
    ...over,
  };
}

export interface SendResult {
  mail: SmtpReply | null;
  rcpt: SmtpReply[];
  data: SmtpReply | null;
  queueId: string;
}

/**
 * MAIL, every RCPT, then DATA when at least one recipient was accepted. A recipient may
 * come with its RFC 3461 parameters: `["bob@x", { notify: ["SUCCESS"] }]`.
 */
export async function send(
  ctx: ServerContext,
  opts: {
    from: string;
    to: (string | [string, RcptDsn])[];
    data: string | Uint8Array;
    info?: SessionInfo;
    params?: MailParams;
  },
): Promise<SendResult> {
  const info = opts.info ?? session();
  const params = opts.params ?? {};
  const queueId = newQueueId();
  const mail = checkMailFrom(ctx, info, opts.from, params);
  const result: SendResult = { mail, rcpt: [], data: null, queueId };
  if (mail) return result;
  const tx: Transaction = { from: opts.from, params, recipients: [] };
  for (const item of opts.to) {
    const [to, dsn] = typeof item === "string" ? [item, undefined] : item;
    const r = await checkRcpt(ctx, info, tx, to);
    result.rcpt.push(r.reply);
    if (r.accepted) tx.recipients.push(dsn ? { ...r.accepted, dsn } : r.accepted);
  }
  if (tx.recipients.length === 0) return result;
  const data = typeof opts.data === "string" ? bytes(opts.data) : opts.data;
  // As the SMTP session does: the content through the pipeline's sink.
  const sink = openMessage(ctx, info, tx, queueId);
  sink.append(data);
  await sink.flush();
  const message = await sink.finish();
  try {
    result.data = await deliver(ctx, info, tx, message, queueId);
  } finally {
    await message.discard();
  }
  return result;
}

export function message(headers: Record<string, string> | string[], body = "Hello.\r\n"): string {
  const lines = Array.isArray(headers)
    ? headers
    : Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  return lines.join("\r\n") + "\r\n\r\n" + body;
}

export const SIMPLE = message({
  From: "Alice <alice@remote.example>",
  To: "bob@test.example",
  Subject: "Hello",
  "Message-ID": "<m1@remote.example>",
});

/** Adds domain test.example and users; returns them by name. */
export async function users(
  ctx: ServerContext,
  names: string[],
  domain = "test.example",
): Promise<Record<string, UserRecord>> {
  if (!ctx.directory.isLocalDomain(domain)) await ctx.directory.addDomain(domain);
  const out: Record<string, UserRecord> = {};
  for (const n of names) out[n] = await ctx.directory.addUser({ name: n, domain });
  return out;
}

/** Strips our trace fields (Return-Path, first Received) to compare the rest byte-exact. */
export function withoutTrace(
  stored: string,
): { returnPath: string; received: string; rest: string } {
  const m = /^Return-Path: (<[^>]*>)\r\n(Received: [^\r]*\r\n(?:\t[^\r]*\r\n)*)/.exec(stored);
  if (!m) throw new Error(`no Return-Path/Received at the top of:\n${stored.slice(0, 400)}`);
  return { returnPath: m[1], received: m[2], rest: stored.slice(m[0].length) };
}
