/**
 * The configuration keys (SPEC §3): name, TOML type, default, meaning and the rule each
 * value must follow. This table drives validation (load.ts, check_value.ts), check-conf
 * output (format.ts), the classic converter (convert.ts) and the shipped
 * conf/extremail.toml (checked by a test). SPEC §5 adds Postmaster; SPEC §10 PortMetrics,
 * MetricsIP, LogFormat; SPEC §8 DKIMSign, InboundAuth, SRS; SPEC §9 DNSBL, SpamFilter,
 * SpamFilterFailure, TimeoutSpamFilter, SpamLearn; SPEC §12 Directory, NodeName, Nodes,
 * PortCluster, ClusterSecret (their rules: cluster.ts; the other keys': value_rules.ts).
 *
 * Extensions beyond the SPEC are marked `extension: true`: RelayUser, RelayPassword,
 * AdminIdleTimeout, QueueDelayWarning, SpamFilterTrusted, SpamController,
 * SpamControllerPassword, ThreadsPOP3.
 */

import {
  checkCidr,
  checkControllerUrl,
  checkDnsblZone,
  checkDnsServer,
  checkHostName,
  checkIpAddress,
  checkPostmaster,
  checkRelayHost,
  checkSpamFilter,
  nonEmpty,
  normalizePostmaster,
  type Problem,
} from "./value_rules.ts";
import type { IntegerKeySpec, KeySpec, StringKeySpec, StringListKeySpec } from "./key_spec.ts";
import {
  checkClusterSecret,
  checkDirectory,
  checkNodeEntry,
  checkNodeName,
  redactDirectoryUrl,
} from "./cluster.ts";

export type PlainAuthPolicy = "never" | "local" | "always";
export type LogLevel = "debug" | "info" | "warning" | "error";
export type LogFormat = "text" | "json";
export type InboundAuthMode = "off" | "tag" | "enforce";
export type SpamFailurePolicy = "accept" | "tempfail";

/** The effective configuration. Property names are the TOML keys, in eXtremail's CamelCase. */
export interface Config {
  HostName: string;
  DirBase: string;
  ListenIP: string[];
  PortSMTP: number;
  PortSubmission: number;
  PortSMTPS: number;
  PortPOP3: number;
  PortPOP3S: number;
  PortIMAP: number;
  PortIMAPS: number;
  PortAdmin: number;
  AdminIP: string[];
  AdminIdleTimeout: number;
  PortMetrics: number;
  MetricsIP: string[];
  TLSCert: string;
  TLSKey: string;
  LocalIP: string[];
  PlainAuthWithoutTLS: PlainAuthPolicy;
  ThreadsSMTP: number;
  ThreadsQueue: number;
  ThreadsPOP3: number;
  MaxConnections: number;
  MaxConnectionsPerIP: number;
  MaxMailSize: number;
  MaxRecipients: number;
  TimeoutSMTP: number;
  TimeoutPOP3: number;
  TimeoutIMAP: number;
  TimeoutLogin: number;
  QueueRetry: number[];
  QueueExpire: number;
  RelayHost: string;
  RelayUser: string;
  RelayPassword: string;
  OutboundPort: number;
  DNSServer: string[];
  HashDirs: number;
  Postmaster: string;
  LogLevel: LogLevel;
  LogFile: string;
  LogFormat: LogFormat;
  DKIMSign: boolean;
  InboundAuth: InboundAuthMode;
  SRS: boolean;
  DNSBL: string[];
  SpamFilter: string;
  SpamFilterFailure: SpamFailurePolicy;
  TimeoutSpamFilter: number;
  SpamLearn: boolean;
  SpamFilterTrusted: boolean;
  SpamController: string;
  SpamControllerPassword: string;
  QueueDelayWarning: number;
  Directory: string;
  NodeName: string;
  Nodes: Record<string, string>;
  PortCluster: number;
  ClusterSecret: string;
}

export type ConfigKey = keyof Config;
export type ConfigValue = Config[ConfigKey];

/**
 * A configuration that cannot be used. Each problem is one line naming the place, the key
 * and the fix; `problems` holds every one found in the file (check-conf prints them all),
 * the message the first (and how many more there are).
 */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = (typeof problems === "string" ? [problems] : problems).map((p) =>
      p.replace(/[\r\n]+/g, " ")
    );
    const more = list.length > 1 ? ` (and ${list.length - 1} more problem(s) in the file)` : "";
    super(list[0] + more);
    this.name = "ConfigError";
    this.problems = list;
  }
}

// JavaScript timers overflow above 2^31-1 ms (~24.8 days), so every interval that ends up in
// a setTimeout stays below that.
const MAX_TIMER_SECONDS = 24 * 86400;

// Constructors that keep the table below to a line or two per key.
const text = (
  key: ConfigKey,
  defaultValue: string,
  comment: string,
  more: Partial<StringKeySpec> = {},
): StringKeySpec => ({ key, kind: "string", defaultValue, comment, ...more });

const integer = (
  key: ConfigKey,
  defaultValue: number,
  [min, max]: [number, number],
  rule: string,
  comment: string,
): IntegerKeySpec => ({ key, kind: "integer", defaultValue, min, max, rule, comment });

const PORT_RULE = "port must be 0..65535 (0 disables the listener)";
const port = (key: ConfigKey, defaultValue: number, comment: string) =>
  integer(key, defaultValue, [0, 65535], PORT_RULE, comment);

const count = (key: ConfigKey, defaultValue: number, unit: string, comment: string) => ({
  ...integer(key, defaultValue, [1, 2 ** 53 - 1], `must be a positive number of ${unit}`, comment),
  ...(unit === "bytes" ? { bytes: true as const } : {}),
});

const workers = (key: ConfigKey, defaultValue: number, comment: string) =>
  integer(key, defaultValue, [1, 1024], "must be 1..1024", comment);

const SECONDS_RULE = `must be 1..${MAX_TIMER_SECONDS} seconds (24 days)`;
const seconds = (key: ConfigKey, defaultValue: number, comment: string) =>
  integer(key, defaultValue, [1, MAX_TIMER_SECONDS], SECONDS_RULE, comment);

const list = (
  key: ConfigKey,
  defaultValue: string[],
  checkItem: (item: string) => Problem,
  comment: string,
  nonEmpty?: true,
): StringListKeySpec => ({ key, kind: "stringList", defaultValue, checkItem, comment, nonEmpty });

const extension = <T extends KeySpec>(spec: T): T => ({ ...spec, extension: true });

/** The keys in the order of SPEC §3, which check-conf output follows. */
export const CONFIG_KEYS: readonly KeySpec[] = [
  // The default HostName, the host's name, is filled in by schemaDefaults().
  text("HostName", "", "name in greetings, Received, Message-ID, DSNs", { check: checkHostName }),
  text("DirBase", "/var/spool/extremail", "all state: mailboxes, users, queue, admin password", {
    isPath: true,
    check: nonEmpty('the data directory, e.g. "/var/spool/extremail"'),
  }),
  list("ListenIP", ["0.0.0.0"], checkIpAddress, "addresses the mail listeners bind", true),
  port("PortSMTP", 25, "SMTP (MX); 0 disables a listener"),
  port("PortSubmission", 587, "submission, AUTH required"),
  port("PortSMTPS", 465, "SMTP over implicit TLS (only with TLSCert)"),
  port("PortPOP3", 110, "POP3"),
  port("PortPOP3S", 995, "POP3 over implicit TLS (only with TLSCert)"),
  port("PortIMAP", 143, "IMAP4"),
  port("PortIMAPS", 993, "IMAP4 over implicit TLS (only with TLSCert)"),
  port("PortAdmin", 4501, "administration line protocol"),
  list("AdminIP", ["127.0.0.1"], checkIpAddress, "addresses the admin listener binds", true),
  extension(seconds("AdminIdleTimeout", 600, "idle seconds before an admin session closes")),
  port("PortMetrics", 0, "HTTP /metrics (Prometheus) and /healthz; 0 = off (SPEC §10)"),
  list("MetricsIP", ["127.0.0.1"], checkIpAddress, "addresses the metrics listener binds", true),
  text("TLSCert", "", 'PEM certificate chain; "" = no TLS at all', { isPath: true }),
  text("TLSKey", "", "PEM private key of TLSCert, unencrypted", { isPath: true }),
  list("LocalIP", ["127.0.0.0/8", "::1/128"], checkCidr, "networks that relay without AUTH"),
  text("PlainAuthWithoutTLS", "local", "cleartext passwords outside TLS: never, local, always", {
    choices: ["never", "local", "always"],
  }),
  workers("ThreadsSMTP", 3, "SMTP delivery workers, each delivering a batch of messages"),
  workers("ThreadsQueue", 5, "outbound deliveries in parallel"),
  extension(integer(
    "ThreadsPOP3",
    2,
    [1, 2],
    "must be 1 (every session on the main event loop) or 2 (a second loop takes POP3 sessions after login)",
    "event loops running POP3 sessions after login",
  )),
  count("MaxConnections", 1000, "connections", "open connections per service"),
  count("MaxConnectionsPerIP", 20, "connections", "per client address, per service"),
  count("MaxMailSize", 26214400, "bytes", "largest message in bytes; advertised with SIZE"),
  count("MaxRecipients", 100, "recipients", "recipients per message"),
  seconds("TimeoutSMTP", 300, "idle seconds before an SMTP session closes"),
  seconds("TimeoutPOP3", 600, "idle seconds before a POP3 session closes"),
  seconds("TimeoutIMAP", 1800, "idle seconds before an IMAP session closes"),
  seconds("TimeoutLogin", 60, "seconds from connect to log in (POP3, IMAP, submission)"),
  {
    key: "QueueRetry",
    kind: "integerList",
    defaultValue: [300, 900, 1800, 3600, 7200, 14400],
    min: 1,
    max: MAX_TIMER_SECONDS,
    rule: `must list one or more intervals of 1..${MAX_TIMER_SECONDS} seconds, e.g. [300, 900]`,
    comment: "seconds between delivery attempts; the last value repeats",
  },
  count("QueueExpire", 432000, "seconds", "seconds after which a queued message bounces"),
  text("RelayHost", "", 'smart host "host[:port]"; "" = deliver to MX hosts', {
    check: checkRelayHost,
  }),
  extension(text("RelayUser", "", 'AUTH user name at RelayHost; "" = no AUTH')),
  extension(text("RelayPassword", "", "AUTH password at RelayHost", { secret: true })),
  integer("OutboundPort", 25, [1, 65535], "port must be 1..65535", "TCP port of remote MX hosts"),
  list("DNSServer", [], checkDnsServer, 'resolvers "ip" or "ip:port"; [] = the system\'s'),
  // An MD5 has 16 bytes: one hex pair per level at most.
  integer("HashDirs", 2, [0, 16], "must be 0..16 levels", "hashed directory levels per user"),
  // SPEC §5: postmaster@ a local domain that has no user, alias or list of that name.
  text("Postmaster", "", 'address for postmaster@ mail; "" = the Maildir DirBase/postmaster/', {
    check: checkPostmaster,
    normalize: normalizePostmaster,
  }),
  text("LogLevel", "info", "debug, info, warning or error", {
    choices: ["debug", "info", "warning", "error"],
  }),
  text("LogFile", "", 'log file; "" logs to stderr', { isPath: true }),
  text("LogFormat", "text", "text, or json: one JSON object per line (docs/operations.md)", {
    choices: ["text", "json"],
  }),
  // SPEC §8 mail authentication.
  { key: "DKIMSign", kind: "boolean", defaultValue: true, comment: "DKIM-sign outgoing mail" },
  text("InboundAuth", "tag", "port 25 checks: off, tag (headers) or enforce (DMARC policies)", {
    choices: ["off", "tag", "enforce"],
  }),
  { key: "SRS", kind: "boolean", defaultValue: true, comment: "SRS sender for forwarded mail" },
  // SPEC §9 spam filtering (docs/spam.md).
  list("DNSBL", [], checkDnsblZone, "DNS block list zones; listed clients refused at RCPT"),
  text("SpamFilter", "", '"rspamd:http://127.0.0.1:11333" checks inbound mail; "" = off', {
    check: checkSpamFilter,
  }),
  text("SpamFilterFailure", "accept", "filter down or too slow: accept (logged) or tempfail", {
    choices: ["accept", "tempfail"],
  }),
  seconds("TimeoutSpamFilter", 20, "seconds to wait for the spam filter's answer"),
  {
    key: "SpamLearn",
    kind: "boolean",
    defaultValue: false,
    comment: "IMAP moves into/out of Junk teach rspamd (/learnspam, /learnham)",
  },
  extension({
    key: "SpamFilterTrusted",
    kind: "boolean",
    defaultValue: false,
    comment: "also filter mail of authenticated clients and LocalIP",
  }),
  extension(text("SpamController", "", 'rspamd controller URL for learning; "" = SpamFilter\'s', {
    check: checkControllerUrl,
  })),
  extension(text("SpamControllerPassword", "", "rspamd controller password", { secret: true })),
  extension(
    seconds("QueueDelayWarning", 14400, "seconds in the queue before a NOTIFY=DELAY notice"),
  ),
  // SPEC §12 several machines.
  text("Directory", "sqlite", '"sqlite" or a PostgreSQL URL shared by every node', {
    check: checkDirectory,
    redact: redactDirectoryUrl,
  }),
  text("NodeName", "", 'this node\'s name; "" = a single machine', {
    check: checkNodeName,
    normalize: (value) => value.trim().toLowerCase(),
  }),
  {
    key: "Nodes",
    kind: "stringTable",
    defaultValue: {},
    checkEntry: checkNodeEntry,
    comment: 'name = "host:port" of every node\'s PortCluster',
  },
  port("PortCluster", 0, "internal listener between nodes (TLS); 0 = off"),
  text("ClusterSecret", "", "secret shared by every node; needed with PortCluster", {
    secret: true,
    check: checkClusterSecret,
  }),
];

const specsByKey = new Map(CONFIG_KEYS.map((spec) => [spec.key as string, spec]));

/** The spec of a key, exact (case-sensitive) name. */
export function keySpec(key: string): KeySpec | undefined {
  return specsByKey.get(key);
}

/** Is `key` a secret (RelayPassword), never to be echoed? */
export function isSecretKey(key: string): boolean {
  const spec = keySpec(key);
  return spec?.kind === "string" && spec.secret === true;
}

/**
 * A value as messages and check-conf may show it: secrets as `hidden`, a URL without its
 * password (Directory); everything else as it is.
 */
export function shownValue(key: string, value: unknown, hidden: string): unknown {
  const spec = keySpec(key);
  if (spec?.kind !== "string" || typeof value !== "string" || value === "") return value;
  if (spec.secret) return hidden;
  return spec.redact ? spec.redact(value) : value;
}

/** The spec whose name equals `key` ignoring case (for suggestions and classic files). */
export function keySpecIgnoringCase(key: string): KeySpec | undefined {
  const lower = key.toLowerCase();
  return CONFIG_KEYS.find((spec) => spec.key.toLowerCase() === lower);
}

/** The host's name, or "localhost" when the runtime will not tell (no --allow-sys). */
export function defaultHostName(): string {
  try {
    return Deno.hostname() || "localhost";
  } catch {
    return "localhost";
  }
}

/** A fresh, mutable Config holding the production defaults of SPEC §3. */
export function schemaDefaults(): Config {
  const config: Record<string, unknown> = {};
  for (const spec of CONFIG_KEYS) {
    config[spec.key] = Array.isArray(spec.defaultValue)
      ? [...spec.defaultValue]
      : typeof spec.defaultValue === "object"
      ? { ...spec.defaultValue }
      : spec.defaultValue;
  }
  config.HostName = defaultHostName();
  return config as unknown as Config;
}
