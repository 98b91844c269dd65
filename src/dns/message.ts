/**
 * DNS messages (RFC 1035 §4): a pure encoder and decoder, so the resolver's wire format
 * is unit-tested apart from sockets and the test suite's fake DNS server speaks the same
 * code. Names are written without the trailing dot; the root is "".
 */
import { DnsFormatError, formatIpv6, parseIpv4, parseIpv6 } from "./ip.ts";

/** RR TYPE values (RFC 1035 §3.2.2, RFC 3596 for AAAA, RFC 6891 for OPT). */
export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
} as const;
export type RRTypeName = keyof typeof RRType;

/** RCODE values (RFC 1035 §4.1.1). */
export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

const CLASS_IN = 1;

export type RData =
  | { type: "A"; address: string }
  | { type: "AAAA"; address: string }
  | { type: "CNAME"; target: string }
  | { type: "NS"; host: string }
  | { type: "PTR"; host: string }
  | { type: "MX"; preference: number; exchange: string }
  | { type: "TXT"; texts: string[] }
  | {
    type: "SOA";
    mname: string;
    rname: string;
    serial: number;
    refresh: number;
    retry: number;
    expire: number;
    minimum: number;
  }
  | { type: "OTHER"; code: number; data: Uint8Array };

export interface ResourceRecord {
  name: string;
  /** CLASS; for OPT records the requestor's UDP payload size (RFC 6891 §6.1.2). */
  class: number;
  ttl: number;
  data: RData;
}

export interface Question {
  name: string;
  type: number;
  class: number;
}

export interface DnsMessage {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  questions: Question[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
}

export { DnsFormatError, formatIpv6, parseIpv4, parseIpv6 };

export function typeCode(name: RRTypeName | "OTHER", data?: RData): number {
  if (name === "OTHER") return data?.type === "OTHER" ? data.code : 0;
  return RRType[name];
}

export function typeName(code: number): string {
  const entry = Object.entries(RRType).find(([, v]) => v === code);
  return entry ? entry[0] : `TYPE${code}`;
}

// ---------------------------------------------------------------- encoding

class Writer {
  #buf = new Uint8Array(512);
  length = 0;

  #grow(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    const bigger = new Uint8Array(Math.max(this.#buf.length * 2, this.length + n));
    bigger.set(this.#buf.subarray(0, this.length));
    this.#buf = bigger;
  }
  u8(v: number): void {
    this.#grow(1);
    this.#buf[this.length++] = v & 0xff;
  }
  u16(v: number): void {
    this.u8(v >> 8);
    this.u8(v);
  }
  u32(v: number): void {
    this.u16(Math.floor(v / 65536) & 0xffff);
    this.u16(v & 0xffff);
  }
  bytes(b: Uint8Array): void {
    this.#grow(b.length);
    this.#buf.set(b, this.length);
    this.length += b.length;
  }
  /** RFC 1035 §3.1: a sequence of length-prefixed labels ending in the root label. */
  name(name: string): void {
    const labels = name === "" || name === "." ? [] : name.replace(/\.$/, "").split(".");
    let total = 1;
    for (const label of labels) {
      const bytes = new TextEncoder().encode(label);
      if (bytes.length === 0 || bytes.length > 63) {
        throw new DnsFormatError(`bad label in name "${name}"`);
      }
      total += bytes.length + 1;
      this.u8(bytes.length);
      this.bytes(bytes);
    }
    if (total > 255) throw new DnsFormatError(`name longer than 255 octets: "${name}"`);
    this.u8(0);
  }
  patch16(at: number, v: number): void {
    this.#buf[at] = (v >> 8) & 0xff;
    this.#buf[at + 1] = v & 0xff;
  }
  result(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }
}

function writeRecord(w: Writer, rr: ResourceRecord): void {
  w.name(rr.name);
  w.u16(rr.data.type === "OTHER" ? rr.data.code : RRType[rr.data.type]);
  w.u16(rr.class);
  w.u32(rr.ttl >>> 0);
  const lengthAt = w.length;
  w.u16(0);
  const start = w.length;
  const d = rr.data;
  switch (d.type) {
    case "A":
      w.bytes(parseIpv4(d.address));
      break;
    case "AAAA":
      w.bytes(parseIpv6(d.address));
      break;
    case "CNAME":
      w.name(d.target);
      break;
    case "NS":
    case "PTR":
      w.name(d.host);
      break;
    case "MX":
      w.u16(d.preference);
      w.name(d.exchange);
      break;
    case "TXT":
      for (const t of d.texts) {
        const b = new TextEncoder().encode(t);
        if (b.length > 255) throw new DnsFormatError("TXT string longer than 255 octets");
        w.u8(b.length);
        w.bytes(b);
      }
      break;
    case "SOA":
      w.name(d.mname);
      w.name(d.rname);
      for (const v of [d.serial, d.refresh, d.retry, d.expire, d.minimum]) w.u32(v);
      break;
    case "OTHER":
      w.bytes(d.data);
      break;
  }
  w.patch16(lengthAt, w.length - start);
}

/** Encodes a whole message (no name compression: always valid, a little larger). */
export function encodeMessage(m: DnsMessage): Uint8Array {
  const w = new Writer();
  w.u16(m.id);
  w.u8(
    (m.qr ? 0x80 : 0) | ((m.opcode & 0xf) << 3) | (m.aa ? 4 : 0) | (m.tc ? 2 : 0) |
      (m.rd ? 1 : 0),
  );
  w.u8((m.ra ? 0x80 : 0) | (m.rcode & 0xf));
  for (const n of [m.questions, m.answers, m.authorities, m.additionals]) w.u16(n.length);
  for (const q of m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rr of [...m.answers, ...m.authorities, ...m.additionals]) writeRecord(w, rr);
  return w.result();
}

/**
 * A recursive query for one name and type (RD set). No EDNS(0) OPT record: some small
 * resolvers mishandle it, and a truncated answer is asked again over TCP instead.
 */
export function encodeQuery(id: number, name: string, type: number): Uint8Array {
  return encodeMessage({
    id,
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: true,
    ra: false,
    rcode: 0,
    questions: [{ name, type, class: CLASS_IN }],
    answers: [],
    authorities: [],
    additionals: [],
  });
}

// ---------------------------------------------------------------- decoding

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new DnsFormatError("message truncated");
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }
  u32(): number {
    return this.u16() * 65536 + this.u16();
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** RFC 1035 §4.1.4: labels, possibly ending in a pointer to an earlier name. */
  name(): string {
    const labels: string[] = [];
    let pos = this.pos;
    let jumped = false;
    let jumps = 0;
    let length = 1;
    for (;;) {
      if (pos >= this.buf.length) throw new DnsFormatError("name runs past the message");
      const len = this.buf[pos];
      if ((len & 0xc0) === 0xc0) {
        if (pos + 1 >= this.buf.length) throw new DnsFormatError("pointer truncated");
        const target = ((len & 0x3f) << 8) | this.buf[pos + 1];
        // Pointers must go backwards; a bound on jumps stops any loop.
        if (target >= pos || ++jumps > 64) throw new DnsFormatError("bad compression pointer");
        if (!jumped) this.pos = pos + 2;
        jumped = true;
        pos = target;
        continue;
      }
      if ((len & 0xc0) !== 0) throw new DnsFormatError("unsupported label type");
      if (len === 0) {
        if (!jumped) this.pos = pos + 1;
        break;
      }
      if (pos + 1 + len > this.buf.length) throw new DnsFormatError("label runs past the message");
      length += len + 1;
      if (length > 255) throw new DnsFormatError("name longer than 255 octets");
      labels.push(latin1(this.buf.subarray(pos + 1, pos + 1 + len)));
      pos += 1 + len;
    }
    return labels.join(".");
  }
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function readRecord(r: Reader): ResourceRecord {
  const name = r.name();
  const type = r.u16();
  const cls = r.u16();
  const ttl = r.u32();
  const rdlength = r.u16();
  r.need(rdlength);
  const end = r.pos + rdlength;
  let data: RData;
  switch (type) {
    case RRType.A:
      if (rdlength !== 4) throw new DnsFormatError("A record is not 4 octets");
      data = { type: "A", address: Array.from(r.bytes(4)).join(".") };
      break;
    case RRType.AAAA:
      if (rdlength !== 16) throw new DnsFormatError("AAAA record is not 16 octets");
      data = { type: "AAAA", address: formatIpv6(r.bytes(16)) };
      break;
    case RRType.CNAME:
      data = { type: "CNAME", target: r.name() };
      break;
    case RRType.NS:
    case RRType.PTR:
      data = { type: type === RRType.NS ? "NS" : "PTR", host: r.name() };
      break;
    case RRType.MX:
      data = { type: "MX", preference: r.u16(), exchange: r.name() };
      break;
    case RRType.TXT: {
      const texts: string[] = [];
      while (r.pos < end) texts.push(latin1(r.bytes(r.u8())));
      data = { type: "TXT", texts };
      break;
    }
    case RRType.SOA:
      data = {
        type: "SOA",
        mname: r.name(),
        rname: r.name(),
        serial: r.u32(),
        refresh: r.u32(),
        retry: r.u32(),
        expire: r.u32(),
        minimum: r.u32(),
      };
      break;
    default:
      data = { type: "OTHER", code: type, data: r.bytes(rdlength) };
  }
  if (r.pos !== end) throw new DnsFormatError(`RDATA length mismatch in ${typeName(type)} record`);
  // RFC 2181 §8: a TTL with the top bit set is treated as zero.
  return { name, class: cls, ttl: ttl > 0x7fffffff ? 0 : ttl, data };
}

export function decodeMessage(bytes: Uint8Array): DnsMessage {
  const r = new Reader(bytes);
  const id = r.u16();
  const b1 = r.u8();
  const b2 = r.u8();
  const counts = [r.u16(), r.u16(), r.u16(), r.u16()];
  const questions: Question[] = [];
  for (let i = 0; i < counts[0]; i++) {
    questions.push({ name: r.name(), type: r.u16(), class: r.u16() });
  }
  const sections: ResourceRecord[][] = [[], [], []];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]; i++) sections[s].push(readRecord(r));
  }
  return {
    id,
    qr: (b1 & 0x80) !== 0,
    opcode: (b1 >> 3) & 0xf,
    aa: (b1 & 4) !== 0,
    tc: (b1 & 2) !== 0,
    rd: (b1 & 1) !== 0,
    ra: (b2 & 0x80) !== 0,
    rcode: b2 & 0xf,
    questions,
    answers: sections[0],
    authorities: sections[1],
    additionals: sections[2],
  };
}
