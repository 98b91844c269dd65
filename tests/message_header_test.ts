/**
 * src/message/ header reading and writing: the header index (parse), fields and their
 * unfolded values, rewriting, folding, comments, message ids and RFC 2047 words.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { decodeEncodedWords, encodeUnstructured } from "../src/message/encoded_words.ts";
import { foldField, stripComments, unfold } from "../src/message/fold.ts";
import {
  countHeaders,
  fieldValue,
  forEachField,
  getHeader,
  getHeaders,
  headerEnd,
  headerFieldBytes,
  parseHeaderBlock,
} from "../src/message/header.ts";
import { rewriteHeaders } from "../src/message/header_rewrite.ts";
import { messageIds, newMessageId } from "../src/message/message_id.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string) => enc.encode(s);
const text = (b: Uint8Array) => dec.decode(b);

Deno.test("headers: block end, fields and unfolded values", () => {
  const msg =
    "Received: from a\r\n\tby b; date\r\nSubject: one\r\n two\r\nX-Empty:\r\n\r\nbody\r\n";
  const b = parseHeaderBlock(bytes(msg));
  assertEquals(b.fields.map((f) => f.name), ["received", "subject", "x-empty"]);
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
  // A line that starts with CR but is not empty is not the end of the header.
  const cr = parseHeaderBlock(bytes("A: 1\r\n\rX: 2\r\n\r\nbody"));
  assertEquals([cr.fields.length, cr.end, cr.bodyStart], [1, 6, 6]);
});

Deno.test("headers: a reader of stored mail skips lines that are not fields", () => {
  // The same scanner, in its lenient mode (IMAP, DSN): the header runs to the empty line.
  const msg = bytes("From foo Mon Jan 1\r\nA: 1\r\njunk\r\n\tjunk continued\r\nB: 2\r\n\r\nbody");
  const names: string[] = [];
  const fieldsEnd = forEachField(msg, 0, msg.length, (f) => {
    names.push(`${f.name}=${fieldValue(msg, f)}`);
  });
  assertEquals(names, ["a=1", "b=2"]);
  assertEquals(text(msg.subarray(fieldsEnd, fieldsEnd + 2)), "\r\n");
  assertEquals(headerEnd(msg, 0, msg.length), msg.length - 4);
  assertEquals(text(headerFieldBytes(msg)), text(msg.subarray(0, msg.length - 6)));
  // Stopping early, and the header of a message without an empty line.
  let seen = 0;
  forEachField(msg, 0, msg.length, () => (seen++, false));
  assertEquals(seen, 1);
  assertEquals(text(headerFieldBytes(bytes("A: 1\r\nno body"))), "A: 1\r\nno body");
  assertEquals(text(headerFieldBytes(bytes("A: 1\n\nbody"))), "A: 1\n");
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

Deno.test("fold: long values break before white space, unfolding gives them back", () => {
  assertEquals(foldField("Subject", "short"), "Subject: short");
  const words = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");
  const folded = foldField("Subject", words);
  const lines = folded.split("\r\n");
  ok(lines.length > 1);
  for (const l of lines) ok(l.length <= 78, l);
  for (const l of lines.slice(1)) ok(l.startsWith(" "), l);
  assertEquals(unfold(folded), `Subject: ${words}`);
  // A run without white space stays whole (RFC 5322 allows 998 characters).
  const long = "x".repeat(120);
  assertEquals(foldField("References", `<a@b> ${long}`), `References: <a@b>\r\n ${long}`);
  assertEquals(unfold("a\r\n b\n\tc\rd"), "a b\tcd");
  assertEquals(unfold("no folds"), "no folds");
});

Deno.test("comments: nested, quoted pairs, unclosed", () => {
  assertEquals(stripComments("no (comment)").trim(), "no");
  assertEquals(stripComments("a (x (y) z) b"), "a  b");
  assertEquals(stripComments("a (x \\) y) b", " "), "a   b");
  assertEquals(stripComments("a (unclosed"), "a ");
  assertEquals(stripComments("plain"), "plain");
});

Deno.test("message ids: found in field values, new ones unique", () => {
  assertEquals(messageIds("<a@b> junk <c@d>\r\n <e@f>"), ["<a@b>", "<c@d>", "<e@f>"]);
  assertEquals(messageIds("<<a@b> <> <x y> <z"), ["<a@b>"]);
  assertEquals(messageIds(undefined), []);
  const id = newMessageId("mx.example");
  ok(/^<[^<>\s]+@mx\.example>$/.test(id), id);
  ok(id !== newMessageId("mx.example"));
});

Deno.test("RFC 2047: decoding (delivery's cases)", () => {
  assertEquals(decodeEncodedWords("=?UTF-8?B?R3LDvMOfZQ==?="), "Grüße");
  assertEquals(decodeEncodedWords("=?ISO-8859-1?Q?Caf=E9_au_lait?="), "Café au lait");
  // Whitespace between adjacent encoded words disappears (RFC 2047 6.2).
  assertEquals(decodeEncodedWords("=?utf-8?q?a?= =?utf-8?q?b?= c"), "ab c");
  assertEquals(decodeEncodedWords("plain =?utf-8?q?x?="), "plain x");
  // Unknown charsets are kept as written.
  assertEquals(decodeEncodedWords("=?x-no-such-charset?q?a?="), "=?x-no-such-charset?q?a?=");
  assertEquals(decodeEncodedWords("=?UTF-8*en?Q?hi?="), "hi");
});

Deno.test("RFC 2047: decoding (SEARCH's cases)", () => {
  assertEquals(
    decodeEncodedWords(
      "=?utf-8?B?8J+Ogg==?= =?utf-8?Q?_Gr=C3=BC=C3=9Fe_aus?=\r\n =?iso-8859-1?q?_M=FCnchen?= and plain text",
    ),
    "🎂 Grüße aus München and plain text",
  );
  // A character split over two adjacent words of the same charset.
  assertEquals(decodeEncodedWords("=?utf-8?B?8J+O?= =?utf-8?B?gg==?="), "🎂");
  assertEquals(
    decodeEncodedWords("=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>"),
    "André Pirard <PIRARD@vm1.ulg.ac.be>",
  );
  assertEquals(
    decodeEncodedWords("=?koi8-r?B?78zFxw==?= <oleg@example.ru>"),
    "Олег <oleg@example.ru>",
  );
  assertEquals(decodeEncodedWords("=?windows-1252?Q?M=FCller=2C_J=F6rg?="), "Müller, Jörg");
  assertEquals(decodeEncodedWords("=?UTF-8*de?Q?Gr=C3=BC=C3=9Fe?="), "Grüße"); // RFC 2231
  assertEquals(decodeEncodedWords("a =?utf-8?q?b?= c"), "a b c"); // spaces next to text stay
  assertEquals(
    decodeEncodedWords("=?x-unknown-cs?q?abc?= =?utf-8?q?d?="),
    "=?x-unknown-cs?q?abc?= d",
  );
  assertEquals(decodeEncodedWords("=?utf-8?q?bad=ZZ?="), "bad=ZZ");
  assertEquals(decodeEncodedWords("no words here"), "no words here");
  assertEquals(decodeEncodedWords("=?utf-8?b?not base64!?="), "=?utf-8?b?not base64!?=");
  // Broken base64 inside a word is decoded leniently, never thrown on.
  assertEquals(decodeEncodedWords("=?utf-8?b?R3J!!vw==?="), "Gro");
});

Deno.test("RFC 2047: encoding round trip, lines within 76 characters", () => {
  assertEquals(encodeUnstructured("plain ascii"), "plain ascii");
  // Printable ASCII that looks like an encoded word is encoded, so it reads back as is.
  assertEquals(decodeEncodedWords(encodeUnstructured("=?utf-8?q?x?=")), "=?utf-8?q?x?=");
  const long = "Abwesenheitsnotiz: Ich bin bis Montag nicht im Büro — Grüße 🎂 ".repeat(3);
  const enc = encodeUnstructured(long);
  for (const word of enc.split(" ")) ok(word.length <= 75, word);
  const field = foldField("Subject", enc);
  for (const line of field.split("\r\n")) ok(line.length <= 76, line);
  assertEquals(decodeEncodedWords(unfold(field).slice("Subject: ".length)), long);
  // Control characters never reach the header raw.
  ok(!/[\r\n]/.test(encodeUnstructured("a\r\nBcc: x@y")));
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
    const fieldsEnd = headerFieldBytes(data).length;
    assertEquals(fieldsEnd <= headerEnd(data, 0, data.length), true);
    decodeEncodedWords(new TextDecoder().decode(data));
    foldField("X", new TextDecoder().decode(data).replace(/[\r\n]/g, ""));
  }
});
