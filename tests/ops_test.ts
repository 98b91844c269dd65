/**
 * Running it for real (SPEC §10, §2): JSON log lines, `extremail admin-password` against a
 * running daemon, and check-conf / convert-conf reporting every problem of a file.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { ADMIN_PASSWORD, python, REPO, startTestServer } from "./helpers/server.ts";
import { AdminWire, sendMail } from "./helpers/spec.ts";

const MAIN = join(REPO, "main.ts");

async function cli(args: string[], env: Record<string, string> = {}) {
  const base = Deno.env.toObject();
  delete base.EXTREMAIL_ADMIN_PASSWORD;
  delete base.EXTREMAIL_CONF;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    env: { ...base, NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("LogFormat json: every line is one JSON object with the documented fields", async () => {
  const srv = await startTestServer({ config: { LogFormat: "json", LogLevel: "info" } });
  let queueId = "";
  try {
    const admin = await AdminWire.open(srv.ports.admin);
    await admin.ok("DOMAIN ADD NAME=example.com");
    await admin.ok("USER ADD NAME=joe DOMAIN=example.com PASS=joe-secret");
    admin.close();
    const sent = await sendMail({
      port: srv.ports.smtp,
      from: "someone@example.com",
      to: ["joe@example.com"],
      data: 'Subject: a "quoted"\r\nline\\with\\backslashes\r\n\r\nbody\r\n',
    });
    queueId = /queued as (\S+)/.exec(sent.data ?? "")![1];
    await python(`
import poplib
p = poplib.POP3("127.0.0.1", ${srv.ports.pop3})
p.user("joe@example.com")
p.pass_("joe-secret")
p.quit()
`);
    await srv.waitForLog(/"service":"pop3"[^\n]*"user":"joe@example.com"/);
  } finally {
    await srv.stop();
  }
  const lines = srv.logs().split("\n").filter((l) => l !== "");
  ok(lines.length > 10, srv.logs());
  const records = lines.map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      throw new Error(`not one JSON object per line: ${l}`);
    }
  });
  for (const r of records) {
    match(r.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    ok(["debug", "info", "warning", "error"].includes(r.level), r.level);
    equal(typeof r.service, "string");
    ok(r.session === null || typeof r.session === "string");
    equal(typeof r.message, "string");
    ok(!("sid" in r), "the internal property name does not leak");
  }
  const pop3 = records.filter((r) => r.service === "pop3");
  ok(pop3.length > 0 && pop3.every((r) => r.client === "127.0.0.1" && r.session), "pop3 client");
  ok(pop3.some((r) => r.user === "joe@example.com"), "user after login");
  const aboutMessage = records.filter((r) => r.queueId === queueId);
  ok(aboutMessage.length > 0, `no line with queueId ${queueId}`);
  ok(aboutMessage.every((r) => r.message.startsWith(`${queueId}:`)));
  ok(aboutMessage.some((r) => r.client === "127.0.0.1"), "delivery lines of the SMTP session");
  ok(records.some((r) => r.service === "server" && r.message === "ready"));
  ok(records.every((r) => r.level !== "error"), "no errors logged");
});

Deno.test("admin-password: a running daemon accepts the new password at the next LOGIN", async () => {
  const srv = await startTestServer();
  try {
    const set = await cli(["admin-password", "--conf", srv.confPath], {
      EXTREMAIL_ADMIN_PASSWORD: "brand new secret",
    });
    equal(set.code, 0, set.stderr);
    equal(set.stdout, "", "a password from the environment is not printed");
    match(set.stderr, /admin password stored in .*admin\.passwd/);
    const login = async (password: string) => {
      const a = await AdminWire.open(srv.ports.admin, { login: false });
      try {
        return (await a.cmd(`LOGIN ${password}`)).ok;
      } finally {
        a.close();
      }
    };
    ok(await login("brand new secret"), "the new password works without a restart");
    ok(!(await login(ADMIN_PASSWORD)), "the old one no longer does");

    // No environment variable and no terminal: a random one, printed once on stdout.
    const random = await cli(["admin-password", "--conf", srv.confPath]);
    equal(random.code, 0, random.stderr);
    const m = /^admin password \(generated, shown once\): (\S+)\n$/.exec(random.stdout);
    ok(m, random.stdout);
    ok(await login(m[1]));
    ok(!(await login("brand new secret")));
    const stored = await Deno.readTextFile(join(srv.config.DirBase, "admin.passwd"));
    ok(!stored.includes(m[1]), "stored hashed");
  } finally {
    await srv.stop();
  }
});

Deno.test("admin-password: usage errors and a bad configuration exit non-zero", async () => {
  const help = await cli(["admin-password", "--help"]);
  equal(help.code, 0);
  match(help.stdout, /EXTREMAIL_ADMIN_PASSWORD/);
  equal((await cli(["admin-password", "--bogus"])).code, 64);
  const dir = await Deno.makeTempDir({ prefix: "ops-test-" });
  try {
    const conf = join(dir, "bad.toml");
    await Deno.writeTextFile(conf, "PortSMTP = 99999\n");
    const r = await cli(["admin-password", "--conf", conf], { EXTREMAIL_ADMIN_PASSWORD: "x" });
    equal(r.code, 1);
    match(r.stderr, /line 1: PortSMTP = 99999/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check-conf reports every problem of the file, each with its line, then exits 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ops-test-" });
  try {
    const conf = join(dir, "extremail.toml");
    await Deno.writeTextFile(
      conf,
      [
        'HostName = "mail.example.com"',
        "PortSMTP = 70000",
        'MaxMailSize = "10M"',
        "Bogus = 1",
        "PortIMAP = = 143",
        'LogLevel = "loud"',
        'ListenIP = ["not-an-ip"]',
        "",
      ].join("\n"),
    );
    const r = await cli(["check-conf", "--conf", conf]);
    equal(r.code, 1, r.stderr);
    equal(r.stdout, "", "no effective configuration is printed for a broken file");
    const lines = r.stderr.trim().split("\n");
    deepStrictEqual(
      lines.map((l) => /line (\d+)/.exec(l)?.[1]),
      ["2", "3", "4", "5", "6", "7"],
      r.stderr,
    );
    match(lines[0], /PortSMTP = 70000: port must be 0\.\.65535/);
    match(lines[1], /MaxMailSize = "10M": must be a whole number of bytes; write 10485760 for 10M/);
    match(lines[2], /Bogus = 1: unknown key/);
    match(lines[3], /line 5 column \d+: TOML syntax error/);
    match(lines[4], /LogLevel = "loud": must be one of/);
    match(lines[5], /ListenIP = \["not-an-ip"\]/);
    ok(lines.every((l) => l.startsWith("extremail: ")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("convert-conf: every problem in classic terms, K/M/G sizes, space-separated lists", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ops-test-" });
  try {
    const classic = join(dir, "eXtremail.conf");
    await Deno.writeTextFile(
      classic,
      [
        "MaxMailSize = 10M",
        "ListenIP = 127.0.0.1 ::1",
        "QueueRetry = 300 900, 1800",
        "LocalIP = 10.0.0.0/8 192.168.0.0/16",
        "",
      ].join("\n"),
    );
    const good = await cli(["convert-conf", classic]);
    equal(good.code, 0, good.stderr);
    const toml = parseToml(good.stdout) as Record<string, unknown>;
    equal(toml.MaxMailSize, 10 * 1024 * 1024);
    deepStrictEqual(toml.ListenIP, ["127.0.0.1", "::1"]);
    deepStrictEqual(toml.QueueRetry, [300, 900, 1800]);
    deepStrictEqual(toml.LocalIP, ["10.0.0.0/8", "192.168.0.0/16"]);

    await Deno.writeTextFile(
      classic,
      [
        "# classic file with four mistakes",
        "MaxMailSize = ten megs",
        "PortSMTP = 25K",
        "this is not a setting",
        "QueueRetry = 300 soon",
        "MaxRecipients = 1G",
        "",
      ].join("\n"),
    );
    const bad = await cli(["convert-conf", classic]);
    equal(bad.code, 1);
    equal(bad.stdout, "", "no half-converted output");
    const lines = bad.stderr.trim().split("\n");
    equal(lines.length, 5, bad.stderr);
    match(
      lines[0],
      /line 2: MaxMailSize = ten megs: must be a number of bytes, optionally with K, M or G \(K = 1024\); write e\.g\. MaxMailSize = 10M/,
    );
    ok(!/without quotes/.test(bad.stderr), "classic files have no quotes to remove");
    match(lines[1], /line 3: PortSMTP = 25K: must be a whole number; write e\.g\. PortSMTP = 25/);
    match(lines[2], /line 4: "this is not a setting": expected "Key = value"/);
    match(lines[3], /line 5: QueueRetry = 300 soon: must list whole numbers separated by commas/);
    match(lines[4], /line 6: MaxRecipients = 1G: must be a whole number/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
