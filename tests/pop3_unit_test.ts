/**
 * Unit tests of the POP3 parsers and encoders (src/pop3/protocol.ts, message_bytes.ts).
 * The dot-stuffing of RETR and TOP: message_dot_stuffing_test.ts.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { dotStuff } from "../src/message/dot_stuffing.ts";
import { topOf, uniqueIdFor } from "../src/pop3/message_bytes.ts";
import { allocReply } from "../src/net/outbuf.ts";
import {
  capabilities,
  errLine,
  multilineText,
  okLine,
  parseCommandLine,
  parseNumber,
  Pop3Error,
  printableVerb,
  splitArgs,
} from "../src/pop3/protocol.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string) => enc.encode(s);

Deno.test("parseCommandLine: keyword upper-cased, rest kept verbatim", () => {
  deepStrictEqual(parseCommandLine(bytes("retr 1")), { verb: "RETR", rest: "1" });
  deepStrictEqual(parseCommandLine(bytes("PASS  two  spaces ")), {
    verb: "PASS",
    rest: " two  spaces ",
  });
  deepStrictEqual(parseCommandLine(bytes("QUIT")), { verb: "QUIT", rest: "" });
  deepStrictEqual(parseCommandLine(bytes("")), { verb: "", rest: "" });
  // Not UTF-8: decoded byte for byte, never throws.
  equal(parseCommandLine(new Uint8Array([0x55, 0x53, 0x45, 0x52, 0x20, 0xff])).rest, "\xff");
  equal(parseCommandLine(bytes("USER j\u00fcrgen@ex.test")).rest, "j\u00fcrgen@ex.test");
});

Deno.test("splitArgs and parseNumber", () => {
  deepStrictEqual(splitArgs(" 1   2 "), ["1", "2"]);
  deepStrictEqual(splitArgs(""), []);
  equal(parseNumber("42"), 42);
  equal(parseNumber("0"), 0);
  for (const bad of ["-1", "+1", "1a", "", " 1", "1e3", "0x10", "9999999999", undefined]) {
    equal(parseNumber(bad), null, String(bad));
  }
});

Deno.test("status lines carry RFC 2449 response codes", () => {
  equal(okLine("fine"), "+OK fine\r\n");
  equal(okLine(""), "+OK\r\n");
  equal(errLine("locked", "IN-USE"), "-ERR [IN-USE] locked\r\n");
  equal(new Pop3Error("no", "SYS/TEMP").line, "-ERR [SYS/TEMP] no\r\n");
  equal(new Pop3Error("no").line, "-ERR no\r\n");
  equal(printableVerb("A\r\nB\x00"), "A??B?");
  ok(printableVerb("X".repeat(100)).length < 30);
});

Deno.test("capabilities follow PlainAuthWithoutTLS and STLS availability", () => {
  const all = capabilities({ plainAuthAllowed: true, stlsAvailable: true, implementation: "x 1" });
  for (
    const c of [
      "TOP",
      "UIDL",
      "RESP-CODES",
      "AUTH-RESP-CODE",
      "PIPELINING",
      "USER",
      "SASL PLAIN",
      "STLS",
    ]
  ) {
    ok(all.includes(c), c);
  }
  equal(all.at(-1), "IMPLEMENTATION x 1");
  const none = capabilities({ plainAuthAllowed: false, stlsAvailable: false, implementation: "x" });
  ok(!none.includes("USER") && !none.includes("SASL PLAIN") && !none.includes("STLS"));
  equal(multilineText("caps", ["A", "B"]), "+OK caps\r\nA\r\nB\r\n.\r\n");
});

Deno.test("allocReply: separate, zeroed buffers of the size asked", () => {
  const a = allocReply(100), b = allocReply(7), big = allocReply(1 << 20);
  equal(a.length, 100);
  equal(b.length, 7);
  equal(big.length, 1 << 20);
  a.fill(1);
  ok(b.every((x) => x === 0), "no overlap");
  ok(a.buffer !== b.buffer || a.byteOffset + a.length <= b.byteOffset, "after, not inside");
});

Deno.test("topOf: header, blank line and the first n body lines", () => {
  const msg = bytes("A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n");
  equal(dec.decode(topOf(msg, 0)), "A: 1\r\nB: 2\r\n\r\n");
  equal(dec.decode(topOf(msg, 2)), "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n");
  equal(dec.decode(topOf(msg, 99)), dec.decode(msg));
  equal(dec.decode(topOf(bytes("A: 1\r\nB: 2\r\n"), 3)), "A: 1\r\nB: 2\r\n");
  equal(dec.decode(topOf(bytes("\r\nbody\r\nmore"), 1)), "\r\nbody\r\n");
  equal(dec.decode(topOf(bytes("H: x\r\n\r\nno newline"), 5)), "H: x\r\n\r\nno newline");
});

Deno.test("uniqueIdFor: printable base names up to 70 chars are used as they are", () => {
  const base = "1795307671.M379001P30735Q2.vm,S=4051";
  equal(uniqueIdFor(base), base);
  const long = "1795307671.M379001P30735Q2." + "h".repeat(60) + ",S=4051";
  const id = uniqueIdFor(long);
  ok(/^[0-9a-f]{32}$/.test(id));
  equal(uniqueIdFor(long), id, "stable");
  ok(/^[0-9a-f]{32}$/.test(uniqueIdFor("with space")));
});

Deno.test("parsers never throw on random input (fuzz)", () => {
  let seed = 987654321;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  const interesting = [0, 9, 10, 13, 32, 46, 61, 0x7f, 0x80, 0xc3, 0xff];
  for (let round = 0; round < 3000; round++) {
    const data = new Uint8Array(rand(64));
    for (let i = 0; i < data.length; i++) {
      data[i] = rand(3) === 0 ? interesting[rand(interesting.length)] : rand(256);
      if (round % 2 === 0) data[i] &= 0x7f; // all ASCII, the usual command line
    }
    const { verb, rest } = parseCommandLine(data);
    // The same text as a UTF-8 decoding (byte for byte where that is not valid).
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(data);
    } catch {
      text = new TextDecoder("latin1").decode(data);
    }
    const space = text.indexOf(" ");
    equal(verb, (space < 0 ? text : text.slice(0, space)).toUpperCase());
    equal(rest, space < 0 ? "" : text.slice(space + 1));
    const words = rest.trim() === "" ? [] : rest.trim().split(/[ \t]+/);
    deepStrictEqual(splitArgs(rest), words);
    parseNumber(rest);
    printableVerb(verb);
    const top = topOf(data, rand(5));
    ok(top.length <= data.length);
    const wire = dotStuff(data);
    ok(wire.length >= data.length + 3);
  }
});
