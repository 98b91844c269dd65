/**
 * SPEC §2 and §3 as a black-box tester sees them: the command line of the real entry
 * point (main.ts run as a child process), configuration errors, check-conf, convert-conf,
 * the embedded development defaults, the admin password at first start and the exit
 * codes of `extremail admin`.
 */
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { ADMIN_PASSWORD, freePort, REPO, startTestServer } from "./helpers/server.ts";
import { AdminWire, sendMail, until, Wire } from "./helpers/spec.ts";
import { devPortsBusy, systemConfigPresent, withDevPorts } from "./helpers/dev_ports.ts";
import { testUnless } from "./helpers/skip.ts";

const MAIN = join(REPO, "main.ts");

/** Every key of SPEC §3 with its default (HostName and DirBase aside). */
const SPEC_DEFAULTS: Record<string, unknown> = {
  ListenIP: ["0.0.0.0"],
  PortSMTP: 25,
  PortSubmission: 587,
  PortSMTPS: 465,
  PortPOP3: 110,
  PortPOP3S: 995,
  PortIMAP: 143,
  PortIMAPS: 993,
  PortAdmin: 4501,
  AdminIP: ["127.0.0.1"],
  TLSCert: "",
  TLSKey: "",
  LocalIP: ["127.0.0.0/8", "::1/128"],
  PlainAuthWithoutTLS: "local",
  ThreadsSMTP: 3,
  ThreadsQueue: 5,
  MaxConnections: 1000,
  MaxConnectionsPerIP: 20,
  MaxMailSize: 26214400,
  MaxRecipients: 100,
  TimeoutSMTP: 300,
  TimeoutPOP3: 600,
  TimeoutIMAP: 1800,
  TimeoutLogin: 60,
  QueueRetry: [300, 900, 1800, 3600, 7200, 14400],
  QueueExpire: 432000,
  RelayHost: "",
  OutboundPort: 25,
  DNSServer: [],
  HashDirs: 2,
  LogLevel: "info",
  LogFile: "",
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of the test process without the variables the CLI reads. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.EXTREMAIL_CONF;
  delete env.EXTREMAIL_ADMIN_PASSWORD;
  return { ...env, NO_COLOR: "1", ...extra };
}

async function cli(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    env: cleanEnv(opts.env),
    clearEnv: true,
    cwd: opts.cwd,
    stdin: "null",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) } as Run;
}

Deno.test("spec §2: --version prints digits and dots on stdout", async () => {
  const r = await cli(["--version"]);
  assertEquals(r.code, 0);
  assertMatch(r.stdout, /^\d+(\.\d+)*\n$/);
});

Deno.test("spec §2: ? and --help print the help", async () => {
  const [q, h] = await Promise.all([cli(["?"]), cli(["--help"])]);
  for (const r of [q, h]) {
    assertEquals(r.code, 0);
    for (const word of ["check-conf", "convert-conf", "admin", "--conf", "--version"]) {
      assert(r.stdout.includes(word), `help lacks ${word}:\n${r.stdout}`);
    }
  }
  assertEquals(q.stdout, h.stdout);
});

Deno.test("spec §2/§3: check-conf prints every key with its effective value", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "spec-cli-" });
  try {
    const conf = join(dir, "a.toml");
    await Deno.writeTextFile(
      conf,
      '# a comment\nHostName = "mx.example.net"\nPortSMTP = 2500\nLocalIP = ["10.0.0.0/8"]\n',
    );
    await t.step(
      "with --conf: given keys as given, the others at the SPEC §3 defaults",
      async () => {
        const r = await cli(["check-conf", "--conf", conf]);
        assertEquals(r.code, 0, r.stderr);
        const body = r.stdout.split("\n").filter((l) => !l.startsWith("#")).join("\n");
        const values = parseToml(body) as Record<string, unknown>;
        assertEquals(values.HostName, "mx.example.net");
        assertEquals(values.PortSMTP, 2500);
        assertEquals(values.LocalIP, ["10.0.0.0/8"]);
        assertEquals(values.DirBase, "/var/spool/extremail");
        for (const [key, value] of Object.entries(SPEC_DEFAULTS)) {
          if (key === "PortSMTP" || key === "LocalIP") continue;
          assertEquals(values[key], value, `check-conf ${key}`);
        }
      },
    );
    await t.step("EXTREMAIL_CONF is read when --conf is not given; --conf wins", async () => {
      const other = join(dir, "b.toml");
      await Deno.writeTextFile(other, "PortSMTP = 2600\n");
      const viaEnv = await cli(["check-conf"], { env: { EXTREMAIL_CONF: conf } });
      assertEquals(viaEnv.code, 0, viaEnv.stderr);
      assertMatch(viaEnv.stdout, /^PortSMTP = 2500$/m);
      const both = await cli(["check-conf", "--conf", other], { env: { EXTREMAIL_CONF: conf } });
      assertMatch(both.stdout, /^PortSMTP = 2600$/m);
    });
    await t.step("without any file: the development defaults", async () => {
      const r = await cli(["check-conf"], { cwd: dir });
      assertEquals(r.code, 0, r.stderr);
      const body = r.stdout.split("\n").filter((l) => !l.startsWith("#")).join("\n");
      const v = parseToml(body) as Record<string, unknown>;
      assertEquals(
        [v.PortSMTP, v.PortSubmission, v.PortPOP3, v.PortIMAP, v.PortAdmin],
        [2525, 2587, 1110, 1143, 4501],
      );
      assertEquals([v.PortSMTPS, v.PortPOP3S, v.PortIMAPS], [0, 0, 0]);
      assertEquals(v.ListenIP, ["127.0.0.1"]);
      assertEquals(v.AdminIP, ["127.0.0.1"]);
      assertEquals(v.DirBase, join(await Deno.realPath(dir), "extremail-data"));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spec §3: a configuration error stops start-up with one line naming the key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spec-cli-" });
  try {
    const cases: [string, string][] = [
      ["PortSMTP", "PortSMTP = 70000\n"], // port out of range
      ["Bogus", "Bogus = 1\n"], // unknown key
      ["MaxMailSize", 'MaxMailSize = "big"\n'], // wrong type
      ["LocalIP", 'LocalIP = ["10.0.0.0/33"]\n'], // bad CIDR
      ["TLSCert", `TLSCert = "${dir}/none.pem"\nTLSKey = "${dir}/none-key.pem"\n`],
      ["PlainAuthWithoutTLS", 'PlainAuthWithoutTLS = "sometimes"\n'],
      ["ListenIP", 'ListenIP = ["not-an-ip"]\n'],
    ];
    await Promise.all(cases.map(async ([key, text], i) => {
      const conf = join(dir, `bad${i}.toml`);
      // Keep the daemon off real ports and data, should validation let it through.
      const neutral = [
        `DirBase = "${dir}/data${i}"`,
        ...["SMTP", "Submission", "SMTPS", "POP3", "POP3S", "IMAP", "IMAPS", "Admin"].map((p) =>
          `Port${p} = 0`
        ),
      ].filter((l) => !text.startsWith(l.split(" ")[0] + " "));
      await Deno.writeTextFile(conf, neutral.join("\n") + "\n" + text);
      for (const verb of [["serve"], ["check-conf"]]) {
        const r = await cli([...verb, "--conf", conf]);
        assert(r.code !== 0, `${key}: ${verb} exited 0`);
        const errLines = r.stderr.split("\n").filter((l) => l.trim() !== "");
        assertEquals(errLines.length, 1, `${key}: ${verb}: ${r.stderr}`);
        assert(errLines[0].includes(key), `${key}: ${errLines[0]}`);
      }
    }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spec §2: convert-conf translates a classic eXtremail.conf to TOML", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spec-cli-" });
  try {
    const classic = join(dir, "eXtremail.conf");
    await Deno.writeTextFile(
      classic,
      [
        "# eXtremail configuration",
        "HostName = mail.example.com",
        "DirBase = /var/spool/extremail",
        "ListenIP = 0.0.0.0, 127.0.0.1",
        "PortSMTP = 25",
        "LocalIP = 127.0.0.0/8, 192.168.0.0/16",
        "PlainAuthWithoutTLS = no",
        "MaxMailSize = 10485760",
        "QueueRetry = 600, 1200",
        "LogLevel = warning",
        "",
      ].join("\n"),
    );
    const r = await cli(["convert-conf", classic]);
    assertEquals(r.code, 0, r.stderr);
    const v = parseToml(r.stdout) as Record<string, unknown>;
    assertEquals(v.HostName, "mail.example.com");
    assertEquals(v.ListenIP, ["0.0.0.0", "127.0.0.1"]);
    assertEquals(v.PortSMTP, 25);
    assertEquals(v.LocalIP, ["127.0.0.0/8", "192.168.0.0/16"]);
    assertEquals(v.PlainAuthWithoutTLS, "never");
    assertEquals(v.MaxMailSize, 10485760);
    assertEquals(v.QueueRetry, [600, 1200]);
    assertEquals(v.LogLevel, "warning");
    // The output is a configuration check-conf accepts.
    const toml = join(dir, "out.toml");
    await Deno.writeTextFile(toml, r.stdout);
    const check = await cli(["check-conf", "--conf", toml]);
    assertEquals(check.code, 0, check.stderr);
    assertMatch(check.stdout, /^HostName = "mail\.example\.com"$/m);

    // yes/true: cleartext passwords allowed everywhere.
    await Deno.writeTextFile(classic, "PlainAuthWithoutTLS = yes\n");
    const yes = await cli(["convert-conf", classic]);
    assertEquals((parseToml(yes.stdout) as Record<string, unknown>).PlainAuthWithoutTLS, "always");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const DEV_DEFAULTS_TEST =
  "spec §2: no configuration file -> development defaults; random admin password once";
// Only where the development ports are free (another daemon may be running).
testUnless(devPortsBusy() ?? systemConfigPresent(), {
  name: DEV_DEFAULTS_TEST,
  fn: () => withDevPorts(DEV_DEFAULTS_TEST, developmentDefaults),
});

async function developmentDefaults(): Promise<void> {
  const cwd = await Deno.makeTempDir({ prefix: "spec-dev-" });
  const start = () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN],
      env: cleanEnv(),
      clearEnv: true,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let log = "";
    const pump = async (s: ReadableStream<Uint8Array>) => {
      const d = new TextDecoder();
      for await (const c of s) log += d.decode(c, { stream: true });
    };
    pump(child.stdout);
    pump(child.stderr);
    return { child, log: () => log };
  };
  let run = start();
  try {
    await until(() => / server ready/.test(run.log()), 30_000, "for ready");
    const line = run.log().split("\n").find((l) => l.includes("admin password"));
    assert(line, `no "admin password" line:\n${run.log()}`);
    // The password is the last word of that line.
    const password = line.trim().split(/\s+/).pop()!;
    const smtp = await Wire.connect(2525);
    assertMatch(await smtp.smtp(), /^220 /);
    smtp.close();
    const sub = await Wire.connect(2587);
    assertMatch(await sub.smtp(), /^220 /);
    sub.close();
    const pop = await Wire.connect(1110);
    assertMatch((await pop.readLine())!, /^\+OK/);
    pop.close();
    const imap = await Wire.connect(1143);
    assertMatch((await imap.readLine())!, /^\* OK/);
    imap.close();
    const admin = await Wire.connect(4501);
    assertEquals(await admin.readLine(), "+OK eXtremail admin ready");
    await admin.send(`LOGIN ${password}`);
    assertMatch((await admin.readLine())!, /^\+OK/);
    admin.close();
    const data = join(cwd, "extremail-data");
    assert((await Deno.stat(data)).isDirectory);
    // Stored hashed only.
    let found = false;
    for await (const e of Deno.readDir(data)) {
      if (!e.isFile) continue;
      const bytes = await Deno.readFile(join(data, e.name));
      if (new TextDecoder("latin1").decode(bytes).includes(password)) found = true;
    }
    assert(!found, "the admin password is stored in clear under DirBase");
    run.child.kill("SIGTERM");
    assertEquals((await run.child.status).code, 0);

    // Second start: the file exists, nothing is printed, the same password works.
    run = start();
    await until(() => / server ready/.test(run.log()), 30_000, "for ready");
    assert(!run.log().includes(password), "the password was printed again");
    assert(!/admin password/.test(run.log()), run.log());
    const again = await AdminWire.open(4501, { login: false });
    const r = await again.cmd(`LOGIN ${password}`);
    assert(r.ok, r.status);
    again.close();
  } finally {
    try {
      run.child.kill("SIGTERM");
    } catch { /* gone */ }
    await run.child.status;
    await Deno.remove(cwd, { recursive: true });
  }
}

Deno.test("spec §2: the generated admin password reaches LogFile even at LogLevel error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spec-cli-" });
  const logFile = join(dir, "daemon.log");
  const admin = freePort();
  const conf = join(dir, "quiet.toml");
  await Deno.writeTextFile(
    conf,
    [
      `DirBase = "${dir}/data"`,
      `LogLevel = "error"`,
      `LogFile = "${logFile}"`,
      `ListenIP = ["127.0.0.1"]`,
      ...["SMTP", "Submission", "SMTPS", "POP3", "POP3S", "IMAP", "IMAPS"].map((p) =>
        `Port${p} = 0`
      ),
      `PortAdmin = ${admin}`,
      `DNSServer = ["127.0.0.1:9"]`,
      "",
    ].join("\n"),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "--conf", conf],
    env: cleanEnv(),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const read = () => Deno.readTextFile(logFile).catch(() => "");
    await until(async () => /admin password/.test(await read()), 20_000, "for the password line");
    const line = (await read()).split("\n").find((l) => l.includes("admin password"))!;
    const password = line.trim().split(/\s+/).pop()!;
    await until(async () => {
      try {
        (await Wire.connect(admin)).close();
        return true;
      } catch {
        return false;
      }
    });
    const a = await AdminWire.open(admin, { login: false });
    assert((await a.cmd(`LOGIN ${password}`)).ok);
    a.close();
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spec §2: admin password from EXTREMAIL_ADMIN_PASSWORD; extremail admin exit codes", async (t) => {
  const srv = await startTestServer();
  const pwFile = join(srv.dirBase, "pw");
  await Deno.writeTextFile(pwFile, ADMIN_PASSWORD + "\n");
  const badFile = join(srv.dirBase, "bad");
  await Deno.writeTextFile(badFile, "wrong-password\n");
  const admin = (words: string[], file = pwFile, port = srv.ports.admin) =>
    cli(["admin", "--port", String(port), "--password-file", file, ...words]);
  try {
    await t.step("the password from the environment works; the file holds a hash", async () => {
      const a = await AdminWire.open(srv.ports.admin);
      a.close();
      const stored = await Deno.readTextFile(join(srv.config.DirBase, "admin.passwd"));
      assert(!stored.includes(ADMIN_PASSWORD));
      assert(!/admin password/.test(srv.logs()), "a password was generated and logged");
    });
    await t.step("0 on +OK with data on stdout", async () => {
      const r = await admin(["STATUS"]);
      assertEquals(r.code, 0, r.stderr);
      assertMatch(r.stdout, /^smtp=\d+$/m);
      const add = await admin(["DOMAIN", "ADD", "NAME=cli.example"]);
      assertEquals(add.code, 0, add.stderr);
      const user = await admin([
        "USER",
        "MOD",
        "NAME=nobody",
        "DOMAIN=cli.example",
        "AUTOREPLYSUBJECT=x",
      ]);
      assertEquals(user.code, 1);
    });
    await t.step("values with spaces survive the shell words", async () => {
      assertEquals((await admin(["USER", "ADD", "NAME=joe", "DOMAIN=cli.example"])).code, 0);
      const mod = await admin([
        "USER",
        "MOD",
        "NAME=joe",
        "DOMAIN=cli.example",
        'AUTOREPLYSUBJECT=Out of "office" \\ today',
      ]);
      assertEquals(mod.code, 0, mod.stderr);
      const show = await admin(["USER", "SHOW", "NAME=joe", "DOMAIN=cli.example"]);
      assertMatch(show.stdout, /^AutoReplySubject=Out of "office" \\ today$/m);
    });
    await t.step("1 on -ERR", async () => {
      const r = await admin(["DOMAIN", "SHOW", "NAME=missing.example"]);
      assertEquals(r.code, 1);
    });
    await t.step("2 when it cannot log in or connect", async () => {
      const wrong = await admin(["STATUS"], badFile);
      assertEquals(wrong.code, 2);
      const closed = await admin(["STATUS"], pwFile, freePort());
      assertEquals(closed.code, 2);
    });
    await t.step("a user added by the admin client receives mail at once", async () => {
      const r = await sendMail({
        port: srv.ports.smtp,
        from: "a@b.example",
        to: ["joe@cli.example"],
      });
      assertMatch(r.data ?? r.rcpts.join(), /^250 2\.0\.0 Ok: queued as \S+/);
    });
  } finally {
    assertEquals(await srv.stop(), 0);
    await Deno.remove(srv.dirBase, { recursive: true });
  }
});
