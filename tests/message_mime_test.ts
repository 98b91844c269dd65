/**
 * src/message/ MIME reading on the corpus of real-world-shaped messages
 * (tests/fixtures/mime/): the structure with its offsets, transfer encodings, charsets,
 * the searchable text, and RFC 5322 address lists. The IMAP renderings of the same
 * corpus (ENVELOPE, BODYSTRUCTURE, BODY[section]) are in imap_mime_test.ts.
 */
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAddressList } from "../src/message/address.ts";
import { decodeBodyText, headerValues, messageText } from "../src/message/body_text.ts";
import { htmlToText } from "../src/message/html_text.ts";
import { type BodyPart, type MessageStructure, parseMessage } from "../src/message/mime.ts";
import { resolvePart } from "../src/message/section.ts";
import { decodeBase64, decodeQuotedPrintable } from "../src/message/transfer_encoding.ts";

const CORPUS = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "mime");
const enc = new TextEncoder();
const dec = new TextDecoder();

function load(name: string): { bytes: Uint8Array; s: MessageStructure } {
  const bytes = Deno.readFileSync(join(CORPUS, name));
  return { bytes, s: parseMessage(bytes) };
}

Deno.test("mime: structure offsets", () => {
  const { bytes, s } = load("plain.eml");
  equal(s.version, 1);
  equal(s.size, bytes.length);
  const r = s.root;
  equal(r.headerStart, 0);
  equal(r.bodyEnd, bytes.length);
  equal(dec.decode(bytes.subarray(r.bodyStart - 5, r.bodyStart + 7)), "9\r\n\r\nHi Bob,");
  const m = load("mixed.eml").s.root;
  equal(m.parts?.length, 3);
  equal(m.parts?.[0].parts?.length, 2);
  equal(m.parts?.[1].disposition?.type, "attachment");
  deepStrictEqual(m.parts?.[2].language, ["de", "en"]);
  equal(m.parts?.[2].id, "<logo@example.de>");
  const f = load("forwarded.eml").s.root.parts?.[1] as BodyPart;
  equal(f.message?.parts?.length, 2);
  equal(f.message?.headerStart, f.bodyStart);
  equal(f.message?.bodyEnd, f.bodyEnd);
});

Deno.test("decode: transfer encodings", () => {
  equal(dec.decode(decodeQuotedPrintable(enc.encode("caf=C3=A9 =\r\nok=3D=\nyes"))), "café ok=yes");
  equal(dec.decode(decodeQuotedPrintable(enc.encode("a=2"))), "a=2");
  equal(dec.decode(decodeQuotedPrintable(enc.encode("end=  \r\nx"))), "endx");
  equal(dec.decode(decodeBase64(enc.encode("SGVs\r\nbG8g\nd29y bGQh"))), "Hello world!");
  equal(dec.decode(decodeBase64(enc.encode("SGk="))), "Hi");
  equal(decodeBase64(enc.encode("")).length, 0);
  // Broken bodies (IMAP BINARY, SEARCH) decode leniently and never throw: characters
  // outside the alphabet are skipped, the URL-safe alphabet is read, "=" ends the data,
  // a dangling last character is dropped.
  equal(dec.decode(decodeBase64(enc.encode("SG!V*sbG8=IGlnbm9yZWQ="))), "Hello");
  deepStrictEqual([...decodeBase64(enc.encode("SGVsbG8-_w"))], [72, 101, 108, 108, 111, 62, 255]);
  equal(decodeBase64(enc.encode("S")).length, 0);
  equal(decodeBase64(enc.encode("====\r\n")).length, 0);
  const sub = enc.encode("xxSGk=xx").subarray(2, 6); // a view into a larger buffer
  equal(dec.decode(decodeBase64(sub)), "Hi");
});

Deno.test("decode: body text of parts", () => {
  const p = load("plain.eml");
  const t = decodeBodyText(p.bytes, p.s.root);
  ok(t.includes("at the café near the office? I can book a table for noon."), t);
  const e = load("encoded.eml");
  equal(decodeBodyText(e.bytes, e.s.root), "Grüße aus München!\r\n");
  const f = load("forwarded.eml");
  equal(
    decodeBodyText(f.bytes, resolvePart(f.s, [2, 2]) as BodyPart),
    "<p>20% off everything. Café included.</p>",
  );
  const m = load("mixed.eml");
  const pdf = decodeBodyText(m.bytes, resolvePart(m.s, [2]) as BodyPart);
  ok(pdf.startsWith("%PDF-1.4"));
  const b = load("broken.eml");
  equal(decodeBodyText(b.bytes, resolvePart(b.s, [3]) as BodyPart), "Hello world!");
  equal(
    htmlToText("<style>p{}</style><p>A&amp;B&#233;&#x41;&bogus;</p><!-- c -->"),
    "  A&BéA&bogus;  ",
  );
});

Deno.test("decode: messageText and headerValues for SEARCH", () => {
  const a = load("alternative.eml");
  const body = messageText(a.bytes, a.s, "BODY");
  ok(body.includes("Spring sale: 20% off everything until Sunday."));
  ok(body.includes("Visit the shop  & save — now!"), body); // html decoded, tags dropped
  ok(!body.includes("href"));
  ok(!body.includes("Newsletter Team"));
  const text = messageText(a.bytes, a.s, "TEXT");
  ok(text.startsWith('From: "Newsletter Team" <news@shop.example>\n'));
  ok(text.includes("save — now!"));

  const f = load("forwarded.eml");
  const fb = messageText(f.bytes, f.s, "BODY");
  ok(fb.includes("Subject: Spring sale\n")); // the embedded message's header is body text
  ok(fb.includes("Café included."));

  const m = load("mixed.eml");
  ok(messageText(m.bytes, m.s, "BODY").includes("Bericht für das erste Quartal"));
  ok(!messageText(m.bytes, m.s, "BODY").includes("JVBERi0"));

  const e = load("encoded.eml");
  deepStrictEqual(headerValues(e.bytes, e.s, "Subject"), ["🎂 Grüße aus München and plain text"]);
  deepStrictEqual(headerValues(e.bytes, e.s, "to"), [
    "山田太郎 <yamada@example.jp>, Олег <oleg@example.ru>",
  ]);
  deepStrictEqual(headerValues(e.bytes, e.s, "CC"), ["Müller, Jörg <mueller@example.de>"]);
  deepStrictEqual(headerValues(e.bytes, e.s, "x-missing"), []);
  const p = load("plain.eml");
  deepStrictEqual(headerValues(p.bytes, p.s, "subject"), ["Lunch on Thursday?"]);
  equal(headerValues(p.bytes, p.s, "received").length, 1);
});

Deno.test("decode: raw 8-bit headers and unlabelled 8-bit bodies", () => {
  // Latin-1 bytes in a header (not valid UTF-8) are read as windows-1252, not U+FFFD.
  const latin = new Uint8Array([
    ...enc.encode("From: J"),
    0xf6,
    ...enc.encode("rg <j@example.de>\r\nSubject: Gr"),
    0xfc,
    0xdf,
    ...enc.encode("e\r\n\r\nBody: "),
    0xe9,
    ...enc.encode("\r\n"),
  ]);
  const s = parseMessage(latin);
  deepStrictEqual(headerValues(latin, s, "subject"), ["Grüße"]);
  deepStrictEqual(headerValues(latin, s, "from"), ["Jörg <j@example.de>"]);
  // Body without charset (us-ascii by default): UTF-8 if valid, else windows-1252.
  equal(decodeBodyText(latin, s.root), "Body: é\r\n");
  const utf = enc.encode("Subject: x\r\n\r\nGrüße\r\n");
  const su = parseMessage(utf);
  equal(decodeBodyText(utf, su.root), "Grüße\r\n");
  const odd = enc.encode("Content-Type: text/plain; charset=x-nonsense\r\n\r\nGrüße\r\n");
  const so = parseMessage(odd);
  equal(decodeBodyText(odd, so.root), "Grüße\r\n");
});

Deno.test("address: RFC 5322 lists (checked against Dovecot)", () => {
  const a = (s: string) => parseAddressList(s).map((x) => [x.name, x.adl, x.mailbox, x.host]);
  deepStrictEqual(a("<>"), [[null, null, "MISSING_MAILBOX", "MISSING_DOMAIN"]]);
  deepStrictEqual(a('"john smith"@example.com'), [[null, null, "john smith", "example.com"]]);
  deepStrictEqual(a("pete(his account)@silly.test(his host)"), [[
    "his host",
    null,
    "pete",
    "silly.test",
  ]]);
  deepStrictEqual(
    a('John Q. Public <jqp@example.com>, John   Doe <jd@example.com>, "Quoted"Mixed <qm@x.y>'),
    [
      ["John Q. Public", null, "jqp", "example.com"],
      ["John Doe", null, "jd", "example.com"],
      ["Quoted Mixed", null, "qm", "x.y"],
    ],
  );
  deepStrictEqual(a('<a@[127.0.0.1]>, "a\\\\b" <ab@example.com>'), [
    [null, null, "a", "[127.0.0.1]"],
    ["a\\b", null, "ab", "example.com"],
  ]);
  deepStrictEqual(a(",, , x@, @"), [
    [null, null, "x", "MISSING_DOMAIN"],
    [null, null, "MISSING_MAILBOX", "MISSING_DOMAIN"],
  ]);
  deepStrictEqual(a("G: a@b.c, d@e.f"), [ // unterminated group
    [null, null, "G", null],
    [null, null, "a", "b.c"],
    [null, null, "d", "e.f"],
    [null, null, null, null],
  ]);
  deepStrictEqual(a(""), []);
  deepStrictEqual(a("Jörg <jörg@müller.example>"), [["Jörg", null, "jörg", "müller.example"]]);
});

Deno.test("mime: parseMessage of a 4 KiB message takes microseconds", () => {
  const { bytes: mixed } = load("mixed.eml");
  const bytes = new Uint8Array(4096);
  bytes.set(mixed);
  bytes.fill(65, mixed.length); // pad the last part
  for (let i = 0; i < 200; i++) parseMessage(bytes); // warm up
  const n = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) parseMessage(bytes);
  const us = (performance.now() - t0) * 1000 / n;
  console.log(`parseMessage 4 KiB: ${us.toFixed(1)} µs`);
  ok(us < 500, `${us} µs`); // generous: shared CI cores
});
