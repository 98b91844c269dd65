/**
 * SMTP ingest benchmark: N concurrent clients deliver M messages of S bytes to local
 * users over PIPELINING (MAIL, RCPT, DATA in one batch, then the content). Every 250
 * means the message is fsync'd in the recipient's Maildir (SPEC §7), so this is
 * durable throughput. It builds its own DirBase, users and configuration, runs the
 * real daemon (main.ts serve) as a child process and prints messages/second as its
 * last line.
 *
 *   deno run --allow-all bench/smtp.ts [--connections 4] [--messages 4000] [--size 4096]
 *                                       [--users 8] [--threads 3] [--keep]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { devDefaults } from "../src/config/load.ts";
import type { Config } from "../src/config/schema.ts";
import { Directory } from "../src/directory/directory.ts";
import { MailStore } from "../src/store/mailstore.ts";
import { cpuMs, spawnDaemon, stopDaemon, waitForPort } from "./_daemon.ts";

const DOMAIN = "bench.example";
const enc = new TextEncoder();
const dec = new TextDecoder();

const { values } = parseArgs({
  args: Deno.args,
  options: {
    connections: { type: "string", default: "4" },
    messages: { type: "string", default: "4000" },
    size: { type: "string", default: "4096" },
    users: { type: "string", default: "8" },
    threads: { type: "string", default: "3" },
    keep: { type: "boolean", default: false },
  },
});
const connections = Number(values.connections);
const messages = Number(values.messages);
const size = Number(values.size);
const userCount = Number(values.users);

/** A message of `bytes` octets (at least its headers) with 76-character lines (CRLF). */
function makeMessage(bytes: number, n: number): Uint8Array {
  let text = `From: bench@client.example\r\nTo: user@${DOMAIN}\r\nSubject: bench ${n}\r\n` +
    `Message-ID: <bench-${n}-${crypto.randomUUID()}@client.example>\r\n\r\n`;
  const line = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd\r\n";
  while (text.length + line.length <= bytes) text += line;
  if (bytes - text.length >= 2) text += "x".repeat(bytes - text.length - 2) + "\r\n";
  return enc.encode(text);
}

/** Minimal SMTP client side: counts complete replies, fails on unexpected codes. */
class Client {
  #conn: Deno.Conn;
  #buf = "";
  #chunk = new Uint8Array(65536);
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }
  static async open(port: number): Promise<Client> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    return new Client(conn);
  }
  async write(data: Uint8Array | string): Promise<void> {
    let bytes = typeof data === "string" ? enc.encode(data) : data;
    while (bytes.length) bytes = bytes.subarray(await this.#conn.write(bytes));
  }
  /** Reads `n` replies; returns their final lines. */
  async replies(n: number): Promise<string[]> {
    const out: string[] = [];
    while (out.length < n) {
      const i = this.#buf.indexOf("\r\n");
      if (i < 0) {
        const k = await this.#conn.read(this.#chunk);
        if (k === null) throw new Error(`connection closed; got ${out.join(" | ")}`);
        this.#buf += dec.decode(this.#chunk.subarray(0, k));
        continue;
      }
      const line = this.#buf.slice(0, i);
      this.#buf = this.#buf.slice(i + 2);
      if (line[3] !== "-") out.push(line);
    }
    return out;
  }
  close(): void {
    this.#conn.close();
  }
}

function expect(lines: string[], codes: string[]): void {
  for (let i = 0; i < codes.length; i++) {
    if (!lines[i].startsWith(codes[i])) throw new Error(`expected ${codes[i]}, got ${lines[i]}`);
  }
}

async function main(): Promise<void> {
  const base = await Deno.makeTempDir({ prefix: "extremail-bench-" });
  const data = join(base, "data");
  await Deno.mkdir(data, { recursive: true });
  const dir = Directory.open(data);
  const store = new MailStore(data, 2);
  const roots: string[] = [];
  await dir.addDomain(DOMAIN);
  for (let i = 0; i < userCount; i++) {
    const user = await dir.addUser({ name: `user${i}`, domain: DOMAIN, password: "bench-pass" });
    roots.push(store.userRoot(user));
    await store.ensureMailbox(roots[i]);
  }
  dir.close();

  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const config: Config = {
    ...devDefaults(),
    DirBase: data,
    HostName: "bench.test",
    PortSMTP: port,
    PortSubmission: 0,
    PortPOP3: 0,
    PortIMAP: 0,
    PortAdmin: 0,
    MaxConnectionsPerIP: Math.max(20, connections + 1),
    ThreadsSMTP: Number(values.threads),
    LogLevel: "info",
    LogFile: join(base, "extremail.log"),
  };
  const child = await spawnDaemon(base, "bench", config, "bench-admin");

  try {
    await waitForPort(port, 30_000);
    const template = makeMessage(size, 0);
    const perConn = Array.from(
      { length: connections },
      (_, i) => Math.floor(messages / connections) + (i < messages % connections ? 1 : 0),
    );
    const clients = await Promise.all(perConn.map(async () => {
      const c = await Client.open(port);
      expect(await c.replies(1), ["220"]);
      await c.write("EHLO bench.client.example\r\n");
      expect(await c.replies(1), ["250"]);
      return c;
    }));
    let sent = 0;
    const cpuBefore = cpuMs(child.pid) / 1000;
    const started = performance.now();
    await Promise.all(clients.map(async (c, ci) => {
      for (let m = 0; m < perConn[ci]; m++) {
        const to = `user${(ci + m * connections) % userCount}@${DOMAIN}`;
        await c.write(
          `MAIL FROM:<bench@client.example> SIZE=${template.length}\r\n` +
            `RCPT TO:<${to}>\r\nDATA\r\n`,
        );
        expect(await c.replies(3), ["250", "250", "354"]);
        await c.write(template);
        await c.write(".\r\n");
        expect(await c.replies(1), ["250"]);
        sent++;
      }
      await c.write("QUIT\r\n");
      await c.replies(1);
      c.close();
    }));
    const seconds = (performance.now() - started) / 1000;
    const serverCpu = cpuMs(child.pid) / 1000 - cpuBefore;
    let stored = 0;
    for (const root of roots) {
      for await (const _ of Deno.readDir(join(root, "new"))) stored++;
    }
    if (stored !== sent) throw new Error(`${sent} messages accepted but ${stored} stored`);
    console.log(
      `connections=${connections} messages=${sent} size=${template.length} users=${userCount} ` +
        `seconds=${seconds.toFixed(2)} stored=${stored} server-cpu-per-message=${
          (serverCpu / sent * 1e6).toFixed(0)
        }us`,
    );
    console.log(`${(sent / seconds).toFixed(1)} msg/s`);
  } finally {
    await stopDaemon(child);
    if (!values.keep) await Deno.remove(base, { recursive: true });
  }
}

await main();
