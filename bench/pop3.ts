/**
 * POP3 retrieval benchmark: K concurrent sessions each retrieve every message of a
 * maildrop with RETR; the last line printed is the throughput in messages/s and MB/s.
 *
 *   deno task bench pop3 [--sessions=4] [--messages=2000] [--size=4096]
 *                        [--client=deno|python] [--pipeline=1]
 *   deno run -A bench/pop3.ts --host=H --port=P --user=a@d,b@d --pass=secret
 *
 * Without --port it seeds K users with N messages each straight into a fresh DirBase
 * through the Directory and MailStore APIs (no running server needed), then starts the
 * daemon on it. POP3 locks a maildrop per session (RFC 1939 §8), so each session gets
 * its own user. `--client=python` drives each session with a python3 poplib process
 * (a Python client sharing the CPU, as in the Dovecot comparison); the Deno client can
 * pipeline (`--pipeline=W` RETRs in flight). `--delete` also DELEtes what was read.
 * The shared load generator works too, one mailbox per session:
 * `python3 ../shared/bench/pop3_retr.py --port P --sessions 4 --user 'reader%d@domain'`.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { devDefaults } from "../src/config/load.ts";
import { Directory } from "../src/directory/directory.ts";
import { MailStore } from "../src/store/mailstore.ts";

export interface SeedUser {
  name: string;
  domain: string;
  password: string;
  /** A second login name (SPEC §5 account mapping). */
  map?: string;
  messages: readonly Uint8Array[];
}

/**
 * Creates the users (and their domains) and delivers their messages into `dataDir`
 * (the server's DirBase) while no server runs on it. Used by the POP3 tests too.
 */
export async function seedUsers(
  dataDir: string,
  users: readonly SeedUser[],
  hashDirs = devDefaults().HashDirs,
): Promise<void> {
  const directory = Directory.open(dataDir);
  const store = new MailStore(dataDir, hashDirs);
  try {
    const roots: string[] = [];
    for (const u of users) {
      if (!directory.isLocalDomain(u.domain)) await directory.addDomain(u.domain);
      let user = directory.getUser(u.name, u.domain) ??
        await directory.addUser({ name: u.name, domain: u.domain, password: u.password });
      if (u.map) user = await directory.modUser(u.name, u.domain, { map: u.map });
      const root = store.userRoot(user);
      await store.ensureMailbox(root);
      roots.push(root);
    }
    await Promise.all(users.map((u, i) => deliverAll(store, roots[i], u.messages)));
  } finally {
    directory.close();
  }
}

/** Delivers in order of the list (so message n is the n-th), many syncs in flight. */
export async function deliverAll(
  store: MailStore,
  root: string,
  messages: readonly Uint8Array[],
): Promise<void> {
  // Base names sort by time and sequence, so one at a time keeps the order; batches of
  // parallel deliveries would not. Order matters to tests, not to the benchmark.
  for (const m of messages) await store.deliver([{ root }], m);
}

/** A test message of about `size` bytes with CRLF lines, some beginning with ".". */
export function makeMessage(index: number, size = 4096): Uint8Array {
  const head = [
    `From: sender${index}@bench.example`,
    `To: reader@bench.example`,
    `Subject: message ${index}`,
    `Message-ID: <${index}.${Date.now()}@bench.example>`,
    `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`,
    "",
  ].join("\r\n") + "\r\n";
  let body = "";
  for (let line = 0; head.length + body.length < size - 80; line++) {
    body += line % 10 === 5
      ? ".a line that must be dot-stuffed\r\n"
      : `line ${line} of message ${index}: the quick brown fox jumps over the lazy dog\r\n`;
  }
  return new TextEncoder().encode(head + body + "-- \r\nend\r\n");
}

interface SessionTarget {
  host: string;
  port: number;
  user: string;
  pass: string;
}

interface RunResult {
  start: number;
  end: number;
  messages: number;
  bytes: number;
}

const CRLF_DOT_CRLF = new Uint8Array([13, 10, 46, 13, 10]);

/** A minimal POP3 client that reads replies with one scan per chunk. */
class BenchClient {
  #conn: Deno.Conn;
  #buf = new Uint8Array(1 << 20);
  #len = 0;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #fill(): Promise<void> {
    if (this.#len === this.#buf.length) {
      const bigger = new Uint8Array(this.#buf.length * 2);
      bigger.set(this.#buf.subarray(0, this.#len));
      this.#buf = bigger;
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#len));
    if (n === null) throw new Error("server closed the connection");
    this.#len += n;
  }

  #consume(n: number): void {
    this.#buf.copyWithin(0, n, this.#len);
    this.#len -= n;
  }

  /** One status line; throws on -ERR. */
  async status(): Promise<string> {
    for (;;) {
      const lf = this.#buf.subarray(0, this.#len).indexOf(10);
      if (lf >= 0) {
        const line = new TextDecoder().decode(this.#buf.subarray(0, lf + 1)).trimEnd();
        this.#consume(lf + 1);
        if (!line.startsWith("+OK")) throw new Error(`server said: ${line}`);
        return line;
      }
      await this.#fill();
    }
  }

  /** A multi-line reply; returns the size of its body in bytes (as sent, stuffed). */
  async multiline(): Promise<number> {
    await this.status();
    let from = 0;
    for (;;) {
      const view = this.#buf.subarray(0, this.#len);
      if (view.length >= 3 && view[0] === 46 && view[1] === 13 && view[2] === 10) {
        this.#consume(3); // empty body
        return 0;
      }
      const end = indexOfSeq(view, CRLF_DOT_CRLF, from);
      if (end >= 0) {
        this.#consume(end + 5);
        return end + 2;
      }
      from = Math.max(0, this.#len - 4);
      await this.#fill();
    }
  }

  async send(text: string): Promise<void> {
    const bytes = new TextEncoder().encode(text);
    for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
  }

  close(): void {
    this.#conn.close();
  }
}

function indexOfSeq(hay: Uint8Array, needle: Uint8Array, from: number): number {
  for (let i = hay.indexOf(needle[0], from); i >= 0; i = hay.indexOf(needle[0], i + 1)) {
    if (i + needle.length > hay.length) return -1;
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

async function runDenoSession(
  t: SessionTarget,
  window: number,
  del: boolean,
  ready: () => Promise<void>,
): Promise<RunResult> {
  const c = new BenchClient(await Deno.connect({ hostname: t.host, port: t.port }));
  try {
    await c.status();
    await c.send(`USER ${t.user}\r\n`);
    await c.status();
    await c.send(`PASS ${t.pass}\r\n`);
    await c.status();
    await c.send("STAT\r\n");
    const count = Number((await c.status()).split(" ")[1]);
    await ready();
    const start = performance.now();
    let sent = 0, bytes = 0;
    const sendUpTo = async (limit: number) => {
      let batch = "";
      while (sent < limit && sent < count) {
        batch += `RETR ${++sent}\r\n${del ? `DELE ${sent}\r\n` : ""}`;
      }
      if (batch) await c.send(batch);
    };
    await sendUpTo(window);
    for (let received = 0; received < count; received++) {
      bytes += await c.multiline();
      if (del) await c.status();
      await sendUpTo(received + 1 + window);
    }
    const end = performance.now();
    await c.send("QUIT\r\n");
    await c.status();
    return { start, end, messages: count, bytes };
  } finally {
    c.close();
  }
}

const PYTHON_CLIENT = `
import poplib, sys, time
host, port, user, pw, delete = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == "1"
p = poplib.POP3(host, port)
p.user(user); p.pass_(pw)
count = p.stat()[0]
sys.stdout.write("ready\\n"); sys.stdout.flush(); sys.stdin.readline()
start = time.time(); total = 0
for i in range(1, count + 1):
    resp, lines, octets = p.retr(i)
    total += octets
    if delete: p.dele(i)
end = time.time()
p.quit()
print(start, end, count, total)
`;

async function runPythonSession(
  t: SessionTarget,
  del: boolean,
  ready: () => Promise<void>,
): Promise<RunResult> {
  const child = new Deno.Command("python3", {
    args: ["-c", PYTHON_CLIENT, t.host, String(t.port), t.user, t.pass, del ? "1" : "0"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`python client failed before login: ${out}`);
    out += value;
  }
  await ready();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("go\n"));
  await writer.close();
  out = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  if (!(await child.status).success) throw new Error("python client failed");
  const [start, end, count, total] = out.trim().split(/\s+/).map(Number);
  return { start: start * 1000, end: end * 1000, messages: count, bytes: total };
}

/** Resolves for everyone once all K sessions are logged in, so timing starts together. */
function barrier(k: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((r) => (release = r));
  return () => {
    if (++arrived === k) release();
    return all;
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      sessions: { type: "string", default: "4" },
      messages: { type: "string", default: "2000" },
      size: { type: "string", default: "4096" },
      client: { type: "string", default: "deno" },
      pipeline: { type: "string", default: "1" },
      delete: { type: "boolean", default: false },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      user: { type: "string" },
      pass: { type: "string" },
    },
  });
  const k = Number(values.sessions), n = Number(values.messages), size = Number(values.size);
  const window = Math.max(1, Number(values.pipeline));
  let targets: SessionTarget[];
  let stop: () => Promise<unknown> = () => Promise.resolve();
  if (values.port) {
    const users = (values.user ?? "").split(",").filter(Boolean);
    if (users.length < k) {
      throw new Error(
        `--user needs ${k} comma-separated logins: each session locks its own maildrop`,
      );
    }
    targets = users.slice(0, k).map((user) => ({
      host: values.host!,
      port: Number(values.port),
      user,
      pass: values.pass ?? "",
    }));
  } else {
    const { startTestServer } = await import("../tests/helpers/server.ts");
    const dirBase = await Deno.makeTempDir({ prefix: "extremail-bench-pop3-" });
    const seedStart = performance.now();
    const messages = Array.from({ length: n }, (_, i) => makeMessage(i + 1, size));
    await seedUsers(
      join(dirBase, "data"),
      Array.from(
        { length: k },
        (_, i) => ({
          name: `reader${i + 1}`,
          domain: "bench.example",
          password: "bench-secret",
          messages,
        }),
      ),
    );
    console.log(
      `seeded ${k} x ${n} messages of ~${size} bytes in ${
        ((performance.now() - seedStart) / 1000).toFixed(1)
      } s`,
    );
    const srv = await startTestServer({ dirBase, config: { LogLevel: "info" } });
    stop = async () => {
      await srv.stop();
      await Deno.remove(dirBase, { recursive: true });
    };
    targets = Array.from(
      { length: k },
      (_, i) => ({
        host: "127.0.0.1",
        port: srv.ports.pop3,
        user: `reader${i + 1}@bench.example`,
        pass: "bench-secret",
      }),
    );
  }
  try {
    const ready = barrier(k);
    const results = await Promise.all(
      targets.map((t) =>
        values.client === "python"
          ? runPythonSession(t, values.delete!, ready)
          : runDenoSession(t, window, values.delete!, ready)
      ),
    );
    const start = Math.min(...results.map((r) => r.start));
    const end = Math.max(...results.map((r) => r.end));
    const seconds = (end - start) / 1000;
    const msgs = results.reduce((s, r) => s + r.messages, 0);
    const bytes = results.reduce((s, r) => s + r.bytes, 0);
    console.log(
      `pop3 (${values.client} client, ${k} sessions x ${msgs / k} messages, pipeline ${
        values.client === "python" ? 1 : window
      }): ` +
        `${Math.round(msgs / seconds)} msg/s, ${(bytes / seconds / 1e6).toFixed(1)} MB/s`,
    );
  } finally {
    await stop();
  }
}

if (import.meta.main) await main();
