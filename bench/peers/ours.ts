/**
 * Our daemon for bench:peers: a fresh DirBase with the peers' 200 test users created
 * straight through the Directory/MailStore APIs, a generated configuration on free
 * loopback ports, start/stop of `deno run -A main.ts serve --conf <toml>`, and direct
 * seeding of mailboxes (the fallback when seeding over IMAP APPEND does not work).
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatConfig } from "../../src/config/format.ts";
import { devDefaults } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { Directory } from "../../src/directory/directory.ts";
import { MailStore } from "../../src/store/mailstore.ts";
import { freePorts } from "../../tests/helpers/server.ts";
import { portOpen, sleep } from "./proc.ts";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const DOMAIN = "test.example";

export interface OurPorts {
  smtp: number;
  pop3: number;
  imap: number;
  admin: number;
}

export class OurServer {
  readonly ports: OurPorts;
  readonly config: Config;
  #child: Deno.ChildProcess | null = null;
  #exited: Promise<Deno.CommandStatus> | null = null;
  #log = "";
  #gone = false;

  private constructor(readonly tmp: string, readonly confPath: string, config: Config) {
    this.config = config;
    this.ports = {
      smtp: config.PortSMTP,
      pop3: config.PortPOP3,
      imap: config.PortIMAP,
      admin: config.PortAdmin,
    };
  }

  get dirBase(): string {
    return this.config.DirBase;
  }

  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Started and not exited since. */
  get running(): boolean {
    return this.#child !== null && !this.#gone;
  }

  /** The last part of what the daemon wrote to stdout/stderr. */
  logTail(lines = 10): string {
    return this.#log.trimEnd().split("\n").slice(-lines).join("\n");
  }

  /**
   * Creates a new directory under `parent`, the configuration and `testuser1..users@test.example`
   * (password `password`) with their mailboxes. `maxConnections` covers idle sessions.
   */
  static async create(
    opts: { users: number; password: string; maxConnections: number; parent: string },
  ): Promise<OurServer> {
    const tmp = await Deno.makeTempDir({ dir: opts.parent, prefix: "ours-" });
    const [smtp, pop3, imap, admin] = freePorts(4);
    const config: Config = {
      ...devDefaults(),
      DirBase: join(tmp, "data"),
      HostName: "bench.extremail.test",
      // As shipped (conf/extremail.toml) and as Postfix logs here (maillog_file): every
      // message's lines written to a file.
      LogLevel: "info",
      // The SPEC default; BENCH_THREADS_SMTP=N measures another delivery-worker count.
      ThreadsSMTP: Number(Deno.env.get("BENCH_THREADS_SMTP") ?? 3),
      LogFile: join(tmp, "extremail.log"),
      PortSMTP: smtp,
      PortSubmission: 0,
      PortSMTPS: 0,
      PortPOP3: pop3,
      PortPOP3S: 0,
      PortIMAP: imap,
      PortIMAPS: 0,
      PortAdmin: admin,
      MaxConnections: opts.maxConnections,
      MaxConnectionsPerIP: opts.maxConnections,
    };
    const confPath = join(tmp, "extremail.toml");
    await Deno.writeTextFile(confPath, formatConfig(config, { showSecrets: true }));
    const server = new OurServer(tmp, confPath, config);
    const directory = Directory.open(config.DirBase);
    try {
      const store = new MailStore(config.DirBase, config.HashDirs);
      if (!directory.isLocalDomain(DOMAIN)) await directory.addDomain(DOMAIN);
      const todo = Array.from({ length: opts.users }, (_, i) => `testuser${i + 1}`);
      // scrypt runs on the thread pool: a few at a time.
      const worker = async () => {
        for (let name = todo.shift(); name; name = todo.shift()) {
          const user = directory.getUser(name, DOMAIN) ??
            await directory.addUser({ name, domain: DOMAIN, password: opts.password });
          await store.ensureMailbox(store.userRoot(user));
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    } finally {
      directory.close();
    }
    return server;
  }

  /** Starts the daemon and waits until its mail ports accept connections. */
  async start(timeoutMs = 60_000): Promise<void> {
    this.#log = "";
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(REPO, "main.ts"), "serve", "--conf", this.confPath],
      cwd: REPO,
      env: {
        EXTREMAIL_ADMIN_PASSWORD: crypto.randomUUID(),
        NO_COLOR: "1",
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#exited = child.status;
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      const d = new TextDecoder();
      for await (const chunk of stream) {
        this.#log = (this.#log + d.decode(chunk, { stream: true })).slice(-16_000);
      }
    };
    pump(child.stdout);
    pump(child.stderr);
    this.#gone = false;
    this.#exited.then(() => this.#gone = true);
    const deadline = Date.now() + timeoutMs;
    const mail = [this.ports.smtp, this.ports.pop3, this.ports.imap];
    let firstOpen = 0;
    for (;;) {
      if (this.#gone) {
        this.#child = null;
        throw new Error(`our server exited during start-up:\n${this.logTail()}`);
      }
      const open = await Promise.all(mail.map(portOpen));
      if (open.every(Boolean)) return;
      // A service not built yet never listens: once one port is up, give the rest 5 s.
      if (open.some(Boolean)) firstOpen ||= Date.now();
      if (firstOpen && Date.now() - firstOpen > 5_000) return;
      if (Date.now() > deadline) {
        throw new Error(`our server did not open its ports within ${timeoutMs / 1000} s`);
      }
      await sleep(200);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; safe to call when not running. */
  async stop(graceMs = 15_000): Promise<void> {
    const child = this.#child;
    if (!child || !this.#exited) return;
    this.#child = null;
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
        resolve();
      }, graceMs);
    });
    await Promise.race([this.#exited, killed]);
    await this.#exited;
    clearTimeout(timer);
  }

  /**
   * Replaces the INBOX of each user with `messages` delivered through MailStore.deliver
   * (one at a time, so message n is the n-th), flagged like an APPEND without flags.
   * Only while the daemon is stopped.
   */
  async seedDirect(users: string[], messages: readonly Uint8Array[]): Promise<void> {
    if (this.#child) throw new Error("seedDirect needs the server stopped");
    const directory = Directory.open(this.dirBase);
    try {
      const store = new MailStore(this.dirBase, this.config.HashDirs);
      await Promise.all(users.map(async (name) => {
        const user = directory.getUser(name, DOMAIN);
        if (!user) throw new Error(`no user ${name}@${DOMAIN}`);
        const root = store.userRoot(user);
        await Deno.remove(root, { recursive: true }).catch(() => {});
        await store.ensureMailbox(root);
        for (const m of messages) await store.deliver([{ root }], m, { flags: "" });
      }));
    } finally {
      directory.close();
    }
  }

  async removeFiles(): Promise<void> {
    await Deno.remove(this.tmp, { recursive: true }).catch(() => {});
  }
}

/** Parses dump_messages.py output: "<len>\n<bytes>" repeated. */
export function parseDump(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < data.length) {
    const nl = data.indexOf(10, i);
    if (nl < 0) throw new Error("truncated message dump");
    const len = Number(new TextDecoder().decode(data.subarray(i, nl)));
    if (!Number.isInteger(len) || nl + 1 + len > data.length) {
      throw new Error("malformed message dump");
    }
    out.push(data.slice(nl + 1, nl + 1 + len));
    i = nl + 1 + len;
  }
  return out;
}
