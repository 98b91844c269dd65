/**
 * `deno task bench:peers`: the same loads against this server and against Postfix +
 * Dovecot on the same machine in the same run, alternating ours/peer per round, and one
 * table `figure | ours | peer | ratio` (ratio = ours/peer) with the headline last.
 *
 *   deno task bench:peers [--rounds 3] [--only smtp,pop3,imap,idle] [--idle 1000]
 *                         [--targets ours,peer] [--messages 2000] [--keep]
 *                         [--data-dir /var/tmp/extremail-bench-peers] [--settle-max 0]
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
 * holding the same 200 users, and is always stopped, on failure and Ctrl-C too. Both
 * sides' data are new each run under --data-dir (peers/fs_probe.ts says why).
 * Each figure fails soft: "n/a (reason)".
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { ALL_GROUPS, type Group, peerLoads, SINKS, type Target } from "./peers/loads.ts";
import { idleFigure, runLoad } from "./peers/measure.ts";
import { REPO } from "./peers/ours.ts";
import { abortAll, checkAborted, Interrupted, isAborted, run } from "./peers/proc.ts";
import { PeersRun } from "./peers/run_state.ts";
import { Table } from "./peers/table.ts";

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
  --data-dir DIR     where both sides' data go (default /var/tmp/extremail-bench-peers):
                     a new DIR/ours-* (our DirBase) and DIR/peers-* (PEERS_ROOT) each run,
                     removed after it; DIR gets chattr +T so ext4 gives each its own
                     flex group
  --settle-max S     before each run, wait up to S seconds until creating a file in that
                     side's data directory costs at most --settle-us µs (default 0: only
                     probe and print the cost; on ext4 without a journal creates scan
                     past inodes deleted minutes ago, and waits change the rounds' rates)
  --settle-us N      the threshold for --settle-max (default 30)
  --keep             keep both data directories (the paths are printed)
  -h, --help         this text

Environment: SHARED_DIR (default ../shared next to the repository) holds bench/*.py and
peers.sh; PEERS_ROOT, when set, is a kept root for the peers' state (its sink Maildirs are
emptied before and after the run; they are used as found when already running).
Needs root to install/start Postfix and Dovecot; without it the peer column is n/a unless
they already run.`;

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
    "data-dir": { type: "string", default: "/var/tmp/extremail-bench-peers" },
    "settle-us": { type: "string", default: "30" },
    "settle-max": { type: "string", default: "0" },
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
const SETTLE_US = Number(opt["settle-us"]);
const SETTLE_MAX = Number(opt["settle-max"]);
if (!(SETTLE_US > 0)) usage("--settle-us must be a positive number");
if (!(SETTLE_MAX >= 0)) usage("--settle-max must be a number of seconds");
const groups = opt.only.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean) as Group[];
for (const g of groups) if (!ALL_GROUPS.includes(g)) usage(`unknown --only item "${g}"`);
const targets = opt.targets.split(",").map((s) => s.trim().toLowerCase()) as Target[];
for (const t of targets) if (t !== "ours" && t !== "peer") usage(`unknown --targets item "${t}"`);
if (opt.client !== "lean" && opt.client !== "shared") usage("--client must be lean or shared");

const SHARED = resolve(Deno.env.get("SHARED_DIR") || join(REPO, "..", "shared"));
const BENCH = join(SHARED, "bench");

const T0 = Date.now();
const say = (s: string) => {
  const sec = Math.round((Date.now() - T0) / 1000);
  const clock = `${Math.floor(sec / 60)}:${String(sec % 60).padStart(2, "0")}`;
  console.error(`bench:peers [${clock}] ${s}`);
};

// ---------------------------------------------------------------------------------------
// The run (peers/run_state.ts), its loads (peers/loads.ts) and table (peers/table.ts)

const bench = new PeersRun({
  rounds: ROUNDS,
  idle: IDLE_N,
  messages: MESSAGES,
  groups,
  targets,
  lean: opt.client === "lean",
  seedDirect: opt["seed-direct"],
  bench: BENCH,
  dataDir: resolve(opt["data-dir"]),
  settleUs: SETTLE_US,
  settleMaxMs: SETTLE_MAX * 1000,
  say,
});
const want = (g: Group) => bench.want(g);
const table = new Table();
const LOADS = peerLoads(opt.client === "lean", (t, g) => bench.portFor(t, g));

let signals = 0;
const onSignal = () => {
  if (signals++ === 0) {
    say("interrupted: stopping what runs, then cleaning up");
    abortAll();
  }
};
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);

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
      `, shared: ${SHARED}, load average ${
        (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ").slice(0, 3).join(" ")
      }`,
  );
  await bench.prepareDataDir();
  try {
    await bench.preparePeer();
  } catch (e) {
    if (e instanceof Interrupted) throw e;
    bench.peerDown = (e as Error).message.split("\n")[0];
    say(`peer unavailable: ${(e as Error).message}`);
  }
  checkAborted();
  if (bench.peerReady && !bench.freshPeerRoot && (want("smtp") || want("idle"))) {
    // Start from empty sink mailboxes, so repeated runs stay comparable.
    await bench.peers.waitQueueEmpty(60_000);
    await bench.peers.clearMaildirs(range(SINKS.first, SINKS.count));
    bench.peerSinksDirty = true;
  }
  try {
    await bench.prepareOurs();
  } catch (e) {
    if (e instanceof Interrupted) throw e;
    bench.oursDown = (e as Error).message.split("\n")[0];
    say(`our server unavailable: ${(e as Error).message}`);
  }
  checkAborted();
  await bench.seed();
  if (bench.seedNote) say(bench.seedNote);
  if (want("idle")) await idleFigure(bench, table);
  for (const load of LOADS) {
    if (want(load.group)) await runLoad(bench, table, load);
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
  const server = bench.ours;
  if (server) {
    await step("stopping our server", () => server.stop());
    if (opt.keep) say(`kept our DirBase ${server.dirBase}`);
    else await step("removing our DirBase", () => server.removeFiles());
  }
  const peerProbe = bench.probes.peer;
  if (peerProbe && !opt.keep && !bench.freshPeerRoot) {
    await step("removing the peer's probe files", () => peerProbe.remove());
  }
  if (bench.peerReady && !bench.freshPeerRoot) {
    if (bench.peerSinksDirty) {
      await step("emptying the peer's sink mailboxes", async () => {
        await bench.peers.waitQueueEmpty(isAborted() ? 15_000 : 120_000);
        await bench.peers.clearMaildirs(range(SINKS.first, SINKS.count));
      });
    }
    const before = bench.peerBefore;
    if (before) await step("stopping the peers", () => bench.peers.restore(before));
  } else if (bench.freshPeerRoot) {
    const before = bench.peerBefore;
    if (before) await step("stopping the peers", () => bench.peers.restore(before));
    const root = bench.peers.root;
    if (opt.keep) say(`kept the peers' root ${root}`);
    else {
      await step(
        "removing the peers' root",
        () =>
          Deno.remove(root, { recursive: true }).catch((e) => {
            if (!(e instanceof Deno.errors.NotFound)) throw e;
          }),
      );
    }
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
    }${bench.seedNote ? `; ${bench.seedNote}` : ""}`,
);
table.print();
for (const line of bench.fsSummary()) console.log(line);
console.log(table.headline(want));
Deno.exit(exitCode);
