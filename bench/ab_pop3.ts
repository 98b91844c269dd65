/**
 * Same-time A/B of two checkouts under bench:peers' lean POP3 (or IMAP) read load: both
 * daemons run at once, each from its own tree's main.ts, on fresh copies (`cp -a`) of one
 * DirBase seeded like `bench:peers --seed-direct` (4 x 2,000 messages, seed 42), and the
 * runs alternate A,B / B,A, so load from others hits both alike. Reports each run's rate,
 * server CPU per operation (all threads and the event loop's thread, /proc), the load
 * average, then the medians and B/A.
 *
 *   deno run -A bench/ab_pop3.ts --a /work/wt-base --b . [--load pop3|imap] [--runs 6]
 *     [--passes 1] [--sessions 4] [--perf EVENTS] [--b-v8 FLAGS]
 *
 * Each run also reports the event loop thread's context switches per operation: "vcs"
 * (voluntary: the loop slept in epoll_wait with nothing to do) and "ivcs" (preempted).
 * CPU per RETR follows vcs on this VM (docs/performance.md, "POP3 RETR: why bench:peers
 * and ab_pop3 differ"): compare runs only at similar vcs.
 *
 * Why: bench:peers runs ours and Dovecot minutes apart on a fresh DirBase each time, and
 * where a DirBase's files sit alone moves CPU per RETR by 2-3 µs (docs/performance.md,
 * "Did the merges of 2026-12-07 slow POP3 RETR and IMAP?"): more than most changes.
 */
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { median, perfStat } from "./_perf_stat.ts";

const HELP = `bench/ab_pop3.ts: lean POP3/IMAP reads against two checkouts' daemons, alternating.

  --a DIR, --b DIR   the two repository checkouts (B is the candidate)
  --load NAME        pop3 (default: 4 sessions RETR every message) or imap (lean_load imap)
  --runs N           measured runs per checkout (default 6; one warm-up each before)
  --passes N         lean_load --rounds: sessions per client process per run (default 1)
  --sessions N       concurrent client sessions (default 4, as bench:peers); fewer leave the
                     event loop idle between commands more often
  --perf EVENTS      perf stat events counted on each daemon per run, reported per op
  --b-v8 FLAGS       DENO_V8_FLAGS for B's daemon only (a V8 setting measured against A)`;

const { values: opt } = parseArgs({
  args: Deno.args,
  options: {
    a: { type: "string" },
    b: { type: "string" },
    load: { type: "string", default: "pop3" },
    runs: { type: "string", default: "6" },
    passes: { type: "string", default: "1" },
    sessions: { type: "string", default: "4" },
    perf: { type: "string" },
    "b-v8": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (opt.help || !opt.a || !opt.b || !["pop3", "imap"].includes(opt.load!)) {
  console.log(HELP);
  Deno.exit(opt.help ? 0 : 2);
}

interface OurServerLike {
  ports: { pop3: number; imap: number };
  pid: number | null;
  dirBase: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  removeFiles(): Promise<void>;
  seedDirect(users: string[], messages: readonly Uint8Array[]): Promise<void>;
}
interface OursModule {
  DOMAIN: string;
  OurServer: {
    create(o: { users: number; password: string; maxConnections: number }): Promise<
      OurServerLike
    >;
  };
  parseDump(data: Uint8Array): Uint8Array[];
}

const USERS = ["testuser1", "testuser2", "testuser3", "testuser4"];
const SHARED_BENCH = "/work/shared/bench";

async function sh(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** The event loop thread's [voluntary, involuntary] context switches so far. */
function switches(pid: number): [number, number] {
  const s = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/status`);
  const count = (re: RegExp) => Number(re.exec(s)?.[1]);
  return [
    count(/\nvoluntary_ctxt_switches:\s+(\d+)/),
    count(/nonvoluntary_ctxt_switches:\s+(\d+)/),
  ];
}

/** utime + stime in clock ticks (10 ms) of a /proc stat file. */
function ticks(path: string): number {
  const s = Deno.readTextFileSync(path);
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

const trees = [resolve(opt.a!), resolve(opt.b!)];
const mods = await Promise.all(
  trees.map((t) =>
    import(new URL(`file://${join(t, "bench/peers/ours.ts")}`).href) as Promise<OursModule>
  ),
);
const servers = await Promise.all(
  mods.map((m) => m.OurServer.create({ users: 4, password: "password", maxConnections: 200 })),
);
const domain = mods[0].DOMAIN;
try {
  // One seeded DirBase, copied afresh for each side (file placement then alike).
  const dump = await new Deno.Command("python3", {
    args: [join(trees[0], "bench/peers/dump_messages.py"), SHARED_BENCH, "--count", "2000"]
      .concat(["--seed", "42"]),
    stdout: "piped",
  }).output();
  await servers[0].seedDirect(USERS, mods[0].parseDump(dump.stdout));
  const seeded = servers[0].dirBase + ".seeded";
  await sh("mv", [servers[0].dirBase, seeded]);
  for (const s of servers) {
    await sh("rm", ["-rf", s.dirBase]);
    await sh("cp", ["-a", seeded, s.dirBase]);
  }
  await sh("rm", ["-rf", seeded]);
  for (const [i, s] of servers.entries()) {
    if (i === 1 && opt["b-v8"]) Deno.env.set("DENO_V8_FLAGS", opt["b-v8"]);
    await s.start();
    Deno.env.delete("DENO_V8_FLAGS");
  }
  const load = opt.load!;
  const sides = ["A", "B"].map((name) => ({ name, rate: [] as number[], all: [] as number[] }))
    .map((s) => ({ ...s, main: [] as number[] }));
  console.log(`A ${trees[0]}, B ${trees[1]}: lean_load ${load}, passes ${opt.passes}`);
  const runs = Number(opt.runs);
  for (let run = 0; run <= runs; run++) {
    const order = run % 2 ? [1, 0] : [0, 1];
    for (const i of order) {
      const server = servers[i];
      const pid = server.pid!;
      const port = load === "pop3" ? server.ports.pop3 : server.ports.imap;
      const user = load === "pop3" ? `testuser%d@${domain}` : `testuser3@${domain}`;
      const perfDone = opt.perf ? perfStat(pid, opt.perf) : null;
      if (perfDone) await new Promise((r) => setTimeout(r, 300));
      const all0 = ticks(`/proc/${pid}/stat`);
      const main0 = ticks(`/proc/${pid}/task/${pid}/stat`);
      const cs0 = switches(pid);
      const out = await sh("python3", [
        join(trees[0], "bench/peers/lean_load.py"),
        load,
        ...["--port", String(port), "--sessions", opt.sessions!, "--rounds", opt.passes!],
        ...["--user", user, "--password", "password"],
      ]);
      const all = ticks(`/proc/${pid}/stat`) - all0;
      const main = ticks(`/proc/${pid}/task/${pid}/stat`) - main0;
      const cs = switches(pid).map((n, k) => n - cs0[k]);
      const counts = perfDone ? await perfDone() : new Map<string, number>();
      const ops = Number(
        (load === "pop3" ? /^retrieved (\d+) messages/m : /^(\d+) ops in/m).exec(out)?.[1],
      );
      const rate = Number(
        (load === "pop3" ? /^pop3_retr: ([\d.]+) msg\/s/m : /^imap_fetch: ([\d.]+)/m)
          .exec(out)?.[1],
      );
      if (!(ops > 0) || /error:/.test(out)) throw new Error(`load failed:\n${out}`);
      const perOp = (t: number) => (t * 10_000) / ops; // ticks of 10 ms -> µs per op
      const loadAvg = Deno.readTextFileSync("/proc/loadavg").split(" ")[0];
      const rss = /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1];
      const perf = [...counts].map(([e, n]) =>
        `${e.replace(/^syscalls:sys_enter_/, "")} ${(n / ops).toFixed(2)}`
      ).join(", ");
      console.log(
        `run ${run}${run === 0 ? " (warm-up)" : ""} ${sides[i].name}: ${rate.toFixed(0)}/s, ` +
          `CPU ${perOp(all).toFixed(1)} µs/op (main ${perOp(main).toFixed(1)}), load ${loadAvg}, ` +
          `RSS ${(Number(rss) / 1024).toFixed(0)} MiB, ` +
          `loop vcs ${(cs[0] / ops).toFixed(3)} ivcs ${(cs[1] / ops).toFixed(3)} per op` +
          (perf ? `, per op: ${perf}` : ""),
      );
      if (run > 0) {
        sides[i].rate.push(rate);
        sides[i].all.push(perOp(all));
        sides[i].main.push(perOp(main));
      }
    }
  }
  for (const s of sides) {
    console.log(
      `median ${s.name}: ${median(s.rate).toFixed(0)}/s, CPU ${median(s.all).toFixed(1)} µs/op ` +
        `(main ${median(s.main).toFixed(1)})`,
    );
  }
  const [a, b] = sides;
  const lower = b.all.filter((v, i) => v < a.all[i]).length;
  // Each pair ran back to back: its ratio is what the alternation controls for load.
  const paired = median(b.all.map((v, i) => v / a.all[i]));
  console.log(`paired B/A CPU per op (median of the ${runs} pairs' ratios): ${paired.toFixed(3)}`);
  console.log(
    `B/A rate ${(median(b.rate) / median(a.rate)).toFixed(3)}, CPU ${
      (median(b.all) / median(a.all)).toFixed(3)
    }; B's CPU lower in ${lower} of ${runs} pairs`,
  );
} finally {
  for (const s of servers) {
    await s.stop();
    await s.removeFiles();
  }
}
