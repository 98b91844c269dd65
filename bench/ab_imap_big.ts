/**
 * Same-time A/B of two checkouts on the 100,000-message INBOX of `bench imap
 * --messages=100000` (bench/_imap_big.ts), the steps of issue 17 that a change to the
 * folder or SEARCH moves, without Dovecot and the slow SUBJECT step: rounds alternate
 * A,B / B,A, each on a hard-linked copy (`cp -al`) of one seeded Maildir and a fresh
 * DirBase, so load from others hits both alike. Per round: first SELECT; after 2.5 s,
 * SEARCH UNSEEN 5 times (each call, and the CPU time of each daemon thread meanwhile);
 * SELECT every 200 ms for --wait seconds (the slowest, and when: V8's memory reducer
 * falls there) and the daemon's RSS at its end; then --restarts times a restart (the
 * summary written at the clean stop), SELECT, the NOOP right after it, and SEARCH UNSEEN
 * twice. Medians at the end.
 *
 * --restart-wait S: after each restart's steps, SELECT every 200 ms for S seconds; the
 * slowest command after the restart's SELECT (NOOP, UNSEEN, those SELECTs) and when, and
 * those over --slow ms.
 * A big directory's verification (verify.ts) runs after a restart when its mark is not
 * settled: --restart-change before flags 10 messages from another session just before the
 * stop (a restart within 30 s of a change), after flags them right after the restart's
 * SELECT (the change makes the mark unsettled; the next check 2 s on verifies).
 *
 *   deno run -A bench/ab_imap_big.ts --a /work/main --b . [--rounds 3] [--wait 35]
 *     [--restarts 3] [--restart-wait 35] [--restart-change none|before|after]
 *     [--a-flags "--v8-flags=--trace-gc"] [--b-flags ...] [--store] [--gc-log DIR] [--slow 15]
 *
 * --gc-log keeps each daemon's output with the SELECTs of the wait over --slow ms on the
 * daemon's clock (ms since its start), to be set beside its GC trace lines.
 *
 * Each tree's daemon runs from its own main.ts (its tests/helpers/server.ts).
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { seedBigMaildir, vmRss } from "./_imap_big.ts";
import { median } from "./_perf_stat.ts";
import { cpuMs } from "./_daemon.ts";

const { values: opt } = parseArgs({
  args: Deno.args,
  options: {
    a: { type: "string" },
    b: { type: "string" },
    rounds: { type: "string", default: "3" },
    wait: { type: "string", default: "35" },
    restarts: { type: "string", default: "3" },
    "restart-wait": { type: "string", default: "0" },
    "restart-change": { type: "string", default: "none" },
    "a-flags": { type: "string", default: "" },
    "b-flags": { type: "string", default: "" },
    store: { type: "boolean", default: false },
    "gc-log": { type: "string", default: "" },
    slow: { type: "string", default: "15" },
  },
});
if (!opt.a || !opt.b) throw new Error("--a DIR and --b DIR: the two checkouts");
if (!["none", "before", "after"].includes(opt["restart-change"])) {
  throw new Error("--restart-change none, before or after");
}
const trees = [resolve(opt.a), resolve(opt.b)];
const flags = [opt["a-flags"], opt["b-flags"]].map((f) => f.split(" ").filter(Boolean));
const USER = "big@bench.example", PASS = "bench-pass";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const loadavg = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");

async function sh(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed`);
}

/** CPU time (ms) of each thread of `pid` by "name:tid" (/proc/PID/task/TID/stat). */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const st = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/stat`);
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      const name = st.slice(st.indexOf("(") + 1, st.lastIndexOf(")"));
      out.set(`${name}:${t.name}`, (Number(f[11]) + Number(f[12])) * 10);
    } catch { /* the thread ended */ }
  }
  return out;
}

/** When process `pid` started, in epoch ms (its start in clock ticks after boot, /proc/uptime). */
function started(pid: number): number {
  const up = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
  const st = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const ticks = Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[19]);
  return Date.now() - (up * 1000 - ticks * 10);
}

async function round(tree: string, daemonFlags: string[], template: string) {
  const { seedUsers } = await import(`${tree}/tests/helpers/imap.ts`);
  const { startTestServer } = await import(`${tree}/tests/helpers/server.ts`);
  const { ImapLineClient } = await import(`${tree}/bench/_imap_bench.ts`);
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  for (const sub of ["cur", "new"]) {
    await Deno.remove(`${root}/${sub}`, { recursive: true });
    await sh("cp", ["-al", `${template}/${sub}`, `${root}/${sub}`]);
  }
  const srv = await startTestServer({
    dirBase: seed.dirBase,
    config: { LogLevel: "info" },
    denoArgs: daemonFlags,
  });
  const f: Record<string, number[]> = {};
  const add = (k: string, v: number) => (f[k] ??= []).push(v);
  let threads = "";
  try {
    const c = await ImapLineClient.open(srv.ports.imap);
    await c.cmd(`LOGIN ${USER} ${PASS}`);
    add("first SELECT", (await c.timed("SELECT INBOX"))[0]);
    await sleep(2500);
    const before = threadCpu(srv.pid()), cpu0 = cpuMs(srv.pid());
    let total = 0;
    for (let i = 1; i <= 5; i++) {
      const [ms] = await c.timed("SEARCH UNSEEN");
      add(`UNSEEN #${i}`, ms);
      total += ms;
    }
    add("UNSEEN mean of 5", total / 5);
    add("UNSEEN daemon cpu/5", (cpuMs(srv.pid()) - cpu0) / 5);
    threads = [...threadCpu(srv.pid())].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const)
      .filter(([, d]) => d > 0).map(([k, d]) => `${k}=${d}`).join(" ");
    if (opt.store) {
      // As bench imap does: a SUBJECT search (first and warm), half the folder flagged by
      // another session, then the wait.
      const subject = 'UID SEARCH SUBJECT "quarterly figures"';
      add("SUBJECT first", (await c.timed(subject))[0]);
      for (let i = 0; i < 5; i++) await c.timed(subject);
      const other = await ImapLineClient.open(srv.ports.imap);
      await other.cmd(`LOGIN ${USER} ${PASS}`);
      await other.cmd("SELECT INBOX");
      add("STORE 1:50000", (await other.timed("STORE 1:50000 +FLAGS.SILENT (\\Flagged)"))[0]);
      other.close();
    }
    let worst = 0, at = 0;
    const t0 = performance.now();
    const slow: string[] = [];
    while (performance.now() - t0 < Number(opt.wait) * 1000) {
      const start = Date.now();
      const [ms] = await c.timed("SELECT INBOX");
      if (ms > worst) [worst, at] = [ms, (performance.now() - t0) / 1000];
      // The daemon's clock for --trace-gc lines ("N ms:" since its start), to line them up.
      if (ms > Number(opt.slow)) {
        slow.push(`${(start - started(srv.pid())).toFixed(0)} ms: SELECT ${ms.toFixed(1)}`);
      }
      await sleep(200);
    }
    add("slowest SELECT in wait", worst);
    add("... at s", at);
    // What V8's memory reducer gave back (or, with --no-memory-reducer, kept).
    add("RSS at the wait's end MiB", vmRss(srv.pid()) / 1048576);
    if (opt["gc-log"]) {
      await srv.stop(); // V8's trace lines reach a pipe in blocks: all of them at the exit
      const file = `${opt["gc-log"]}/${"AB"[trees.indexOf(tree)]}-${Date.now()}.log`;
      Deno.writeTextFileSync(file, `${slow.join("\n")}\n----\n${srv.logs()}`);
      console.log(`  gc log: ${file} (slow SELECTs: ${slow.join("; ")})`);
    }
    c.close();
    for (let k = 0; k < Number(opt.restarts); k++) {
      // \Answered on and off in turn: each change renames the 10 files (a mark unsettled).
      const change = `STORE 1:10 ${k % 2 ? "-" : "+"}FLAGS.SILENT (\\Answered)`;
      if (opt["restart-change"] === "before") {
        const other = await ImapLineClient.open(srv.ports.imap);
        await other.cmd(`LOGIN ${USER} ${PASS}`);
        await other.cmd("SELECT INBOX");
        await other.cmd(change);
        other.close();
      }
      await srv.stop();
      await srv.restart();
      const d = await ImapLineClient.open(srv.ports.imap);
      await d.cmd(`LOGIN ${USER} ${PASS}`);
      const t0 = performance.now();
      add("SELECT after a restart", (await d.timed("SELECT INBOX"))[0]);
      let worst = 0, at = 0;
      const slowAfter: string[] = [];
      const after = async (text: string) => {
        const [ms] = await d.timed(text);
        const s = (performance.now() - t0) / 1000;
        if (ms > worst) [worst, at] = [ms, s];
        if (ms > Number(opt.slow)) {
          slowAfter.push(`${s.toFixed(1)} s: ${text.split(" ")[0]} ${ms.toFixed(1)}`);
        }
        return ms;
      };
      add("NOOP right after it", await after("NOOP"));
      if (opt["restart-change"] === "after") await d.cmd(change);
      await sleep(300);
      add("UNSEEN after a restart", await after("SEARCH UNSEEN"));
      add("UNSEEN 2nd after a restart", await after("SEARCH UNSEEN"));
      if (Number(opt["restart-wait"]) > 0) {
        while (performance.now() - t0 < Number(opt["restart-wait"]) * 1000) {
          await after("SELECT INBOX");
          await sleep(200);
        }
        add("slowest after a restart", worst);
        add("... after a restart at s", at);
        console.log(`  restart ${k}, over ${opt.slow} ms: ${slowAfter.join("; ") || "none"}`);
      }
      d.close();
    }
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
  return { f, threads };
}

const template = await Deno.makeTempDir({ prefix: "extremail-abbig-" });
try {
  for (const sub of ["cur", "new", "tmp"]) await Deno.mkdir(`${template}/${sub}`);
  await seedBigMaildir(template, 100_000, USER);
  const all: Record<string, number[]>[] = [{}, {}];
  for (let r = 0; r < Number(opt.rounds); r++) {
    for (const t of r % 2 ? [1, 0] : [0, 1]) {
      const load = loadavg();
      const { f, threads } = await round(trees[t], flags[t], template);
      for (const [k, v] of Object.entries(f)) (all[t][k] ??= []).push(...v);
      const last = (k: string) => f[k][f[k].length - 1].toFixed(1);
      console.log(
        `round ${r} ${"AB"[t]} (load ${load}): ` +
          Object.keys(f).map((k) => `${k} ${last(k)}`).join(", "),
      );
      console.log(`  threads' CPU ms during the 5 UNSEEN: ${threads}`);
    }
  }
  console.log(`| ${"median (all values)".padEnd(28)} | A ${trees[0]} | B ${trees[1]}`);
  for (const k of Object.keys(all[0])) {
    const cell = (t: number) =>
      `${median(all[t][k] ?? []).toFixed(1)} [${
        (all[t][k] ?? []).map((x) => x.toFixed(1)).join(", ")
      }]`;
    console.log(`| ${k.padEnd(28)} | ${cell(0)} | ${cell(1)}`);
  }
} finally {
  await Deno.remove(template, { recursive: true });
}
