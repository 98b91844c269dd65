/**
 * The daemon: opens the directory and the mail store, binds every configured
 * listener, handles SIGHUP (reload) and SIGINT/SIGTERM (graceful stop).
 */
import { deepFreeze, loadConfig, MAIL_PORT_KEYS } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { CidrSet } from "../config/cidr.ts";
import { log, logAlways, setupLogging } from "../log.ts";
import { Listener } from "../net/listener.ts";
import { loadTlsContext } from "../net/tls.ts";
import { AdminPassword } from "../directory/adminpass.ts";
import { Directory } from "../directory/directory.ts";
import { MailStore } from "../store/mailstore.ts";
import { type ReloadResult, ServerContext } from "./context.ts";
import { SERVICES } from "./services.ts";
import "./services_all.ts";
import { startBackground } from "./background.ts";

/** Keys that RELOAD cannot apply to a running daemon (SPEC §4 RELOAD). */
const RESTART_KEYS: (keyof Config)[] = [
  "DirBase",
  "HashDirs",
  "ListenIP",
  "AdminIP",
  ...MAIL_PORT_KEYS,
  "PortAdmin",
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
  await Deno.mkdir(config.DirBase, { recursive: true, mode: 0o750 });
  const directory = Directory.open(config.DirBase);
  const store = new MailStore(config.DirBase, config.HashDirs);
  const adminPassword = new AdminPassword(config.DirBase);
  const generated = await adminPassword.init(Deno.env.get("EXTREMAIL_ADMIN_PASSWORD"));
  if (generated) {
    logAlways("server", `admin password (generated, shown once): ${generated}`);
  }
  const tlsContext = await loadTlsContext(config.TLSCert, config.TLSKey);
  const ctx = new ServerContext({
    config,
    configSource: source,
    directory,
    store,
    adminPassword,
    tlsContext,
  });
  logger.info(
    `eXtremail ${ctx.version} starting; data in ${config.DirBase}; configuration ${
      source ?? "embedded development defaults"
    }`,
  );

  const listeners: Listener[] = [];
  const ports = new Map<string, number>();
  try {
    for (const spec of SERVICES) {
      const port = config[spec.portKey] as number;
      // Port 0 disables a listener (SPEC §3); implicit TLS needs a certificate.
      if (port === 0 || (spec.implicitTls && !ctx.tlsContext)) continue;
      const listener = new Listener({
        family: spec.family,
        ips: config[spec.ipsKey],
        port,
        implicitTls: spec.implicitTls ? () => ctx.tlsContext : undefined,
        limits: () => ({
          maxConnections: ctx.config.MaxConnections,
          maxPerIp: ctx.config.MaxConnectionsPerIP,
        }),
        refusal: typeof spec.refusal === "string"
          ? spec.refusal
          : ((refuse) => () => refuse(ctx))(spec.refusal),
        onConnection: (conn) => spec.handle(ctx, conn, spec),
        onError: (message) => logger.error(`${spec.name}: ${message}`),
      }, ctx.connections);
      await listener.start();
      listeners.push(listener);
      ports.set(spec.name, listener.port);
      logger.info(
        `${spec.name} listening on ${config[spec.ipsKey].join(",")} port ${listener.port}`,
      );
    }
  } catch (e) {
    await Promise.all(listeners.map((l) => l.close()));
    directory.close();
    throw e;
  }
  const background = startBackground(ctx);

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping: Promise<void> | null = null;

  const stop = (): Promise<void> => {
    if (stopping) return stopping;
    ctx.stopping = true;
    stopping = (async () => {
      logger.info("shutting down: closing listeners");
      await Promise.all(listeners.map((l) => l.close()));
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
      await background.stop();
      if (ctx.queue) await ctx.queue.stop();
      // Folder indexes are written and marked clean (their HIGHESTMODSEQ stays exact).
      await store.close().catch((e) => logger.warn(`closing folder indexes: ${e}`));
      directory.close();
      logger.info("stopped");
      resolveStopped();
    })();
    return stopping;
  };
  ctx.requestStop = () => void stop();
  ctx.reload = () => reload(ctx);
  logger.info("ready");
  return { ctx, ports, stop, stopped };
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
  log("server").info(
    `configuration reloaded from ${ctx.configSource}; applied: ${applied.join(", ") || "nothing"}${
      needRestart.length ? `; restart needed for: ${needRestart.join(", ")}` : ""
    }`,
  );
  return { applied, needRestart };
}
