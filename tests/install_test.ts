// Tests for install.sh, conf/extremail.init and conf/extremail.service.
//
// install.sh is run from the repository itself with --prefix into temporary directories;
// nothing outside those directories is touched. --no-deno-cache keeps most runs offline:
// the launcher then uses the caller's Deno cache. The service test caches the dependencies
// into the prefix (the npm registry is needed at install time) and then starts the daemon
// as an unprivileged user in a network namespace without any network.

import { firstReason, have, testUnless } from "./helpers/skip.ts";

// Minimal assertions, so that this file needs no dependency.
class AssertionError extends Error {}

function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

function assertEquals(actual: unknown, expected: unknown, msg = ""): void {
  const a = JSON.stringify(actual, null, 1);
  const e = JSON.stringify(expected, null, 1);
  if (a !== e) {
    throw new AssertionError(`${msg ? msg + ": " : ""}expected ${e}\n  got ${a}`);
  }
}

function assertMatch(actual: string, re: RegExp, msg = ""): void {
  assert(re.test(actual), `${msg ? msg + ": " : ""}${JSON.stringify(actual)} does not match ${re}`);
}

function assertStringIncludes(actual: string, expected: string, msg = ""): void {
  assert(
    actual.includes(expected),
    `${msg ? msg + ": " : ""}expected to find ${JSON.stringify(expected)} in:\n${actual}`,
  );
}

const REPO = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const INSTALL = `${REPO}/install.sh`;

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

const HAVE_CONF = exists(`${REPO}/conf/extremail.toml`);
const HAVE_BINARY = exists(`${REPO}/dist/extremail`);
const HAVE_SOURCES = exists(`${REPO}/main.ts`) && exists(`${REPO}/deno.json`) &&
  exists(`${REPO}/src`);
const HAVE_PROGRAM = HAVE_BINARY || HAVE_SOURCES;
const IS_ROOT = Deno.uid() === 0;

if (!HAVE_PROGRAM) {
  console.warn(
    "install_test: neither main.ts nor dist/extremail exists yet; the install.sh runs are skipped",
  );
}
if (!HAVE_CONF) {
  console.warn(
    "install_test: conf/extremail.toml does not exist yet; the configuration assertions are skipped",
  );
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[], env?: Record<string, string>): Promise<Result> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: REPO,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function install(...args: string[]): Promise<Result> {
  return run("bash", [INSTALL, "--no-deno-cache", ...args]);
}

function assertOk(r: Result, what: string): void {
  assertEquals(r.code, 0, `${what} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
}

function mode(path: string): number {
  return Deno.statSync(path).mode! & 0o7777;
}

function isExecutable(path: string): boolean {
  const st = Deno.statSync(path);
  return st.isFile && (st.mode! & 0o111) === 0o111;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "extremail-install-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Every path below root with its mode, size, mtime and (for files) content. */
function snapshot(root: string): string[] {
  const lines: string[] = [];
  const walk = (dir: string) => {
    for (const entry of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
      const path = `${dir}/${entry.name}`;
      const st = Deno.lstatSync(path);
      let line = `${path} ${st.mode} ${st.size} ${st.mtime?.getTime()}`;
      if (st.isFile && st.size < 1_000_000) line += " " + Deno.readTextFileSync(path);
      lines.push(line);
      if (st.isDirectory) walk(path);
    }
  };
  walk(root);
  return lines;
}

Deno.test("install.sh passes bash -n", async () => {
  assertOk(await run("bash", ["-n", INSTALL]), "bash -n install.sh");
});

Deno.test("conf/extremail.init passes sh -n and has an LSB header", async () => {
  assertOk(await run("sh", ["-n", `${REPO}/conf/extremail.init`]), "sh -n conf/extremail.init");
  const text = Deno.readTextFileSync(`${REPO}/conf/extremail.init`);
  assert(text.startsWith("#!/bin/sh\n"), "POSIX sh shebang");
  assertStringIncludes(text, "### BEGIN INIT INFO");
  assertStringIncludes(text, "# Provides:          extremail");
  assertStringIncludes(text, "### END INIT INFO");
  assertStringIncludes(text, "PIDFILE=/run/extremail.pid");
  assertStringIncludes(text, "DAEMON=/usr/local/sbin/extremail");
  assertStringIncludes(text, "CONF=/etc/extremail/extremail.toml");
});

Deno.test("conf/extremail.service has the required settings", () => {
  const text = Deno.readTextFileSync(`${REPO}/conf/extremail.service`);
  for (
    const line of [
      "Type=simple",
      "ExecStart=/usr/local/sbin/extremail serve --conf /etc/extremail/extremail.toml",
      "ExecReload=/bin/kill -HUP $MAINPID",
      "Restart=on-failure",
      "User=extremail",
      "Group=extremail",
      "AmbientCapabilities=CAP_NET_BIND_SERVICE",
      "NoNewPrivileges=true",
      "ProtectSystem=full",
      "ReadWritePaths=/var/spool/extremail /var/log/extremail",
      "PrivateTmp=true",
      "WantedBy=multi-user.target",
    ]
  ) {
    assert(text.split("\n").includes(line), `missing line: ${line}`);
  }
  // V8's JIT needs writable+executable memory.
  assert(!/^MemoryDenyWriteExecute=/m.test(text), "MemoryDenyWriteExecute breaks Deno");
});

Deno.test("install.sh --help prints the options", async () => {
  const r = await run("bash", [INSTALL, "--help"]);
  assertOk(r, "install.sh --help");
  for (const opt of ["--prefix", "--dry-run", "--help"]) assertStringIncludes(r.stdout, opt);
  const bad = await run("bash", [INSTALL, "--no-such-option"]);
  assert(bad.code !== 0, "an unknown option must fail");
});

Deno.test({
  name: "install.sh --prefix installs program, configuration, init script, unit and DirBase",
  ignore: !HAVE_PROGRAM,
  fn: () =>
    withTempDir(async (tmp) => {
      const p = `${tmp}/root`;
      const first = await install("--prefix", p);
      assertOk(first, "first install");
      assertStringIncludes(first.stdout, "Next steps");
      assertStringIncludes(first.stdout, "admin password");

      const bin = `${p}/usr/local/sbin/extremail`;
      assert(isExecutable(bin), "the program is installed and executable");
      const head = new TextDecoder().decode(Deno.readFileSync(bin).subarray(0, 4096));
      if (head.startsWith("#!")) {
        // Launcher: points into the prefix, sources copied next to it.
        assertStringIncludes(head, `LIB='${p}/usr/local/lib/extremail'`);
        assertStringIncludes(
          head,
          'run --cached-only --allow-all --config "$LIB/deno.json" "$LIB/main.ts"',
        );
        assert(isExecutable(`${p}/usr/local/lib/extremail/bin/deno`), "Deno is installed");
        assert(exists(`${p}/usr/local/lib/extremail/main.ts`));
        assert(exists(`${p}/usr/local/lib/extremail/deno.json`));
        assert(exists(`${p}/usr/local/lib/extremail/src`));
      } else {
        assert(HAVE_BINARY, "a non-script program must be dist/extremail");
      }

      // Init script and unit, pointing into the prefix.
      const initd = `${p}/etc/init.d/extremail`;
      const unit = `${p}/etc/systemd/system/extremail.service`;
      assertEquals(mode(initd), 0o755);
      assertEquals(mode(unit), 0o644);
      assertStringIncludes(Deno.readTextFileSync(initd), `DAEMON=${p}/usr/local/sbin/extremail`);
      assertStringIncludes(
        Deno.readTextFileSync(unit),
        `ExecStart=${p}/usr/local/sbin/extremail serve --conf ${p}/etc/extremail/extremail.toml`,
      );
      assertOk(await run("sh", ["-n", initd]), "sh -n on the installed init script");
      const initText = Deno.readTextFileSync(initd);
      assertStringIncludes(initText, `PIDFILE=${p}/run/extremail.pid`);
      assertStringIncludes(initText, `[ -d ${p}/run ] || PIDFILE=${p}/var/run/extremail.pid`);
      if (HAVE_CONF) {
        // The staged configuration keeps its state inside the prefix too.
        assertMatch(
          Deno.readTextFileSync(`${p}/etc/extremail/extremail.toml`),
          new RegExp(`^DirBase = "${p}/var/spool/extremail"$`, "m"),
        );
      }

      // State and log directories.
      assert(Deno.statSync(`${p}/var/spool/extremail`).isDirectory);
      assertEquals(mode(`${p}/var/spool/extremail`), 0o750);
      assert(Deno.statSync(`${p}/var/log/extremail`).isDirectory);

      // Staged installs never create users.
      assertStringIncludes(first.stdout, "skipped");

      // Second run: nothing changes.
      const before = snapshot(p);
      const second = await install("--prefix", p);
      assertOk(second, "second install");
      assertStringIncludes(second.stdout, "unchanged");
      assertStringIncludes(second.stdout, "Nothing changed");
      assertEquals(snapshot(p), before, "a second run must not modify anything");

      const version = await run(bin, ["--version"]);
      assertOk(version, "installed extremail --version");
      assertMatch(version.stdout.trim(), /^\d+(\.\d+)*$/);
    }),
});

Deno.test({
  name: "install.sh keeps an edited configuration and writes extremail.toml.new",
  ignore: !HAVE_PROGRAM,
  fn: () =>
    withTempDir(async (tmp) => {
      if (!HAVE_CONF) {
        console.warn("skipped: conf/extremail.toml is missing");
        return;
      }
      const p = `${tmp}/root`;
      const conf = `${p}/etc/extremail/extremail.toml`;
      assertOk(await install("--prefix", p), "first install");
      // What a staged install ships: the file with its DirBase inside the prefix.
      const shipped = Deno.readTextFileSync(`${REPO}/conf/extremail.toml`).replace(
        /^DirBase = .*$/m,
        `DirBase = "${p}/var/spool/extremail"`,
      );
      assertEquals(Deno.readTextFileSync(conf), shipped, "the configuration landed");
      assertEquals(mode(conf), 0o640);
      assert(!exists(`${conf}.new`), "no .new file when nothing was edited");

      const edited = shipped + "\n# edited by the administrator\n";
      Deno.writeTextFileSync(conf, edited);
      const second = await install("--prefix", p);
      assertOk(second, "second install");
      assertEquals(Deno.readTextFileSync(conf), edited, "the admin's edits are kept");
      assertEquals(Deno.readTextFileSync(`${conf}.new`), shipped, "the shipped copy is .new");
      assertStringIncludes(second.stdout, "extremail.toml.new");

      const third = await install("--prefix", p);
      assertOk(third, "third install");
      assertEquals(Deno.readTextFileSync(conf), edited);
      assertStringIncludes(third.stdout, "Nothing changed");
    }),
});

Deno.test({
  name: "install.sh --launcher writes a launcher whose paths point into the prefix",
  ignore: !HAVE_SOURCES,
  fn: () =>
    withTempDir(async (tmp) => {
      const p = `${tmp}/root`;
      assertOk(await install("--prefix", p, "--launcher"), "launcher install");
      const launcher = Deno.readTextFileSync(`${p}/usr/local/sbin/extremail`);
      assert(launcher.startsWith("#!/bin/sh\n"));
      assertStringIncludes(launcher, `LIB='${p}/usr/local/lib/extremail'`);
      // SPEC §7: the service never downloads anything when it starts.
      assertStringIncludes(launcher, "run --cached-only --allow-all");
      assert(!launcher.includes("npx"), "the launcher never falls back to npx");
      const deno = `${p}/usr/local/lib/extremail/bin/deno`;
      assert(isExecutable(deno), "Deno is installed next to the sources");
      const version = await run(deno, ["--version"]);
      assertMatch(version.stdout, /^deno 2\.9\.6 /);
      // Without its Deno the launcher names what is missing instead of fetching anything.
      Deno.renameSync(deno, `${deno}.away`);
      const missing = await run(`${p}/usr/local/sbin/extremail`, ["--version"]);
      Deno.renameSync(`${deno}.away`, deno);
      assertEquals(missing.code, 127);
      assertStringIncludes(missing.stderr, "Deno 2.9.6 is missing");
      assertStringIncludes(missing.stderr, deno);
      assertOk(
        await run("sh", ["-n", `${p}/usr/local/sbin/extremail`]),
        "sh -n on the launcher",
      );
      assertEquals(
        Deno.readTextFileSync(`${p}/usr/local/lib/extremail/main.ts`),
        Deno.readTextFileSync(`${REPO}/main.ts`),
      );
      // A source file that disappears from the repository disappears from the install.
      const stale = `${p}/usr/local/lib/extremail/src/stale_module_test.ts`;
      Deno.writeTextFileSync(stale, "export {};\n");
      const again = await install("--prefix", p, "--launcher");
      assertOk(again, "second launcher install");
      assert(!exists(stale), "stale source files are removed");
      assertStringIncludes(again.stdout, "1 removed");
    }),
});

Deno.test({
  name: "install.sh --dry-run creates and changes nothing",
  ignore: !HAVE_PROGRAM,
  fn: () =>
    withTempDir(async (tmp) => {
      const hadDist = exists(`${REPO}/dist`);
      const p = `${tmp}/root`;
      const dry = await install("--prefix", p, "--dry-run");
      assertOk(dry, "dry run");
      assertStringIncludes(dry.stdout, "[dry-run]");
      assertStringIncludes(dry.stdout, "would install");
      assert(!exists(p), "a dry run into a fresh prefix creates nothing");
      assertEquals([...Deno.readDirSync(tmp)], [], "nothing else appeared in the temp dir");
      assertEquals(exists(`${REPO}/dist`), hadDist, "the repository is untouched");

      // After a real install, a dry run leaves the tree exactly as it was.
      assertOk(await install("--prefix", p), "real install");
      const conf = `${p}/etc/extremail/extremail.toml`;
      if (HAVE_CONF) Deno.writeTextFileSync(conf, "\n# edited\n", { append: true });
      Deno.chmodSync(`${p}/var/spool/extremail`, 0o755);
      const before = snapshot(p);
      const dry2 = await install("--prefix", p, "--dry-run");
      assertOk(dry2, "second dry run");
      assertStringIncludes(dry2.stdout, "chmod 0750");
      assertEquals(snapshot(p), before, "a dry run must not modify the tree");
      assert(!exists(`${conf}.new`));
    }),
});

/** Files the process `pid` holds open for writing (paths only: no sockets, pipes). */
function filesOpenForWriting(pid: number): string[] {
  const out: string[] = [];
  for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
    let target: string;
    let info: string;
    try {
      target = Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`);
      info = Deno.readTextFileSync(`/proc/${pid}/fdinfo/${fd.name}`);
    } catch {
      continue; // closed meanwhile
    }
    const flags = parseInt(/^flags:\s+([0-7]+)/m.exec(info)?.[1] ?? "0", 8);
    // O_WRONLY = 1, O_RDWR = 2.
    if (target.startsWith("/") && (flags & 3) !== 0) out.push(target.replace(/ \(deleted\)$/, ""));
  }
  return out;
}

/** Where Deno keeps its cache (the launcher of a --no-deno-cache install uses it). */
async function denoDir(): Promise<string> {
  const info = await run(Deno.execPath(), ["info", "--json"]);
  return JSON.parse(info.stdout).denoDir;
}

/** Existence and mtime of the paths a live install uses, to see that nothing touched them. */
function liveState(): string {
  return [
    "/var/spool/extremail",
    "/var/log/extremail",
    "/run/extremail.pid",
    "/var/run/extremail.pid",
  ]
    .map((path) => {
      try {
        return `${path} ${Deno.statSync(path).mtime?.getTime()}`;
      } catch {
        return `${path} absent`;
      }
    }).join("\n");
}

function freeLoopbackPorts(n: number): number[] {
  const held = Array.from({ length: n }, () => Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  const ports = held.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of held) l.close();
  return ports;
}

/** The unprivileged user the SysV tests start daemons as (Debian and most others have it). */
const SERVICE_TEST_USER = "nobody";

/** `uid` and the capability sets of a process, from /proc/<pid>/status. */
function processCredentials(pid: number): { uid: number; capEff: string; capAmb: string } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const field = (name: string) => new RegExp(`^${name}:\\s+(\\S+)`, "m").exec(status)?.[1] ?? "";
  return { uid: Number(field("Uid")), capEff: field("CapEff"), capAmb: field("CapAmb") };
}

testUnless(
  firstReason(
    [!HAVE_PROGRAM, "neither main.ts nor dist/extremail exists"],
    [!HAVE_CONF, "conf/extremail.toml is missing"],
    [!exists("/proc/self/fdinfo"), "no /proc/<pid>/fdinfo to see which files the daemon writes"],
    [
      IS_ROOT && !(have("unshare") && have("nsenter") && have("ip") && have("curl")),
      "unshare, nsenter (util-linux), ip (iproute2) and curl are needed",
    ],
  ),
  {
    name: "install.sh --prefix: the staged service runs as a user, offline, writing only inside",
    fn: () =>
      withTempDir(async (tmp) => {
        Deno.chmodSync(tmp, 0o755); // the service user walks into the staged tree
        const p = `${tmp}/root`;
        // Dependencies cached into the prefix now: the only time the network is used.
        const installed = await run("bash", [INSTALL, "--prefix", p]);
        assertOk(installed, "staged install");
        if (!HAVE_BINARY) {
          assertStringIncludes(installed.stdout, "dependencies cached in", installed.stderr);
        }
        const conf = `${p}/etc/extremail/extremail.toml`;
        const [smtp, submission, pop3, imap, admin, metrics] = freeLoopbackPorts(6);
        // The administrator's edits: loopback, free ports, the metrics listener.
        const edited = Deno.readTextFileSync(conf)
          .replace(/^ListenIP = .*$/m, 'ListenIP = ["127.0.0.1"]')
          .replace(/^PortSMTP = .*$/m, `PortSMTP = ${IS_ROOT ? 25 : smtp}`)
          .replace(/^PortSubmission = .*$/m, `PortSubmission = ${submission}`)
          .replace(/^PortPOP3 = .*$/m, `PortPOP3 = ${pop3}`)
          .replace(/^PortIMAP = .*$/m, `PortIMAP = ${imap}`)
          .replace(/^PortAdmin = .*$/m, `PortAdmin = ${admin}`)
          .replace(/^PortMetrics = .*$/m, `PortMetrics = ${metrics}`)
          .replace(/^DNSServer = .*$/m, 'DNSServer = ["127.0.0.1:9"]');
        Deno.writeTextFileSync(conf, edited);
        Deno.mkdirSync(`${p}/etc/default`, { recursive: true });
        Deno.writeTextFileSync(
          `${p}/etc/default/extremail`,
          `DAEMON_USER=${SERVICE_TEST_USER}\nexport EXTREMAIL_ADMIN_PASSWORD=staged-pw\n`,
        );
        const initd = `${p}/etc/init.d/extremail`;
        const live = liveState();
        const cache = await denoDir();
        const env = { SYSTEMCTL_SKIP_REDIRECT: "1", EXTREMAIL_ADMIN_PASSWORD: "staged-pw" };
        let pid = 0;
        let child: Deno.ChildProcess | null = null;
        /** Runs a command in the daemon's network namespace (root), or here. */
        const inDaemonNet = (cmd: string[]) =>
          IS_ROOT
            ? run("nsenter", [`--net=/proc/${pid}/ns/net`, ...cmd])
            : run(cmd[0], cmd.slice(1));
        try {
          if (IS_ROOT) {
            // As the administrator hands the service its state, in a live install done by
            // install.sh: DirBase and the log directory belong to the service user.
            for (const d of ["var/spool/extremail", "var/log/extremail"]) {
              assertOk(await run("chown", ["-R", SERVICE_TEST_USER, `${p}/${d}`]), `chown ${d}`);
            }
            const group = `$(id -gn ${SERVICE_TEST_USER})`;
            assertOk(await run("sh", ["-c", `chgrp "${group}" '${conf}'`]), "chgrp conf");
            // The staged init script, in a network namespace with only a loopback: the
            // daemon can download nothing, and it binds port 25 without being root.
            assertOk(
              await run(
                "unshare",
                ["-n", "sh", "-c", `ip link set lo up && sh '${initd}' start`],
                env,
              ),
              "init start without network",
            );
            pid = Number(Deno.readTextFileSync(`${p}/run/extremail.pid`).trim());
            const routes = await inDaemonNet(["ip", "-4", "route"]);
            assertEquals(routes.stdout.trim(), "", "no route out of the daemon's namespace");
          } else {
            child = new Deno.Command(`${p}/usr/local/sbin/extremail`, {
              args: ["serve", "--conf", conf],
              env,
              cwd: tmp,
              stdin: "null",
              stdout: "null",
              stderr: "null",
            }).spawn();
            pid = child.pid;
          }
          let health = "";
          for (let i = 0; i < 300 && health !== "200"; i++) {
            await new Promise((r) => setTimeout(r, 100));
            const probe = await inDaemonNet([
              "curl",
              "-s",
              "-o",
              "/dev/null",
              "-w",
              "%{http_code}",
              `http://127.0.0.1:${metrics}/healthz`,
            ]);
            health = probe.stdout.trim();
          }
          assertEquals(health, "200", "the staged daemon answers /healthz");
          if (IS_ROOT) {
            // SPEC §7: never root; only CAP_NET_BIND_SERVICE (bit 10).
            const creds = processCredentials(pid);
            assert(creds.uid !== 0, `the daemon runs as uid ${creds.uid}`);
            assertEquals(creds.capEff, "0000000000000400", "effective capabilities");
            assertEquals(creds.capAmb, "0000000000000400", "ambient capabilities");
            const greeting = await inDaemonNet([
              "sh",
              "-c",
              "printf 'QUIT\\r\\n' | curl -s --max-time 5 telnet://127.0.0.1:25",
            ]);
            assertMatch(greeting.stdout, /^220 /, "port 25 bound without root");
          }
          const outside = filesOpenForWriting(pid).filter((f) =>
            !f.startsWith(`${p}/`) && !f.startsWith("/dev/") && !f.startsWith(`${cache}/`)
          );
          assertEquals(outside, [], "files written outside the prefix (Deno's cache excepted)");
          for (const f of ["admin.passwd", "directory.sqlite", "queue"]) {
            assert(exists(`${p}/var/spool/extremail/${f}`), `DirBase in the prefix holds ${f}`);
          }
        } finally {
          if (IS_ROOT) {
            assertOk(await run("sh", [initd, "stop"], env), "init stop");
          } else if (child) {
            child.kill("SIGTERM");
            await child.status;
          }
        }
        if (IS_ROOT) {
          assertStringIncludes(
            Deno.readTextFileSync(`${p}/var/log/extremail/daemon.log`),
            "server ready",
            "the console log is inside the prefix",
          );
        }
        assertEquals(liveState(), live, "the live install's paths were not touched");
      }),
  },
);

// The init script itself, exercised with a fake daemon: its /etc/default/extremail is
// redirected into a temp dir that points PIDFILE, DAEMON, CONF and LOGDIR there too.
async function initScriptLifecycle(useStartStopDaemon: boolean): Promise<void> {
  await withTempDir(async (tmp) => {
    // The fake daemon runs as the unprivileged service user: it must reach its files.
    Deno.chmodSync(tmp, 0o755);
    const initd = `${tmp}/extremail.init`;
    const defaults = `${tmp}/default-extremail`;
    const daemon = `${tmp}/fake-extremail`;
    const events = `${tmp}/events`;
    const script = Deno.readTextFileSync(`${REPO}/conf/extremail.init`)
      .replaceAll("/etc/default/extremail", defaults);
    Deno.writeTextFileSync(initd, script, { mode: 0o755 });
    Deno.writeTextFileSync(
      daemon,
      `#!/bin/sh
case "$1" in
  check-conf) [ -e "${tmp}/bad" ] && { echo "bad configuration" >&2; exit 1; }; exit 0 ;;
  serve) ;;
  *) exit 2 ;;
esac
trap 'echo hup >>"${events}"' HUP
trap 'echo term >>"${events}"; exit 0' TERM
echo "started $*" >>"${events}"
echo "uid $(id -u) $(grep -E '^CapAmb' /proc/self/status | tr -s ' \t' ' ')" >>"${events}"
while :; do sleep 1 & wait $!; done
`,
      { mode: 0o755 },
    );
    Deno.writeTextFileSync(`${tmp}/extremail.toml`, "# test\n");
    Deno.writeTextFileSync(
      defaults,
      [
        `PIDFILE=${tmp}/extremail.pid`,
        `DAEMON=${daemon}`,
        `CONF=${tmp}/extremail.toml`,
        `LOGDIR=${tmp}/log`,
        `CONSOLE_LOG=${tmp}/log/daemon.log`,
        `USE_START_STOP_DAEMON=${useStartStopDaemon ? "yes" : "no"}`,
        "STOP_TIMEOUT=10",
        `DAEMON_USER=${SERVICE_TEST_USER}`,
        "",
      ].join("\n"),
    );
    // Never let systemd redirect the test copy.
    const env = { SYSTEMCTL_SKIP_REDIRECT: "1" };
    const sh = (action: string) => run("sh", [initd, action], env);
    const events_ = () => exists(events) ? Deno.readTextFileSync(events) : "";
    Deno.writeTextFileSync(events, "", { mode: 0o666 });
    Deno.chmodSync(events, 0o666);

    try {
      assertEquals((await sh("status")).code, 3, "status before start");
      assertOk(await sh("start"), "start");
      const pid = Deno.readTextFileSync(`${tmp}/extremail.pid`).trim();
      assertMatch(pid, /^\d+$/);
      assertStringIncludes(events_(), `started serve --conf ${tmp}/extremail.toml`);
      // SPEC §7: started through setpriv as the service user, with CAP_NET_BIND_SERVICE only.
      const uid = Number(
        new TextDecoder().decode(
          new Deno.Command("id", { args: ["-u", SERVICE_TEST_USER], stdout: "piped" }).outputSync()
            .stdout,
        ).trim(),
      );
      assertStringIncludes(events_(), `uid ${uid} CapAmb: 0000000000000400`);
      assert(uid !== 0);
      const status = await sh("status");
      assertEquals(status.code, 0, "status while running");
      assertStringIncludes(status.stdout, pid);
      assertOk(await sh("start"), "start while running is a success");
      assertEquals(Deno.readTextFileSync(`${tmp}/extremail.pid`).trim(), pid);

      assertOk(await sh("reload"), "reload");
      for (let i = 0; i < 50 && !events_().includes("hup"); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assertStringIncludes(events_(), "hup", "reload sends SIGHUP");

      Deno.writeTextFileSync(`${tmp}/bad`, "");
      const badReload = await sh("reload");
      assertEquals(badReload.code, 1, "reload with a bad configuration fails");
      assertStringIncludes(badReload.stderr, "bad configuration");
      assertEquals((await sh("status")).code, 0, "a failed reload leaves the daemon running");
      Deno.removeSync(`${tmp}/bad`);

      assertOk(await sh("stop"), "stop");
      assertStringIncludes(events_(), "term", "stop sends SIGTERM");
      assert(!exists(`${tmp}/extremail.pid`), "stop removes the pid file");
      assertEquals((await sh("status")).code, 3, "status after stop");
      assertOk(await sh("stop"), "stop when stopped is a success");
      assertEquals((await sh("reload")).code, 7, "reload when stopped: not running");

      Deno.writeTextFileSync(`${tmp}/extremail.pid`, "999999\n");
      assertEquals((await sh("status")).code, 1, "stale pid file");
      Deno.removeSync(`${tmp}/extremail.pid`);

      assertEquals((await sh("no-such-action")).code, 2, "usage error");

      // Never as root, and a missing user is named rather than worked around.
      const defaultsText = Deno.readTextFileSync(defaults);
      Deno.writeTextFileSync(defaults, defaultsText + "DAEMON_USER=root\n");
      const asRoot = await sh("start");
      assertEquals(asRoot.code, 6, "DAEMON_USER=root is refused");
      assertStringIncludes(asRoot.stderr, "never runs as root");
      Deno.writeTextFileSync(defaults, defaultsText + "DAEMON_USER=no-such-user-x\n");
      const noUser = await sh("start");
      assertEquals(noUser.code, 5, "a missing user is refused");
      assertStringIncludes(noUser.stderr, "no-such-user-x does not exist");
      assert(!exists(`${tmp}/extremail.pid`), "nothing was started");
    } finally {
      // Never leave a fake daemon behind, whatever failed.
      try {
        const pid = Number(Deno.readTextFileSync(`${tmp}/extremail.pid`).trim());
        if (pid > 1) Deno.kill(pid, "SIGKILL");
      } catch {
        // not running
      }
    }
  });
}

testUnless(
  firstReason(
    [!IS_ROOT, "the init script starts daemons only as root; run the tests as root"],
    [
      !exists("/usr/sbin/start-stop-daemon") && !exists("/sbin/start-stop-daemon"),
      "start-stop-daemon is not installed (Debian's dpkg provides it)",
    ],
  ),
  {
    name: "init script: start, status, reload, stop with start-stop-daemon",
    fn: () => initScriptLifecycle(true),
  },
);

testUnless(IS_ROOT ? null : "the init script starts daemons only as root; run the tests as root", {
  name: "init script: start, status, reload, stop with the nohup fallback",
  fn: () => initScriptLifecycle(false),
});

testUnless(IS_ROOT ? "running as root, so the non-root refusal cannot be seen" : null, {
  name: "init script: non-root start is refused with LSB code 4",
  fn: async () => {
    const r = await run("sh", [`${REPO}/conf/extremail.init`, "start"], {
      SYSTEMCTL_SKIP_REDIRECT: "1",
    });
    assertEquals(r.code, 4);
  },
});
