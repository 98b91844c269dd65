/**
 * src/message/dot_stuffing.ts, the one dot-stuffer: POP3 RETR/TOP (RFC 1939 §3, bare CR
 * kept) and SMTP DATA from the queue (RFC 5321 §4.5.2, bare CR and LF sent as CRLF),
 * with the vectorized clean-body scan and fuzzing against reference decoders.
 */
import { equal, ok } from "node:assert/strict";
import {
  dotStuff,
  isWireClean,
  SIMD_CHUNK,
  terminateInPlace,
  wordsClean,
} from "../src/message/dot_stuffing.ts";
import { writeAscii } from "../src/pop3/message_bytes.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const smtpDotStuff = (data: Uint8Array) => dotStuff(data, { bareCr: "line-end" });
const bytes = (s: string) => enc.encode(s);

/** POP3's use: the status line in front of the message, in one buffer. */
function encodeMultiline(status: Uint8Array, body: Uint8Array): Uint8Array {
  return dotStuff(body, { prefix: status });
}

Deno.test("dotStuff (SMTP, as smtpclient/transaction.ts calls it): bare CR and LF end lines", () => {
  const s = (t: string) => dec.decode(smtpDotStuff(enc.encode(t)));
  equal(s("a\r\n.b\r\n.\r\n"), "a\r\n..b\r\n..\r\n.\r\n");
  equal(s(".start"), "..start\r\n.\r\n");
  equal(s(""), ".\r\n");
  equal(s("bare\nlf\rcr\r\n"), "bare\r\nlf\r\ncr\r\n.\r\n");
  equal(s("x\r\n..y"), "x\r\n...y\r\n.\r\n");
});

Deno.test("dotStuff (POP3): CRLF message passes through, terminated", () => {
  const out = dec.decode(encodeMultiline(bytes("+OK 9\r\n"), bytes("a: b\r\n\r\nhi\r\n")));
  equal(out, "+OK 9\r\na: b\r\n\r\nhi\r\n.\r\n");
  equal(dec.decode(encodeMultiline(bytes("+OK\r\n"), new Uint8Array())), "+OK\r\n.\r\n");
});

Deno.test("dotStuff (POP3): dot-stuffs lines that begin with '.'", () => {
  const body = ".first\r\nx\r\n.\r\n..two\r\nmid.dle\r\n.";
  const out = dec.decode(encodeMultiline(bytes("+OK\r\n"), bytes(body)));
  equal(out, "+OK\r\n..first\r\nx\r\n..\r\n...two\r\nmid.dle\r\n..\r\n.\r\n");
});

Deno.test("dotStuff (POP3): repairs bare LF and a missing final CRLF", () => {
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

Deno.test("dotStuff (POP3) fuzz: decoding gives back the CRLF-normalized message", () => {
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

Deno.test("isWireClean and terminateInPlace agree with dotStuff (fuzz)", () => {
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
  // A closed last line needs 3 (".CRLF"), an open one 5 (CRLF ".CRLF").
  equal(terminateInPlace(bytes("+OK\r\nab\r\n.."), 5, 9), null);
  const exact = bytes("+OK\r\nab\r\n...");
  const fitted = terminateInPlace(exact, 5, 9)!;
  equal(dec.decode(fitted), "+OK\r\nab\r\n.\r\n");
  equal(fitted, exact, "a buffer filled exactly is returned itself");
  equal(dec.decode(terminateInPlace(bytes("+OK\r\nab\r\n....."), 5, 9)!), "+OK\r\nab\r\n.\r\n");
  equal(terminateInPlace(bytes("+OK\r\nab...."), 5, 7), null);
  equal(dec.decode(terminateInPlace(bytes("+OK\r\nab....."), 5, 7)!), "+OK\r\nab\r\n.\r\n");
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

Deno.test("dotStuff (SMTP) fuzz: the receiver reads back the CRLF-normalized message", () => {
  const alphabet = [".", ".", "\r\n", "\n", "\r", "a", "b", " ", "\r\n."];
  let seed = 777;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  for (let round = 0; round < 3000; round++) {
    let msg = "";
    // Up to ~900 bytes: the clean fast path (with its SIMD scan) and the repairs.
    for (let i = rand(300); i > 0; i--) msg += alphabet[rand(alphabet.length)];
    const wire = dec.decode(dotStuff(bytes(msg), { bareCr: "line-end" }));
    let expected = msg.replace(/\r\n|\r|\n/g, "\r\n");
    if (expected !== "" && !expected.endsWith("\n")) expected += "\r\n";
    equal(unstuff(wire), expected, JSON.stringify(msg));
    ok(!/\r(?!\n)|(?<!\r)\n/.test(wire), "no bare CR or LF on the wire");
  }
});
