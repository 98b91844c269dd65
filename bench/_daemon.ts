/**
 * The real daemon as a child process for the benchmarks that drive it over sockets
 * (smtp.ts, hostile.ts): its configuration written under `base`, `main.ts serve` spawned,
 * the wait for its first port, the stop; and the CPU time a process has used.
 */
import { join } from "node:path";
import { formatConfig } from "../src/config/format.ts";
import type { Config } from "../src/config/schema.ts";
import { REPO } from "../tests/helpers/server.ts";

/**
 * Writes `config` to `<base>/<name>.toml` and starts `main.ts serve` on it; `denoFlags`
 * go to `deno run` (e.g. `--cpu-prof`).
 */
export async function spawnDaemon(
  base: string,
  name: string,
  config: Config,
  adminPassword: string,
  denoFlags: readonly string[] = [],
): Promise<Deno.ChildProcess> {
  const confPath = join(base, `${name}.toml`);
  await Deno.writeTextFile(confPath, formatConfig(config, { showSecrets: true }));
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", ...denoFlags, join(REPO, "main.ts"), "serve", "--conf", confPath],
    env: { EXTREMAIL_ADMIN_PASSWORD: adminPassword },
    stdin: "null",
    // BENCH_DAEMON_STDOUT=1 shows what the daemon prints there (e.g. --v8-flags=--trace-gc).
    stdout: Deno.env.get("BENCH_DAEMON_STDOUT") ? "inherit" : "null",
    stderr: "inherit",
  }).spawn();
}

/** Resolves once 127.0.0.1:`port` accepts a connection; throws after `ms`. */
export async function waitForPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error("server did not start");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** SIGTERM, and the wait until the daemon has exited. */
export async function stopDaemon(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  await child.status;
}

/**
 * CPU time (user + system) of a process so far, in ms (Linux /proc; 0 elsewhere); with
 * `thread`, of that thread only (the main thread's id is the process id).
 */
export function cpuMs(pid: number, thread?: number): number {
  try {
    const path = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
    const s = Deno.readTextFileSync(path);
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of proc(5) (utime, stime) are 12 and 13 after the command name.
    return (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms (USER_HZ 100)
  } catch {
    return 0;
  }
}
