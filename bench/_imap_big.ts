/**
 * The big-mailbox figures of issue 17 for bench/imap.ts, ours and Dovecot 2.3's side by
 * side on the same files (a hard-linked copy, see _imap_big_dovecot.ts), same run:
 *
 * - first SELECT with no index (the Maildir as another MDA left it: 90% in new/, 10% in
 *   cur/ with \Seen), then SELECT warm;
 * - SEARCH UNSEEN (90% hits) warm;
 * - UID SEARCH SUBJECT: the first (no header cache yet), warm, and the first after a
 *   restart (the header/sort key cache read from the index);
 * - SELECT after a restart (the index on disk);
 * - resident memory the folder costs (ours: the daemon's growth from the restart to a
 *   SELECT plus a SUBJECT search; Dovecot: its imap process), and again once SEARCH UNSEEN
 *   after the restart read every message's entry;
 * - re-scan stalls: after a flag change of half the folder, SELECT every 200 ms for
 *   --stall-seconds (the >5,000-file verification scan comes 30 s after the last one);
 *   the slowest SELECT is reported; after the restart, the same for 5 s after a change of
 *   10 messages' flags (a big directory's first verification after a restart follows it).
 */
import { seedUsers } from "../tests/helpers/imap.ts";
import { startTestServer, type TestServer } from "../tests/helpers/server.ts";
import { cpuMs } from "./_daemon.ts";
import { dovecotAvailable, type PrivateDovecot, privateDovecot } from "./_imap_big_dovecot.ts";
import { ImapLineClient, seedMaildir, warmLineClient } from "./_imap_bench.ts";

const enc = new TextEncoder();

/** Small message `i` of the big mailbox, to `to`; every 1000th mentions "quarterly figures". */
export function bigMessage(i: number, to: string, subjectTail = ""): Uint8Array {
  const body = "A short line of text for the big mailbox benchmark.\r\n".repeat(4 + i % 24);
  return enc.encode(
    `From: Sender ${i % 211} <s${i % 211}@example.org>\r\nTo: <${to}>\r\n` +
      `Subject: big mailbox message ${i}${subjectTail}\r\n` +
      `Date: Tue, 2 Jan 2024 09:00:00 +0000\r\n` +
      `Message-ID: <big-${i}@bench.example>\r\n\r\n${body}`,
  );
}

/**
 * Writes `count` small messages straight into the Maildir as another MDA would: every
 * tenth in cur/ with \Seen, the rest in new/. Returns the octets written.
 */
export function seedBigMaildir(maildir: string, count: number, to: string): Promise<number> {
  return seedMaildir(
    maildir,
    count,
    (i) => bigMessage(i, to, i % 1000 === 7 ? " quarterly figures" : ""),
    (i) => (i % 10 === 0 ? "S" : null),
  );
}

/** One server under test. */
interface Target {
  name: string;
  port: () => number;
  login: string;
  restart(): Promise<void>;
  /** Bytes the folder costs: called before (base) and after it is open. */
  rss(): number;
  rssIsGrowth: boolean;
  /** CPU time (ms) the server used so far: figures are printed as "wall (cpu)". */
  cpu(): number;
}

type Figures = Record<string, string>;

const SUBJECT = 'UID SEARCH SUBJECT "quarterly figures"';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

async function mean(c: ImapLineClient, text: string, rounds: number): Promise<[number, number]> {
  let total = 0, hits = 0;
  for (let r = 0; r < rounds; r++) {
    const [ms, h] = await c.timed(text);
    total += ms;
    hits = h;
  }
  return [total / rounds, hits];
}

/** SELECT every 200 ms for `seconds`: the slowest and when (s). */
async function slowestSelect(c: ImapLineClient, seconds: number): Promise<[number, number]> {
  let worst = 0, at = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const [ms] = await c.timed("SELECT INBOX");
    if (ms > worst) [worst, at] = [ms, (performance.now() - t0) / 1000];
    await sleep(200);
  }
  return [worst, at];
}

async function measure(t: Target, stallSeconds: number, say: (s: string) => void) {
  const f: Figures = {};
  const note = (k: string, v: string) => {
    f[k] = v;
    say(`big ${t.name}: ${k} ${v}`);
  };
  /** Runs one step: its wall time and the CPU time the server spent, "12.3 ms (cpu 10)". */
  const step = async (k: string, work: () => Promise<[number, string?]>, digits = 1) => {
    const cpu0 = t.cpu();
    const [ms, extra] = await work();
    const cpu = t.cpu() - cpu0;
    note(k, `${ms.toFixed(digits)} ms (cpu ${cpu.toFixed(0)})${extra ? ` ${extra}` : ""}`);
  };
  const c = await ImapLineClient.open(t.port());
  await c.cmd(t.login);
  await step("first SELECT (no index)", async () => [(await c.timed("SELECT INBOX"))[0]], 0);
  await sleep(2500);
  await step("SELECT warm", async () => [(await mean(c, "SELECT INBOX", 5))[0]], 2);
  await step("SEARCH UNSEEN", async () => {
    const [ms, hits] = await mean(c, "SEARCH UNSEEN", 5);
    return [ms, `(${hits} hits)`];
  });
  await step("UID SEARCH SUBJECT first", async () => {
    const [ms, hits] = await c.timed(SUBJECT);
    return [ms, `(${hits} hits)`];
  }, 0);
  await step("UID SEARCH SUBJECT warm", async () => [(await mean(c, SUBJECT, 5))[0]]);
  if (stallSeconds > 0) {
    // A large change: half the folder flagged by another session.
    const other = await ImapLineClient.open(t.port());
    await other.cmd(t.login);
    await other.cmd("SELECT INBOX");
    await step("STORE 1:50000 +FLAGS.SILENT (\\Flagged)", async () => {
      return [(await other.timed("STORE 1:50000 +FLAGS.SILENT (\\Flagged)"))[0]];
    }, 0);
    other.close();
    const [worst, at] = await slowestSelect(c, stallSeconds);
    note(
      `slowest SELECT in ${stallSeconds} s after it`,
      `${worst.toFixed(1)} ms (at ${at.toFixed(0)} s)`,
    );
  }
  c.close();
  await t.restart();
  const base = t.rss();
  const r = await ImapLineClient.open(t.port());
  await r.cmd(t.login);
  await step("SELECT after a restart", async () => [(await r.timed("SELECT INBOX"))[0]]);
  await step("UID SEARCH SUBJECT first after a restart", async () => [(await r.timed(SUBJECT))[0]]);
  await step(
    "UID SEARCH SUBJECT warm after a restart",
    async () => [(await mean(r, SUBJECT, 3))[0]],
  );
  await sleep(500);
  const after = t.rss();
  note(
    "RSS for the open folder",
    t.rssIsGrowth ? `${mib(after - base)} (daemon ${mib(base)} -> ${mib(after)})` : mib(after),
  );
  await step("SEARCH UNSEEN after a restart", async () => {
    const [ms, hits] = await mean(r, "SEARCH UNSEEN", 3);
    return [ms, `(${hits} hits)`];
  });
  await sleep(500);
  const afterUnseen = t.rss();
  const growth = (now: number) =>
    t.rssIsGrowth ? `${mib(now - base)} (daemon ${mib(base)} -> ${mib(now)})` : mib(now);
  note("RSS after UNSEEN", growth(afterUnseen));
  // Sizes need every message's entry (the rows behind the summary): the folder whole.
  await step("SEARCH LARGER 10 after a restart", async () => {
    const [ms, hits] = await r.timed("SEARCH LARGER 10");
    return [ms, `(${hits} hits)`];
  });
  await sleep(500);
  note("RSS with every entry read (after LARGER)", growth(t.rss()));
  if (stallSeconds > 0) {
    // After a restart a big directory is verified 2 s after its first change (dirs.ts,
    // verify.ts): its worker's start, made there, stalled every session (stop 36).
    await r.cmd("STORE 1:10 +FLAGS.SILENT (\\Answered)");
    const [worst, at] = await slowestSelect(r, 5);
    note(
      "slowest SELECT in 5 s after a change, restarted",
      `${worst.toFixed(1)} ms (at ${at.toFixed(1)} s)`,
    );
  }
  r.close();
  return f;
}

/**
 * Runs the figures against our daemon (`srv`, whose user `login` holds the seeded
 * folder at `root`) and, when it can run here, a private Dovecot on a copy of the same
 * files; prints them side by side.
 */
export async function bigComparison(opts: {
  srv: TestServer;
  root: string;
  login: string;
  stallSeconds: number;
  dovecot: boolean;
}): Promise<Figures> {
  let dovecot: PrivateDovecot | null = null;
  if (opts.dovecot && await dovecotAvailable()) dovecot = await privateDovecot(opts.root);
  const say = (s: string) => console.log(s);
  // Ours is timed first: the client is warmed so it is as warm for ours as for Dovecot's.
  await warmLineClient();
  const ours = await measure(
    {
      name: "ours",
      port: () => opts.srv.ports.imap,
      login: opts.login,
      restart: async () => {
        await opts.srv.stop();
        await keepDaemonLog(opts.srv, "before-restart");
        await opts.srv.restart();
      },
      rss: () => vmRss(opts.srv.pid()),
      rssIsGrowth: true,
      cpu: () => cpuMs(opts.srv.pid()),
    },
    opts.stallSeconds,
    say,
  );
  let theirs: Figures = {};
  if (dovecot) {
    try {
      await dovecot.start();
      const d = dovecot;
      theirs = await measure(
        {
          name: "dovecot",
          port: () => d.port,
          login: `LOGIN ${d.user} ${d.password}`,
          restart: async () => {
            await d.stop();
            await d.start();
          },
          rss: () => d.imapRss(),
          rssIsGrowth: false,
          cpu: () => d.imapCpu(),
        },
        opts.stallSeconds,
        say,
      );
    } finally {
      await dovecot.remove();
    }
  }
  console.log(`| ${"100,000-message INBOX".padEnd(44)} | ${"ours".padEnd(34)} | Dovecot 2.3`);
  for (const k of Object.keys(ours)) {
    console.log(`| ${k.padEnd(44)} | ${ours[k].padEnd(34)} | ${theirs[k] ?? "-"}`);
  }
  return ours;
}

export function vmRss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/**
 * `deno task bench imap -- --messages=N` with N of 50,000 or more: a fresh DirBase with
 * one user whose INBOX gets `count` messages, the daemon, the comparison, and a headline.
 */
export async function bigOnly(opts: {
  count: number;
  stallSeconds: number;
  dovecot: boolean;
  denoArgs: string[];
}): Promise<void> {
  const { count } = opts;
  const user = "big@bench.example", pass = "bench-pass";
  const seed = await seedUsers({ [user]: pass });
  const t0 = performance.now();
  const octets = await seedBigMaildir(seed.roots[user], count, user);
  console.log(
    `big mailbox: ${count} messages, ${octets} octets written in ` +
      `${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const srv = await startTestServer({
    dirBase: seed.dirBase,
    config: { LogLevel: "info" },
    denoArgs: opts.denoArgs,
  });
  let figures: Figures = {};
  try {
    figures = await bigComparison({
      srv,
      root: seed.roots[user],
      login: `LOGIN ${user} ${pass}`,
      stallSeconds: opts.stallSeconds,
      dovecot: opts.dovecot,
    });
  } finally {
    await srv.stop();
    await keepDaemonLog(srv, "after-restart");
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
  const f = (k: string) => (figures[k] ?? "?").replace(/ \(.*/, "");
  console.log(
    `imap big: ${count} messages; first SELECT ${f("first SELECT (no index)")}; ` +
      `SELECT after a restart ${f("SELECT after a restart")}; ` +
      `UNSEEN ${f("SEARCH UNSEEN")}; SUBJECT warm ${f("UID SEARCH SUBJECT warm")}, after a ` +
      `restart ${f("UID SEARCH SUBJECT first after a restart")}; RSS ${
        f("RSS for the open folder")
      }`,
  );
}

/**
 * BENCH_DAEMON_LOG=path keeps what our daemon printed, in `path.<part>` (the output is
 * the running process's only, so the first daemon's is kept before the restart): with
 * --daemon-flags=--v8-flags=--trace-gc, its GC lines to set beside the stalls.
 */
async function keepDaemonLog(srv: TestServer, part: string): Promise<void> {
  const path = Deno.env.get("BENCH_DAEMON_LOG");
  if (path) await Deno.writeTextFile(`${path}.${part}`, srv.logs());
}
