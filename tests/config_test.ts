import { deepStrictEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cidrContains, CidrSet, formatCidr, parseCidr } from "../src/config/cidr.ts";
import { convertClassic } from "../src/config/convert.ts";
import { formatConfig, HIDDEN_SECRET } from "../src/config/format.ts";
import { ConfigError, devDefaults, loadConfig, parseConfigText } from "../src/config/load.ts";
import { type Config, CONFIG_KEYS, schemaDefaults } from "../src/config/schema.ts";

const REPO = dirname(dirname(fileURLToPath(import.meta.url)));

// A self-signed P-256 certificate, its key, and an unrelated key (for the mismatch check).
const CERT = `-----BEGIN CERTIFICATE-----
MIIBjzCCATWgAwIBAgIUQjFBxLQN1cizKtfw6nOku0NAlB0wCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRbWFpbC5leGFtcGxlLnRlc3QwIBcNMjYxMTIyMDAyODUxWhgP
MjEyNjEwMjkwMDI4NTFaMBwxGjAYBgNVBAMMEW1haWwuZXhhbXBsZS50ZXN0MFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAERc908nMu1eeU6qOHiSI8dyuw6DwXSDI0
V37v/A9Pt8KSMziszPLdlGECWix4ApuOUpqlq0gt3HPCXvmE2J132aNTMFEwHQYD
VR0OBBYEFMUXBRRYvKFBYc9RQQwJpplj3DbCMB8GA1UdIwQYMBaAFMUXBRRYvKFB
Yc9RQQwJpplj3DbCMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIg
CF3lMSas3g6egDvNkonXJXrhj6CFy9J6bz0zScwSPZgCIQCSYulxsRBMxg8Gfwj3
8pkU0BqR+nODkFGg1VlChDWJBg==
-----END CERTIFICATE-----
`;
const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1RtPG5dHAWhHuJUi
4PcLXy72qX8gRWbaqvUPOn6w6cuhRANCAARFz3Tycy7V55Tqo4eJIjx3K7DoPBdI
MjRXfu/8D0+3wpIzOKzM8t2UYQJaLHgCm45SmqWrSC3cc8Je+YTYnXfZ
-----END PRIVATE KEY-----
`;
const OTHER_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgF9/9DXdLgVg+ggMP
G/v9ly74y20+TpBZSkGsCJW5RI+hRANCAAR8LivAN+QgBPLdusCnmw4GAwaX+CUo
En7Vl3UaNPWD2Ix6ft8C56o/hxoEe3Yw1tcXT8xbbmyoyrh5FjD7Q1/X
-----END PRIVATE KEY-----
`;

/** The message of the ConfigError that `action` throws. */
function configErrorOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    ok(!error.message.includes("\n"), `message must be one line: ${error.message}`);
    return error.message;
  }
  throw new Error("expected a ConfigError");
}

async function withEnv<T>(name: string, value: string | undefined, body: () => Promise<T>) {
  const saved = Deno.env.get(name);
  if (value === undefined) Deno.env.delete(name);
  else Deno.env.set(name, value);
  try {
    return await body();
  } finally {
    if (saved === undefined) Deno.env.delete(name);
    else Deno.env.set(name, saved);
  }
}

Deno.test("schema: exactly the SPEC §3, §5, §8, §10 §9 and §12 keys plus the eight extensions, in SPEC order", () => {
  // deno-fmt-ignore
  const spec = [
    "HostName", "DirBase", "ListenIP", "PortSMTP", "PortSubmission", "PortSMTPS", "PortPOP3",
    "PortPOP3S", "PortIMAP", "PortIMAPS", "PortAdmin", "AdminIP", "TLSCert", "TLSKey", "LocalIP",
    "PlainAuthWithoutTLS", "ThreadsSMTP", "ThreadsQueue", "MaxConnections", "MaxConnectionsPerIP",
    "MaxMailSize", "MaxRecipients", "TimeoutSMTP", "TimeoutPOP3", "TimeoutIMAP", "TimeoutLogin",
    "QueueRetry", "QueueExpire", "RelayHost", "OutboundPort", "DNSServer", "HashDirs", "LogLevel",
    "LogFile",
  ];
  const delivery = ["Postmaster"]; // SPEC §5
  const observability = ["PortMetrics", "MetricsIP", "LogFormat"]; // SPEC §10
  const authentication = ["DKIMSign", "InboundAuth", "SRS"]; // SPEC §8
  // SPEC §9
  const spam = ["DNSBL", "SpamFilter", "SpamFilterFailure", "TimeoutSpamFilter", "SpamLearn"];
  const cluster = ["Directory", "NodeName", "Nodes", "PortCluster", "ClusterSecret"]; // SPEC §12
  const keys = CONFIG_KEYS.map((k) => k.key as string);
  deepStrictEqual(keys.filter((k) => cluster.includes(k)), cluster);
  deepStrictEqual(keys.filter((k) => spec.includes(k)), spec);
  deepStrictEqual(
    CONFIG_KEYS.filter((k) => k.extension).map((k) => k.key).sort(),
    [
      "AdminIdleTimeout",
      "QueueDelayWarning",
      "RelayPassword",
      "RelayUser",
      "SpamController",
      "SpamControllerPassword",
      "SpamFilterTrusted",
      "ThreadsPOP3",
    ],
  );
  for (const key of [...delivery, ...observability, ...authentication, ...spam]) {
    ok(keys.includes(key), key);
  }
  equal(
    new Set(keys).size,
    spec.length + delivery.length + observability.length + authentication.length + spam.length +
      cluster.length + 8,
  );
  ok(CONFIG_KEYS.every((k) => k.comment.length > 0));
});

Deno.test("schema: production defaults of SPEC §3", () => {
  const d = schemaDefaults();
  equal(d.HostName, Deno.hostname());
  equal(d.DirBase, "/var/spool/extremail");
  deepStrictEqual(d.ListenIP, ["0.0.0.0"]);
  deepStrictEqual(
    [d.PortSMTP, d.PortSubmission, d.PortSMTPS, d.PortPOP3, d.PortPOP3S, d.PortIMAP, d.PortIMAPS],
    [25, 587, 465, 110, 995, 143, 993],
  );
  equal(d.PortAdmin, 4501);
  deepStrictEqual(d.AdminIP, ["127.0.0.1"]);
  deepStrictEqual([d.TLSCert, d.TLSKey, d.RelayHost, d.RelayUser, d.LogFile], ["", "", "", "", ""]);
  deepStrictEqual(d.LocalIP, ["127.0.0.0/8", "::1/128"]);
  equal(d.PlainAuthWithoutTLS, "local");
  deepStrictEqual([d.ThreadsSMTP, d.ThreadsQueue, d.MaxConnections, d.MaxConnectionsPerIP], [
    3,
    5,
    1000,
    20,
  ]);
  deepStrictEqual([d.MaxMailSize, d.MaxRecipients], [26214400, 100]);
  deepStrictEqual([d.TimeoutSMTP, d.TimeoutPOP3, d.TimeoutIMAP, d.AdminIdleTimeout], [
    300,
    600,
    1800,
    600,
  ]);
  deepStrictEqual(d.QueueRetry, [300, 900, 1800, 3600, 7200, 14400]);
  deepStrictEqual([d.QueueExpire, d.OutboundPort, d.HashDirs], [432000, 25, 2]);
  deepStrictEqual(d.DNSServer, []);
  equal(d.LogLevel, "info");
});

Deno.test("conf/extremail.toml loads, equals the defaults and mentions every key", async () => {
  const path = join(REPO, "conf", "extremail.toml");
  const text = await Deno.readTextFile(path);
  deepStrictEqual(parseConfigText(text, path), schemaDefaults());
  for (const { key } of CONFIG_KEYS) match(text, new RegExp(`^(# )?${key} = `, "m"), key);
});

Deno.test("dev defaults: loopback, unprivileged ports, implicit TLS off, ./extremail-data", () => {
  const d = devDefaults();
  deepStrictEqual([d.ListenIP, d.AdminIP], [["127.0.0.1"], ["127.0.0.1"]]);
  deepStrictEqual([d.PortSMTP, d.PortSubmission, d.PortPOP3, d.PortIMAP, d.PortAdmin], [
    2525,
    2587,
    1110,
    1143,
    4501,
  ]);
  deepStrictEqual([d.PortSMTPS, d.PortPOP3S, d.PortIMAPS], [0, 0, 0]);
  equal(d.DirBase, join(Deno.cwd(), "extremail-data"));
  equal(d.QueueExpire, 432000); // everything else is the production default
});

Deno.test("parse: values given override defaults, enums are case-insensitive", () => {
  const c = parseConfigText(
    'HostName = "mx.example.org"\nPortSMTP = 0\nLogLevel = "DEBUG"\nDNSServer = ["1.1.1.1", "[2001:db8::53]:5353"]\n',
    "/etc/extremail/extremail.toml",
  );
  deepStrictEqual([c.HostName, c.PortSMTP, c.LogLevel], ["mx.example.org", 0, "debug"]);
  deepStrictEqual(c.DNSServer, ["1.1.1.1", "[2001:db8::53]:5353"]);
  equal(c.PortPOP3, 110);
});

Deno.test("parse: relative paths resolve against the file's directory", () => {
  const c = parseConfigText(
    'DirBase = "data"\nLogFile = "../log/x.log"\n',
    "/srv/mail/conf/extremail.toml",
  );
  deepStrictEqual([c.DirBase, c.LogFile], ["/srv/mail/conf/data", "/srv/mail/log/x.log"]);
});

Deno.test("validation: the SPEC example message, exactly", () => {
  const text = "# comment\n".repeat(11) + "PortSMTP = 70000\n";
  equal(
    configErrorOf(() => parseConfigText(text, "extremail.toml")),
    "extremail.toml line 12: PortSMTP = 70000: port must be 0..65535 (0 disables the listener)",
  );
});

Deno.test("validation: every kind of mistake names the key, the value and the line", () => {
  const cases: [toml: string, expected: RegExp][] = [
    ["Portsmtp = 25", /line 2: Portsmtp = 25: unknown key; did you mean PortSMTP\?/],
    ["Colour = 1", /Colour = 1: unknown key; remove it/],
    ["[smtp]\nport = 25", /line 2: \[smtp\]: unknown table/],
    ['PortSMTP = "25"', /PortSMTP = "25": must be a whole number; write 25 without quotes/],
    ["PortSMTP = 25.5", /PortSMTP = 25.5: must be a whole number/],
    ["HostName = 5", /HostName = 5: must be a string/],
    ['HostName = "bad host!"', /HostName = "bad host!": must be a host name/],
    ['ListenIP = "0.0.0.0"', /ListenIP = "0.0.0.0": must be a list; write \["0.0.0.0"\]/],
    ["ListenIP = [1]", /ListenIP = \[1\]: must be a list of strings/],
    ['RelayPasword = "s3cret"', /RelayPasword = \*{8}: unknown key; did you mean RelayPassword\?/],
    ["ListenIP = []", /ListenIP = \[\]: must list at least one entry/],
    ['ListenIP = ["1.2.3.400"]', /ListenIP = \["1.2.3.400"\]: "1.2.3.400" is not an IP address/],
    ['AdminIP = ["[::1]"]', /AdminIP = \["\[::1\]"\]: .*without brackets/],
    ['LocalIP = ["10.0.0.0/33"]', /LocalIP = \["10.0.0.0\/33"\]: prefix "\/33" must be/],
    ['LocalIP = ["10.0.0/8"]', /LocalIP = .*"10.0.0" is not an IPv4 or IPv6 address/],
    ['DNSServer = ["8.8.8.8:99999"]', /DNSServer = .*port must be 1..65535/],
    ['DNSServer = ["dns.google"]', /DNSServer = \["dns.google"\]: "dns.google" must be "ip"/],
    ['LogLevel = "verbose"', /LogLevel = "verbose": must be one of "debug", "info"/],
    ['PlainAuthWithoutTLS = "yes"', /PlainAuthWithoutTLS = "yes": must be one of "never"/],
    ["MaxMailSize = 0", /MaxMailSize = 0: must be a positive number of bytes/],
    ["TimeoutSMTP = -5", /TimeoutSMTP = -5: must be 1..2073600 seconds/],
    ["MaxRecipients = 0", /MaxRecipients = 0: must be a positive number of recipients/],
    ["ThreadsQueue = 0", /ThreadsQueue = 0: must be 1..1024/],
    ["HashDirs = 17", /HashDirs = 17: must be 0..16 levels/],
    ["QueueRetry = []", /QueueRetry = \[\]: must list one or more intervals/],
    ['QueueRetry = [300, "x"]', /QueueRetry = \[300, "x"\]: must be a list of whole numbers/],
    ['RelayHost = "smtp.example.com:abc"', /RelayHost = "smtp.example.com:abc": must be "host"/],
    ['RelayHost = "smtp.example.com:70000"', /RelayHost = .*port must be 1..65535/],
    ['TLSCert = "/x/cert.pem"', /TLSCert = "\/x\/cert.pem": TLSKey is empty/],
    ['TLSKey = "/x/key.pem"', /TLSKey = "\/x\/key.pem": TLSCert is empty/],
    ['RelayHost = "relay.example.net"\nRelayUser = "u"', /line 3: RelayUser = "u": RelayPassword/],
    ['RelayPassword = "s3cret"', /RelayPassword = \*{8}: RelayUser is empty/],
    ['RelayUser = "u"\nRelayPassword = "p"', /RelayUser = "u": RelayHost is empty/],
    ["PortPOP3 = 25", /PortPOP3 = 25: already used by PortSMTP/],
    ["PortAdmin = 110", /PortAdmin = 110: already used by PortPOP3/],
    ['HostName = "a\\u0007b"', /HostName = "a\\u0007b": must not contain control characters/],
  ];
  for (const [toml, expected] of cases) {
    // The first line is a comment so that line numbers are visibly counted from 1.
    const message = configErrorOf(() => parseConfigText(`# test\n${toml}\n`, "t.toml"));
    match(message, /^t\.toml line \d+: /, toml);
    match(message, expected, toml);
    ok(!message.includes("s3cret"), "secrets are never echoed");
  }
  // Separate addresses do not clash: admin on loopback, mail on a public address.
  parseConfigText('ListenIP = ["192.0.2.1"]\nPortAdmin = 25\n', "t.toml");
});

Deno.test("validation: TOML syntax errors carry line and column", () => {
  const message = configErrorOf(() =>
    parseConfigText('HostName = "mx.example.org"\nPortSMTP = = 25\n', "extremail.toml")
  );
  match(message, /^extremail\.toml line 2 column \d+: TOML syntax error: /);
  match(
    configErrorOf(() => parseConfigText("PortSMTP = 25\nPortSMTP = 26\n", "x.toml")),
    /^x\.toml line 2 /,
  );
});

Deno.test("load: --conf, then EXTREMAIL_CONF, then the system file, then dev defaults", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const explicit = join(dir, "explicit.toml");
    const fromEnv = join(dir, "env.toml");
    const system = join(dir, "system.toml");
    await Deno.writeTextFile(explicit, 'DirBase = "explicit-data"\n');
    await Deno.writeTextFile(fromEnv, "PortSMTP = 2025\n");
    await Deno.writeTextFile(system, "PortSMTP = 3025\n");
    await withEnv("EXTREMAIL_CONF", fromEnv, async () => {
      const loaded = await loadConfig({ path: explicit, systemPath: system });
      deepStrictEqual([loaded.source, loaded.config.DirBase], [
        explicit,
        join(dir, "explicit-data"),
      ]);
      const env = await loadConfig({ systemPath: system });
      deepStrictEqual([env.source, env.config.PortSMTP], [fromEnv, 2025]);
    });
    await withEnv("EXTREMAIL_CONF", undefined, async () => {
      const sys = await loadConfig({ systemPath: system });
      deepStrictEqual([sys.source, sys.config.PortSMTP], [system, 3025]);
      const dev = await loadConfig({ systemPath: join(dir, "absent.toml") });
      equal(dev.source, null);
      deepStrictEqual(dev.config, devDefaults());
    });
    await withEnv("EXTREMAIL_CONF", join(dir, "missing.toml"), async () => {
      await rejects(loadConfig({ systemPath: system }), (error: Error) => {
        ok(error instanceof ConfigError);
        match(error.message, /missing\.toml: cannot read .* EXTREMAIL_CONF \(no such file\)/);
        return true;
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("load: the result is deeply frozen", async () => {
  const { config } = await withEnv(
    "EXTREMAIL_CONF",
    undefined,
    () => loadConfig({ systemPath: "/nonexistent/extremail.toml" }),
  );
  ok(Object.isFrozen(config) && Object.isFrozen(config.ListenIP));
  ok(Object.isFrozen(config.QueueRetry) && Object.isFrozen(config.LocalIP));
  throws(() => {
    (config as Config).PortSMTP = 1;
  }, TypeError);
  throws(() => config.ListenIP.push("::"), TypeError);
});

Deno.test("load: TLS files are read and checked against each other", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "cert.pem"), CERT);
    await Deno.writeTextFile(join(dir, "key.pem"), KEY);
    await Deno.writeTextFile(join(dir, "other.pem"), OTHER_KEY);
    const conf = join(dir, "extremail.toml");
    const attempt = async (cert: string, key: string) => {
      await Deno.writeTextFile(conf, `TLSCert = "${cert}"\nTLSKey = "${key}"\n`);
      return loadConfig({ path: conf });
    };
    const good = await attempt("cert.pem", "key.pem");
    equal(good.config.TLSCert, join(dir, "cert.pem"));
    const failures: [string, string, RegExp][] = [
      ["nope.pem", "key.pem", /line 1: TLSCert = ".*nope\.pem": cannot read the file \(no such/],
      ["key.pem", "cert.pem", /line 1: TLSCert = ".*key\.pem": does not hold a PEM certificate/],
      ["cert.pem", "cert.pem", /line 2: TLSKey = ".*cert\.pem": does not hold .* private key/],
      ["cert.pem", "other.pem", /line 2: TLSKey = ".*other\.pem": is not the private key/],
    ];
    for (const [cert, key, expected] of failures) {
      await rejects(attempt(cert, key), (error: Error) => {
        ok(error instanceof ConfigError);
        match(error.message, expected);
        return true;
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cidr: parsing, canonical text and errors", () => {
  equal(formatCidr(parseCidr("10.1.2.3/8")), "10.0.0.0/8");
  equal(formatCidr(parseCidr("192.0.2.7")), "192.0.2.7/32");
  equal(formatCidr(parseCidr("2001:DB8:0:0:1::/64")), "2001:db8::/64");
  equal(formatCidr(parseCidr("::1")), "::1/128");
  equal(formatCidr(parseCidr("::ffff:10.0.0.0/104")), "10.0.0.0/8");
  equal(formatCidr(parseCidr("0.0.0.0/0")), "0.0.0.0/0");
  for (const bad of ["10.0.0.0/33", "10.0.0/8", "010.0.0.1", "::1/129", "fe80::1%eth0", "x", ""]) {
    throws(() => parseCidr(bad), Error, bad);
  }
});

Deno.test("cidr: matching IPv4, IPv6 prefixes and IPv4-mapped IPv6", () => {
  const loopback = parseCidr("127.0.0.0/8");
  ok(cidrContains(loopback, "127.0.0.1"));
  ok(cidrContains(loopback, "::ffff:127.0.0.1")); // what node:net reports on dual-stack
  ok(cidrContains(loopback, "::ffff:7f00:1"));
  ok(!cidrContains(loopback, "128.0.0.1"));
  ok(!cidrContains(loopback, "::1"));
  ok(!cidrContains(loopback, "not an address"));
  const net = parseCidr("2001:db8:abcd::/48");
  ok(cidrContains(net, "2001:db8:abcd:12::1"));
  ok(!cidrContains(net, "2001:db8:abce::1"));
  ok(cidrContains(parseCidr("192.168.1.128/25"), "192.168.1.255"));
  ok(!cidrContains(parseCidr("192.168.1.128/25"), "192.168.1.127"));
  ok(cidrContains(parseCidr("0.0.0.0/0"), "255.255.255.255"));
  ok(cidrContains(parseCidr("::/0"), "10.0.0.1")); // an IPv4 address is also ::ffff:10.0.0.1

  const set = new CidrSet(["127.0.0.0/8", "::1/128", "10.0.0.0/8", "2001:db8::/32", "192.0.2.9"]);
  equal(set.size, 5);
  for (
    const ip of ["127.0.0.1", "::ffff:127.0.0.1", "::1", "10.200.0.1", "2001:db8::25", "192.0.2.9"]
  ) {
    ok(set.contains(ip), ip);
  }
  for (const ip of ["192.0.2.10", "::2", "2001:db9::1", "::ffff:11.0.0.1", "", "1.2.3"]) {
    ok(!set.contains(ip), ip);
  }
  ok(!new CidrSet([]).contains("127.0.0.1"));
  throws(() => new CidrSet(["10.0.0.0/8", "bad"]), /bad network "bad"/);
});

Deno.test("format: check-conf output lists every key and loads back to the same config", () => {
  const config = parseConfigText(
    [
      'HostName = "mx.example.org"',
      'DirBase = "/srv/mail"',
      'ListenIP = ["192.0.2.1", "2001:db8::1"]',
      'LocalIP = ["10.0.0.0/8"]',
      'RelayHost = "[2001:db8::25]:587"',
      'RelayUser = "relay"',
      'RelayPassword = "pa\\"ss\\\\word"',
      'LogFile = "/var/log/extremail.log"',
      "QueueRetry = [60]",
      'PlainAuthWithoutTLS = "never"',
    ].join("\n"),
    "/etc/extremail/extremail.toml",
  );
  const shown = formatConfig(config, { showSecrets: true });
  deepStrictEqual(parseConfigText(shown, "/elsewhere/check-conf.toml"), config);
  const lines = shown.trimEnd().split("\n");
  deepStrictEqual(lines.map((line) => line.split(" = ")[0]), CONFIG_KEYS.map((k) => k.key));
  ok(lines.includes('ListenIP = ["192.0.2.1", "2001:db8::1"]'));

  const hidden = formatConfig(config);
  ok(hidden.includes(`RelayPassword = "${HIDDEN_SECRET}"`) && !hidden.includes('pa\\"ss'));
  deepStrictEqual(parseConfigText(formatConfig(schemaDefaults()), "d.toml"), schemaDefaults());
});

Deno.test("convert-conf: a realistic classic eXtremail.conf", () => {
  const classic = [
    "# eXtremail configuration",
    "",
    "HostName = mail.example.com",
    "dirbase = /var/spool/eXtremail   # trailing comment",
    "ListenIP = 192.0.2.10, 127.0.0.1",
    "LocalIP = 127.0.0.0/8, 10.0.0.0/8, ::1",
    "PortSMTP = 25",
    "PortPOP3S = 0",
    "PlainAuthWithoutTLS = yes",
    "QueueRetry = 600, 1800,3600",
    "AutoSpamFilter = on",
    'RelayHost = "smtp.isp.example:587"',
    "RelayUser = 'mail user'",
    'RelayPassword = "p#ss, word"',
    "LogLevel = Warning",
    "DNSServer = ",
    "",
  ].join("\r\n");
  const { toml, unknown } = convertClassic(classic);
  deepStrictEqual(unknown, [{ line: 11, key: "AutoSpamFilter" }]);
  match(toml, /^# unknown key, not converted \(line 11\): AutoSpamFilter = on$/m);
  match(toml, /^# eXtremail configuration$/m);
  match(toml, /^DirBase = "\/var\/spool\/eXtremail" # trailing comment$/m);
  const config = parseConfigText(toml, "converted.toml", { baseDir: null });
  equal(config.HostName, "mail.example.com");
  deepStrictEqual(config.ListenIP, ["192.0.2.10", "127.0.0.1"]);
  deepStrictEqual(config.LocalIP, ["127.0.0.0/8", "10.0.0.0/8", "::1"]);
  deepStrictEqual([config.PortSMTP, config.PortPOP3S], [25, 0]);
  equal(config.PlainAuthWithoutTLS, "always");
  deepStrictEqual(config.QueueRetry, [600, 1800, 3600]);
  deepStrictEqual([config.RelayHost, config.RelayUser], ["smtp.isp.example:587", "mail user"]);
  equal(config.RelayPassword, "p#ss, word");
  equal(config.LogLevel, "warning");
  deepStrictEqual(config.DNSServer, []);
  equal(config.PortIMAP, 143); // not in the classic file: the default
});

Deno.test("convert-conf: bad values and lines are refused with the classic line", () => {
  match(
    configErrorOf(() => convertClassic("# x\nPortSMTP = 99999\n")),
    /^eXtremail\.conf line 2: PortSMTP = 99999: port/,
  );
  match(
    configErrorOf(() => convertClassic("PortSMTP = twenty-five\n")),
    /PortSMTP = twenty-five: must be a whole number; write e\.g\. PortSMTP = 25$/,
  );
  match(
    configErrorOf(() => convertClassic("PlainAuthWithoutTLS = maybe\n")),
    /PlainAuthWithoutTLS = maybe: must be one of never, local, always \(or yes\/no\)/,
  );
  match(
    configErrorOf(() => convertClassic("LocalIP = 10.0.0.0/40\n")),
    /LocalIP = 10.0.0.0\/40: /,
  );
  match(
    configErrorOf(() => convertClassic("just words\n")),
    /line 1: "just words": expected "Key = value"/,
  );
  match(
    configErrorOf(() => convertClassic("PortSMTP = 25\nportsmtp = 26\n")),
    /line 2: PortSMTP is given twice \(first on line 1\)/,
  );
  match(
    configErrorOf(() => convertClassic("TLSCert = /etc/cert.pem\n")),
    /line 1: TLSCert = "\/etc\/cert.pem": TLSKey is empty/,
  );
});
