/**
 * Commands about the daemon itself (SPEC §4): STATUS, RELOAD, SMTPD STOP, PASSWORD,
 * and the outbound queue and DNS cache, which answer from the real queue and cache
 * or say plainly that there is none.
 */
import type { ServerContext } from "../../server/context.ts";
import { isQueueId } from "../../queue/id.ts";
import type { QueueEntryReport } from "../../queue/types.ts";
import { NameError, normalizeDomain } from "../../directory/names.ts";
import { AdminError, kv, ok, type Reply } from "../reply.ts";
import { isoTime } from "../values.ts";
import { plural, showMode } from "./common.ts";
import type { CommandSpec, Params } from "./types.ts";

const FAMILIES = ["smtp", "pop3", "imap", "admin"];

function statusLines(ctx: ServerContext): string[] {
  const lines = [
    kv("Version", ctx.version),
    kv("HostName", ctx.config.HostName),
    kv("Started", isoTime(ctx.startedAt)),
    kv("Uptime", Math.floor((Date.now() - ctx.startedAt) / 1000)),
    ...FAMILIES.map((f) => kv(f, ctx.connections.count(f))),
    kv("Received", ctx.stats.received),
    kv("Delivered", ctx.stats.delivered),
    kv("Queued", ctx.stats.queued),
    kv("Bounced", ctx.stats.bounced),
  ];
  lines.push(kv("InQueue", ctx.queue.size()));
  return lines;
}

function queueId(params: Params): string {
  const id = params.need("ID", "id").trim().toUpperCase();
  if (!isQueueId(id)) throw new AdminError(`ID=${id} is not a queue id (14 letters and digits)`);
  return id;
}

function domainParam(params: Params): string | undefined {
  const text = params.get("DOMAIN");
  if (text === undefined) return undefined;
  try {
    return normalizeDomain(text);
  } catch (e) {
    if (e instanceof NameError) throw new AdminError(e.message);
    throw e;
  }
}

/**
 * A queued message's fields, in the order both forms print them (SPEC §4: sender, pending
 * recipients, attempts, next attempt, last error), so a script reads the same names from
 * `QUEUE SHOW ALL` lines as from `QUEUE SHOW ID=`.
 */
function queueFields(e: QueueEntryReport): [string, string | number][] {
  return [
    ["From", `<${e.from}>`],
    ["Pending", e.pending.join(",")],
    ["Attempts", e.attempts],
    ["Created", isoTime(e.createdAt)],
    ["NextAttempt", isoTime(e.nextAttempt)],
    // Last: the only value with spaces, so a line splits at its first "LastError=".
    ["LastError", e.lastError || "NONE"],
  ];
}

function queueLine(e: QueueEntryReport): string {
  return [e.id, ...queueFields(e).map(([k, v]) => kv(k, v))].join(" ");
}

function queueDetails(e: QueueEntryReport): string[] {
  return [kv("Id", e.id), ...queueFields(e).map(([k, v]) => kv(k, v))];
}

function reloadReply(ctx: ServerContext): Promise<Reply> {
  return ctx.reload().then(
    (r) => {
      const restart = r.needRestart.length
        ? `; restart needed for ${r.needRestart.join(", ")}`
        : "";
      return ok(`configuration reloaded: ${plural(r.applied.length, "key")} applied${restart}`, [
        kv("Applied", r.applied.join(",") || "NONE"),
        kv("RestartNeeded", r.needRestart.join(",") || "NONE"),
      ]);
    },
    (e) => {
      throw new AdminError(`reload failed, the running configuration is unchanged: ${e.message}`);
    },
  );
}

export const SERVER_COMMANDS: CommandSpec[] = [
  {
    path: "STATUS",
    usage: ["STATUS"],
    summary: "uptime, version, open connections per service, messages received/delivered/queued",
    run: ({ ctx }) => ok("status", statusLines(ctx)),
  },
  {
    path: "RELOAD",
    usage: ["RELOAD"],
    summary: "re-read the configuration file; says which changes need a restart",
    run: ({ ctx }) => reloadReply(ctx),
  },
  {
    path: "SMTPD STOP",
    usage: ["SMTPD STOP"],
    summary: "answer +OK, then shut the daemon down gracefully",
    run: () => ({ ok: true, text: "eXtremail shutting down", data: [], after: "stop" }),
  },
  {
    path: "PASSWORD",
    usage: ["PASSWORD OLD=<old> NEW=<new>"],
    summary: "change the admin password (stored hashed)",
    keys: ["OLD", "NEW"],
    async run({ ctx, params, session }) {
      const oldPassword = params.need("OLD", "old");
      const newPassword = params.need("NEW", "new");
      if (!(await ctx.adminPassword.verify(oldPassword))) {
        await session.failureDelay();
        throw new AdminError("OLD is not the current admin password; nothing changed");
      }
      await ctx.adminPassword.set(newPassword);
      return ok("admin password changed");
    },
  },
  {
    path: "QUEUE SHOW",
    usage: ["QUEUE SHOW [ALL]", "QUEUE SHOW ID=<id>", "QUEUE SHOW DOMAIN=<domain>"],
    summary: "queue report: id, sender, pending recipients, attempts, next attempt, last error",
    keys: ["ID", "DOMAIN"],
    words: ["ALL"],
    run({ ctx, params, words }) {
      const queue = ctx.queue;
      if (params.has("ID")) {
        if (words.length || params.has("DOMAIN")) {
          throw new AdminError("QUEUE SHOW takes one of ALL, ID= or DOMAIN=");
        }
        const id = queueId(params);
        const [entry] = queue.list({ id });
        if (!entry) throw new AdminError(`no queued message with id ${id}`);
        return ok(`queued message ${id}`, queueDetails(entry));
      }
      if (showMode(params, words, "DOMAIN") === "all") {
        const lines = queue.list().map(queueLine);
        return ok(plural(lines.length, "queued message"), lines);
      }
      const domain = domainParam(params)!;
      const lines = queue.list({ domain }).map(queueLine);
      return ok(`${plural(lines.length, "queued message")} for ${domain}`, lines);
    },
  },
  {
    path: "QUEUE FLUSH",
    usage: ["QUEUE FLUSH [ID=<id>]"],
    summary: "retry every queued message now / one message",
    keys: ["ID"],
    run({ ctx, params }) {
      const queue = ctx.queue;
      if (!params.has("ID")) {
        queue.flush();
        return ok(`${plural(queue.size(), "queued message")} scheduled for delivery now`);
      }
      const id = queueId(params);
      if (!queue.flush(id)) throw new AdminError(`no queued message with id ${id}`);
      return ok(`message ${id} scheduled for delivery now`);
    },
  },
  {
    path: "QUEUE DEL",
    usage: ["QUEUE DEL ID=<id>"],
    summary: "drop a queued message without a bounce",
    keys: ["ID"],
    async run({ ctx, params }) {
      const queue = ctx.queue;
      const id = queueId(params);
      if (!(await queue.remove(id))) throw new AdminError(`no queued message with id ${id}`);
      return ok(`message ${id} deleted from the queue`);
    },
  },
  {
    path: "DNS CACHE SHOW",
    usage: ["DNS CACHE SHOW [ALL]", "DNS CACHE SHOW DOMAIN=<domain>"],
    summary: "cached DNS answers: name, type, value, seconds left",
    keys: ["DOMAIN"],
    words: ["ALL"],
    run({ ctx, params, words }) {
      const cache = ctx.dnsCache;
      const domain = showMode(params, words, "DOMAIN") === "all" ? undefined : domainParam(params);
      const now = Date.now();
      const lines = cache.entries(domain).map((e) =>
        `${e.name} ${e.type} ${e.value} TTL=${Math.max(0, Math.ceil((e.expiresAt - now) / 1000))}`
      );
      return ok(plural(lines.length, "cached answer"), lines);
    },
  },
  {
    path: "DNS CACHE FLUSH",
    usage: ["DNS CACHE FLUSH [DOMAIN=<domain>]"],
    summary: "forget every cached answer / those for one domain",
    keys: ["DOMAIN"],
    run({ ctx, params }) {
      const cache = ctx.dnsCache;
      const n = cache.flush(domainParam(params));
      return ok(`${plural(n, "cached answer")} flushed`);
    },
  },
];
