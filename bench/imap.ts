/**
 * IMAP benchmark on a 10,000-message mailbox: SELECT rate, `FETCH 1:* (FLAGS
 * RFC822.SIZE ENVELOPE)` cold (parsing every message) and warm (from the structure
 * cache), then the webmail pattern of ../shared/bench/imap_fetch.py (K sessions: LOGIN,
 * SELECT, FETCH 1:* meta, one `FETCH n BODY.PEEK[]` per message, SEARCH HEADER,
 * LOGOUT; every tagged command is one op).
 *
 * Then a big mailbox (--big, 100,000 messages written straight into the Maildir's new/):
 * the first index build (first STATUS), the first SELECT (claims every \Recent), SELECT
 * and flag re-sync (`UID FETCH 1:* (FLAGS)`) once the index exists, resident memory per
 * session (--mem-sessions sessions SELECT it; the daemon's VmRSS before and after), and
 * SELECT after a restart (the index read from disk). The last line is the headline:
 *
 *   imap: <ops/s> ops/s (imap_fetch, K sessions, N messages); SELECT <n>/s; FETCH 1:* <ms> ms;
 *     SELECT <big> <ms> ms
 *
 *   deno task bench imap [--messages=10000] [--sessions=4] [--rounds=1] [--client=auto|deno|python]
 *     [--big=100000] [--mem-sessions=50]
 *
 * With --messages of 50,000 or more, only the big-mailbox figures of issue 17 run, on a
 * mailbox of that many messages, ours and a private Dovecot 2.3's side by side on the
 * same files (bench/_imap_big.ts: first SELECT, SELECT after a restart, SEARCH UNSEEN,
 * UID SEARCH SUBJECT first / warm / after a restart, re-scan stalls, RSS):
 *
 *   deno task bench imap -- --messages=100000 [--stall-seconds=35] [--dovecot=true]
 *     [--cpu-prof=DIR] (the daemon's CPU profile, written when it stops)
 *     [--daemon-flags="--v8-flags=--trace-gc"] (more flags for the daemon's deno run)
 *
 * Mail comes from the shared msggen.py (seed 42, the same mix the Dovecot baseline used)
 * when python3 and ../shared/bench (or $SHARED_DIR/bench) are there, else from a built-in
 * generator; it is delivered straight into a fresh DirBase before the daemon starts.
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { seedUsers } from "../tests/helpers/imap.ts";
import { REPO, startTestServer } from "../tests/helpers/server.ts";
import { bigMessage, bigOnly } from "./_imap_big.ts";
import { seedMaildir } from "./_imap_bench.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    messages: { type: "string", default: "10000" },
    sessions: { type: "string", default: "4" },
    rounds: { type: "string", default: "1" },
    selects: { type: "string", default: "20" },
    client: { type: "string", default: "auto" },
    big: { type: "string", default: "100000" },
    "mem-sessions": { type: "string", default: "50" },
    "stall-seconds": { type: "string", default: "35" },
    dovecot: { type: "string", default: "true" },
    "cpu-prof": { type: "string", default: "" },
    "daemon-flags": { type: "string", default: "" },
  },
});
const BIG_ONLY = Number(args.values.messages) >= 50_000;
// --daemon-flags="--v8-flags=--trace-gc ...": more flags for the daemon's `deno run`.
const denoArgs = [
  ...(args.values["cpu-prof"]
    ? ["--cpu-prof", `--cpu-prof-dir=${resolve(args.values["cpu-prof"])}`]
    : []),
  ...args.values["daemon-flags"].split(" ").filter((f) => f !== ""),
];
if (BIG_ONLY) {
  await bigOnly({
    count: Number(args.values.messages),
    stallSeconds: Number(args.values["stall-seconds"]),
    dovecot: args.values.dovecot !== "false",
    denoArgs,
  });
  Deno.exit(0);
}
const N = Number(args.values.messages);
const K = Number(args.values.sessions);
const ROUNDS = Number(args.values.rounds);
const SELECTS = Number(args.values.selects);
const BIG = Number(args.values.big);
const MEM_SESSIONS = Number(args.values["mem-sessions"]);
const USER = "bench@bench.example", PASS = "bench-pass";
const BIG_USER = "big@bench.example";
const SHARED = resolve(Deno.env.get("SHARED_DIR") || join(REPO, "..", "shared"), "bench");
const enc = new TextEncoder();

async function havePythonBench(): Promise<boolean> {
  try {
    await Deno.stat(join(SHARED, "imap_fetch.py"));
    await Deno.stat(join(SHARED, "msggen.py"));
    return (await new Deno.Command("python3", { args: ["--version"] }).output()).success;
  } catch {
    return false;
  }
}

/** Messages of the shared generator (mbox, mboxrd), as CRLF bytes. */
async function sharedMessages(count: number): Promise<Uint8Array[]> {
  const tmp = await Deno.makeTempFile({ suffix: ".mbox" });
  const out = await new Deno.Command("python3", {
    args: [join(SHARED, "msggen.py"), "mbox", tmp, "--count", String(count), "--seed", "42"],
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const text = await Deno.readTextFile(tmp);
  await Deno.remove(tmp);
  const msgs: Uint8Array[] = [];
  for (const chunk of text.split(/^From MAILER-DAEMON .*\n/m)) {
    if (!chunk) continue;
    const body = chunk.replace(/\n\n$/, "\n").replace(/^>(>*From )/gm, "$1");
    msgs.push(enc.encode(body.replace(/\r?\n/g, "\r\n")));
  }
  return msgs;
}

/** Built-in mix: plain text and multipart/alternative with an attachment. */
function builtinMessages(count: number): Uint8Array[] {
  const msgs: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const head = [
      `From: Sender ${i % 97} <sender${i % 97}@example.org>`,
      `To: Bench <${USER}>`,
      `Subject: ${i % 14 === 0 ? "weekly report" : "message"} ${i}`,
      `Date: Mon, 1 Jan 2024 10:${String(i % 60).padStart(2, "0")}:00 +0000`,
      `Message-ID: <${i}@bench.example>`,
      "MIME-Version: 1.0",
    ];
    const text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n".repeat(20 + i % 60);
    let body: string;
    if (i % 3 === 0) {
      head.push('Content-Type: multipart/mixed; boundary="b1"');
      body = `--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}--b1\r\n` +
        'Content-Type: application/octet-stream; name="a.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n".repeat(30) + "--b1--\r\n";
    } else {
      head.push("Content-Type: text/plain; charset=utf-8");
      body = text;
    }
    msgs.push(enc.encode(head.join("\r\n") + "\r\n\r\n" + body));
  }
  return msgs;
}

/** A minimal, fast IMAP client: one command at a time, literals counted not copied. */
class Client {
  #buf = new Uint8Array(1 << 20);
  #start = 0;
  #end = 0;
  #n = 0;
  private constructor(readonly conn: Deno.Conn) {}

  static async open(port: number): Promise<Client> {
    const c = new Client(await Deno.connect({ hostname: "127.0.0.1", port }));
    await c.#line();
    return c;
  }

  async #fill(): Promise<void> {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      const live = this.#end - this.#start;
      if (live < this.#buf.length / 2) this.#buf.copyWithin(0, this.#start, this.#end);
      else {
        const next = new Uint8Array(this.#buf.length * 2);
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
      }
      this.#start = 0;
      this.#end = live;
    }
    const n = await this.conn.read(this.#buf.subarray(this.#end));
    if (n === null) throw new Error("connection closed");
    this.#end += n;
  }

  async #line(): Promise<string> {
    for (;;) {
      const i = this.#buf.subarray(this.#start, this.#end).indexOf(10);
      if (i >= 0) {
        const line = new TextDecoder().decode(this.#buf.subarray(this.#start, this.#start + i));
        this.#start += i + 1;
        return line;
      }
      await this.#fill();
    }
  }

  async #skip(n: number): Promise<void> {
    while (this.#end - this.#start < n) {
      n -= this.#end - this.#start;
      this.#start = this.#end = 0;
      await this.#fill();
    }
    this.#start += n;
  }

  /** Runs a command; returns the number of untagged responses. */
  async cmd(text: string): Promise<number> {
    const tag = `b${++this.#n}`;
    await this.conn.write(enc.encode(`${tag} ${text}\r\n`));
    let untagged = 0;
    for (;;) {
      const line = await this.#line();
      const m = /\{(\d+)\}\r?$/.exec(line);
      if (m) {
        await this.#skip(Number(m[1]));
        continue;
      }
      if (line.startsWith(tag + " ")) {
        if (!line.startsWith(`${tag} OK`)) throw new Error(`${text}: ${line}`);
        return untagged;
      }
      if (line.startsWith("* ")) untagged++;
    }
  }

  close(): void {
    this.conn.close();
  }
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await work();
  return [r, performance.now() - t0];
}

async function parallel(k: number, work: (i: number) => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: k }, (_, i) => work(i)));
  return performance.now() - t0;
}

/**
 * Writes `count` small messages straight into the Maildir (tmp/ then new/), as another
 * MDA would: no UIDs, no index; the daemon finds them on first use. Returns [ms, octets].
 */
async function seedBig(maildir: string, count: number): Promise<[number, number]> {
  const t0 = performance.now();
  const octets = await seedMaildir(maildir, count, (i) => bigMessage(i, BIG_USER), () => null);
  return [performance.now() - t0, octets];
}

function vmRss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

/**
 * The big-mailbox measurements; returns the mean SELECT time (ms) once indexed, the
 * headline figure.
 */
async function bigMailbox(srv: Awaited<ReturnType<typeof startTestServer>>): Promise<number> {
  const login = `LOGIN ${BIG_USER} ${PASS}`;
  const c = await Client.open(srv.ports.imap);
  await c.cmd(login);
  const [, build] = await timed(() => c.cmd("STATUS INBOX (MESSAGES UIDNEXT)"));
  console.log(`big: first index build (first STATUS, ${BIG} new files) ${build.toFixed(0)} ms`);
  const [, firstSelect] = await timed(() => c.cmd("SELECT INBOX"));
  console.log(
    `big: first SELECT (claims ${BIG} \\Recent: new/ -> cur/) ${firstSelect.toFixed(0)} ms`,
  );
  // Our own renames leave cur/ unsettled: a verification read follows once the mtime
  // tick is surely over (Folder.#check); let it happen before measuring.
  await new Promise((r) => setTimeout(r, 2500));
  const [, noop] = await timed(() => c.cmd("NOOP"));
  console.log(`big: NOOP ${noop.toFixed(1)} ms`);
  const clients = [
    c,
    ...await Promise.all(Array.from({ length: K - 1 }, () => Client.open(srv.ports.imap))),
  ];
  for (const x of clients.slice(1)) await x.cmd(login);
  const selectMs = await parallel(K, async (i) => {
    for (let r = 0; r < SELECTS; r++) await clients[i].cmd("SELECT INBOX");
  });
  const selectMean = selectMs / SELECTS;
  console.log(
    `big: SELECT ${selectMean.toFixed(1)} ms (${K} sessions x ${SELECTS} at once, ${BIG} messages)`,
  );
  // A busy mailbox: a flag changes just before each SELECT (the folder's mtimes are never
  // settled; our own change must not cost a directory read).
  let busyMs = 0;
  for (let r = 1; r <= 5; r++) {
    await clients[1].cmd(`STORE ${r} +FLAGS (\\Flagged)`);
    busyMs += (await timed(() => clients[0].cmd("SELECT INBOX")))[1];
  }
  console.log(`big: SELECT right after a flag change (busy mailbox) ${(busyMs / 5).toFixed(1)} ms`);
  const rounds = 3;
  let fetched = 0;
  const [, resyncMs] = await timed(async () => {
    for (let r = 0; r < rounds; r++) fetched = await c.cmd("UID FETCH 1:* (FLAGS)");
  });
  if (fetched < BIG) throw new Error(`UID FETCH 1:* (FLAGS) returned ${fetched} of ${BIG}`);
  console.log(`big: flag re-sync UID FETCH 1:* (FLAGS) ${(resyncMs / rounds).toFixed(0)} ms`);
  for (const x of clients.slice(1)) x.close();
  // Memory per session: sessions that have the big mailbox selected.
  await new Promise((r) => setTimeout(r, 500));
  const before = vmRss(srv.pid());
  const many: Client[] = [];
  for (let i = 0; i < MEM_SESSIONS; i++) {
    const m = await Client.open(srv.ports.imap);
    await m.cmd(login);
    await m.cmd("SELECT INBOX");
    many.push(m);
  }
  await new Promise((r) => setTimeout(r, 500));
  const after = vmRss(srv.pid());
  console.log(
    `big: resident memory ${mib(before)} -> ${mib(after)} with ${MEM_SESSIONS} sessions on it: ` +
      `${((after - before) / MEM_SESSIONS / 1024).toFixed(0)} KiB per session`,
  );
  for (const m of many) m.close();
  c.close();
  let indexBytes = 0;
  for (const suffix of ["", "-wal"]) {
    const path = join(seed.roots[BIG_USER], `extremail-index.sqlite${suffix}`);
    indexBytes += await Deno.stat(path).then((st) => st.size, () => 0);
  }
  console.log(`big: index ${mib(indexBytes)} on disk`);
  // A restart: the folder comes back from its index.
  await srv.stop();
  await srv.restart();
  const r = await Client.open(srv.ports.imap);
  await r.cmd(login);
  const [, restarted] = await timed(() => r.cmd("SELECT INBOX"));
  const [, resync2] = await timed(() => r.cmd("UID FETCH 1:* (FLAGS)"));
  console.log(
    `big: after a restart, first SELECT ${restarted.toFixed(0)} ms (index read), ` +
      `UID FETCH 1:* (FLAGS) ${resync2.toFixed(0)} ms`,
  );
  r.close();
  return selectMean;
}

const python = args.values.client === "python" ||
  (args.values.client === "auto" && await havePythonBench());
console.log(`seeding ${N} messages (${python ? "shared msggen.py" : "built-in generator"})`);
const messages = python ? await sharedMessages(N) : builtinMessages(N);
const seed = await seedUsers(BIG > 0 ? { [USER]: PASS, [BIG_USER]: PASS } : { [USER]: PASS });
const root = seed.roots[USER];
let octets = 0;
for (let i = 0; i < messages.length; i += 64) {
  const batch = messages.slice(i, i + 64);
  await Promise.all(batch.map((m) => seed.store.deliver([{ root }], m)));
  for (const m of batch) octets += m.length;
}
console.log(`${messages.length} messages, ${octets} octets`);
if (BIG > 0) {
  const [ms, bytes] = await seedBig(seed.roots[BIG_USER], BIG);
  console.log(
    `big mailbox: ${BIG} messages, ${bytes} octets written in ${(ms / 1000).toFixed(1)} s`,
  );
}
const srv = await startTestServer({
  dirBase: seed.dirBase,
  // Room for the memory measurement's sessions (all from 127.0.0.1).
  config: { LogLevel: "info", MaxConnectionsPerIP: Math.max(20, MEM_SESSIONS + K + 4) },
  denoArgs,
});
let headline = "";
try {
  const port = srv.ports.imap;
  const login = `LOGIN ${USER} ${PASS}`;
  // First SELECT claims \Recent (moves every file new/ -> cur/): reported apart.
  const first = await Client.open(port);
  await first.cmd(login);
  const [, firstSelect] = await timed(() => first.cmd("SELECT INBOX"));
  const meta = "FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)";
  const [count, cold] = await timed(() => first.cmd(meta));
  if (count < N) throw new Error(`FETCH 1:* returned ${count} of ${N}`);
  first.close();
  console.log(`first SELECT ${firstSelect.toFixed(1)} ms; cold ${meta} ${cold.toFixed(1)} ms`);
  // Directory mtimes are trusted 2 s after the last change (Folder.refresh): measure
  // a mailbox at rest, as a client finds it between deliveries.
  await new Promise((r) => setTimeout(r, 2500));

  const clients = await Promise.all(Array.from({ length: K }, () => Client.open(port)));
  for (const c of clients) await c.cmd(login);
  const selectMs = await parallel(K, async (i) => {
    for (let r = 0; r < SELECTS; r++) await clients[i].cmd("SELECT INBOX");
  });
  const selectRate = (K * SELECTS) / (selectMs / 1000);
  console.log(`SELECT: ${selectRate.toFixed(1)}/s (${K} sessions x ${SELECTS}, ${N} messages)`);
  const warmRounds = 5;
  const metaMs = await parallel(K, async (i) => {
    for (let r = 0; r < warmRounds; r++) await clients[i].cmd(meta);
  });
  const metaMean = metaMs / warmRounds;
  console.log(
    `warm ${meta}: ${metaMean.toFixed(1)} ms per command with ${K} sessions at once, ` +
      `${((K * warmRounds * N) / (metaMs / 1000)).toFixed(0)} messages/s`,
  );
  for (const c of clients) c.close();

  let ops: number;
  if (python) {
    const out = await new Deno.Command("python3", {
      args: [
        join(SHARED, "imap_fetch.py"),
        "--port",
        String(port),
        "--sessions",
        String(K),
        "--rounds",
        String(ROUNDS),
        "--user",
        USER,
        "--password",
        PASS,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    console.log(text.trimEnd());
    if (!out.success) throw new Error("imap_fetch.py failed");
    ops = Number(/imap_fetch: ([\d.]+) ops\/s/.exec(text)![1]);
  } else {
    let total = 0;
    const ms = await parallel(K, async () => {
      for (let r = 0; r < ROUNDS; r++) {
        const c = await Client.open(port);
        await c.cmd(login);
        await c.cmd("SELECT INBOX");
        await c.cmd(meta);
        for (let n = 1; n <= N; n++) await c.cmd(`FETCH ${n} BODY.PEEK[]`);
        await c.cmd('SEARCH HEADER Subject "report"');
        await c.cmd("LOGOUT").catch(() => 0);
        c.close();
        total += N + 5;
      }
    });
    ops = total / (ms / 1000);
    console.log(`deno client: ${total} ops in ${(ms / 1000).toFixed(3)} s`);
  }
  headline = `imap: ${ops.toFixed(1)} ops/s (imap_fetch, ${K} sessions, ${N} messages); ` +
    `SELECT ${selectRate.toFixed(1)}/s; FETCH 1:* ${metaMean.toFixed(1)} ms`;
  if (BIG > 0) headline += `; SELECT ${BIG} ${(await bigMailbox(srv)).toFixed(1)} ms`;
} finally {
  await srv.stop();
  await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
}
console.log(headline);
