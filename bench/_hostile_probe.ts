/**
 * The prober of bench/hostile.ts, run as a Worker so that the attacks (in the main
 * thread) never delay its measurements: one idle, logged-in session per service (SMTP,
 * submission, POP3, IMAP, admin) sends a NOOP every 25 ms and records how long the
 * answer took. The main thread asks for the worst latency of each window.
 *
 * Messages in: {start: {ports, user, password, adminPassword}} | {window: true} | {quiet: true}
 *   | {stop: true}
 * Messages out: {ready: true} | {worst: {ms, service, lost}} | {quiet: ms} | {error}
 */
import { RawClient, sleep } from "./_hostile_net.ts";

interface Setup {
  ports: Record<string, number>;
  user: string;
  password: string;
  adminPassword: string;
}

interface Probe {
  service: string;
  noop: () => Promise<boolean>;
  reconnect: () => Promise<void>;
}

/** The worker's global scope (this file is type-checked with the window's lib). */
const scope = self as unknown as {
  onmessage: (e: MessageEvent) => void;
  postMessage(message: unknown): void;
};

let worst = { ms: 0, service: "", lost: 0 };
let running = true;
/** Start times of the NOOPs waiting for their answer, and the recent answers. */
const inFlight = new Set<number>();
let recent: { at: number; ms: number }[] = [];

/** The slowest answer of the last second, or the age of one still waiting if longer. */
function recentWorst(): number {
  const now = performance.now();
  recent = recent.filter((r) => now - r.at < 1000);
  let ms = recent.reduce((m, r) => Math.max(m, r.ms), 0);
  for (const started of inFlight) ms = Math.max(ms, now - started);
  return ms;
}

async function smtpProbe(service: string, port: number, s: Setup): Promise<Probe> {
  let c: RawClient;
  const connect = async () => {
    c = await RawClient.connect(port);
    await c.smtp();
    await c.write("EHLO probe.example\r\n");
    await c.smtp();
    if (service === "submission") {
      await c.write(`AUTH PLAIN ${btoa(`\0${s.user}\0${s.password}`)}\r\n`);
      const r = await c.smtp(30_000);
      if (!r?.startsWith("235")) throw new Error(`probe AUTH: ${r}`);
    }
  };
  await connect();
  return {
    service,
    reconnect: connect,
    noop: async () =>
      (await c.write("NOOP\r\n")) && (await c.smtp(30_000))?.startsWith("250") === true,
  };
}

async function pop3Probe(port: number, s: Setup): Promise<Probe> {
  let c: RawClient;
  const connect = async () => {
    c = await RawClient.connect(port);
    await c.line();
    await c.write(`USER ${s.user}\r\n`);
    await c.line();
    await c.write(`PASS ${s.password}\r\n`);
    const r = await c.line(30_000);
    if (!r?.startsWith("+OK")) throw new Error(`probe POP3 login: ${r}`);
  };
  await connect();
  return {
    service: "pop3",
    reconnect: connect,
    noop: async () =>
      (await c.write("NOOP\r\n")) && (await c.line(30_000))?.startsWith("+OK") === true,
  };
}

async function imapProbe(port: number, s: Setup): Promise<Probe> {
  let c: RawClient;
  let n = 0;
  const connect = async () => {
    c = await RawClient.connect(port);
    await c.line();
    await c.write(`l LOGIN ${s.user} ${s.password}\r\n`);
    const r = await c.until((l) => l.startsWith("l "), 30_000);
    if (!r?.[r.length - 1].startsWith("l OK")) throw new Error(`probe IMAP login: ${r}`);
  };
  await connect();
  return {
    service: "imap",
    reconnect: connect,
    noop: async () => {
      const tag = `n${++n}`;
      if (!(await c.write(`${tag} NOOP\r\n`))) return false;
      const r = await c.until((l) => l.startsWith(tag + " "), 30_000);
      return r !== null && r[r.length - 1].startsWith(`${tag} OK`);
    },
  };
}

async function adminProbe(port: number, s: Setup): Promise<Probe> {
  let c: RawClient;
  const connect = async () => {
    c = await RawClient.connect(port);
    await c.line();
    await c.write(`LOGIN ${s.adminPassword}\r\n`);
    const r = await c.until((l) => l.startsWith("+OK") || l.startsWith("-ERR"), 30_000);
    if (!r?.[r.length - 1].startsWith("+OK")) throw new Error(`probe admin login: ${r}`);
  };
  await connect();
  return {
    service: "admin",
    reconnect: connect,
    noop: async () => {
      if (!(await c.write("HELP QUIT\r\n"))) return false;
      const r = await c.until((l) => l.startsWith("+OK") || l.startsWith("-ERR"), 30_000);
      return r !== null;
    },
  };
}

async function loop(p: Probe): Promise<void> {
  while (running) {
    const started = performance.now();
    inFlight.add(started);
    let ok = false;
    try {
      ok = await p.noop();
    } catch {
      ok = false;
    }
    inFlight.delete(started);
    const ms = performance.now() - started;
    recent.push({ at: performance.now(), ms });
    if (!ok) {
      worst.lost++;
      try {
        await p.reconnect();
      } catch { /* the next round tries again */ }
    } else if (ms > worst.ms) worst = { ...worst, ms, service: p.service };
    await sleep(25);
  }
}

scope.onmessage = async (e: MessageEvent) => {
  const msg = e.data;
  if (msg.start) {
    const s = msg.start as Setup;
    try {
      const probes = await Promise.all([
        smtpProbe("smtp", s.ports.smtp, s),
        smtpProbe("submission", s.ports.submission, s),
        pop3Probe(s.ports.pop3, s),
        imapProbe(s.ports.imap, s),
        adminProbe(s.ports.admin, s),
      ]);
      for (const p of probes) loop(p);
      scope.postMessage({ ready: true });
    } catch (err) {
      scope.postMessage({ error: String(err) });
    }
  } else if (msg.window) {
    scope.postMessage({ worst });
    worst = { ms: 0, service: "", lost: 0 };
  } else if (msg.quiet) {
    scope.postMessage({ quiet: recentWorst() });
  } else if (msg.stop) {
    running = false;
    scope.postMessage({ stopped: true });
  }
};
