/**
 * Same-time A/B of two checkouts under Postfix's smtp-source (one connection per
 * message): both daemons run at once, each from its own tree's main.ts with a fresh
 * DirBase, and the rounds alternate between them, so machine load drifts hit both alike.
 * Reports each round's rate and CPU per message (the daemon process, all its threads, and
 * its main thread: the event loop), then the medians and the B/A ratio.
 *
 *   deno run -A bench/ab.ts --a /work/wt-base --b . [--sessions 4] [--messages 2000]
 *     [--rounds 8] [--size 4096] [--perf syscalls:sys_enter_fdatasync,...]
 *
 * Why: bench:peers compares against Postfix with 500 messages per round (0.3 s at our
 * rate), and two bench:peers runs minutes apart differ more than most changes do.
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { cpuMs } from "./_daemon.ts";
import { runSmtpSource } from "./peers/smtp_source.ts";
import { median, perfStat } from "./_perf_stat.ts";

const HELP = `bench/ab.ts: smtp-source against two checkouts' daemons, rounds alternating.

  --a DIR, --b DIR   the two repository checkouts (B is the candidate)
  --sessions N       smtp-source -s (default 4)
  --messages N       messages per round, one connection each (default 2000)
  --size N           payload octets per message (default 4096)
  --rounds N         rounds per checkout (default 8)
  --perf EVENTS      perf stat events counted on the daemon during each round, reported
                     per message (e.g. syscalls:sys_enter_fdatasync; needs root and perf)`;

const { values: opt } = parseArgs({
  args: Deno.args,
  options: {
    a: { type: "string" },
    b: { type: "string" },
    sessions: { type: "string", default: "4" },
    messages: { type: "string", default: "2000" },
    size: { type: "string", default: "4096" },
    rounds: { type: "string", default: "8" },
    perf: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (opt.help || !opt.a || !opt.b) {
  console.log(HELP);
  Deno.exit(opt.help ? 0 : 2);
}

interface OurServerLike {
  ports: { smtp: number };
  pid: number | null;
  start(): Promise<void>;
  stop(): Promise<void>;
  removeFiles(): Promise<void>;
}
interface OursModule {
  DOMAIN: string;
  OurServer: {
    create(o: { users: number; password: string; maxConnections: number }): Promise<
      OurServerLike
    >;
  };
}

/** Each tree's own bench/peers/ours.ts starts that tree's main.ts. */
async function serverOf(tree: string): Promise<{ server: OurServerLike; domain: string }> {
  const url = new URL(`file://${resolve(tree, "bench/peers/ours.ts")}`);
  const mod = await import(url.href) as OursModule;
  const server = await mod.OurServer.create({
    users: 2,
    password: "password",
    maxConnections: 200,
  });
  await server.start();
  return { server, domain: mod.DOMAIN };
}

const sessions = Number(opt.sessions);
const messages = Number(opt.messages);
const rounds = Number(opt.rounds);
const sides = [
  { name: "A", tree: opt.a, rates: [] as number[], cpu: [] as number[], main: [] as number[] },
  { name: "B", tree: opt.b, rates: [] as number[], cpu: [] as number[], main: [] as number[] },
];
const servers = await Promise.all(sides.map((s) => serverOf(s.tree)));
try {
  console.log(`A ${opt.a}, B ${opt.b}: smtp-source -s ${sessions} -m ${messages} -l ${opt.size}`);
  // One warm-up round each, not counted.
  for (let round = 0; round <= rounds; round++) {
    // Alternate which side goes first, so neither always follows the other.
    const order = round % 2 ? [1, 0] : [0, 1];
    for (const i of order) {
      const { server, domain } = servers[i];
      const cpu0 = cpuMs(server.pid!);
      const main0 = cpuMs(server.pid!, server.pid!);
      const perfDone = opt.perf ? perfStat(server.pid!, opt.perf) : null;
      // perf needs a moment to attach before the round starts.
      if (perfDone) await new Promise((r) => setTimeout(r, 300));
      const r = await runSmtpSource({
        port: server.ports.smtp,
        sessions,
        messages,
        size: Number(opt.size),
        from: "s@x.test",
        to: `testuser1@${domain}`,
      });
      const cpu = cpuMs(server.pid!) - cpu0;
      const main = cpuMs(server.pid!, server.pid!) - main0;
      const counts = perfDone ? await perfDone() : new Map<string, number>();
      const perMessage = [...counts].map(([e, n]) =>
        `${e.replace(/^syscalls:sys_enter_/, "")} ${(n / messages).toFixed(2)}/msg`
      ).join(", ");
      const rate = Number(/smtp_source: ([\d.]+) msg\/s/.exec(r.stdout)?.[1] ?? NaN);
      if (r.code !== 0 || !Number.isFinite(rate)) {
        throw new Error(`smtp-source failed against ${sides[i].name}: ${r.stderr.slice(-500)}`);
      }
      const load = Deno.readTextFileSync("/proc/loadavg").split(" ")[0];
      const cpuPerMsg = (cpu * 1000) / messages;
      const mainPerMsg = (main * 1000) / messages;
      console.log(
        `round ${round}${round === 0 ? " (warm-up)" : ""} ${sides[i].name}: ${
          rate.toFixed(0)
        } msg/s, ${cpuPerMsg.toFixed(0)} µs CPU/msg (main thread ${
          mainPerMsg.toFixed(0)
        }), load ${load}${perMessage ? `, ${perMessage}` : ""}`,
      );
      if (round > 0) {
        sides[i].rates.push(rate);
        sides[i].cpu.push(cpuPerMsg);
        sides[i].main.push(mainPerMsg);
      }
    }
  }
  const [a, b] = sides.map((s) => ({
    rate: median(s.rates),
    cpu: median(s.cpu),
    main: median(s.main),
  }));
  for (const [name, m] of [["A", a], ["B", b]] as const) {
    console.log(
      `median ${name}: ${m.rate.toFixed(0)} msg/s, ${m.cpu.toFixed(0)} µs CPU/msg (main thread ${
        m.main.toFixed(0)
      })`,
    );
  }
  console.log(
    `B/A rate ${(b.rate / a.rate).toFixed(3)}, CPU ${(b.cpu / a.cpu).toFixed(3)}, main thread ${
      (b.main / a.main).toFixed(3)
    }`,
  );
  const wins = sides[1].rates.filter((r, i) => r > sides[0].rates[i]).length;
  console.log(`B faster in ${wins} of ${rounds} round pairs`);
} finally {
  for (const { server } of servers) {
    await server.stop();
    await server.removeFiles();
  }
}
