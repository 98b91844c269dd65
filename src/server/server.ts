/**
 * The daemon's composition root. startServer builds every part in dependency order and
 * gives each its dependencies as constructor arguments; nothing registers itself at
 * import time, so this file is the list of what runs:
 *
 *   (main.ts: configuration, logging) -> TLS -> directory (SQLite, or PostgreSQL shared
 *   by several nodes) -> mail store -> DNS resolver and cache -> mail authentication (DKIM
 *   keys, SRS secret; from the shared directory too) -> spam filter (rspamd, DNSBL,
 *   SpamLearn) -> directory follows other nodes -> outbound
 *   queue (given the mail pipeline's submit and the DKIM signer) -> context ->
 *   services (SMTP with the mail pipeline, POP3, IMAP, admin) -> queue started ->
 *   listeners -> metrics listener (its /healthz reports on the listeners)
 *
 * Background work (the queue) starts before the first listener opens, so the first
 * client already finds everything running; stop() takes it down in reverse order.
 */
import { AuthGuard } from "../auth/guard.ts";
import { deepFreeze, loadConfig, MAIL_PORT_KEYS } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { CidrSet } from "../config/cidr.ts";
import { AdminPassword } from "../directory/adminpass.ts";
import { Directory } from "../directory/directory.ts";
import * as pipeline from "../delivery/pipeline.ts";
import { submitMessage } from "../delivery/route.ts";
import { contentBlocks } from "../delivery/incoming.ts";
import { Resolver } from "../dns/resolver.ts";
import { MailAuth } from "../mailauth/service.ts";
import { SpamFilter } from "../spam/service.ts";
import { FileKeyStore } from "../mailauth/keys.ts";
import { SharedKeyStore } from "../mailauth/keys_shared.ts";
import { newSrsSecret, Srs } from "../mailauth/srs.ts";
import { openDirectoryBackend } from "../directory/open.ts";
import { log, logAlways, setupLogging, trackSession } from "../log.ts";
import { ServerMetrics } from "../metrics/server_metrics.ts";
import { startMetricsService } from "../metrics/service.ts";
import { HandshakeGate } from "../net/tls_gate.ts";
import { Listener } from "../net/listener.ts";
import { streamBlocks } from "../net/linebuffer.ts";
import { loadTlsContext } from "../net/tls.ts";
import { Queue } from "../queue/runner.ts";
import type { OutboundMessage } from "../queue/types.ts";
import { MailStore } from "../store/mailstore.ts";
import { FullTextIndex } from "../store/fts/fts.ts";
import { IncomingFiles } from "../store/incoming.ts";
import { DeliveryJournal, journalDir } from "../store/delivery_journal.ts";
import { replayJournal } from "../store/journal_recovery.ts";
import { FilePool } from "../store/file_pool.ts";
import { messageKeys } from "../imap/store_keys.ts";
import { adminService } from "../admin/service.ts";
import { imapServices } from "../imap/service.ts";
import { pop3Services } from "../pop3/service.ts";
import { smtpServices } from "../smtp/service.ts";
import { Session as ImapSession } from "../imap/session.ts";
import { IMAP_COMMANDS } from "../imap/commands.ts";
import { warmSelectPath } from "../imap/warmup.ts";
import { POP3_COMMANDS, Pop3Session } from "../pop3/session.ts";
import { clusterService } from "../cluster/service.ts";
import { Peers } from "../cluster/peers.ts";
import { moveIn } from "../cluster/move.ts";
import { newStats, type ReloadResult, ServerContext } from "./context.ts";
import type { ServiceSpec } from "./services.ts";
import { releaseMessageDirs } from "../store/read_small.ts";
import { Pop3Loop } from "../pop3/loop.ts";
import type { LoopSettings } from "../pop3/loop_messages.ts";

/** What the POP3 second event loop's sessions need of the configuration. */
function pop3LoopSettings(ctx: ServerContext): LoopSettings {
  const c = ctx.config;
  return {
    TimeoutPOP3: c.TimeoutPOP3,
    HostName: c.HostName,
    LogLevel: c.LogLevel,
    version: ctx.version,
  };
}

/** Keys that RELOAD cannot apply to a running daemon (SPEC §4 RELOAD). */
const RESTART_KEYS: (keyof Config)[] = [
  "DirBase",
  "Directory",
  "NodeName",
  "Nodes",
  "PortCluster",
  "ClusterSecret",
  "HashDirs",
  "ListenIP",
  "AdminIP",
  ...MAIL_PORT_KEYS,
  "PortAdmin",
  "PortMetrics",
  "MetricsIP",
];

export interface RunningServer {
  ctx: ServerContext;
  /** Bound port per service name (after port 0 was resolved). */
  ports: Map<string, number>;
  /** Graceful shutdown; resolves when everything is closed. */
  stop(): Promise<void>;
  /** Resolves when the server has stopped (by stop(), SMTPD STOP or a signal). */
  stopped: Promise<void>;
}

export async function startServer(
  config: Readonly<Config>,
  source: string | null,
): Promise<RunningServer> {
  const logger = log("server");

  const tlsContext = await loadTlsContext(config.TLSCert, config.TLSKey);

  // Data: the directory (domains, users, aliases, lists, deny entries, passwords; SQLite
  // under DirBase or PostgreSQL shared by several nodes, SPEC §12), the admin password file
  // and the Maildir store.
  await Deno.mkdir(config.DirBase, { recursive: true, mode: 0o750 });
  const directoryBackend = await openDirectoryBackend(config, log("directory"));
  const directory = new Directory(directoryBackend);
  const adminPassword = new AdminPassword(config.DirBase);
  const generated = await adminPassword.init(Deno.env.get("EXTREMAIL_ADMIN_PASSWORD"));
  if (generated) logAlways("server", `admin password (generated, shown once): ${generated}`);
  // Small deliveries acknowledged by the process before us whose files may not have been
  // synced yet are completed from the delivery journal, before anything reads a mailbox.
  const replayed = await replayJournal(journalDir(config.DirBase));
  if (replayed.records > 0 || replayed.tornSegments > 0) {
    logger.info(
      `delivery journal replayed: ${replayed.records} record(s), ${replayed.restored} file(s) ` +
        `restored, ${replayed.rewritten} rewritten, ${replayed.skipped} in deleted mailboxes, ` +
        `${replayed.tornSegments} torn segment end(s) ignored (never acknowledged)`,
    );
  }
  for (const path of replayed.skippedPaths) {
    logger.warn(`delivery journal: ${path} not restored, its folder no longer exists`);
  }
  const journal = await DeliveryJournal.open(config.DirBase);
  // Files made ahead for those deliveries (after the replay, which may remove one a record
  // names); what a process that died left in the pool goes first.
  const filePool = await FilePool.open(config.DirBase);
  if (filePool.leftovers > 0) {
    logger.info(`removed ${filePool.leftovers} unused file(s) from ${filePool.dir}`);
  }
  const fullText = new FullTextIndex();
  // Messages stored through this server carry their SORT/SEARCH keys into the index.
  const store = new MailStore(
    config.DirBase,
    config.HashDirs,
    {
      messageKeys,
      // The same function for the keys spool's worker (src/store/keys_spool.ts).
      messageKeysModule: new URL("../imap/store_keys.ts", import.meta.url).href,
      fullText,
    },
    journal,
    filePool,
  );
  // Files of messages in transfer; those of a process that died are removed at start.
  const incoming = new IncomingFiles(config.DirBase);
  const stale = await incoming.clean();
  if (stale > 0) {
    logger.info(`removed ${stale} file(s) of interrupted transfers from ${incoming.dir}`);
  }
  const stats = newStats();
  const metrics = new ServerMetrics();

  // Outbound: the DNS resolver with its cache, then the queue. The queue and the mail
  // pipeline need each other (remote copies go to the queue; the queue's DSNs go
  // through the pipeline's entry for generated mail), so the queue reads the context
  // built below through functions, which it calls only once started.
  const resolver = new Resolver({
    servers: () => ctx.config.DNSServer,
    onCacheLookup: (hit) => (hit ? metrics.dnsCacheHits : metrics.dnsCacheMisses).inc(),
  });
  metrics.live.dnsCacheEntries = () => resolver.cache.size;
  // SPEC §8: DKIM keys and the SRS secret, under DirBase on one machine or in the shared
  // directory (SPEC §12: every node signs and reverses SRS alike); checks and signing over
  // the same resolver and cache.
  const shared = directoryBackend.shared;
  const auth = new MailAuth({
    config: () => ctx.config,
    resolver,
    isLocalDomain: (d) => directory.isLocalDomain(d),
    keys: shared
      ? new SharedKeyStore(directoryBackend)
      : await FileKeyStore.open(config.DirBase, (text) => logger.warn(text)),
    srs: shared
      ? Srs.fromText((await directoryBackend.sharedSecret("srs", newSrsSecret))!)
      : await Srs.open(config.DirBase),
  });
  // SPEC §9: rspamd for the live SpamFilter setting, DNSBL look-ups over the same resolver
  // and cache, the SpamLearn queue (stopped after the listeners).
  const spam = new SpamFilter({ config: () => ctx.config, resolver });
  if (config.SpamLearn && !config.SpamFilter) {
    logger.warn(
      'SpamLearn = true does nothing while SpamFilter = "": set SpamFilter = ' +
        '"rspamd:http://127.0.0.1:11333" (and SpamController) to learn from Junk',
    );
  }
  // Every mirror of the directory is built: from now on changes made on other nodes apply.
  directoryBackend.follow();
  const submit = (message: OutboundMessage) => submitMessage(ctx, message);
  const queue = new Queue({
    config: () => ctx.config,
    dirBase: config.DirBase,
    directory,
    stats,
    metrics,
    resolver,
    submit,
    sign: (data, domain) => auth.signature(data, domain),
  });

  const listeners: Listener[] = [];
  const ctx: ServerContext = new ServerContext({
    config,
    configSource: source,
    directory,
    store,
    incoming,
    adminPassword,
    // One guard for SMTP, POP3 and IMAP logins (SPEC §7).
    authGuard: new AuthGuard(directory),
    tlsContext,
    metrics,
    stats,
    queue,
    dnsCache: resolver.cache,
    auth,
    spam,
    // SPEC §12: the links to other nodes (they trust our TLSCert besides the system CAs).
    peers: new Peers(() => ctx.config),
    requestStop: () => void stop(),
    reload: () => reload(ctx),
  });

  // The services, each given what its sessions use beyond the context: SMTP decides
  // policy and delivers through the mail pipeline; POP3 and IMAP run their command
  // tables over the store.
  const pop3Rows = pop3Services();
  const services: ServiceSpec[] = [
    ...smtpServices(pipeline),
    ...pop3Rows,
    ...imapServices(),
    adminService(),
    // SPEC §12 PortCluster: delivery from other nodes, sessions they proxy, USER MOVE.
    clusterService({
      imap: (ctx, conn, user, tag) => new ImapSession(ctx, conn, IMAP_COMMANDS).run({ user, tag }),
      pop3: (ctx, conn, user) => new Pop3Session(ctx, conn, pop3Rows[0], POP3_COMMANDS).run(user),
      moveIn,
      move: (ctx, conn, user, node) => ctx.moves.serveRequest(ctx, conn, user, node),
    }),
  ];

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping: Promise<void> | null = null;
  let metricsService: { port: number | null; stop(): Promise<void> } | null = null;
  /** Takes everything down in the reverse order of start-up. */
  const stop = (): Promise<void> => {
    if (stopping) return stopping;
    ctx.stopping = true;
    stopping = (async () => {
      logger.info("shutting down: closing listeners");
      await Promise.all([...listeners.map((l) => l.close()), metricsService?.stop()]);
      // Every open session says its protocol's goodbye (421 / -ERR / * BYE).
      await Promise.all([...ctx.sessions].map(async (s) => {
        try {
          await s.goodbye();
        } catch { /* the session may already be gone */ }
      }));
      const deadline = Date.now() + 10_000;
      while (ctx.sessions.size > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const s of ctx.sessions) s.conn.destroy();
      ctx.pop3Loop?.stop();
      // Learn requests still waiting are dropped, the one in flight abandoned.
      await spam.stop();
      // In-flight deliveries finish; their DSNs still go through the pipeline into the
      // store and the spool, which close after.
      await queue.stop();
      await ctx.peers.close();
      // Folder indexes are written and marked clean (their HIGHESTMODSEQ stays exact).
      await store.close().catch((e) => logger.warn(`closing folder indexes: ${e}`));
      releaseMessageDirs(); // the read path's held cur/ and new/ descriptors
      incoming.close(); // the thread that writes files of transfers
      await directory.close();
      logger.info("stopped");
      resolveStopped();
    })();
    return stopping;
  };

  logger.info(
    `eXtremail ${ctx.version} starting; data in ${config.DirBase}; directory ${directoryBackend.description}${
      config.NodeName ? ` (node ${config.NodeName})` : ""
    }; configuration ${source ?? "embedded development defaults"}`,
  );
  // Background work first: the queue loads its spool and starts delivering.
  await queue.start().catch((e) =>
    log("queue").error(`cannot load the queue: ${(e as Error).message}`)
  );
  const ports = new Map<string, number>();
  try {
    // The full-text index's thread starts now, not in a session's first SEARCH BODY, where
    // its start blocked every session for 22-48 ms (src/store/fts/worker_client.ts).
    fullText.prestart();
    // So does the big directories' verification thread, used soon after a restart.
    store.prestartDirCheck();
    // And POP3's second event loop (pop3/loop.ts), for plain-TCP sessions after login.
    if (config.ThreadsPOP3 >= 2 && config.PortPOP3 !== 0) {
      ctx.pop3Loop = Pop3Loop.start(pop3LoopSettings(ctx));
    }
    // The blocks message transfers take, touched now: when many transfers start at once,
    // fresh memory's page faults were paid on the event loop (net/block_pool.ts).
    streamBlocks.fill();
    contentBlocks.fill();
    // A restart's first SELECT of a big folder no longer compiles its code (imap/warmup.ts).
    await warmSelectPath(store, incoming.dir);
    for (const spec of services) {
      const listener = await startListener(ctx, spec);
      if (!listener) continue;
      listeners.push(listener);
      ports.set(spec.name, listener.port);
      metrics.listenerStarted(spec.name);
      logger.info(
        `${spec.name} listening on ${config[spec.ipsKey].join(",")} port ${listener.port}`,
      );
    }
    // SPEC §10: /metrics and /healthz on PortMetrics (0: off).
    metricsService = await startMetricsService(
      ctx,
      () => listeners,
      (message) => logger.error(`metrics: ${message}`),
    );
    if (metricsService.port !== null) {
      ports.set("metrics", metricsService.port);
      logger.info(`metrics listening on ${config.MetricsIP.join(",")} port ${metricsService.port}`);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  // SPEC §12: a USER MOVE that a killed process left unfinished goes on.
  void ctx.moves.resume(ctx);
  logger.info("ready");
  return { ctx, ports, stop, stopped };
}

const CLUSTER_GATE_LIMITS = {
  perSource: 64,
  waitingPerSource: 100_000,
  maxWaitMs: 30_000,
};

/** Opens one service's listener; null when its port is 0 or it needs TLS and has none. */
async function startListener(ctx: ServerContext, spec: ServiceSpec): Promise<Listener | null> {
  const port = ctx.config[spec.portKey] as number;
  // Port 0 disables a listener (SPEC §3); implicit TLS needs a certificate.
  if (port === 0 || (spec.implicitTls && !ctx.tlsContext)) return null;
  const listener = new Listener(
    {
      name: spec.name,
      family: spec.family,
      ips: ctx.config[spec.ipsKey],
      port,
      implicitTls: spec.implicitTls ? () => ctx.tlsContext : undefined,
      limits: () =>
        spec.unlimited ? { maxConnections: Infinity, maxPerIp: Infinity } : {
          maxConnections: ctx.config.MaxConnections,
          maxPerIp: ctx.config.MaxConnectionsPerIP,
        },
      refusal: typeof spec.refusal === "string"
        ? spec.refusal
        : ((refuse) => () => refuse(ctx))(spec.refusal),
      onConnection: (conn) => {
        ctx.metrics.connectionOpened(spec.name, (fn) => conn.onClose(fn));
        trackSession(conn);
        return spec.handle(ctx, conn, spec);
      },
      onError: (message) => log("server").error(`${spec.name}: ${message}`),
    },
    ctx.connections,
    // PortCluster's peers are our own nodes: a front node opens one link per proxied session,
    // so bursts are legitimate; they get a gate of their own, not the public per-source one.
    spec.unlimited ? new HandshakeGate(CLUSTER_GATE_LIMITS) : ctx.handshakes,
  );
  await listener.start();
  return listener;
}

/** Re-reads the configuration file and applies what can change live. */
export async function reload(ctx: ServerContext): Promise<ReloadResult> {
  if (!ctx.configSource) {
    throw new Error("running on embedded development defaults: there is no file to re-read");
  }
  const { config } = await loadConfig({ path: ctx.configSource });
  const applied: string[] = [];
  const needRestart: string[] = [];
  for (const key of Object.keys(config) as (keyof Config)[]) {
    if (JSON.stringify(config[key]) === JSON.stringify(ctx.config[key])) continue;
    (RESTART_KEYS.includes(key) ? needRestart : applied).push(key);
  }
  const tls = await loadTlsContext(config.TLSCert, config.TLSKey);
  // Keys that need a restart keep their running values until then: sessions and workers
  // read ctx.config (e.g. DirBase for autoreply records) and must match what is bound/open.
  const running: Record<string, unknown> = { ...config };
  for (const key of RESTART_KEYS) running[key] = ctx.config[key];
  ctx.localNetworks = new CidrSet(config.LocalIP);
  ctx.tlsContext = tls;
  ctx.config = deepFreeze(running as unknown as Config);
  await setupLogging(config);
  ctx.pop3Loop?.reload(pop3LoopSettings(ctx));
  log("server").info(
    `configuration reloaded from ${ctx.configSource}; applied: ${applied.join(", ") || "nothing"}${
      needRestart.length ? `; restart needed for: ${needRestart.join(", ")}` : ""
    }`,
  );
  return { applied, needRestart };
}
