/**
 * bench:peers' measurements: the idle-session memory figure, and each load run against
 * both targets (a warm-up each, then measured rounds alternating who goes first) into
 * the table.
 */
import { join } from "node:path";
import { openIdleSessions, treeKiB, vmRssKiB, warmLogins } from "./idle.ts";
import { fmtProbe } from "./fs_probe.ts";
import { type Load, SINKS, type Target } from "./loads.ts";
import { DOMAIN, REPO } from "./ours.ts";
import { checkAborted, failureReason, type ProcResult, run as runProcess, sleep } from "./proc.ts";
import { PASSWORD, type PeersRun } from "./run_state.ts";
import { fmt, type Table } from "./table.ts";

const PEER_IDLE_MAX = 90;
const LEAN_LOAD = join(REPO, "bench/peers/lean_load.py");
const CPU_SHARE = join(REPO, "bench/peers/cpu_share.py");

export async function idleFigure(run: PeersRun, table: Table): Promise<void> {
  const total = table.row(
    "idle.total",
    `idle IMAP: memory with ${run.opts.idle} sessions (MiB, lower is better)`,
    true,
  );
  const per = table.row(
    "idle.per",
    "idle IMAP: memory per session (KiB, lower is better)",
    true,
    0,
  );
  for (const t of run.opts.targets) {
    checkAborted();
    const cellT = total[t], cellP = per[t];
    cellT.planned = cellP.planned = 1;
    const why = await run.unavailable(t, "imap");
    if (why) {
      cellT.failure = cellP.failure = why;
      continue;
    }
    const n = t === "ours" ? run.opts.idle : Math.min(run.opts.idle, PEER_IDLE_MAX);
    const login = (i: number) => {
      const name = `testuser${SINKS.first + (i % SINKS.count)}`;
      return t === "ours" ? `${name}@${DOMAIN}` : name;
    };
    const distinct = Array.from({ length: Math.min(n, SINKS.count) }, (_, i) => login(i));
    if (t === "ours") {
      // Measure from a fresh process: seeding leaves garbage that a GC may free mid-test.
      try {
        await run.ours!.stop();
        await run.ours!.start();
      } catch (e) {
        run.oursDown = `restart failed: ${(e as Error).message.split("\n")[0]}`;
        cellT.failure = cellP.failure = run.oursDown;
        continue;
      }
    }
    // One login at a time: concurrent first logins (scrypt, 16 MiB each) can raise the
    // RSS high-water mark by hundreds of MiB, which would hide the sessions' own memory.
    const warmErrors = await warmLogins(run.portFor(t, "imap"), distinct, PASSWORD, 1);
    if (warmErrors.length) run.opts.say(`${t}: warm-up LOGIN failed: ${warmErrors[0]}`);
    const pid = t === "ours" ? run.ours!.pid : await run.peers.dovecotMasterPid();
    if (!pid) {
      cellT.failure = cellP.failure = t === "ours" ? "our server exited" : "no dovecot master pid";
      continue;
    }
    // Ours is one process: VmRSS. Dovecot is a process tree: Pss, so shared pages count once.
    const measure = () => t === "ours" ? vmRssKiB(pid) : treeKiB(pid, "pss");
    await sleep(2000);
    const before = await measure();
    run.opts.say(`${t}: opening ${n} idle IMAP sessions (LOGIN, SELECT INBOX, IDLE)`);
    const sessions = await openIdleSessions({
      port: run.portFor(t, "imap"),
      count: n,
      login,
      password: PASSWORD,
    });
    try {
      if (sessions.opened < n) {
        cellT.failure = cellP.failure = `${sessions.opened}/${n} opened: ${sessions.errors[0]}`;
        run.opts.say(`${t}: ${cellT.failure}`);
        continue;
      }
      await sleep(2000);
      const after = await measure();
      const perSession = (after - before) / n;
      run.opts.say(
        `${t}: ${t === "ours" ? "VmRSS" : "Pss of the dovecot processes"} ${
          fmt(before / 1024)
        } MiB -> ${fmt(after / 1024)} MiB with ${n} sessions: ${fmt(perSession, 0)} KiB/session`,
      );
      cellP.values.push(perSession);
      if (t === "ours") cellT.values.push(after / 1024);
      else {
        // Dovecot's default process_limit (100) caps the sessions measured: extrapolate.
        cellT.values.push((before + perSession * run.opts.idle) / 1024);
        if (n < run.opts.idle) {
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
async function cpuShare(run: PeersRun, t: Target, load: Load): Promise<string[]> {
  const pid = t === "ours" ? run.ours?.pid : await run.peers.dovecotMasterPid();
  if (!pid) return [];
  return [CPU_SHARE, "--server-pid", String(pid), "--label", `${t} ${load.id}`, "--", "python3"];
}

async function runOnce(
  run: PeersRun,
  load: Load,
  t: Target,
  label: string,
  measured: boolean,
): Promise<ProcResult | string> {
  const why = await run.unavailable(t, load.group as "smtp" | "pop3" | "imap");
  if (why) return why;
  const settled = await run.settle(t, measured);
  const r = load.command
    ? await load.command(t)
    : load.lean && run.opts.lean
    ? await runProcess("python3", [...await cpuShare(run, t, load), ...leanArgs(load, t)], {
      timeoutMs: 900_000,
    })
    : await run.python(load.script, load.args(t));
  checkAborted();
  const last = r.stdout.trim().split("\n").pop() ?? "";
  const fs = settled
    ? ` [fs: ${fmtProbe(settled.probe)}${
      settled.waitedMs ? `, waited ${(settled.waitedMs / 1000).toFixed(1)} s` : ""
    }${settled.quiet || !run.opts.settleMaxMs ? "" : ", not quiet"}]`
    : "";
  run.opts.say(`${label} ${t}: ${r.code === 0 ? last : `FAILED (${failureReason(r)})`}${fs}`);
  if (load.group === "smtp" && t === "peer") {
    const waited = await run.peers.waitQueueEmpty();
    if (waited > 1000) {
      run.opts.say(`waited ${(waited / 1000).toFixed(1)} s for the Postfix queue to drain`);
    }
  }
  // The run's dirty pages go to disk now, not during the next target's round: after a
  // Postfix round the kernel's writeback wrote 4-26 MB up to 2 s later (/proc/diskstats),
  // into whichever round came next. Both targets get the same treatment.
  await runProcess("sync", []);
  await sleep(500);
  return r;
}

export async function runLoad(run: PeersRun, table: Table, load: Load): Promise<void> {
  const cells = load.metrics.map((m) => {
    const r = table.row(`${load.id}.${m.key}`, m.label, m.lowerBetter);
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
  for (const t of run.opts.targets) for (const c of cells) c[t].planned = run.opts.rounds;
  // Warm-up: one unmeasured run each (Dovecot builds its index cache on the first one).
  for (const t of run.opts.targets) {
    checkAborted();
    record(t, await runOnce(run, load, t, `${load.id} warm-up`, false), false);
  }
  if (volumes.ours && volumes.peer && volumes.ours !== volumes.peer) {
    run.opts.say(
      `warning: ${load.id} read ${volumes.ours} from ours but ${volumes.peer} from the peer`,
    );
  }
  for (let round = 0; round < run.opts.rounds; round++) {
    // Alternate who goes first, so neither side always runs right after the other.
    const order = round % 2 === 0 ? run.opts.targets : [...run.opts.targets].reverse();
    for (const t of order) {
      checkAborted();
      if (failed[t]) continue;
      record(
        t,
        await runOnce(run, load, t, `${load.id} round ${round + 1}/${run.opts.rounds}`, true),
        true,
      );
    }
  }
}
