/**
 * A real rspamd (Debian's `rspamd` package) for the spam filtering tests, started on free
 * loopback ports with a minimal configuration written here, and stopped afterwards:
 *
 *   const rspamd = await startRspamd();          // throws with rspamd's log if it fails
 *   try { ... SpamFilter: rspamd.filter ... } finally { await rspamd.stop(); }
 *
 * The configuration: one normal worker (/checkv2) and one controller (/learnspam,
 * /learnham, /stat); no Redis and no Lua plugins (so nothing asks DNS or the network);
 * GTUBE test patterns on (`enable_test_patterns`: reject, add header, rewrite subject); a
 * small Lua rule answering `soft reject` for a subject containing SOFT-REJECT-TEST (rspamd
 * has no GTUBE for it); bayes on the sqlite3 backend, which counts what it learns in /stat.
 * A short TLD list and no hyperscan keep start-up around a second.
 *
 * rspamd will not run as root: as root it runs as nobody/nogroup (its own -u/-g).
 */
import { join } from "node:path";
import { freePorts } from "./server.ts";
import { have } from "./skip.ts";

const IS_ROOT = Deno.uid() === 0;

/** Why these tests cannot run here, or null when they can. */
export const rspamdMissing: string | null = have("rspamd")
  ? null
  : "rspamd is not installed (apt-get install rspamd)";

/** rspamd's test patterns (https://rspamd.com/doc/gtube_patterns.html). */
export const GTUBE = {
  reject: "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
  addHeader: "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
  rewriteSubject: "ZJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
};
/** A subject that makes the test configuration answer `soft reject`. */
export const SOFT_REJECT_SUBJECT = "SOFT-REJECT-TEST";

export interface RspamdStat {
  /** Messages learned since start. */
  learned: number;
  /** Revisions of the spam and ham statfiles (one per message learned as each). */
  spam: number;
  ham: number;
}

export interface TestRspamd {
  /** The `SpamFilter` value for the normal worker. */
  filter: string;
  /** The `SpamController` value (the controller worker's URL). */
  controller: string;
  dir: string;
  /** The controller's /stat counters. */
  stat(): Promise<RspamdStat>;
  /** rspamd's log so far. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

function config(dir: string, normal: number, controller: number): string {
  return `
options {
  pidfile = "${dir}/rspamd.pid";
  dns { nameserver = ["127.0.0.1:9"]; timeout = 0.5s; retransmits = 1; }
  enable_test_patterns = true;
  filters = "";
  url_tld = "${dir}/tld.dat";
  disable_hyperscan = true;
  hs_cache_dir = "${dir}";
  tempdir = "${dir}";
}
logging { type = "file"; filename = "${dir}/rspamd.log"; level = "info"; }
worker "normal" { bind_socket = "127.0.0.1:${normal}"; count = 1; }
worker "controller" {
  bind_socket = "127.0.0.1:${controller}";
  count = 1;
  secure_ip = "127.0.0.1";
  password = "extremail-test";
}
classifier "bayes" {
  tokenizer { name = "osb"; }
  backend = "sqlite3";
  cache { type = "sqlite3"; file = "${dir}/learn_cache.sqlite"; }
  min_tokens = 1;
  min_learns = 1;
  statfile { symbol = "BAYES_HAM"; spam = false; path = "${dir}/bayes.ham.sqlite"; }
  statfile { symbol = "BAYES_SPAM"; spam = true; path = "${dir}/bayes.spam.sqlite"; }
}
actions { reject = 15; add_header = 6; greylist = 4; }
lua = "${dir}/test.lua";
`;
}

const SOFT_REJECT_RULE = `
rspamd_config:register_symbol({
  name = 'EXTREMAIL_TEST_SOFT_REJECT',
  score = 0.0,
  callback = function(task)
    local subject = task:get_subject() or ''
    if subject:find('${SOFT_REJECT_SUBJECT}', 1, true) then
      task:set_pre_result('soft reject', 'try again later (test)')
      return true
    end
    return false
  end,
})
`;

/**
 * Starts rspamd; a start whose controller did not open its bayes statfiles is retried in
 * a fresh directory (see `backendsOpened`).
 */
export async function startRspamd(): Promise<TestRspamd> {
  const failures: string[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const started = await startOnce();
    if ("filter" in started) return started;
    failures.push(`attempt ${attempt}: ${started.failed}`);
    // Shown in the test output, so a run that needed the retry says so.
    console.error(`rspamd's controller came up without its bayes statfiles; restarting it`);
  }
  throw new Error(`rspamd's controller never opened its bayes statfiles:\n${failures.join("\n")}`);
}

/**
 * Whether the controller opened both bayes statfiles. In CI (stop 28) and once in a local
 * full suite (stop 29) a controller answered every learn with 404 "cannot find statfile
 * backend": it ran without the sqlite3 backend. Both workers create the statfiles at
 * start; in rspamd 3.4's sqlite3 backend a worker that finds the new database locked by
 * the other for longer than its retries (100 x 1 ms, short on a loaded machine) gives up
 * on it, logs "cannot open sqlite3 db", and still logs "added backend sqlite3 for symbol
 * X" for it, then "cannot init backend" (seen with a statfile path made unusable; a
 * first version of this check waited for the "added" line alone, and let the second
 * failure through). All come before the worker serves requests.
 */
async function backendsOpened(readLog: () => Promise<string>): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  const wanted = ["BAYES_SPAM", "BAYES_HAM"].map((symbol) =>
    new RegExp(`\\(controller\\).*added backend sqlite3 for symbol ${symbol}\\b`)
  );
  const failed = /\(controller\).*(cannot open sqlite3 db|cannot init backend)/;
  for (;;) {
    const log = await readLog();
    if (wanted.every((line) => line.test(log))) return !failed.test(log);
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startOnce(): Promise<TestRspamd | { failed: string }> {
  const dir = await Deno.makeTempDir({ prefix: "extremail-rspamd-" });
  const [normal, controller] = freePorts(2);
  await Deno.writeTextFile(join(dir, "rspamd.conf"), config(dir, normal, controller));
  await Deno.writeTextFile(join(dir, "tld.dat"), "com\nnet\norg\nexample\ntest\n");
  await Deno.writeTextFile(join(dir, "test.lua"), SOFT_REJECT_RULE);
  if (IS_ROOT) await Deno.chown(dir, 65534, 65534);
  const user = IS_ROOT ? ["-u", "nobody", "-g", "nogroup"] : [];
  const child = new Deno.Command("rspamd", {
    args: ["-f", ...user, "-c", join(dir, "rspamd.conf")],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  };
  const pumps = [pump(child.stdout), pump(child.stderr)];
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const readLog = async () => {
    try {
      return await Deno.readTextFile(join(dir, "rspamd.log"));
    } catch {
      return "";
    }
  };
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    // rspamd's main process waits for its workers; give it a moment, then cut.
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5000);
    await status;
    clearTimeout(timer);
    await Promise.all(pumps);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  // Both workers answer once rspamd is ready (a slow machine: generous).
  const deadline = Date.now() + 60_000;
  const ping = async (port: number) => {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/ping`);
      await r.body?.cancel();
      return r.ok;
    } catch {
      return false;
    }
  };
  while (!(await ping(normal)) || !(await ping(controller))) {
    if (exited || Date.now() > deadline) {
      const log = (await readLog()).slice(-3000);
      await stop();
      throw new Error(`rspamd did not start:\n${output.slice(-2000)}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!(await backendsOpened(readLog))) {
    const log = (await readLog()).split("\n").filter((l) => /sqlite|stat|backend|cannot/i.test(l));
    await stop();
    return { failed: log.slice(-20).join("\n") };
  }
  return {
    filter: `rspamd:http://127.0.0.1:${normal}`,
    controller: `http://127.0.0.1:${controller}`,
    dir,
    async stat() {
      const r = await fetch(`http://127.0.0.1:${controller}/stat`);
      const json = await r.json() as {
        learned: number;
        statfiles: { symbol: string; revision: number }[];
      };
      const rev = (s: string) => json.statfiles.find((f) => f.symbol === s)?.revision ?? 0;
      return { learned: json.learned, spam: rev("BAYES_SPAM"), ham: rev("BAYES_HAM") };
    },
    log: readLog,
    stop,
  };
}
