/**
 * Sends DNS queries to recursive resolvers: UDP first, TCP when the answer is truncated
 * (RFC 1035 §4.2, RFC 7766 §5). Answers are matched on id, source and question
 * (RFC 5452 §9.1) so a stray or spoofed datagram is ignored, not believed.
 */
import dgram from "node:dgram";
import net from "node:net";
import { splitHostPort } from "../config/value_rules.ts";
import type { ServerHealth } from "./health.ts";
import { decodeMessage, type DnsMessage, encodeQuery, Rcode } from "./message.ts";

export interface NameServer {
  ip: string;
  port: number;
}

/** The resolver could not be reached or gave no usable answer (a temporary failure). */
export class DnsTransportError extends Error {}

/** DNSServer entries (`ip`, `ip:port`, `[v6]:port`, already validated by the config). */
export function parseServers(list: readonly string[]): NameServer[] {
  const out: NameServer[] = [];
  for (const item of list) {
    const parts = splitHostPort(item.trim());
    if (parts && net.isIP(parts.host)) out.push({ ip: parts.host, port: parts.port ?? 53 });
  }
  return out;
}

let systemCache: { servers: NameServer[]; at: number } | null = null;

/**
 * The system's resolvers from /etc/resolv.conf (re-read at most once a minute); with
 * none configured, the local host (resolv.conf(5) default).
 */
export async function systemServers(): Promise<NameServer[]> {
  if (systemCache && Date.now() - systemCache.at < 60_000) return systemCache.servers;
  let servers: NameServer[] = [];
  try {
    const text = await Deno.readTextFile("/etc/resolv.conf");
    for (const line of text.split("\n")) {
      const m = /^\s*nameserver\s+(\S+)/.exec(line);
      // A link-local IPv6 zone id (fe80::1%eth0) is dropped: node sockets reject it.
      const ip = m?.[1].replace(/%.*$/, "");
      if (ip && net.isIP(ip)) servers.push({ ip, port: 53 });
    }
  } catch { /* no resolv.conf: fall through to the default */ }
  if (servers.length === 0) servers = [{ ip: "127.0.0.1", port: 53 }];
  systemCache = { servers, at: Date.now() };
  return servers;
}

function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0];
}

type Finish = (err: Error | null, reply?: DnsMessage) => void;

/**
 * An exchange's answer: `start` sets it going with `finish`, which settles it once (the
 * first call wins) after `close` releases the socket; without a finish in `timeoutMs` it
 * fails with `timeoutText`.
 */
function settleOnce(
  timeoutMs: number,
  timeoutText: string,
  close: () => void,
  start: (finish: Finish) => void,
): Promise<DnsMessage> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish: Finish = (err, reply) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      close();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new DnsTransportError(timeoutText)), timeoutMs);
    start(finish);
  });
}

function matches(reply: DnsMessage, id: number, name: string, type: number): boolean {
  if (!reply.qr || reply.id !== id) return false;
  const q = reply.questions[0];
  // Some servers (and FORMERR answers) leave the question out; the id must then do.
  if (!q) return true;
  return q.type === type && q.name.toLowerCase() === name.toLowerCase();
}

function udpExchange(
  server: NameServer,
  name: string,
  type: number,
  timeoutMs: number,
): Promise<DnsMessage> {
  const id = randomId();
  const packet = encodeQuery(id, name, type);
  const family = net.isIP(server.ip) === 6 ? "udp6" : "udp4";
  const socket = dgram.createSocket(family);
  const close = () => {
    try {
      socket.close();
    } catch { /* already closed */ }
  };
  const timeout = `no answer from ${server.ip}:${server.port} for ${name}`;
  return settleOnce(timeoutMs, timeout, close, (finish) => {
    socket.on("error", (e: Error) => finish(new DnsTransportError(e.message)));
    socket.on("message", (msg: Uint8Array, rinfo: { address: string; port: number }) => {
      if (rinfo.port !== server.port || !sameIp(rinfo.address, server.ip)) return;
      try {
        const reply = decodeMessage(new Uint8Array(msg));
        if (matches(reply, id, name, type)) finish(null, reply);
      } catch { /* malformed: keep waiting for a good answer until the timeout */ }
    });
    socket.send(packet, server.port, server.ip, (err: Error | null) => {
      if (err) finish(new DnsTransportError(err.message));
    });
  });
}

function sameIp(a: string, b: string): boolean {
  const strip = (ip: string) => (ip.startsWith("::ffff:") ? ip.slice(7) : ip).toLowerCase();
  return strip(a) === strip(b);
}

/** RFC 1035 §4.2.2: over TCP each message is preceded by its two-octet length. */
function tcpExchange(
  server: NameServer,
  name: string,
  type: number,
  timeoutMs: number,
): Promise<DnsMessage> {
  const id = randomId();
  const query = encodeQuery(id, name, type);
  const framed = new Uint8Array(query.length + 2);
  framed[0] = query.length >> 8;
  framed[1] = query.length & 0xff;
  framed.set(query, 2);
  const socket = net.connect({ host: server.ip, port: server.port });
  let buf = new Uint8Array(0);
  const timeout = `TCP timeout from ${server.ip}:${server.port}`;
  return settleOnce(timeoutMs, timeout, () => socket.destroy(), (finish) => {
    socket.on("connect", () => socket.write(framed));
    socket.on("error", (e: Error) => finish(new DnsTransportError(e.message)));
    socket.on("close", () => finish(new DnsTransportError("TCP connection closed early")));
    socket.on("data", (chunk: Uint8Array) => {
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf);
      next.set(chunk, buf.length);
      buf = next;
      if (buf.length < 2) return;
      const len = (buf[0] << 8) | buf[1];
      if (buf.length < len + 2) return;
      try {
        const reply = decodeMessage(buf.subarray(2, len + 2));
        if (matches(reply, id, name, type)) finish(null, reply);
        else finish(new DnsTransportError("TCP answer does not match the query"));
      } catch (e) {
        finish(new DnsTransportError(`bad TCP answer: ${(e as Error).message}`));
      }
    });
  });
}

/** One exchange with one server: UDP, then TCP when the UDP answer has TC set. */
export async function exchange(
  server: NameServer,
  name: string,
  type: number,
  timeoutMs: number,
): Promise<DnsMessage> {
  const reply = await udpExchange(server, name, type, timeoutMs);
  if (!reply.tc) return reply;
  return await tcpExchange(server, name, type, timeoutMs);
}

export interface QueryOptions {
  /** The first try's timeout (ms); it doubles with each round over the servers. */
  firstTryMs: number;
  /** The whole look-up's time (ms): the last try gets what is left of it. */
  budgetMs: number;
  /** Which servers answer: dead ones are skipped, silent ones marked. */
  health: ServerHealth;
  /** A server was marked dead by this look-up. */
  onDead?: (server: NameServer) => void;
}

/**
 * Asks the live servers in turn until one gives a definite answer (NOERROR or NXDOMAIN):
 * a short first try, so that a lost datagram costs little, then rounds with doubled
 * timeouts until the budget is spent (RFC 1536 §1: back off, do not flood). SERVFAIL and
 * REFUSED move on to the next server; when every try fails, the last error answer is
 * returned or, with none at all, DnsTransportError is thrown: at once when every server
 * is dead (health.ts).
 */
export async function query(
  servers: readonly NameServer[],
  name: string,
  type: number,
  opts: QueryOptions,
): Promise<DnsMessage> {
  if (servers.length === 0) throw new DnsTransportError("no DNS server configured");
  const { health } = opts;
  const live = servers.filter((s) => health.deadUntil(s) === null);
  if (live.length === 0) throw new DnsTransportError(deadText(servers, health));
  const deadline = performance.now() + opts.budgetMs;
  const began = health.now();
  /** The servers asked that gave this look-up nothing at all. */
  const unanswered = new Set<NameServer>();
  let lastAnswer: DnsMessage | null = null;
  let lastError: Error | null = null;
  try {
    for (let timeout = opts.firstTryMs; !lastAnswer; timeout *= 2) {
      let tried = 0;
      for (const server of live) {
        const left = deadline - performance.now();
        if (left < 1) break;
        // Marked dead meanwhile (by a look-up that began earlier): not asked again.
        if (health.deadUntil(server) !== null) continue;
        tried++;
        unanswered.add(server);
        try {
          const reply = await exchange(server, name, type, Math.min(timeout, left));
          health.answered(server);
          unanswered.delete(server);
          if (reply.rcode === Rcode.NOERROR || reply.rcode === Rcode.NXDOMAIN) return reply;
          lastAnswer = reply;
        } catch (e) {
          lastError = e as Error;
        }
      }
      if (tried === 0) break;
    }
  } finally {
    for (const server of unanswered) {
      if (health.silent(server, opts.budgetMs, began)) opts.onDead?.(server);
    }
  }
  if (lastAnswer) return lastAnswer;
  throw lastError ?? new DnsTransportError(deadText(servers, health));
}

function deadText(servers: readonly NameServer[], health: ServerHealth): string {
  const until = Math.min(...servers.map((s) => health.deadUntil(s) ?? Date.now()));
  const names = servers.map((s) => `${s.ip}:${s.port}`).join(", ");
  return `no DNS server answers (${names} silent; asked again after ${
    new Date(until).toISOString().slice(11, 19)
  } UTC)`;
}
