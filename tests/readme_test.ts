/**
 * README's quick start, run exactly as written: the lines of its two shell blocks (marked
 * `<!-- quickstart: server -->` and `<!-- quickstart: client -->`) are taken from README.md
 * and run with bash in a copy of the repository made like a fresh clone (the files git
 * knows, nothing else), the server block in the background as in a first terminal.
 * The copy is deleted afterwards; the development ports are taken under a lock.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { devPortsBusy, systemConfigPresent, withDevPorts } from "./helpers/dev_ports.ts";
import { REPO } from "./helpers/server.ts";
import { firstReason, have, testUnless } from "./helpers/skip.ts";
import { until } from "./helpers/spec.ts";
import { dirname, join } from "node:path";

/** The lines of the shell block that follows `<!-- quickstart: NAME -->` in README.md. */
export function quickStartBlock(readme: string, name: string): string[] {
  const marker = `<!-- quickstart: ${name} -->`;
  const at = readme.indexOf(marker);
  if (at < 0) throw new Error(`README.md has no ${marker}`);
  const m = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!m) throw new Error(`no sh block after ${marker}`);
  return m[1].split("\n").filter((l) => l.trim() !== "");
}

/** A copy of the repository as a fresh clone has it: the files git tracks (and new ones). */
async function freshCopy(): Promise<string> {
  const listed = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: REPO,
    stdout: "piped",
  }).output();
  if (!listed.success) throw new Error("git ls-files failed");
  const dir = await Deno.makeTempDir({ prefix: "extremail-readme-" });
  for (const rel of new TextDecoder().decode(listed.stdout).split("\0").filter(Boolean)) {
    const from = join(REPO, rel);
    try {
      if (!(await Deno.lstat(from)).isFile) continue;
    } catch {
      continue; // deleted in the working tree
    }
    await Deno.mkdir(dirname(join(dir, rel)), { recursive: true });
    await Deno.copyFile(from, join(dir, rel));
  }
  return dir;
}

/** The environment of a new terminal: nothing of ours that the lines should set themselves. */
function terminalEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  for (const key of Object.keys(env)) if (key.startsWith("EXTREMAIL_")) delete env[key];
  return { ...env, NO_COLOR: "1" };
}

const TEST = "README quick start: the lines run verbatim on a fresh copy";

testUnless(
  firstReason(
    [!have("npx"), "npx is not installed (the quick start runs Deno through npx)"],
    [!have("swaks"), "swaks is not installed (apt-get install -y swaks)"],
    [!have("git"), "git is not installed (the fresh copy is made from git ls-files)"],
    [!have("setsid"), "setsid is not installed (util-linux)"],
    [devPortsBusy() !== null, devPortsBusy() ?? ""],
    [systemConfigPresent() !== null, systemConfigPresent() ?? ""],
  ),
  { name: TEST, fn: () => withDevPorts(TEST, runQuickStart) },
);

async function runQuickStart(): Promise<void> {
  const readme = await Deno.readTextFile(join(REPO, "README.md"));
  const serverLines = quickStartBlock(readme, "server");
  const clientLines = quickStartBlock(readme, "client");
  assert(serverLines.some((l) => /task start$/.test(l)), serverLines.join("\n"));
  const copy = await freshCopy();
  const before = new Set([...Deno.readDirSync(copy)].map((e) => e.name));
  let serverLog = "";
  // The first terminal: a session of its own, so that Ctrl-C (SIGINT) reaches npx, deno
  // task and the daemon together, as in a real terminal.
  const server = new Deno.Command("setsid", {
    args: ["bash", "-c", serverLines.join("\n")],
    cwd: copy,
    env: terminalEnv(),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const d = new TextDecoder();
    for await (const c of s) serverLog += d.decode(c, { stream: true });
  };
  const pumps = [pump(server.stdout), pump(server.stderr)];
  let stopped = false;
  try {
    await until(() => / INFO server ready/.test(serverLog), 120_000, "for the server to start");
    // The second terminal: the lines one after another in one shell (so export carries).
    const client = await new Deno.Command("bash", {
      args: ["-x", "-c", clientLines.join("\n")],
      cwd: copy,
      env: terminalEnv(),
      clearEnv: true,
      stdin: "null",
    }).output();
    const d = new TextDecoder();
    const out = d.decode(client.stdout), err = d.decode(client.stderr);
    assertEquals(client.code, 0, `client lines failed:\n${err}\n${out}\nserver:\n${serverLog}`);
    assertMatch(out, /<- {1,2}250 2\.0\.0 Ok: queued as \w+/, `swaks:\n${out}`);
    assertMatch(out, /^\(1, \d+\)$/m, `python3 did not find one message:\n${out}\n${err}`);
    assert(!/\bERROR\b/.test(serverLog), serverLog);

    Deno.kill(-server.pid, "SIGINT");
    const status = await server.status;
    stopped = true;
    await Promise.all(pumps);
    assertMatch(serverLog, / INFO server stopped/);
    assert(status.code === 0 || status.signal === "SIGINT", JSON.stringify(status));
    // Nothing but the data directory appeared in the repository: no password file.
    const added = [...Deno.readDirSync(copy)].map((e) => e.name).filter((n) => !before.has(n));
    assertEquals(added, ["extremail-data"]);
    const ignored = await new Deno.Command("git", {
      args: ["check-ignore", "-q", "extremail-data/"],
      cwd: REPO,
    }).output();
    assert(ignored.success, "extremail-data/ is ignored by git");
  } finally {
    if (!stopped) {
      try {
        Deno.kill(-server.pid, "SIGKILL");
      } catch { /* already gone */ }
      await server.status;
    }
    await Deno.remove(copy, { recursive: true });
  }
}
