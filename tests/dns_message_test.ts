import { deepStrictEqual, equal, throws } from "node:assert/strict";
import {
  decodeMessage,
  DnsFormatError,
  type DnsMessage,
  encodeMessage,
  encodeQuery,
  formatIpv6,
  parseIpv6,
  Rcode,
  RRType,
} from "../src/dns/message.ts";

const reply: DnsMessage = {
  id: 0xbeef,
  qr: true,
  opcode: 0,
  aa: false,
  tc: false,
  rd: true,
  ra: true,
  rcode: Rcode.NOERROR,
  questions: [{ name: "example.test", type: RRType.MX, class: 1 }],
  answers: [
    {
      name: "example.test",
      class: 1,
      ttl: 300,
      data: { type: "MX", preference: 10, exchange: "mx.example.test" },
    },
    { name: "null.test", class: 1, ttl: 60, data: { type: "MX", preference: 0, exchange: "" } },
    { name: "www.test", class: 1, ttl: 5, data: { type: "CNAME", target: "host.test" } },
    { name: "host.test", class: 1, ttl: 7, data: { type: "A", address: "192.0.2.1" } },
    { name: "host.test", class: 1, ttl: 7, data: { type: "AAAA", address: "2001:db8::1" } },
    { name: "t.test", class: 1, ttl: 7, data: { type: "TXT", texts: ["v=spf1", " -all"] } },
  ],
  authorities: [{
    name: "test",
    class: 1,
    ttl: 60,
    data: {
      type: "SOA",
      mname: "ns.test",
      rname: "hostmaster.test",
      serial: 2024010101,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: 30,
    },
  }],
  additionals: [],
};

Deno.test("dns message: encode/decode round trip of every supported type", () => {
  deepStrictEqual(decodeMessage(encodeMessage(reply)), reply);
});

Deno.test("dns message: a query has RD and one question", () => {
  const q = decodeMessage(encodeQuery(42, "Example.TEST", RRType.AAAA));
  equal(q.id, 42);
  equal(q.qr, false);
  equal(q.rd, true);
  deepStrictEqual(q.questions, [{ name: "Example.TEST", type: RRType.AAAA, class: 1 }]);
  equal(q.additionals.length, 0);
});

Deno.test("dns message: compressed names (RFC 1035 §4.1.4) are decoded", () => {
  // Header, question example.test MX, answer with the owner as a pointer to offset 12
  // and the exchange "mx" + pointer to 12.
  const bytes = new Uint8Array([
    0x12,
    0x34,
    0x81,
    0x80,
    0,
    1,
    0,
    1,
    0,
    0,
    0,
    0,
    7,
    ...new TextEncoder().encode("example"),
    4,
    ...new TextEncoder().encode("test"),
    0,
    0,
    15,
    0,
    1,
    0xc0,
    12,
    0,
    15,
    0,
    1,
    0,
    0,
    0x0e,
    0x10,
    0,
    7,
    0,
    5,
    2,
    0x6d,
    0x78,
    0xc0,
    12,
  ]);
  const m = decodeMessage(bytes);
  equal(m.answers[0].name, "example.test");
  deepStrictEqual(m.answers[0].data, { type: "MX", preference: 5, exchange: "mx.example.test" });
  equal(m.answers[0].ttl, 3600);
});

Deno.test("dns message: malformed input is refused, never looped on", () => {
  const header = [0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
  // A pointer to itself.
  throws(() => decodeMessage(new Uint8Array([...header, 0xc0, 12, 0, 1, 0, 1])), DnsFormatError);
  // A forward pointer.
  throws(() => decodeMessage(new Uint8Array([...header, 0xc0, 40, 0, 1, 0, 1])), DnsFormatError);
  // Truncated header and question.
  throws(() => decodeMessage(new Uint8Array([0, 1, 2])), DnsFormatError);
  throws(() => decodeMessage(new Uint8Array([...header, 3, 0x61])), DnsFormatError);
  // RDLENGTH past the end.
  const full = encodeMessage(reply);
  throws(() => decodeMessage(full.subarray(0, full.length - 3)), DnsFormatError);
  // Random garbage never throws anything but DnsFormatError.
  for (let i = 0; i < 2000; i++) {
    const junk = crypto.getRandomValues(new Uint8Array(12 + (i % 60)));
    try {
      decodeMessage(junk);
    } catch (e) {
      if (!(e instanceof DnsFormatError)) throw e;
    }
  }
});

Deno.test("dns message: IPv6 text forms (RFC 5952)", () => {
  equal(formatIpv6(parseIpv6("2001:db8:0:0:0:0:0:1")), "2001:db8::1");
  equal(formatIpv6(parseIpv6("::1")), "::1");
  equal(formatIpv6(parseIpv6("::")), "::");
  equal(formatIpv6(parseIpv6("::ffff:192.0.2.1")), "::ffff:c000:201");
  equal(formatIpv6(parseIpv6("1:0:0:2:0:0:0:3")), "1:0:0:2::3");
  throws(() => parseIpv6("1::2::3"), DnsFormatError);
  throws(() => parseIpv6("1:2:3"), DnsFormatError);
});
