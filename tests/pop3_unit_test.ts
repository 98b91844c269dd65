/**
 * Unit tests of the POP3 parsers and encoders (src/pop3/protocol.ts, message_bytes.ts),
 * with a small fuzz of the dot-stuffing against a reference decoder.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import {
  encodeMultiline,
  isWireClean,
  SIMD_CHUNK,
  terminateInPlace,
  topOf,
  uniqueIdFor,
  wordsClean,
  writeAscii,
} from "../src/pop3/message_bytes.ts";
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

Deno.test("encodeMultiline: CRLF message passes through, terminated", () => {
  const out = dec.decode(encodeMultiline(bytes("+OK 9\r\n"), bytes("a: b\r\n\r\nhi\r\n")));
  equal(out, "+OK 9\r\na: b\r\n\r\nhi\r\n.\r\n");
  equal(dec.decode(encodeMultiline(bytes("+OK\r\n"), new Uint8Array())), "+OK\r\n.\r\n");
});

Deno.test("encodeMultiline: dot-stuffs lines that begin with '.'", () => {
  const body = ".first\r\nx\r\n.\r\n..two\r\nmid.dle\r\n.";
  const out = dec.decode(encodeMultiline(bytes("+OK\r\n"), bytes(body)));
  equal(out, "+OK\r\n..first\r\nx\r\n..\r\n...two\r\nmid.dle\r\n..\r\n.\r\n");
});

Deno.test("encodeMultiline: repairs bare LF and a missing final CRLF", () => {
  const out = dec.decode(encodeMultiline(bytes("+OK\r\n"), bytes("a\nb\r\n.c\nend")));
  equal(out, "+OK\r\na\r\nb\r\n..c\r\nend\r\n.\r\n");
  equal(dec.decode(encodeMultiline(bytes(""), bytes("\n"))), "\r\n.\r\n");
});

/** The client's side of RFC 1939 §3: lines up to ".", one leading dot removed. */
function unstuff(wire: string): string {
  const lines = wire.split("\r\n");
  const end = lines.indexOf(".");
  ok(end >= 0 && end === lines.length - 2 && lines.at(-1) === "", "terminated exactly once");
  return lines.slice(0, end).map((l) => (l.startsWith(".") ? l.slice(1) : l)).join("\r\n") +
    (end > 0 ? "\r\n" : "");
}

Deno.test("encodeMultiline fuzz: decoding gives back the CRLF-normalized message", () => {
  const alphabet = [".", ".", "\r\n", "\n", "a", "b", " ", "\r"];
  let seed = 12345;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  for (let round = 0; round < 2000; round++) {
    let msg = "";
    for (let i = rand(40); i > 0; i--) msg += alphabet[rand(alphabet.length)];
    // A lone CR is kept as is; normalize only what the encoder repairs: bare LF, last line.
    let expected = msg.replace(/\r?\n/g, "\r\n");
    if (expected !== "" && !expected.endsWith("\n")) expected += "\r\n";
    const wire = dec.decode(encodeMultiline(new Uint8Array(), bytes(msg)));
    if (!expected.includes("\r\r\n") && !/\r(?!\n)/.test(expected)) {
      equal(unstuff(wire), expected, JSON.stringify(msg));
    }
    ok(wire.endsWith("\r\n.\r\n") || wire === ".\r\n", JSON.stringify(msg));
    ok(!wire.slice(0, -3).split("\r\n").includes("."), "no early terminator");
  }
});

/** The definition isWireClean implements word by word: no "." after LF, no bare LF. */
function referenceClean(body: Uint8Array): boolean {
  for (let i = 0; i < body.length; i++) {
    if (body[i] === 0x2e && (i === 0 || body[i - 1] === 0x0a)) return false;
    if (body[i] === 0x0a && (i === 0 || body[i - 1] !== 0x0d)) return false;
  }
  return true;
}

Deno.test("isWireClean and terminateInPlace agree with encodeMultiline (fuzz)", () => {
  // Mostly plain CRLF text, so the word-at-a-time scan runs at every alignment, with a
  // "." or a bare LF put in at a random place (any byte of a word) half the time.
  const alphabet = ["\r\n", "\r\n", "\r", "abcdefghij", "x", " ", "a.b"];
  let seed = 424242, cleanOnes = 0;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  for (let round = 0; round < 3000; round++) {
    let msg = "";
    // Up to ~900 bytes: both the JavaScript scan (short) and the SIMD one (from 256).
    for (let i = rand(150); i > 0; i--) msg += alphabet[rand(alphabet.length)];
    if (rand(2) === 0) {
      const at = rand(msg.length + 1);
      msg = msg.slice(0, at) + [".", "\n", "\r\n."][rand(3)] + msg.slice(at);
    }
    const body = bytes(msg);
    const status = "+OK " + "n".repeat(rand(9)) + "\r\n";
    // Status line, then the body at an arbitrary offset of a larger buffer, as RETR has it.
    const shift = rand(8);
    const buf = new Uint8Array(shift + status.length + body.length + 5 + rand(3));
    const view = buf.subarray(shift);
    writeAscii(view, 0, status);
    view.set(body, status.length);
    const clean = referenceClean(body);
    if (clean) cleanOnes++;
    equal(
      isWireClean(view, status.length, status.length + body.length),
      clean,
      JSON.stringify(msg),
    );
    equal(isWireClean(body, 0, body.length), clean, JSON.stringify(msg));
    equal(wordsClean(view, status.length, status.length + body.length), clean);
    const expected = dec.decode(encodeMultiline(bytes(status), body));
    const inPlace = terminateInPlace(view, status.length, status.length + body.length);
    if (clean) equal(inPlace && dec.decode(inPlace), expected, JSON.stringify(msg));
    else equal(inPlace, null, JSON.stringify(msg));
  }
  ok(cleanOnes > 300 && cleanOnes < 2700, `both outcomes exercised (${cleanOnes} clean)`);
  // The spare room is checked, never written past.
  equal(terminateInPlace(bytes("+OK\r\nab\r\n...."), 5, 9), null);
  equal(dec.decode(terminateInPlace(bytes("+OK\r\nab\r\n....."), 5, 9)!), "+OK\r\nab\r\n.\r\n");
});

Deno.test("isWireClean: large bodies, with trouble around the SIMD chunk borders", () => {
  const line = bytes("0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTU\r\n");
  const size = 3 * SIMD_CHUNK + 1000;
  const body = new Uint8Array(size);
  for (let at = 0; at < size; at += line.length) body.set(line.subarray(0, size - at), at);
  body[size - 2] = 13; // end on a CRLF
  body[size - 1] = 10;
  equal(referenceClean(body), true);
  equal(isWireClean(body, 0, size), true);
  for (const border of [SIMD_CHUNK, 2 * SIMD_CHUNK]) {
    for (let d = -3; d <= 3; d++) {
      const at = border + d;
      // A line that begins with "." right at (or next to) the border.
      const dotted = body.slice();
      dotted.set(bytes("\r\n."), at - 2);
      // An LF without its CR there.
      const bare = body.slice();
      bare.set(bytes("x\n"), at - 1);
      for (const [name, b] of [["dot", dotted], ["bare LF", bare]] as const) {
        equal(isWireClean(b, 0, size), referenceClean(b), `${name} at border ${d}`);
        equal(isWireClean(b, 1, size), referenceClean(b.subarray(1)), `${name}, offset 1`);
      }
    }
  }
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
    const wire = encodeMultiline(new Uint8Array(), data);
    ok(wire.length >= data.length + 3);
  }
});
