/**
 * Starts the real daemon (`deno run main.ts serve`) as a child process on free
 * loopback ports with its own DirBase, for integration tests. Always stop it:
 *
 *   const srv = await startTestServer();
 *   try { ... srv.ports.smtp ... } finally { await srv.stop(); }
 */
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { formatConfig } from "../../src/config/format.ts";
import { devDefaults } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";

export const REPO = fromFileUrl(new URL("../../", import.meta.url));
export const FIXTURES = join(REPO, "tests", "fixtures");
export const TEST_CERT = join(FIXTURES, "test-cert.pem");
export const TEST_KEY = join(FIXTURES, "test-key.pem");
export const ADMIN_PASSWORD = "test-admin-secret";

/** A free TCP port on 127.0.0.1 (bind port 0, read it, release it). */
export function freePort(): number {
  return freePorts(1)[0];
}

/**
 * `count` distinct free ports. Every probe listener is held until all are chosen: a
 * released port can come straight back from the next bind, and two services given the
 * same number would not start.
 */
export function freePorts(count: number): number[] {
  const held: Deno.Listener[] = [];
  const [low, high] = listenRange() ?? [0, 0];
  // Below the kernel's ephemeral range: a port released here and bound by the daemon a
  // moment later is never taken meanwhile by some client's outgoing connection (which
  // port 0 would risk, since clients draw from that range too).
  for (let tries = 0; high > low && held.length < count && tries < 1000; tries++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (!claim(port)) continue;
    try {
      held.push(Deno.listen({ hostname: "127.0.0.1", port }));
    } catch { /* taken: another */ }
  }
  while (held.length < count) held.push(Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  const ports = held.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of held) l.close();
  return ports;
}

/** Where test files claim the ports they chose (one empty file per port). */
const CLAIMS = "/tmp/extremail-test-ports";
/** A claim older than this is left over from an earlier run. */
const CLAIM_MS = 15 * 60_000;

/**
 * Claims `port` for this test file: false when another file chose it recently. Test files
 * run in parallel, and a port probed free here is bound by the daemon only a second
 * later (its start-up), long enough for another file to probe the same port free too:
 * one of the two daemons then failed with EADDRINUSE. The claim is an exclusive create,
 * atomic across processes.
 */
function claim(port: number): boolean {
  const path = `${CLAIMS}/${port}`;
  try {
    Deno.mkdirSync(CLAIMS, { recursive: true });
    Deno.writeFileSync(path, new Uint8Array(), { createNew: true });
    return true;
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) return true; // no claims here: probe alone
    try {
      const mtime = Deno.statSync(path).mtime?.getTime() ?? 0;
      if (Date.now() - mtime < CLAIM_MS) return false;
      Deno.writeFileSync(path, new Uint8Array()); // stale: ours now (its mtime renewed)
      return true;
    } catch {
      return false;
    }
  }
}

/** Ports for test servers: [10000, start of the ephemeral range), or null. */
function listenRange(): [number, number] | null {
  try {
    const text = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range");
    const ephemeralLow = Number(text.trim().split(/\s+/)[0]);
    if (ephemeralLow > 12_000) return [10_000, ephemeralLow];
  } catch { /* not Linux */ }
  return null;
}

export interface TestServer {
  dirBase: string;
  confPath: string;
  config: Config;
  /**
   * Ports by service name: smtp, submission, smtps, pop3, pop3s, imap, imaps, admin, and
   * metrics (with `metrics: true`).
   */
  ports: Record<string, number>;
  /** Everything the daemon logged so far. */
  logs(): string;
  /** Process id of the running daemon (benchmarks read its /proc status). */
  pid(): number;
  /** Waits until the log contains `pattern` (or throws after `ms`). */
  waitForLog(pattern: RegExp, ms?: number): Promise<string>;
  /** SIGTERM and wait; returns the exit code. */
  stop(): Promise<number>;
  /** SIGKILL (crash tests) and wait. */
  kill(): Promise<void>;
  /** Waits for the daemon to exit on its own (SMTPD STOP); returns the exit code. */
  waitExit(ms?: number): Promise<number>;
  /** Start the same configuration again (after stop or kill). */
  restart(): Promise<void>;
  /** Rewrites the configuration file with overrides (for RELOAD tests). */
  rewriteConfig(overrides: Partial<Config>): Promise<void>;
}

export interface TestServerOptions {
  config?: Partial<Config>;
  /** Enable TLS with the test certificate (STARTTLS and implicit-TLS ports). */
  tls?: boolean;
  /** Start the metrics listener (/metrics, /healthz) on a free port: `ports.metrics`. */
  metrics?: boolean;
  /** An existing DirBase (restart tests); a fresh temp dir otherwise. */
  dirBase?: string;
  env?: Record<string, string>;
  /** Extra `deno run` flags for the daemon (benchmarks: `--cpu-prof`). */
  denoArgs?: string[];
}

const PORT_KEYS: [string, keyof Config][] = [
  ["smtp", "PortSMTP"],
  ["submission", "PortSubmission"],
  ["pop3", "PortPOP3"],
  ["imap", "PortIMAP"],
  ["admin", "PortAdmin"],
  ["smtps", "PortSMTPS"],
  ["pop3s", "PortPOP3S"],
  ["imaps", "PortIMAPS"],
  ["metrics", "PortMetrics"],
];

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const dirBase = opts.dirBase ?? await Deno.makeTempDir({ prefix: "extremail-test-" });
  const confPath = join(dirBase, "test.toml");
  const config: Config = {
    ...devDefaults(),
    DirBase: join(dirBase, "data"),
    HostName: "mail.test.example",
    LogLevel: "debug",
    // Never ask the real resolver from a test: nothing answers on the discard port (the first
    // two look-ups wait out their 6 s, then src/dns/health.ts fails the others at once).
    DNSServer: ["127.0.0.1:9"],
  };
  const wanted = PORT_KEYS.filter(([, key]) =>
    key === "PortMetrics"
      ? opts.metrics
      : opts.tls || !(key === "PortSMTPS" || key === "PortPOP3S" || key === "PortIMAPS")
  );
  const chosen = freePorts(wanted.length);
  for (const [, key] of PORT_KEYS) (config as unknown as Record<string, number>)[key] = 0;
  wanted.forEach(([, key], i) => (config as unknown as Record<string, number>)[key] = chosen[i]);
  if (opts.tls) Object.assign(config, { TLSCert: TEST_CERT, TLSKey: TEST_KEY });
  Object.assign(config, opts.config ?? {});
  await Deno.writeTextFile(confPath, formatConfig(config, { showSecrets: true }));
  const ports: Record<string, number> = {};
  for (const [name, key] of PORT_KEYS) {
    const p = config[key] as number;
    if (p) ports[name] = p;
  }

  let child: Deno.ChildProcess;
  let output = "";
  let exited: Promise<Deno.CommandStatus>;
  const waiters = new Set<() => void>();

  const spawn = async () => {
    output = "";
    child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        ...(opts.denoArgs ?? []),
        join(REPO, "main.ts"),
        "serve",
        "--conf",
        confPath,
      ],
      env: { EXTREMAIL_ADMIN_PASSWORD: ADMIN_PASSWORD, NO_COLOR: "1", ...opts.env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    exited = child.status;
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        output += decoder.decode(chunk, { stream: true });
        for (const w of [...waiters]) w();
      }
    };
    pump(child.stdout);
    pump(child.stderr);
    // The text line, or the JSON line with LogFormat = "json".
    await server.waitForLog(/ INFO server ready|"service":"server"[^\n]*"message":"ready"/, 30_000);
  };

  const server: TestServer = {
    dirBase,
    confPath,
    config,
    ports,
    logs: () => output,
    pid: () => child.pid,
    async waitForLog(pattern, ms = 10_000) {
      const deadline = Date.now() + ms;
      while (true) {
        const m = pattern.exec(output);
        if (m) return m[0];
        if (Date.now() > deadline) {
          throw new Error(
            `timed out waiting for ${pattern} in server log:\n${output.slice(-4000)}`,
          );
        }
        await new Promise<void>((resolve) => {
          const done = () => {
            waiters.delete(done);
            clearTimeout(t);
            resolve();
          };
          const t = setTimeout(done, 100);
          waiters.add(done);
        });
      }
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const status = await exited;
      return status.code;
    },
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await exited;
    },
    async waitExit(ms = 15_000) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`server did not exit within ${ms} ms`)), ms);
      });
      try {
        return (await Promise.race([exited, timeout])).code;
      } finally {
        clearTimeout(timer);
      }
    },
    async restart() {
      await spawn();
    },
    async rewriteConfig(overrides) {
      Object.assign(config, overrides);
      await Deno.writeTextFile(confPath, formatConfig(config, { showSecrets: true }));
    },
  };
  await spawn();
  return server;
}

/** Runs a python3 snippet (smtplib, poplib, imaplib clients); returns stdout or throws. */
export async function python(code: string, args: string[] = []): Promise<string> {
  const out = await new Deno.Command("python3", {
    args: ["-c", code, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `python3 failed (${out.code}):\n${new TextDecoder().decode(out.stderr)}\n${stdout}`,
    );
  }
  return stdout;
}
