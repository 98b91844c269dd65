/**
 * bench:peers' loads: what each runs (a shared Python generator, lean_load.py, or
 * smtp-source) against either target, and the figures read from its output.
 */
import { cpuPerOp, idleShare, mainSleepsPerOp, mainThreadPeak, serverPeak } from "./cpu_share.ts";
import { DOMAIN } from "./ours.ts";
import type { ProcResult } from "./proc.ts";
import { runSmtpSource } from "./smtp_source.ts";

export type Target = "ours" | "peer";
export type Group = "smtp" | "pop3" | "imap" | "idle";
export const ALL_GROUPS: Group[] = ["smtp", "pop3", "imap", "idle"];
/** The port of a target's service. */
export type PortOf = (t: Target, g: "smtp" | "pop3" | "imap") => number;

export const SINKS = { first: 11, count: 190 }; // SMTP ingest recipients, as in BASELINE.md
export const POP3_SESSIONS = 4;

export interface Metric {
  key: string;
  label: string;
  lowerBetter?: boolean;
  /** A figure about the run, not a comparison: no ratio. */
  noRatio?: boolean;
  /** Extracts the figure from a run's stdout (and stderr: cpu_share.py's line). */
  parse: (out: string, err: string) => number | undefined;
}

export interface Load {
  id: string;
  group: Group;
  peerName: string;
  /** A Python generator in the shared bench directory, run with `args`... */
  script: string;
  /** ...or, with --client lean, lean_load.py with this protocol and the same `args`... */
  lean?: "pop3" | "imap";
  args: (t: Target) => string[];
  /** ...or a load run some other way (smtp-source). */
  command?: (t: Target) => Promise<ProcResult>;
  metrics: Metric[];
  /** What was read ("N messages, X octets"): must be the same on both servers. */
  volume?: RegExp;
}

const num = (re: RegExp) => (out: string) => {
  const m = re.exec(out);
  return m ? Number(m[1]) : undefined;
};

/** The rows the lean loads add: where the CPU went (cpu_share.py runs lean_load.py). */
function leanCpu(lean: boolean, what: string, ops: RegExp): Metric[] {
  if (!lean) return [];
  return [
    {
      key: "cpu-server",
      label: `${what}: server CPU per op (µs, lower is better)`,
      lowerBetter: true,
      parse: cpuPerOp("server", ops),
    },
    {
      key: "cpu-client",
      label: `${what}: client CPU per op (µs)`,
      parse: cpuPerOp("client", ops),
    },
    {
      key: "cpu-idle",
      label: `${what}: machine idle during the run (% of one core)`,
      noRatio: true,
      parse: idleShare,
    },
    {
      key: "cpu-peak",
      label: `${what}: server's busiest 0.5 s (% of one core)`,
      noRatio: true,
      parse: serverPeak,
    },
    {
      // Ours: the event loop; Dovecot's master process does next to nothing.
      key: "cpu-main",
      label: `${what}: server main thread's busiest 0.5 s (% of one core)`,
      noRatio: true,
      parse: mainThreadPeak,
    },
    {
      // Ours: the event loop's sleeps in epoll_wait; Dovecot's master: next to none.
      key: "cpu-sleeps",
      label: `${what}: server main thread's sleeps per op`,
      noRatio: true,
      parse: mainSleepsPerOp(ops),
    },
  ];
}

function smtpLoad(port: PortOf, connections: number): Load {
  return {
    id: `smtp-c${connections}`,
    group: "smtp",
    peerName: "postfix",
    script: "smtp_ingest.py",
    args: (t) => [
      "--port",
      String(port(t, "smtp")),
      "--connections",
      String(connections),
      "--messages",
      "500",
      "--size",
      "4096",
      "--first-user",
      String(SINKS.first),
      "--users",
      String(SINKS.count),
    ],
    metrics: [
      {
        key: "rate",
        label: `SMTP ingest, ${connections} connections (msg/s)`,
        parse: num(/^smtp_ingest: ([\d.]+) msg\/s/m),
      },
      {
        key: "p50",
        label: `SMTP ${connections} conn. p50 latency (ms, lower is better)`,
        lowerBetter: true,
        parse: num(/^latency per message: p50 ([\d.]+) ms/m),
      },
    ],
  };
}

/** smtp-source: one connection per message, to one recipient, payload 4096 octets. */
function smtpSourceLoad(port: PortOf, sessions: number): Load {
  return {
    id: `smtp-source-s${sessions}`,
    group: "smtp",
    peerName: "postfix",
    script: "",
    args: () => [],
    command: (t) =>
      runSmtpSource({
        port: port(t, "smtp"),
        sessions,
        messages: 500,
        size: 4096,
        from: "s@x.test",
        to: `testuser${SINKS.first}@${DOMAIN}`,
      }),
    metrics: [{
      key: "rate",
      label: `SMTP smtp-source -s ${sessions}, 1 msg/connection (msg/s)`,
      parse: num(/^smtp_source: ([\d.]+) msg\/s/m),
    }],
  };
}

const pop3User = (t: Target) => t === "ours" ? `testuser%d@${DOMAIN}` : "testuser%d";
const imapUser = (t: Target) => t === "ours" ? `testuser3@${DOMAIN}` : "testuser3";

/**
 * The loads, in the order they run. `lean`: POP3/IMAP through lean_load.py (with the CPU
 * rows); `port`: where each target listens for a protocol.
 */
export function peerLoads(lean: boolean, port: PortOf): Load[] {
  return [
    {
      id: "pop3",
      group: "pop3",
      volume: /^retrieved (\d+ messages, \d+ octets)/m,
      peerName: "dovecot",
      script: "pop3_retr.py",
      lean: "pop3",
      args: (t) => [
        "--port",
        String(port(t, "pop3")),
        "--sessions",
        String(POP3_SESSIONS),
        "--rounds",
        "10",
        "--user",
        pop3User(t),
      ],
      metrics: [
        {
          key: "rate",
          label: "POP3 RETR, 4 sessions (msg/s)",
          parse: num(/^pop3_retr: ([\d.]+) msg\/s/m),
        },
        {
          key: "mbs",
          label: "POP3 RETR, 4 sessions (MB/s)",
          parse: num(/^pop3_retr: [\d.]+ msg\/s ([\d.]+) MB\/s/m),
        },
        {
          key: "p50",
          label: "POP3 RETR p50 latency (ms, lower is better)",
          lowerBetter: true,
          parse: num(/^RETR latency: p50 ([\d.]+) ms/m),
        },
        ...leanCpu(lean, "POP3 RETR", /^retrieved (\d+) messages/m),
      ],
    },
    {
      id: "imap",
      group: "imap",
      volume: /^\d+ ops in [\d.]+ s; (\d+ message bodies, \d+ octets)/m,
      peerName: "dovecot",
      script: "imap_fetch.py",
      lean: "imap",
      args: (t) => [
        "--port",
        String(port(t, "imap")),
        "--sessions",
        "4",
        "--rounds",
        "5",
        "--user",
        imapUser(t),
      ],
      metrics: [
        {
          key: "rate",
          label: "IMAP fetch, 4 sessions (ops/s)",
          parse: num(/^imap_fetch: ([\d.]+) ops\/s/m),
        },
        {
          key: "mbs",
          label: "IMAP bodies (MB/s)",
          parse: num(/^bodies: [\d.]+ msg\/s ([\d.]+) MB\/s/m),
        },
        {
          key: "p50",
          label: "IMAP FETCH BODY.PEEK[] p50 (ms, lower is better)",
          lowerBetter: true,
          parse: num(/^\s*FETCH-BODY\s.*?p50 ([\d.]+) ms/m),
        },
        {
          key: "meta",
          label: "IMAP FETCH 1:* metadata mean (ms, lower is better)",
          lowerBetter: true,
          parse: num(/^\s*FETCH-META\s.*?mean ([\d.]+) ms/m),
        },
        ...leanCpu(lean, "IMAP fetch", /^(\d+) ops in /m),
      ],
    },
    smtpLoad(port, 4),
    smtpLoad(port, 16),
    smtpSourceLoad(port, 4),
    smtpSourceLoad(port, 16),
  ];
}
