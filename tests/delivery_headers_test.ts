import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  countHeaders,
  decodeEncodedWords,
  encodeUnstructured,
  getHeader,
  getHeaders,
  parseHeaderBlock,
  rewriteHeaders,
} from "../src/delivery/headers.ts";
import { bytes, text } from "./delivery_fixture.ts";

Deno.test("headers: block end, fields and unfolded values", () => {
  const msg =
    "Received: from a\r\n\tby b; date\r\nSubject: one\r\n two\r\nX-Empty:\r\n\r\nbody\r\n";
  const b = parseHeaderBlock(bytes(msg));
  assertEquals(b.fields.map((f) => f.key), ["received", "subject", "x-empty"]);
  assertEquals(getHeader(b, "SUBJECT"), "one two");
  assertEquals(getHeader(b, "received"), "from a\tby b; date");
  assertEquals(getHeader(b, "x-empty"), "");
  assertEquals(getHeader(b, "missing"), undefined);
  assertEquals(text(b.bytes.subarray(b.bodyStart)), "body\r\n");
  assertEquals(text(b.bytes.subarray(0, b.end)).endsWith("X-Empty:\r\n"), true);
});

Deno.test("headers: bare LF, no body, no separator, non-field line", () => {
  const lf = parseHeaderBlock(bytes("A: 1\nB: 2\n\nbody"));
  assertEquals(getHeaders(lf, "b"), ["2"]);
  assertEquals(text(lf.bytes.subarray(lf.bodyStart)), "body");
  const noBody = parseHeaderBlock(bytes("A: 1\r\n"));
  assertEquals(noBody.bodyStart, noBody.bytes.length);
  const odd = parseHeaderBlock(bytes("A: 1\r\nnot a header line\r\nmore\r\n"));
  assertEquals(odd.fields.length, 1);
  assertEquals(odd.bodyStart, 6);
  const none = parseHeaderBlock(bytes("\r\nonly body\r\n"));
  assertEquals(none.fields.length, 0);
  assertEquals(none.bodyStart, 2);
  // "Name :" (RFC 5322 4.5.8 obsolete syntax) is a field.
  assertEquals(getHeader(parseHeaderBlock(bytes("Subject : hi\r\n\r\n")), "subject"), "hi");
});

Deno.test("headers: counting Received and UTF-8 values", () => {
  const many = Array.from({ length: 51 }, (_, i) => `Received: hop ${i}`).join("\r\n");
  const b = parseHeaderBlock(bytes(many + "\r\nSubject: Grüße\r\n\r\nx"));
  assertEquals(countHeaders(b, "Received"), 51);
  assertEquals(getHeader(b, "subject"), "Grüße");
});

Deno.test("headers: rewrite drops fields and appends at the end of the block", () => {
  const b = parseHeaderBlock(bytes("Received: x\r\nPrecedence: bulk\r\nSubject: s\r\n\r\nbody"));
  const out = rewriteHeaders(b, ["precedence"], bytes("List-Id: <l.d>\r\n"));
  assertEquals(text(out), "Received: x\r\nSubject: s\r\nList-Id: <l.d>\r\n\r\nbody");
  const bare = parseHeaderBlock(bytes("Subject: s\r\n"));
  assertEquals(text(rewriteHeaders(bare, [], bytes("X: y\r\n"))), "Subject: s\r\nX: y\r\n\r\n");
});

Deno.test("headers: RFC 2047 decoding", () => {
  assertEquals(decodeEncodedWords("=?UTF-8?B?R3LDvMOfZQ==?="), "Grüße");
  assertEquals(decodeEncodedWords("=?ISO-8859-1?Q?Caf=E9_au_lait?="), "Café au lait");
  // Whitespace between adjacent encoded words disappears (RFC 2047 6.2).
  assertEquals(decodeEncodedWords("=?utf-8?q?a?= =?utf-8?q?b?= c"), "ab c");
  assertEquals(decodeEncodedWords("plain =?utf-8?q?x?="), "plain x");
  // Unknown charsets and broken words are kept as written.
  assertEquals(decodeEncodedWords("=?x-unknown?q?a?="), "=?x-unknown?q?a?=");
  assertEquals(decodeEncodedWords("=?UTF-8*en?Q?hi?="), "hi");
});

Deno.test("headers: RFC 2047 encoding round trip", () => {
  assertEquals(encodeUnstructured("plain ascii"), "plain ascii");
  const long = "Abwesenheitsnotiz: Ich bin bis Montag nicht im Büro — Grüße ".repeat(3);
  const enc = encodeUnstructured(long);
  for (const word of enc.split("\r\n ")) assertEquals(word.length <= 75, true);
  assertEquals(decodeEncodedWords(enc.replace(/\r\n /g, " ")), long);
});

Deno.test("headers: random input never throws and stays in bounds (fuzz)", () => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const alphabet = bytes("ab: \t\r\n=?_QB-Subject:Received:\u00e9\x00");
  for (let i = 0; i < 2000; i++) {
    const data = Uint8Array.from(
      { length: Math.floor(rnd() * 200) },
      () => rnd() < 0.8 ? alphabet[Math.floor(rnd() * alphabet.length)] : Math.floor(rnd() * 256),
    );
    const b = parseHeaderBlock(data);
    let prev = 0;
    for (const f of b.fields) {
      assertEquals(f.start >= prev && f.end > f.start && f.end <= b.end, true);
      prev = f.end;
      getHeader(b, f.name);
    }
    assertEquals(b.end <= b.bodyStart && b.bodyStart <= data.length, true);
    rewriteHeaders(b, ["subject"], bytes("X: y\r\n"));
    decodeEncodedWords(new TextDecoder().decode(data));
  }
});
