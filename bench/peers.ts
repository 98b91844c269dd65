/**
 * `deno task bench:peers`: the same loads against this server and against Postfix +
 * Dovecot on the same machine in the same run, alternating ours/peer per round, and one
 * table `figure | ours | peer | ratio` (ratio = ours/peer) with the headline last.
 *
 *   deno task bench:peers [--rounds 3] [--only smtp,pop3,imap,idle] [--idle 1000]
 *                         [--targets ours,peer] [--messages 2000] [--keep]
 *
 * The loads are the shared Python generators in ../shared/bench (or $SHARED_DIR/bench):
 * smtp_ingest.py (4 and 16 connections), Postfix's smtp-source (4 and 16 sessions, one
 * connection per message), pop3_retr.py, imap_fetch.py (or, by default, the same POP3
 * and IMAP sessions from peers/lean_load.py, a client that costs less per command and
 * so leaves the servers to set the rate; --client shared selects the shared scripts;
 * lean runs go through peers/cpu_share.py, which adds rows for the CPU time per
 * operation of the server's process tree and of the client, the machine's idle CPU and
 * the server's busiest half-second),
 * after seeding the
 * read mailboxes of both servers with seed_imap.py (identical mail, seed 42). Postfix and
 * Dovecot are installed with apt-get when missing (root only) and run by peers.sh
 * (loopback only, default_transport=error); they are stopped afterwards if this run
 * started them. Our daemon runs from main.ts on free loopback ports with a fresh DirBase
 * holding the same 200 users, and is always stopped, on failure and Ctrl-C too.
 * Each figure fails soft: "n/a (reason)".
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { openIdleSessions, treeKiB, vmRssKiB, warmLogins } from "./peers/idle.ts";
import { DOMAIN, OurServer, parseDump, REPO } from "./peers/ours.ts";
import { cpuPerOp, idleShare, mainThreadPeak, serverPeak } from "./peers/cpu_share.ts";
import { runSmtpSource } from "./peers/smtp_source.ts";
import {
  installPeers,
  isRoot,
  missingPieces,
  PEER_PACKAGES,
  PEER_PORTS,
  Peers,
  type PeerState,
} from "./peers/peer_servers.ts";
import {
  abortAll,
  checkAborted,
  failureReason,
  Interrupted,
  isAborted,
  portOpen,
  type ProcResult,
  run,
  sleep,
} from "./peers/proc.ts";

const HELP = `bench:peers: the same loads against eXtremail and Postfix/Dovecot, side by side.

  deno task bench:peers [options]

  --rounds N         measured rounds per figure, alternating ours/peer (default 3;
                     one warm-up run each comes first); the median is reported
  --only LIST        some of smtp,pop3,imap,idle (default all)
  --idle N           idle IMAP sessions held open for the memory figure (default 1000;
                     Dovecot is measured with at most 90, its default process_limit is 100)
  --targets LIST     ours,peer (default both)
  --client NAME      POP3/IMAP load generator: lean (default; bench/peers/lean_load.py,
                     one process per session, the same commands and checks) or shared
                     (pop3_retr.py and imap_fetch.py from the shared bench directory,
                     threads; their GIL and per-call allocations cap both servers)
  --messages N       messages per seeded mailbox (default 2000, seed 42)
  --seed-direct      seed our mailboxes with MailStore.deliver (same messages, CRLF) instead
                     of IMAP APPEND; also the automatic fallback when APPEND fails
  --keep             keep our temporary DirBase (its path is printed)
  -h, --help         this text

Environment: SHARED_DIR (default ../shared next to the repository) holds bench/*.py and
peers.sh; PEERS_ROOT (default /opt/peers) is where peers.sh keeps the peers' state.
Needs root to install/start Postfix and Dovecot; without it the peer column is n/a unless
they already run.`;

const PASSWORD = "pass";
const USERS = 200;
const SINKS = { first: 11, count: 190 }; // SMTP ingest recipients, as in BASELINE.md
const POP3_SESSIONS = 4;
const PEER_IDLE_MAX = 90;

type Target = "ours" | "peer";
type Group = "smtp" | "pop3" | "imap" | "idle";
const ALL_GROUPS: Group[] = ["smtp", "pop3", "imap", "idle"];

const { values: opt } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    only: { type: "string", default: ALL_GROUPS.join(",") },
    idle: { type: "string", default: "1000" },
    targets: { type: "string", default: "ours,peer" },
    client: { type: "string", default: "lean" },
    messages: { type: "string", default: "2000" },
    keep: { type: "boolean", default: false },
    "seed-direct": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (opt.help) {
  console.log(HELP);
  Deno.exit(0);
}
const usage = (msg: string): never => {
  console.error(`bench:peers: ${msg}\n\n${HELP}`);
  Deno.exit(64);
};
const ROUNDS = Number(opt.rounds);
const IDLE_N = Number(opt.idle);
const MESSAGES = Number(opt.messages);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) usage("--rounds must be a positive integer");
if (!Number.isInteger(IDLE_N) || IDLE_N < 1) usage("--idle must be a positive integer");
if (!Number.isInteger(MESSAGES) || MESSAGES < 1) usage("--messages must be a positive integer");
const groups = opt.only.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean) as Group[];
for (const g of groups) if (!ALL_GROUPS.includes(g)) usage(`unknown --only item "${g}"`);
const targets = opt.targets.split(",").map((s) => s.trim().toLowerCase()) as Target[];
for (const t of targets) if (t !== "ours" && t !== "peer") usage(`unknown --targets item "${t}"`);
if (opt.client !== "lean" && opt.client !== "shared") usage("--client must be lean or shared");
const want = (g: Group) => groups.includes(g);
const useOurs = targets.includes("ours");
const usePeer = targets.includes("peer");

const SHARED = resolve(Deno.env.get("SHARED_DIR") || join(REPO, "..", "shared"));
const BENCH = join(SHARED, "bench");
const LEAN_LOAD = join(REPO, "bench/peers/lean_load.py");
const CPU_SHARE = join(REPO, "bench/peers/cpu_share.py");

const T0 = Date.now();
const say = (s: string) => {
  const sec = Math.round((Date.now() - T0) / 1000);
  const clock = `${Math.floor(sec / 60)}:${String(sec % 60).padStart(2, "0")}`;
  console.error(`bench:peers [${clock}] ${s}`);
};

// ---------------------------------------------------------------------------------------
// Figures

interface Metric {
  key: string;
  label: string;
  lowerBetter?: boolean;
  /** A figure about the run, not a comparison: no ratio. */
  noRatio?: boolean;
  /** Extracts the figure from a run's stdout (and stderr: cpu_share.py's line). */
  parse: (out: string, err: string) => number | undefined;
}

interface Load {
  id: string;
  group: Group;
  peerName: string;
  /** A Python generator in the shared bench directory, run with `args`... */
  script: string;
  /** ...or, with --client lean, lean_load.py with this protocol and the same `args`... */
  lean?: "pop3" | "imap";
  args: (t: Target) => string[];
  /** ...or a load run some other way (smtp-source). */
  command?: (t: Target) => Promise<ProcResult>;
  metrics: Metric[];
  /** What was read ("N messages, X octets"): must be the same on both servers. */
  volume?: RegExp;
}

const num = (re: RegExp) => (out: string) => {
  const m = re.exec(out);
  return m ? Number(m[1]) : undefined;
};

/** The rows the lean loads add: where the CPU went (cpu_share.py runs lean_load.py). */
function leanCpu(what: string, ops: RegExp): Metric[] {
  if (opt.client !== "lean") return [];
  return [
    {
      key: "cpu-server",
      label: `${what}: server CPU per op (µs, lower is better)`,
      lowerBetter: true,
      parse: cpuPerOp("server", ops),
    },
    {
      key: "cpu-client",
      label: `${what}: client CPU per op (µs)`,
      parse: cpuPerOp("client", ops),
    },
    {
      key: "cpu-idle",
      label: `${what}: machine idle during the run (% of one core)`,
      noRatio: true,
      parse: idleShare,
    },
    {
      key: "cpu-peak",
      label: `${what}: server's busiest 0.5 s (% of one core)`,
      noRatio: true,
      parse: serverPeak,
    },
    {
      // Ours: the event loop; Dovecot's master process does next to nothing.
      key: "cpu-main",
      label: `${what}: server main thread's busiest 0.5 s (% of one core)`,
      noRatio: true,
      parse: mainThreadPeak,
    },
  ];
}

function smtpLoad(connections: number): Load {
  return {
    id: `smtp-c${connections}`,
    group: "smtp",
    peerName: "postfix",
    script: "smtp_ingest.py",
    args: (t) => [
      "--port",
      String(t === "ours" ? ours!.ports.smtp : PEER_PORTS.smtp),
      "--connections",
      String(connections),
      "--messages",
      "500",
      "--size",
      "4096",
      "--first-user",
      String(SINKS.first),
      "--users",
      String(SINKS.count),
    ],
    metrics: [
      {
        key: "rate",
        label: `SMTP ingest, ${connections} connections (msg/s)`,
        parse: num(/^smtp_ingest: ([\d.]+) msg\/s/m),
      },
      {
        key: "p50",
        label: `SMTP ${connections} conn. p50 latency (ms, lower is better)`,
        lowerBetter: true,
        parse: num(/^latency per message: p50 ([\d.]+) ms/m),
      },
    ],
  };
}

/** smtp-source: one connection per message, to one recipient, payload 4096 octets. */
function smtpSourceLoad(sessions: number): Load {
  return {
    id: `smtp-source-s${sessions}`,
    group: "smtp",
    peerName: "postfix",
    script: "",
    args: () => [],
    command: (t) =>
      runSmtpSource({
        port: t === "ours" ? ours!.ports.smtp : PEER_PORTS.smtp,
        sessions,
        messages: 500,
        size: 4096,
        from: "s@x.test",
        to: `testuser${SINKS.first}@${DOMAIN}`,
      }),
    metrics: [{
      key: "rate",
      label: `SMTP smtp-source -s ${sessions}, 1 msg/connection (msg/s)`,
      parse: num(/^smtp_source: ([\d.]+) msg\/s/m),
    }],
  };
}

const pop3User = (t: Target) => t === "ours" ? `testuser%d@${DOMAIN}` : "testuser%d";
const imapUser = (t: Target) => t === "ours" ? `testuser3@${DOMAIN}` : "testuser3";

const LOADS: Load[] = [
  {
    id: "pop3",
    group: "pop3",
    volume: /^retrieved (\d+ messages, \d+ octets)/m,
    peerName: "dovecot",
    script: "pop3_retr.py",
    lean: "pop3",
    args: (t) => [
      "--port",
      String(t === "ours" ? ours!.ports.pop3 : PEER_PORTS.pop3),
      "--sessions",
      String(POP3_SESSIONS),
      "--rounds",
      "10",
      "--user",
      pop3User(t),
    ],
    metrics: [
      {
        key: "rate",
        label: "POP3 RETR, 4 sessions (msg/s)",
        parse: num(/^pop3_retr: ([\d.]+) msg\/s/m),
      },
      {
        key: "mbs",
        label: "POP3 RETR, 4 sessions (MB/s)",
        parse: num(/^pop3_retr: [\d.]+ msg\/s ([\d.]+) MB\/s/m),
      },
      {
        key: "p50",
        label: "POP3 RETR p50 latency (ms, lower is better)",
        lowerBetter: true,
        parse: num(/^RETR latency: p50 ([\d.]+) ms/m),
      },
      ...leanCpu("POP3 RETR", /^retrieved (\d+) messages/m),
    ],
  },
  {
    id: "imap",
    group: "imap",
    volume: /^\d+ ops in [\d.]+ s; (\d+ message bodies, \d+ octets)/m,
    peerName: "dovecot",
    script: "imap_fetch.py",
    lean: "imap",
    args: (t) => [
      "--port",
      String(t === "ours" ? ours!.ports.imap : PEER_PORTS.imap),
      "--sessions",
      "4",
      "--rounds",
      "5",
      "--user",
      imapUser(t),
    ],
    metrics: [
      {
        key: "rate",
        label: "IMAP fetch, 4 sessions (ops/s)",
        parse: num(/^imap_fetch: ([\d.]+) ops\/s/m),
      },
      {
        key: "mbs",
        label: "IMAP bodies (MB/s)",
        parse: num(/^bodies: [\d.]+ msg\/s ([\d.]+) MB\/s/m),
      },
      {
        key: "p50",
        label: "IMAP FETCH BODY.PEEK[] p50 (ms, lower is better)",
        lowerBetter: true,
        parse: num(/^\s*FETCH-BODY\s.*?p50 ([\d.]+) ms/m),
      },
      {
        key: "meta",
        label: "IMAP FETCH 1:* metadata mean (ms, lower is better)",
        lowerBetter: true,
        parse: num(/^\s*FETCH-META\s.*?mean ([\d.]+) ms/m),
      },
      ...leanCpu("IMAP fetch", /^(\d+) ops in /m),
    ],
  },
  smtpLoad(4),
  smtpLoad(16),
  smtpSourceLoad(4),
  smtpSourceLoad(16),
];

/** One cell of the table: a median with how many runs made it, or why there is none. */
interface Cell {
  values: number[];
  planned: number;
  note?: string; // e.g. "k=90"
  failure?: string;
}

interface Row {
  label: string;
  lowerBetter?: boolean;
  /** A figure about the run (idle CPU, a peak), not compared: no ratio. */
  noRatio?: boolean;
  ours: Cell;
  peer: Cell;
  /** How to print a value (default 1 decimal). */
  digits?: number;
  /** Cell text for the peer when it is an estimate. */
  peerPrefix?: string;
}

const rows = new Map<string, Row>();
function row(key: string, label: string, lowerBetter = false, digits?: number): Row {
  let r = rows.get(key);
  if (!r) {
    r = {
      label,
      lowerBetter,
      digits,
      ours: { values: [], planned: 0 },
      peer: { values: [], planned: 0 },
    };
    rows.set(key, r);
  }
  return r;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmt(v: number, digits = 1): string {
  return v.toFixed(v !== 0 && Math.abs(v) < 1 && digits < 3 ? 3 : digits);
}

function cellText(c: Cell, digits?: number, prefix = ""): string {
  if (c.values.length === 0) {
    return c.failure ? `n/a (${c.failure})` : c.planned ? "n/a" : "-";
  }
  let s = prefix + fmt(median(c.values), digits);
  const notes: string[] = [];
  if (c.note) notes.push(c.note);
  if (c.planned && c.values.length < c.planned) notes.push(`${c.values.length}/${c.planned} runs`);
  if (notes.length) s += ` (${notes.join(", ")})`;
  return s;
}

function ratioOf(r: Row): number | undefined {
  if (r.noRatio || !r.ours.values.length || !r.peer.values.length) return undefined;
  const p = median(r.peer.values);
  return p > 0 ? median(r.ours.values) / p : undefined;
}

function printTable(): void {
  const lines: string[][] = [["figure", "ours", "peer", "ratio"]];
  for (const r of rows.values()) {
    const ratio = ratioOf(r);
    lines.push([
      r.label,
      cellText(r.ours, r.digits),
      cellText(r.peer, r.digits, r.peerPrefix),
      ratio === undefined
        ? "-"
        : `${ratio.toFixed(2)}x${r.lowerBetter ? " (lower is better)" : ""}`,
    ]);
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...lines.map((l) => l[i].length)));
  const out = lines.map((l) => l.map((c, i) => c.padEnd(widths[i])).join(" | ").trimEnd());
  out.splice(1, 0, widths.map((w) => "-".repeat(w)).join("-|-"));
  console.log(out.join("\n"));
}

function headline(): string {
  const parts: string[] = [];
  const ratioText = (key: string, name: string, peer: string) => {
    const r = rows.get(key);
    if (!r) return;
    const x = ratioOf(r);
    parts.push(x === undefined ? `${name} n/a` : `${name} ${x.toFixed(2)}x ${peer}`);
  };
  if (want("smtp")) ratioText("smtp-c4.rate", "smtp", "postfix");
  if (want("smtp")) ratioText("smtp-source-s4.rate", "smtp-source", "postfix");
  if (want("pop3")) ratioText("pop3.rate", "pop3", "dovecot");
  if (want("imap")) ratioText("imap.rate", "imap", "dovecot");
  if (want("idle")) {
    const r = rows.get("idle.per");
    if (r?.ours.values.length) {
      let s = `idle imap ${fmt(median(r.ours.values), 0)} KiB/session`;
      if (r.peer.values.length) s += ` (dovecot ${fmt(median(r.peer.values), 0)})`;
      parts.push(s);
    } else parts.push("idle imap n/a");
  }
  return `bench:peers: ${parts.join(", ") || "nothing measured"}`;
}

// ---------------------------------------------------------------------------------------
// State shared with the clean-up

let ours = null as OurServer | null;
const peers = new Peers(join(BENCH, "peers.sh"));
let peerBefore: PeerState | null = null;
let peerReady = false;
let peerDown = ""; // why the peer column is n/a
let oursDown = ""; // why our column is n/a
let peerSinksDirty = false;
let seedNote = "";

let signals = 0;
const onSignal = () => {
  if (signals++ === 0) {
    say("interrupted: stopping what runs, then cleaning up");
    abortAll();
  }
};
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);

function python(script: string, args: string[], timeoutMs = 900_000): Promise<ProcResult> {
  return run("python3", [join(BENCH, script), "--host", "127.0.0.1", ...args], { timeoutMs });
}

function portFor(t: Target, g: "smtp" | "pop3" | "imap"): number {
  return t === "ours" ? ours!.ports[g] : PEER_PORTS[g];
}

/** Why target t cannot run a load of group g right now, or "" when it can. */
async function unavailable(t: Target, g: "smtp" | "pop3" | "imap"): Promise<string> {
  if (t === "ours") {
    if (oursDown) return oursDown;
    if (!ours?.running) {
      oursDown = "our server exited";
      say(`our server exited unexpectedly; its last output:\n${ours?.logTail() ?? ""}`);
      return oursDown;
    }
  } else if (peerDown) return peerDown;
  const port = portFor(t, g);
  return await portOpen(port) ? "" : `nothing listens on port ${port}`;
}

// ---------------------------------------------------------------------------------------
// Set-up

async function preparePeer(): Promise<void> {
  if (!usePeer) {
    peerDown = "not selected";
    return;
  }
  try {
    await Deno.stat(join(BENCH, "peers.sh"));
  } catch {
    peerDown = `no ${join(BENCH, "peers.sh")}`;
    return;
  }
  const missing = await missingPieces();
  if (missing.length) {
    if (!isRoot()) {
      peerDown = "Postfix/Dovecot not installed";
      say(
        `Postfix/Dovecot are missing (${missing.join(", ")}) and this is not root: run ` +
          `"sudo apt-get install ${PEER_PACKAGES.join(" ")}" or run bench:peers as root`,
      );
      return;
    }
    await installPeers(say);
    const still = await missingPieces();
    if (still.length) {
      peerDown = `still missing after install: ${still.join(", ")}`;
      return;
    }
  }
  peerBefore = await peers.status();
  if (peerBefore.dovecot && peerBefore.postfix) {
    say("Postfix and Dovecot already run (peers.sh); using them and leaving them running");
  } else if (!isRoot()) {
    peerDown = "peers.sh start needs root";
    say("Postfix/Dovecot are not running and peers.sh start needs root");
    peerBefore = null;
    return;
  } else {
    say("starting Postfix and Dovecot with peers.sh");
    await peers.start();
  }
  peerReady = true;
}

async function prepareOurs(): Promise<void> {
  if (!useOurs) {
    oursDown = "not selected";
    return;
  }
  say(`creating our DirBase with ${USERS} users`);
  ours = await OurServer.create({
    users: USERS,
    password: PASSWORD,
    maxConnections: Math.max(1000, IDLE_N + 200),
  });
  say(`our DirBase: ${ours.dirBase}`);
  await ours.start();
  const p = ours.ports;
  say(
    `our server (pid ${ours.pid}): SMTP ${p.smtp} POP3 ${p.pop3} IMAP ${p.imap} admin ${p.admin}`,
  );
}

async function seedOverImap(t: Target, user: string): Promise<ProcResult> {
  const login = t === "ours" ? `${user}@${DOMAIN}` : user;
  return await python("seed_imap.py", [
    "--port",
    String(portFor(t, "imap")),
    "--user",
    login,
    "--count",
    String(MESSAGES),
    "--seed",
    "42",
    "--clear",
  ], 900_000);
}

function seedOk(r: ProcResult): boolean {
  return r.code === 0 && new RegExp(`^seed_imap: ${MESSAGES} messages`, "m").test(r.stdout);
}

async function seed(): Promise<void> {
  const users = new Set<string>();
  if (want("pop3")) { for (let i = 1; i <= POP3_SESSIONS; i++) users.add(`testuser${i}`); }
  if (want("imap")) users.add("testuser3");
  if (!users.size) return;
  const list = [...users];
  if (peerReady) {
    for (const u of list) {
      checkAborted();
      say(`seeding peer ${u} over IMAP (${MESSAGES} messages, seed 42)`);
      const r = await seedOverImap("peer", u);
      if (!seedOk(r)) {
        peerDown = `seeding failed: ${failureReason(r)}`;
        say(`peer ${peerDown}`);
        break;
      }
    }
  }
  if (!ours || oursDown) return;
  let failed = "";
  if (opt["seed-direct"]) failed = "--seed-direct";
  else if (await portOpen(ours.ports.imap)) {
    for (const u of list) {
      checkAborted();
      say(`seeding our ${u} over IMAP APPEND (${MESSAGES} messages, seed 42)`);
      const r = await seedOverImap("ours", u);
      if (!seedOk(r)) {
        failed = failureReason(r);
        break;
      }
    }
  } else failed = "IMAP not listening";
  if (!failed) {
    seedNote = "both servers seeded over IMAP APPEND (seed_imap.py)";
    return;
  }
  checkAborted();
  say(
    `seeding ours with MailStore.deliver (${failed}): the same messages, CRLF, in order`,
  );
  const dump = await new Deno.Command("python3", {
    args: [
      join(REPO, "bench/peers/dump_messages.py"),
      BENCH,
      "--count",
      String(MESSAGES),
      "--seed",
      "42",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!dump.success) {
    throw new Error(`dump_messages.py failed: ${new TextDecoder().decode(dump.stderr)}`);
  }
  const messages = parseDump(dump.stdout);
  await ours.stop();
  await ours.seedDirect(list, messages);
  await ours.start();
  seedNote = failed === "--seed-direct"
    ? "ours seeded with MailStore.deliver (--seed-direct), the peer over IMAP APPEND"
    : `ours seeded with MailStore.deliver (IMAP seeding failed: ${failed}), the peer over IMAP APPEND`;
}

// ---------------------------------------------------------------------------------------
// Measurements

async function idleFigure(): Promise<void> {
  const total = row(
    "idle.total",
    `idle IMAP: memory with ${IDLE_N} sessions (MiB, lower is better)`,
    true,
  );
  const per = row("idle.per", "idle IMAP: memory per session (KiB, lower is better)", true, 0);
  for (const t of targets) {
    checkAborted();
    const cellT = total[t], cellP = per[t];
    cellT.planned = cellP.planned = 1;
    const why = await unavailable(t, "imap");
    if (why) {
      cellT.failure = cellP.failure = why;
      continue;
    }
    const n = t === "ours" ? IDLE_N : Math.min(IDLE_N, PEER_IDLE_MAX);
    const login = (i: number) => {
      const name = `testuser${SINKS.first + (i % SINKS.count)}`;
      return t === "ours" ? `${name}@${DOMAIN}` : name;
    };
    const distinct = Array.from({ length: Math.min(n, SINKS.count) }, (_, i) => login(i));
    if (t === "ours") {
      // Measure from a fresh process: seeding leaves garbage that a GC may free mid-test.
      try {
        await ours!.stop();
        await ours!.start();
      } catch (e) {
        oursDown = `restart failed: ${(e as Error).message.split("\n")[0]}`;
        cellT.failure = cellP.failure = oursDown;
        continue;
      }
    }
    // One login at a time: concurrent first logins (scrypt, 16 MiB each) can raise the
    // RSS high-water mark by hundreds of MiB, which would hide the sessions' own memory.
    const warmErrors = await warmLogins(portFor(t, "imap"), distinct, PASSWORD, 1);
    if (warmErrors.length) say(`${t}: warm-up LOGIN failed: ${warmErrors[0]}`);
    const pid = t === "ours" ? ours!.pid : await peers.dovecotMasterPid();
    if (!pid) {
      cellT.failure = cellP.failure = t === "ours" ? "our server exited" : "no dovecot master pid";
      continue;
    }
    // Ours is one process: VmRSS. Dovecot is a process tree: Pss, so shared pages count once.
    const measure = () => t === "ours" ? vmRssKiB(pid) : treeKiB(pid, "pss");
    await sleep(2000);
    const before = await measure();
    say(`${t}: opening ${n} idle IMAP sessions (LOGIN, SELECT INBOX, IDLE)`);
    const sessions = await openIdleSessions({
      port: portFor(t, "imap"),
      count: n,
      login,
      password: PASSWORD,
    });
    try {
      if (sessions.opened < n) {
        cellT.failure = cellP.failure = `${sessions.opened}/${n} opened: ${sessions.errors[0]}`;
        say(`${t}: ${cellT.failure}`);
        continue;
      }
      await sleep(2000);
      const after = await measure();
      const perSession = (after - before) / n;
      say(
        `${t}: ${t === "ours" ? "VmRSS" : "Pss of the dovecot processes"} ${
          fmt(before / 1024)
        } MiB -> ${fmt(after / 1024)} MiB with ${n} sessions: ${fmt(perSession, 0)} KiB/session`,
      );
      cellP.values.push(perSession);
      if (t === "ours") cellT.values.push(after / 1024);
      else {
        // Dovecot's default process_limit (100) caps the sessions measured: extrapolate.
        cellT.values.push((before + perSession * IDLE_N) / 1024);
        if (n < IDLE_N) {
          cellP.note = `${n} sessions`;
          cellT.note = `est. from ${n}`;
          total.peerPrefix = "~";
        }
      }
    } finally {
      sessions.close();
    }
    await sleep(1000);
  }
}

function leanArgs(load: Load, t: Target): string[] {
  return [LEAN_LOAD, load.lean!, "--host", "127.0.0.1", ...load.args(t)];
}

/**
 * cpu_share.py and its arguments, run in front of lean_load.py so each run also tells
 * the CPU time of the server's process tree and of the client; nothing without a pid.
 */
async function cpuShare(t: Target, load: Load): Promise<string[]> {
  const pid = t === "ours" ? ours?.pid : await peers.dovecotMasterPid();
  if (!pid) return [];
  return [CPU_SHARE, "--server-pid", String(pid), "--label", `${t} ${load.id}`, "--", "python3"];
}

async function runOnce(load: Load, t: Target, label: string): Promise<ProcResult | string> {
  const why = await unavailable(t, load.group as "smtp" | "pop3" | "imap");
  if (why) return why;
  const r = load.command
    ? await load.command(t)
    : load.lean && opt.client === "lean"
    ? await run("python3", [...await cpuShare(t, load), ...leanArgs(load, t)], {
      timeoutMs: 900_000,
    })
    : await python(load.script, load.args(t));
  checkAborted();
  const last = r.stdout.trim().split("\n").pop() ?? "";
  say(`${label} ${t}: ${r.code === 0 ? last : `FAILED (${failureReason(r)})`}`);
  if (load.group === "smtp" && t === "peer") {
    const waited = await peers.waitQueueEmpty();
    if (waited > 1000) say(`waited ${(waited / 1000).toFixed(1)} s for the Postfix queue to drain`);
  }
  await sleep(500);
  return r;
}

async function runLoad(load: Load): Promise<void> {
  const cells = load.metrics.map((m) => {
    const r = row(`${load.id}.${m.key}`, m.label, m.lowerBetter);
    r.noRatio = m.noRatio;
    return r;
  });
  const failed: Partial<Record<Target, string>> = {};
  const volumes: Partial<Record<Target, string>> = {};
  const record = (t: Target, r: ProcResult | string, measured: boolean) => {
    if (typeof r === "string" || r.code !== 0) {
      failed[t] = typeof r === "string" ? r : failureReason(r);
      for (const c of cells) c[t].failure ??= failed[t];
      return;
    }
    const volume = load.volume?.exec(r.stdout)?.[1];
    if (volume && !measured) volumes[t] = volume;
    if (!measured) return;
    load.metrics.forEach((m, i) => {
      const v = m.parse(r.stdout, r.stderr);
      if (v !== undefined && Number.isFinite(v)) cells[i][t].values.push(v);
    });
  };
  for (const t of targets) for (const c of cells) c[t].planned = ROUNDS;
  // Warm-up: one unmeasured run each (Dovecot builds its index cache on the first one).
  for (const t of targets) {
    checkAborted();
    record(t, await runOnce(load, t, `${load.id} warm-up`), false);
  }
  if (volumes.ours && volumes.peer && volumes.ours !== volumes.peer) {
    say(`warning: ${load.id} read ${volumes.ours} from ours but ${volumes.peer} from the peer`);
  }
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate who goes first, so neither side always runs right after the other.
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      checkAborted();
      if (failed[t]) continue;
      record(t, await runOnce(load, t, `${load.id} round ${round + 1}/${ROUNDS}`), true);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Main

let exitCode = 0;
try {
  for (const f of ["smtp_ingest.py", "pop3_retr.py", "imap_fetch.py", "seed_imap.py"]) {
    try {
      await Deno.stat(join(BENCH, f));
    } catch {
      throw new Error(`${join(BENCH, f)} not found (set SHARED_DIR to the shared directory)`);
    }
  }
  if ((await run("python3", ["--version"])).code !== 0) throw new Error("python3 is required");
  say(
    `rounds ${ROUNDS} (+1 warm-up), figures: ${groups.join(",")}, targets: ${targets.join(",")}` +
      `, shared: ${SHARED}`,
  );
  try {
    await preparePeer();
  } catch (e) {
    if (e instanceof Interrupted) throw e;
    peerDown = (e as Error).message.split("\n")[0];
    say(`peer unavailable: ${(e as Error).message}`);
  }
  checkAborted();
  if (peerReady && (want("smtp") || want("idle"))) {
    // Start from empty sink mailboxes, so repeated runs stay comparable.
    await peers.waitQueueEmpty(60_000);
    await peers.clearMaildirs(range(SINKS.first, SINKS.count));
    peerSinksDirty = true;
  }
  try {
    await prepareOurs();
  } catch (e) {
    if (e instanceof Interrupted) throw e;
    oursDown = (e as Error).message.split("\n")[0];
    say(`our server unavailable: ${(e as Error).message}`);
  }
  checkAborted();
  await seed();
  if (seedNote) say(seedNote);
  if (want("idle")) await idleFigure();
  for (const load of LOADS) {
    if (want(load.group)) await runLoad(load);
  }
} catch (e) {
  if (e instanceof Interrupted || isAborted()) {
    exitCode = 130;
  } else {
    exitCode = 1;
    say(`error: ${(e as Error).stack ?? e}`);
  }
} finally {
  // Every step on its own: one failing must not skip the others or the table.
  const step = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      exitCode ||= 1;
      say(`clean-up: ${what} failed: ${(e as Error).message}`);
    }
  };
  const server = ours;
  if (server) {
    await step("stopping our server", () => server.stop());
    if (opt.keep) say(`kept our DirBase ${server.dirBase}`);
    else await step("removing our DirBase", () => server.removeFiles());
  }
  if (peerReady) {
    if (peerSinksDirty) {
      await step("emptying the peer's sink mailboxes", async () => {
        await peers.waitQueueEmpty(isAborted() ? 15_000 : 120_000);
        await peers.clearMaildirs(range(SINKS.first, SINKS.count));
      });
    }
    const before = peerBefore;
    if (before) await step("stopping the peers", () => peers.restore(before));
  }
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
}

function range(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => first + i);
}

console.log(
  `bench:peers: ${exitCode === 130 ? "INTERRUPTED, partial results; " : ""}` +
    `${ROUNDS} measured rounds (median), ratio = ours/peer; peer = Postfix for SMTP, ` +
    `Dovecot for POP3/IMAP, POP3/IMAP client ${
      opt.client === "lean" ? "lean_load.py" : "pop3_retr.py/imap_fetch.py"
    }${seedNote ? `; ${seedNote}` : ""}`,
);
printTable();
console.log(headline());
Deno.exit(exitCode);
