/**
 * A fake recursive DNS server for tests: answers from an in-memory zone table over UDP
 * (and TCP on the same port, for truncation tests) on 127.0.0.1. It follows CNAMEs inside
 * the table as a recursive resolver would, answers NXDOMAIN/NODATA with an SOA, and
 * records every question so tests can check what was (not) asked.
 *
 *   const dns = await startFakeDns();
 *   dns.add("example.test", { type: "MX", preference: 10, exchange: "mx.example.test" });
 *   dns.add("mx.example.test", { type: "A", address: "127.0.0.1" });
 *   dns.txt("example.test", "v=spf1 ip4:127.0.0.1 -all");   // SPF, DKIM keys, DMARC
 *   try { ... DNSServer: [dns.server] ... } finally { dns.close(); }
 */
import dgram from "node:dgram";
import net from "node:net";
import {
  decodeMessage,
  type DnsMessage,
  encodeMessage,
  Rcode,
  type RData,
  type ResourceRecord,
  RRType,
  typeName,
} from "../../src/dns/message.ts";

export interface FakeRecord {
  name: string;
  ttl: number;
  data: RData;
}

export interface FakeDns {
  port: number;
  /** "127.0.0.1:<port>", ready for the DNSServer configuration key. */
  server: string;
  records: FakeRecord[];
  /** Every question asked, in order ("name TYPE", name lower-case). */
  asked: string[];
  add(name: string, data: RData, ttl?: number): void;
  /** A TXT record; text over 255 octets is split into several strings (RFC 1035 §3.3.14). */
  txt(name: string, text: string, ttl?: number): void;
  /** Removes every record of `name` (and of `type` only, when given). */
  remove(name: string, type?: string): void;
  /** How many times `name` (with `type`, when given) was asked. */
  count(name: string, type?: string): number;
  /** Names answered with SERVFAIL. */
  servfail: Set<string>;
  /** Names ("name") or questions ("name AAAA") never answered: the client times out. */
  silent: Set<string>;
  /** Set TC on every UDP answer (the full answer is only given over TCP). */
  truncateUdp: boolean;
  /** UDP answers are sent this late (ms): a resolver whose cache is cold. */
  udpDelayMs: number;
  close(): void;
}

const SOA: RData = {
  type: "SOA",
  mname: "ns.test",
  rname: "hostmaster.test",
  serial: 1,
  refresh: 3600,
  retry: 600,
  expire: 86400,
  minimum: 60,
};

function answer(dns: FakeDns, query: DnsMessage, udp: boolean): DnsMessage | null {
  const q = query.questions[0];
  const base: DnsMessage = {
    id: query.id,
    qr: true,
    opcode: 0,
    aa: false,
    tc: false,
    rd: query.rd,
    ra: true,
    rcode: Rcode.NOERROR,
    questions: query.questions,
    answers: [],
    authorities: [],
    additionals: [],
  };
  if (!q) return { ...base, rcode: Rcode.FORMERR };
  const qname = q.name.toLowerCase();
  dns.asked.push(`${qname} ${typeName(q.type)}`);
  if (dns.silent.has(qname) || dns.silent.has(`${qname} ${typeName(q.type)}`)) return null;
  if (dns.servfail.has(qname)) return { ...base, rcode: Rcode.SERVFAIL };
  const at = (name: string) => dns.records.filter((r) => r.name === name);
  const toRR = (r: FakeRecord): ResourceRecord => ({
    name: r.name,
    class: 1,
    ttl: r.ttl,
    data: r.data,
  });
  let current = qname;
  for (let i = 0; i < 10 && q.type !== RRType.CNAME; i++) {
    const cname = at(current).find((r) => r.data.type === "CNAME");
    if (!cname || cname.data.type !== "CNAME") break;
    base.answers.push(toRR(cname));
    current = cname.data.target.toLowerCase();
  }
  const wanted = at(current).filter((r) =>
    (r.data.type === "OTHER" ? r.data.code : RRType[r.data.type]) === q.type
  );
  base.answers.push(...wanted.map(toRR));
  if (wanted.length === 0) {
    if (at(current).length === 0) base.rcode = Rcode.NXDOMAIN;
    base.authorities.push({ name: "test", class: 1, ttl: 60, data: SOA });
  }
  if (udp && dns.truncateUdp) return { ...base, tc: true, answers: [], authorities: [] };
  return base;
}

/**
 * Starts the fake server. UDP takes a free port and TCP must get the same number, which
 * another test's connection may hold: then both are released and another port tried.
 */
export async function startFakeDns(): Promise<FakeDns> {
  for (let attempt = 1;; attempt++) {
    try {
      return await startFakeDnsOnce();
    } catch (e) {
      if (attempt >= 10 || !/EADDRINUSE/.test(String(e))) throw e;
    }
  }
}

async function startFakeDnsOnce(): Promise<FakeDns> {
  const udp = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", () => resolve()));
  const port = udp.address().port;
  /** Answers waiting for udpDelayMs. */
  const late = new Set<ReturnType<typeof setTimeout>>();
  const dns: FakeDns = {
    port,
    server: `127.0.0.1:${port}`,
    records: [],
    asked: [],
    servfail: new Set(),
    silent: new Set(),
    truncateUdp: false,
    udpDelayMs: 0,
    add(name, data, ttl = 300) {
      dns.records.push({ name: name.toLowerCase(), ttl, data });
    },
    txt(name, text, ttl = 300) {
      const texts: string[] = [];
      for (let i = 0; i < text.length || i === 0; i += 255) texts.push(text.slice(i, i + 255));
      dns.add(name, { type: "TXT", texts }, ttl);
    },
    remove(name, type) {
      const n = name.toLowerCase();
      dns.records = dns.records.filter((r) => !(r.name === n && (!type || r.data.type === type)));
    },
    count(name, type) {
      const prefix = `${name.toLowerCase()} `;
      return dns.asked.filter((a) => a.startsWith(prefix) && (!type || a === prefix + type))
        .length;
    },
    close() {
      for (const timer of late) clearTimeout(timer);
      udp.close();
      tcp.close();
      for (const s of sockets) s.destroy();
    },
  };
  udp.on("message", (msg: Uint8Array, rinfo: { address: string; port: number }) => {
    let query: DnsMessage;
    try {
      query = decodeMessage(new Uint8Array(msg));
    } catch {
      return;
    }
    const reply = answer(dns, query, true);
    if (!reply) return;
    const send = () => udp.send(encodeMessage(reply), rinfo.port, rinfo.address);
    if (dns.udpDelayMs <= 0) return send();
    const timer = setTimeout(() => {
      late.delete(timer);
      send();
    }, dns.udpDelayMs);
    late.add(timer);
  });
  // TCP on the same port number (RFC 1035 §4.2.2 framing).
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buf = new Uint8Array(0);
    socket.on("data", (chunk: Uint8Array) => {
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf);
      next.set(chunk, buf.length);
      buf = next;
      while (buf.length >= 2 && buf.length >= 2 + ((buf[0] << 8) | buf[1])) {
        const len = (buf[0] << 8) | buf[1];
        const reply = answer(dns, decodeMessage(buf.subarray(2, 2 + len)), false);
        buf = buf.slice(2 + len);
        if (!reply) continue;
        const body = encodeMessage(reply);
        const framed = new Uint8Array(body.length + 2);
        framed[0] = body.length >> 8;
        framed[1] = body.length & 0xff;
        framed.set(body, 2);
        socket.write(framed);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", (e) => {
      udp.close();
      reject(e);
    });
    tcp.listen(port, "127.0.0.1", () => resolve());
  });
  return dns;
}
