/**
 * The IMAP renderings of message structure (ENVELOPE, BODYSTRUCTURE, BODY[section]) on
 * a corpus of real-world-shaped messages (tests/fixtures/mime/, CRLF except
 * barelf.eml), built on src/message/ (whose own tests are message_mime_test.ts).
 *
 * The ENVELOPE and BODYSTRUCTURE strings were worked out from RFC 9051 §7.5.2 and
 * checked against Dovecot 2.3.19 (FETCH on a Maildir holding this corpus). Where we
 * answer differently on purpose, the test says so:
 * - a string Dovecot sends as a literal only because the raw header was folded, or
 *   because it holds `"`, we send quoted (escaped), which RFC 9051 §4.3 allows;
 * - RFC 2231 parameters keep their place in the list (Dovecot moves them last);
 * - bare-LF files: sizes are those of the bytes as stored (Dovecot counts CRLF);
 *   `toCrlf()` first gives Dovecot's numbers.
 */
import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bodyStructure } from "../src/imap/mime/bodystructure.ts";
import { envelope } from "../src/imap/mime/envelope.ts";
import { formatSection, parseSection, SectionError } from "../src/imap/mime/section.ts";
import { parseAddressList } from "../src/message/address.ts";
import { headerValues, messageText } from "../src/message/body_text.ts";
import { parseDate } from "../src/message/date.ts";
import { decodeEncodedWords } from "../src/message/encoded_words.ts";
import { toCrlf } from "../src/message/line_endings.ts";
import { type BodyPart, type MessageStructure, parseMessage } from "../src/message/mime.ts";
import { partial, resolvePart, sectionBytes } from "../src/message/section.ts";
import { decodeBase64 } from "../src/message/transfer_encoding.ts";

const CORPUS = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "mime");
const enc = new TextEncoder();
const dec = new TextDecoder();

function load(name: string): { bytes: Uint8Array; s: MessageStructure } {
  const bytes = Deno.readFileSync(join(CORPUS, name));
  return { bytes, s: parseMessage(bytes) };
}

function section(name: string, spec: string): string {
  const { bytes, s } = load(name);
  return dec.decode(sectionBytes(bytes, s, parseSection(spec)));
}

/** ENVELOPE and BODYSTRUCTURE for each corpus file. */
const EXPECTED: Record<string, { envelope: string; bodystructure: string }> = {
  "plain.eml": {
    // Dovecot: subject as literal {18} (the raw header was folded).
    envelope: `("Tue, 14 Mar 2023 09:26:51 +0100" "Lunch on Thursday?" ` +
      `(("Alice Example" NIL "alice" "example.org")) ` +
      `(("Alice Example" NIL "alice" "example.org")) ` +
      `(("Alice Example" NIL "alice" "example.org")) ` +
      `(("Bob" NIL "bob" "example.com")(NIL NIL "carol" "example.com")) ` +
      `(("Dave, the Admin" NIL "dave" "example.net")) NIL ` +
      `"<CAF=abc123@mail.example.com>" "<20230314082651.GA1234@example.org>")`,
    bodystructure: `("text" "plain" ("charset" "UTF-8" "format" "flowed") NIL NIL ` +
      `"quoted-printable" 124 7 NIL NIL NIL NIL)`,
  },
  "alternative.eml": {
    envelope: `("Wed, 1 Mar 2023 12:00:00 +0000" "Spring sale: 20% off everything" ` +
      `(("Newsletter Team" NIL "news" "shop.example")) ` +
      `(("Newsletter Team" NIL "news" "shop.example")) ` +
      `(("Newsletter Team" NIL "news" "shop.example")) ` +
      `((NIL NIL "customer" "example.com")) NIL NIL NIL "<sale-2023-03@shop.example>")`,
    bodystructure: `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 78 1 NIL NIL NIL NIL)` +
      `("text" "html" ("charset" "utf-8") NIL NIL "quoted-printable" 180 3 NIL NIL NIL NIL) ` +
      `"alternative" ("boundary" "----=_Part_1234_56789.1677672000000") NIL NIL NIL)`,
  },
  "mixed.eml": {
    envelope: `("Fri, 31 Mar 2023 17:45:02 +0200 (CEST)" "Quarterly report" ` +
      `(("Erika Mustermann" NIL "erika" "example.de")) ` +
      `(("Erika Mustermann" NIL "erika" "example.de")) ` +
      `(("Erika Mustermann" NIL "erika" "example.de")) ` +
      `(("Max Mustermann" NIL "max" "example.de")) NIL NIL NIL "<a1b2c3d4-e5f6@example.de>")`,
    // Dovecot lists "size" before "filename*" (it moves RFC 2231 parameters last).
    bodystructure: `((("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 73 5 NIL NIL NIL NIL)` +
      `("text" "html" ("charset" "utf-8") NIL NIL "8bit" 69 0 NIL NIL NIL NIL) ` +
      `"alternative" ("boundary" "alt-b2") NIL NIL NIL)` +
      `("application" "pdf" ("name*" "utf-8''Bericht%20Q1%20%E2%82%AC%20final.pdf") NIL NIL ` +
      `"base64" 242 NIL ("attachment" ("filename*" ` +
      `"utf-8''Bericht%20Q1%20%E2%82%AC%20final.pdf" "size" "312")) NIL NIL)` +
      `("image" "png" ("name" "logo.png") "<logo@example.de>" "Company logo" "BASE64" 98 ` +
      `"Q2hlY2sgSW50ZWdyaXR5IQ==" ("inline" ("filename" "logo.png")) ("de" "en") ` +
      `"https://example.de/logo.png") "mixed" ("boundary" "mixed-b1") NIL NIL NIL)`,
  },
  "forwarded.eml": {
    envelope: `("Thu, 2 Mar 2023 08:15:30 -0500" "Fwd: Spring sale" ` +
      `(("Bob" NIL "bob" "example.com")) (("Bob" NIL "bob" "example.com")) ` +
      `(("Bob" NIL "bob" "example.com")) (("Alice" NIL "alice" "example.org")) ` +
      `NIL NIL NIL "<fwd-1@example.com>")`,
    bodystructure: `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 36 1 NIL NIL NIL NIL)` +
      `("message" "rfc822" NIL NIL NIL "7bit" 542 ` +
      `("Wed, 1 Mar 2023 12:00:00 +0000" "Spring sale" ` +
      `(("Newsletter Team" NIL "news" "shop.example")) ` +
      `((NIL NIL "mailer" "bulk.shop.example")) ((NIL NIL "support" "shop.example")) ` +
      `((NIL NIL "bob" "example.com")) NIL NIL NIL "<sale-2023-03-b@shop.example>") ` +
      `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 19 0 NIL NIL NIL NIL)` +
      `("text" "html" ("charset" "iso-8859-1") NIL NIL "quoted-printable" 43 0 NIL NIL NIL NIL) ` +
      `"alternative" ("boundary" "inner-alt") NIL NIL NIL) 20 NIL ("inline" NIL) NIL NIL) ` +
      `"mixed" ("boundary" "fwd-outer") NIL NIL NIL)`,
  },
  "encoded.eml": {
    // Encoded words go out raw; clients decode them.
    envelope: `("5 Apr 2023 23:59:59 -0700" "=?utf-8?B?8J+Ogg==?= ` +
      `=?utf-8?Q?_Gr=C3=BC=C3=9Fe_aus?= =?iso-8859-1?q?_M=FCnchen?= and plain text" ` +
      `(("=?ISO-8859-1?Q?Andr=E9?= Pirard" NIL "PIRARD" "vm1.ulg.ac.be")) ` +
      `(("=?ISO-8859-1?Q?Andr=E9?= Pirard" NIL "PIRARD" "vm1.ulg.ac.be")) ` +
      `(("=?ISO-8859-1?Q?Andr=E9?= Pirard" NIL "PIRARD" "vm1.ulg.ac.be")) ` +
      `(("=?utf-8?B?5bGx55Sw?= =?utf-8?B?5aSq6YOO?=" NIL "yamada" "example.jp")` +
      `("=?koi8-r?B?78zFxw==?=" NIL "oleg" "example.ru")) ` +
      `(("=?windows-1252?Q?M=FCller=2C_J=F6rg?=" NIL "mueller" "example.de")) ` +
      `NIL NIL "<enc-1@example.jp>")`,
    bodystructure: `("text" "plain" ("charset" "iso-8859-1") NIL NIL "quoted-printable" ` +
      `26 1 NIL NIL NIL NIL)`,
  },
  "missing.eml": {
    envelope: `(NIL NIL NIL NIL NIL ((NIL NIL "someone" "example.com")) NIL NIL NIL NIL)`,
    bodystructure: `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 51 1 NIL NIL NIL NIL)`,
  },
  "nobody.eml": {
    envelope: `("Sat, 1 Apr 2023 00:00:00 +0000" "Empty" ` +
      `(("Nobody" NIL "nobody" "example.com")) (("Nobody" NIL "nobody" "example.com")) ` +
      `(("Nobody" NIL "nobody" "example.com")) ((NIL NIL "void" "example.com")) ` +
      `NIL NIL NIL "<empty@example.com>")`,
    bodystructure: `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)`,
  },
  "headeronly.eml": {
    envelope: `(NIL "Header only, no blank line" ((NIL NIL "x" "example.com")) ` +
      `((NIL NIL "x" "example.com")) ((NIL NIL "x" "example.com")) NIL NIL NIL NIL NIL)`,
    bodystructure: `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)`,
  },
  "groups.eml": {
    // Dovecot: the first name as literal {16} (it holds quotes).
    envelope: `("Mon, 10 Apr 2023 10:00:00 +0200" "Groups and names" ` +
      `(("Smith, John \\"JJ\\"" NIL "john.smith" "example.com")) ` +
      `((NIL NIL "list-bounces" "lists.example.org")) ` +
      `(("Project List" NIL "project" "lists.example.org")) ` +
      `((NIL NIL "Team" NIL)(NIL NIL "alice" "example.org")("Bob B." NIL "bob" "example.com")` +
      `(NIL NIL NIL NIL)(NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) ` +
      `(("Carol Jones" NIL "carol" "example.com")` +
      `(NIL "@relay.example,@hub.example" "dave" "example.net")` +
      `("Pete" NIL "pete" "silly.test")) ` +
      `((NIL NIL "admins" NIL)(NIL NIL NIL NIL)) ` +
      `"<a@example.com> <b@example.com>" "<groups-1@example.com>")`,
    bodystructure: `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 1 NIL NIL NIL NIL)`,
  },
  "barelf.eml": {
    envelope: `("Tue, 11 Apr 2023 11:11:11 +0000" "Bare LF message" ` +
      `(("Lf Sender" NIL "lf" "example.com")) (("Lf Sender" NIL "lf" "example.com")) ` +
      `(("Lf Sender" NIL "lf" "example.com")) ((NIL NIL "rcpt" "example.com")) ` +
      `NIL NIL NIL NIL)`,
    // Sizes of the bytes as stored (Dovecot: 18, counting CRLF; see the toCrlf test).
    bodystructure: `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 17 1 NIL NIL NIL NIL)` +
      `("application" "octet-stream" NIL NIL NIL "base64" 8 NIL NIL NIL NIL) ` +
      `"mixed" ("boundary" "lfb") NIL NIL NIL)`,
  },
  "digest.eml": {
    envelope: `("Wed, 12 Apr 2023 06:00:00 +0000" "Example digest, Vol 1, Issue 2" ` +
      `((NIL NIL "digest" "lists.example.org")) ((NIL NIL "digest" "lists.example.org")) ` +
      `((NIL NIL "digest" "lists.example.org")) ((NIL NIL "subscriber" "example.com")) ` +
      `NIL NIL NIL NIL)`,
    bodystructure: `(("message" "rfc822" NIL NIL NIL "7bit" 53 ` +
      `(NIL "first" ((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org")) ` +
      `((NIL NIL "a" "example.org")) NIL NIL NIL NIL NIL) ` +
      `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 14 0 NIL NIL NIL NIL) 3 ` +
      `NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 55 ` +
      `(NIL "second" ((NIL NIL "b" "example.org")) ((NIL NIL "b" "example.org")) ` +
      `((NIL NIL "b" "example.org")) NIL NIL NIL NIL NIL) ` +
      `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 15 0 NIL NIL NIL NIL) 3 ` +
      `NIL NIL NIL NIL) "digest" ("boundary" "dig") NIL NIL NIL)`,
  },
  "broken.eml": {
    envelope: `(NIL "Broken multipart" ((NIL NIL "broken" "example.com")) ` +
      `((NIL NIL "broken" "example.com")) ((NIL NIL "broken" "example.com")) ` +
      `NIL NIL NIL NIL NIL)`,
    // No close delimiter: the last part runs to the end. A multipart without boundary
    // shows one empty text/plain part (a multipart needs at least one).
    bodystructure: `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 9 0 NIL NIL NIL NIL)` +
      `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) ` +
      `"related" NIL NIL NIL NIL)` +
      `("text" "plain" ("charset" "utf-8") NIL NIL "base64" 18 1 NIL NIL NIL NIL) ` +
      `"mixed" ("boundary" "never-closed") NIL NIL NIL)`,
  },
  "utf8hdr.eml": {
    // Raw UTF-8 goes as literals to clients that did not enable UTF8=ACCEPT.
    envelope: `("Thu, 13 Apr 2023 13:13:13 +0200" {28}\r\nGrüße – raw UTF-8 header ` +
      `(({13}\r\nJörg Müller NIL {5}\r\njörg {15}\r\nmüller.example)) ` +
      `(({13}\r\nJörg Müller NIL {5}\r\njörg {15}\r\nmüller.example)) ` +
      `(({13}\r\nJörg Müller NIL {5}\r\njörg {15}\r\nmüller.example)) ` +
      `(({4}\r\nZoë NIL "zoe" "example.com")) NIL NIL NIL NIL)`,
    bodystructure: `("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 18 1 NIL NIL NIL NIL)`,
  },
};

Deno.test("mime corpus: every fixture has expectations", () => {
  const files = [...Deno.readDirSync(CORPUS)].map((e) => e.name).sort();
  deepStrictEqual(files, Object.keys(EXPECTED).sort());
});

for (const [name, want] of Object.entries(EXPECTED)) {
  Deno.test(`mime corpus: ${name} ENVELOPE and BODYSTRUCTURE`, () => {
    const { bytes, s } = load(name);
    equal(envelope(bytes, s), want.envelope);
    equal(bodyStructure(bytes, s, true), want.bodystructure);
    // The structure survives a JSON round trip (on-disk cache) unchanged.
    const copy = JSON.parse(JSON.stringify(s));
    deepStrictEqual(copy, s);
    equal(bodyStructure(bytes, copy, true), want.bodystructure);
  });
}

Deno.test("mime: BODY is BODYSTRUCTURE without extension data", () => {
  const { bytes, s } = load("forwarded.eml");
  equal(
    bodyStructure(bytes, s, false),
    `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 36 1)` +
      `("message" "rfc822" NIL NIL NIL "7bit" 542 ("Wed, 1 Mar 2023 12:00:00 +0000" ` +
      `"Spring sale" (("Newsletter Team" NIL "news" "shop.example")) ` +
      `((NIL NIL "mailer" "bulk.shop.example")) ((NIL NIL "support" "shop.example")) ` +
      `((NIL NIL "bob" "example.com")) NIL NIL NIL "<sale-2023-03-b@shop.example>") ` +
      `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 19 0)` +
      `("text" "html" ("charset" "iso-8859-1") NIL NIL "quoted-printable" 43 0) ` +
      `"alternative") 20) "mixed")`,
  );
  const b = load("broken.eml");
  equal(
    bodyStructure(b.bytes, b.s, false),
    `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 9 0)` +
      `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "related")` +
      `("text" "plain" ("charset" "utf-8") NIL NIL "base64" 18 1) "mixed")`,
  );
});

Deno.test("mime: UTF8=ACCEPT clients get UTF-8 quoted", () => {
  const { bytes, s } = load("utf8hdr.eml");
  equal(
    envelope(bytes, s, { utf8: true }),
    `("Thu, 13 Apr 2023 13:13:13 +0200" "Grüße – raw UTF-8 header" ` +
      `(("Jörg Müller" NIL "jörg" "müller.example")) ` +
      `(("Jörg Müller" NIL "jörg" "müller.example")) ` +
      `(("Jörg Müller" NIL "jörg" "müller.example")) ` +
      `(("Zoë" NIL "zoe" "example.com")) NIL NIL NIL NIL)`,
  );
  // Latin-1 bytes in a header (not valid UTF-8) are read as windows-1252, not U+FFFD.
  const latin = new Uint8Array([
    ...enc.encode("From: J"),
    0xf6,
    ...enc.encode("rg <j@x.de>\r\n\r\n"),
  ]);
  equal(
    envelope(latin, parseMessage(latin), { utf8: true }).includes('(("Jörg" NIL "j" "x.de"))'),
    true,
  );
});

Deno.test("mime: bare-LF file after toCrlf gives CRLF sizes (Dovecot's numbers)", () => {
  const { bytes, s } = load("barelf.eml");
  equal(s.bareLf, true);
  equal(load("plain.eml").s.bareLf, false);
  equal(parseMessage(enc.encode("Subject: x\r\n\r\nbody\nmore\n")).bareLf, true);
  equal(parseMessage(enc.encode("Subject: x\r\n\r\nbody\r\nmore\n")).bareLf, true);
  equal(parseMessage(enc.encode("Subject: x")).bareLf, false);
  equal(parseMessage(enc.encode("\n")).bareLf, true);
  const crlf = toCrlf(bytes);
  equal(crlf.length, bytes.length + 18);
  equal(toCrlf(crlf), crlf); // nothing to change: same array
  const s2 = parseMessage(crlf);
  equal(s2.bareLf, false);
  equal(
    bodyStructure(crlf, s2, true),
    `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 18 1 NIL NIL NIL NIL)` +
      `("application" "octet-stream" NIL NIL NIL "base64" 8 NIL NIL NIL NIL) ` +
      `"mixed" ("boundary" "lfb") NIL NIL NIL)`,
  );
  equal(section("barelf.eml", "1"), "Line one\nLine two");
  equal(
    dec.decode(decodeBase64(enc.encode(section("barelf.eml", "2")))),
    "\x00\x01\x02\x03\x04\x05",
  );
});

Deno.test("mime: odd headers (checked against Dovecot)", () => {
  const msg = (text: string) => {
    const bytes = enc.encode(text.replace(/\n/g, "\r\n"));
    return { bytes, s: parseMessage(bytes) };
  };
  // Upper-case types, parameter names and disposition are lower-cased (Dovecot keeps
  // them as written); values keep their case. Single language is still a list.
  let m = msg(
    'From: root\nContent-Type: TEXT/HTML; CHARSET=ISO-8859-1; Name="A.TXT"\n' +
      "Content-Language: en\nContent-Disposition: ATTACHMENT; FILENAME=x.txt\n\nhi\n",
  );
  equal(
    bodyStructure(m.bytes, m.s, true),
    `("text" "html" ("charset" "ISO-8859-1" "name" "A.TXT") NIL NIL "7bit" 4 1 NIL ` +
      `("attachment" ("filename" "x.txt")) ("en") NIL)`,
  );
  equal(
    envelope(m.bytes, m.s),
    `(NIL NIL ((NIL NIL "root" "MISSING_DOMAIN")) ((NIL NIL "root" "MISSING_DOMAIN")) ` +
      `((NIL NIL "root" "MISSING_DOMAIN")) NIL NIL NIL NIL NIL)`,
  );
  // Invalid Content-Type: RFC 2045 §5.2 default (Dovecot: ("garbage" "" ...)).
  m = msg("Content-Type: garbage\n\nbody\n");
  equal(
    bodyStructure(m.bytes, m.s, true),
    `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1 NIL NIL NIL NIL)`,
  );
  // text/* without charset gets the default one appended.
  m = msg("Content-Type: text/html\n\n<p>x</p>\n");
  equal(
    bodyStructure(m.bytes, m.s, false),
    `("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 10 1)`,
  );
  // A base64 message/rfc822 is not parsed: empty envelope and body, as Dovecot.
  m = msg(
    "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nRnJvbTogeEB5LnoKCmhpCg==\n",
  );
  equal(
    bodyStructure(m.bytes, m.s, true),
    `("message" "rfc822" NIL NIL NIL "base64" 26 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ` +
      `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) 1 ` +
      `NIL NIL NIL NIL)`,
  );
  // Top-level message/rfc822.
  m = msg(
    "From: outer@example.com\nContent-Type: message/rfc822\n\nFrom: inner@example.com\n" +
      "Subject: inner\n\ninner body\n",
  );
  equal(
    bodyStructure(m.bytes, m.s, false),
    `("message" "rfc822" NIL NIL NIL "7bit" 55 (NIL "inner" ` +
      `((NIL NIL "inner" "example.com")) ((NIL NIL "inner" "example.com")) ` +
      `((NIL NIL "inner" "example.com")) NIL NIL NIL NIL NIL) ` +
      `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 1) 4)`,
  );
  // RFC 2231: continuations joined in order; a plain segment joining extended ones is
  // percent-encoded (Dovecot leaves "x y" as is); first Content-Type wins.
  m = msg(
    "Content-Type: text/plain; param*=us-ascii'en'a%20b; p2*0=\"x y\"; p2*1*=%41; " +
      "p3*1=two; p3*0=one; dup=1; DUP=2\nContent-Type: text/rich\n\nx\n",
  );
  equal(
    bodyStructure(m.bytes, m.s, false),
    `("text" "plain" ("param*" "us-ascii'en'a%20b" "p2*" "''x%20y%41" "p3" "onetwo" ` +
      `"dup" "1" "dup" "2" "charset" "us-ascii") NIL NIL "7bit" 3 1)`,
  );
  // Comments in structured fields, unquoted boundary with "=", tab-folded parameters.
  m = msg(
    'Content-Type: multipart/mixed (comment); boundary=----=_NextPart_000\n\t; x="a;b"\n\n' +
      "------=_NextPart_000\n\nhello\n------=_NextPart_000--\n",
  );
  equal(
    bodyStructure(m.bytes, m.s, true),
    `(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0 NIL NIL NIL NIL) "mixed" ` +
      `("boundary" "----=_NextPart_000" "x" "a;b") NIL NIL NIL)`,
  );
});

Deno.test("mime: boundaries that extend another boundary are not delimiters", () => {
  const text = [
    "Content-Type: multipart/mixed; boundary=abc",
    "",
    "--abc",
    "Content-Type: multipart/alternative; boundary=abcd",
    "",
    "--abcd",
    "",
    "one",
    "--abcd",
    "",
    "two",
    "--abcd--",
    "--abc",
    "",
    "three",
    "--abc--  ",
    "epilogue",
  ].join("\r\n");
  const bytes = enc.encode(text);
  const s = parseMessage(bytes);
  equal(s.root.parts?.length, 2);
  equal(s.root.parts?.[0].parts?.length, 2);
  const get = (spec: string) => dec.decode(sectionBytes(bytes, s, parseSection(spec)));
  equal(get("1.1"), "one");
  equal(get("1.2"), "two");
  equal(get("2"), "three");
});

Deno.test("section: parse and format", () => {
  deepStrictEqual(parseSection(""), { part: [], text: "" });
  deepStrictEqual(parseSection("HEADER"), { part: [], text: "HEADER" });
  deepStrictEqual(parseSection("text"), { part: [], text: "TEXT" });
  deepStrictEqual(parseSection("1"), { part: [1], text: "" });
  deepStrictEqual(parseSection("1.2.MIME"), { part: [1, 2], text: "MIME" });
  deepStrictEqual(parseSection("2.HEADER"), { part: [2], text: "HEADER" });
  deepStrictEqual(parseSection("3.TEXT"), { part: [3], text: "TEXT" });
  deepStrictEqual(parseSection("HEADER.FIELDS (From To)"), {
    part: [],
    text: "HEADER.FIELDS",
    fields: ["From", "To"],
  });
  deepStrictEqual(parseSection('1.header.fields.not ("X-Spam Flag" Received)'), {
    part: [1],
    text: "HEADER.FIELDS.NOT",
    fields: ["X-Spam Flag", "Received"],
  });
  deepStrictEqual(parseSection("HEADER.FIELDS(From)").fields, ["From"]); // lenient
  for (
    const bad of [
      "MIME",
      "0",
      "1.",
      "1..2",
      "01",
      "HEADER.FIELDS",
      "HEADER.FIELDS ()",
      "HEADER.FIELDS (a",
      "TEXT.1",
      "1.BOGUS",
      "HEADER.FIELDS (a(b)",
      "x",
      "1.2a",
    ]
  ) {
    throws(() => parseSection(bad), SectionError, bad);
  }
  equal(
    formatSection(parseSection("1.2.header.fields (from x-y)")),
    "1.2.HEADER.FIELDS (FROM X-Y)",
  );
  equal(formatSection(parseSection("")), "");
  equal(formatSection(parseSection("3")), "3");
  equal(formatSection(parseSection("text")), "TEXT");
  equal(formatSection(parseSection("2.mime")), "2.MIME");
});

Deno.test("section: bytes of each section (checked against Dovecot)", () => {
  const f = "forwarded.eml";
  equal(
    section(f, "2.HEADER.FIELDS (subject from)"),
    'From: "Newsletter Team" <news@shop.example>\r\nSubject: Spring sale\r\n\r\n',
  );
  equal(
    section(f, "2.MIME"),
    "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n",
  );
  equal(section(f, "2.1"), "20% off everything.");
  equal(section(f, "2.1.MIME"), "Content-Type: text/plain\r\n\r\n");
  equal(
    section(f, "2.2.MIME"),
    "Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
  );
  equal(section(f, "1.HEADER"), ""); // not a message/rfc822 part
  equal(section(f, "1.TEXT"), "");
  equal(section(f, "3"), "");
  equal(section(f, "2.3"), "");
  equal(section(f, "1.1"), "");
  equal(
    section(f, "HEADER.FIELDS.NOT (From To Subject date message-id mime-version)"),
    'Content-Type: multipart/mixed; boundary="fwd-outer"\r\n\r\n',
  );
  ok(section(f, "2.HEADER").startsWith('From: "Newsletter Team"'));
  ok(section(f, "2.HEADER").endsWith('boundary="inner-alt"\r\n\r\n'));
  ok(section(f, "2.TEXT").startsWith("--inner-alt\r\n"));
  ok(section(f, "2.TEXT").endsWith("--inner-alt--\r\n"));
  equal(section(f, "2").length, 542);
  equal(section(f, "2.2"), "<p>20% off everything. Caf=E9 included.</p>");

  const p = "plain.eml";
  const { bytes } = load(p);
  equal(section(p, ""), dec.decode(bytes));
  equal(section(p, "1"), section(p, "TEXT"));
  equal(section(p, "1").length, 124);
  equal(section(p, "1.MIME"), section(p, "HEADER")); // part 1 of a one-part message
  equal(section(p, "HEADER").length, 689);
  equal(section(p, "2"), "");
  equal(section(p, "1.1"), "");
  equal(
    section(p, "HEADER.FIELDS (SUBJECT received)"),
    "Received: from mx.example.org (mx.example.org [192.0.2.10])\r\n" +
      "\tby mail.example.com with ESMTPS id 4B2F1C0123\r\n" +
      "\tfor <bob@example.com>; Tue, 14 Mar 2023 09:26:53 +0100 (CET)\r\n" +
      "Subject: Lunch on\r\n Thursday?\r\n\r\n",
  );

  const d = "digest.eml";
  equal(section(d, "1"), "From: a@example.org\r\nSubject: first\r\n\r\nFirst message.");
  equal(section(d, "1.MIME"), "\r\n");
  equal(section(d, "1.1"), "First message.");
  equal(section(d, "2.HEADER"), "From: b@example.org\r\nSubject: second\r\n\r\n");

  const h = "headeronly.eml";
  equal(section(h, "HEADER"), "From: x@example.com\r\nSubject: Header only, no blank line\r\n");
  equal(section(h, "TEXT"), "");
  equal(section(h, "1"), "");
  equal(section(h, "HEADER.FIELDS (X-None)"), "\r\n");

  const m = "mixed.eml";
  ok(section(m, "1").startsWith("--alt-b2\r\n"));
  equal(section(m, "1.2"), "<p>Hallo Max,</p><p>anbei der Bericht f&uuml;r das erste Quartal.</p>");
  ok(section(m, "3.MIME").startsWith("Content-Type: image/png;"));
  equal(section(m, "1.2.1"), "");
  equal(section(m, "2.HEADER"), "");

  // A top-level message/rfc822: part 1 is the embedded message.
  const bytes2 = enc.encode(
    "From: outer@example.com\r\nContent-Type: message/rfc822\r\n\r\n" +
      "From: inner@example.com\r\nSubject: inner\r\n\r\ninner body\r\n",
  );
  const s2 = parseMessage(bytes2);
  const get = (spec: string) => dec.decode(sectionBytes(bytes2, s2, parseSection(spec)));
  equal(get("1.HEADER"), "From: inner@example.com\r\nSubject: inner\r\n\r\n");
  equal(get("1.1"), "inner body\r\n");
  equal(get("1.TEXT"), "inner body\r\n");
  equal(get("1.MIME"), "From: outer@example.com\r\nContent-Type: message/rfc822\r\n\r\n");
  equal(resolvePart(s2, [1, 1]), s2.root.message);
  equal(resolvePart(s2, [2]), null);
  equal(resolvePart(s2, [0]), null);
  equal(dec.decode(sectionBytes(bytes2, s2, parseSection("1.1"))), "inner body\r\n");

  // HEADER.FIELDS when the last field has no line ending.
  const bytes3 = enc.encode("Subject: x\r\nFrom: y");
  const s3 = parseMessage(bytes3);
  equal(
    dec.decode(sectionBytes(bytes3, s3, parseSection("HEADER.FIELDS (FROM)"))),
    "From: y\r\n\r\n",
  );
});

Deno.test("section: partial", () => {
  const p = load("plain.eml");
  const text = sectionBytes(p.bytes, p.s, parseSection("TEXT"));
  equal(dec.decode(partial(text, 5, 10)), "b,\r\n\r\nHow ");
  equal(partial(p.bytes, 900, 20).length, 0);
  equal(partial(text, 0, 0).length, 0);
  equal(partial(text, 120, 100).length, 4);
  equal(partial(text, 120).length, 4);
  equal(partial(text, 124, 1).length, 0);
});

// --- Robustness -----------------------------------------------------------------

/** Small deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SNIPPETS = [
  "\r\n",
  "\n",
  "\r",
  "--",
  "--mixed-b1",
  "--mixed-b1--",
  "--alt-b2\r\n",
  "\r\n\r\n",
  "Content-Type: multipart/mixed; boundary=x\r\n",
  "Content-Type: message/rfc822\r\n",
  "--x\r\n",
  "=?utf-8?B?",
  "?=",
  "=?",
  '"',
  "(",
  ")",
  "<",
  ">",
  ":",
  ";",
  ",",
  "@",
  "\\",
  "*0*=utf-8''%",
  "=",
  "\x00",
  "\xff",
  " ",
  "\t",
  "Content-Transfer-Encoding: base64\r\n",
];

function mutate(src: Uint8Array, r: () => number): Uint8Array {
  let b = Array.from(src);
  const n = 1 + Math.floor(r() * 8);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(r() * (b.length + 1));
    const op = Math.floor(r() * 6);
    if (op === 0 && b.length > 0) b[Math.min(at, b.length - 1)] = Math.floor(r() * 256);
    else if (op === 1) b.splice(at, Math.floor(r() * 40));
    else if (op === 2) {
      const s = SNIPPETS[Math.floor(r() * SNIPPETS.length)];
      b.splice(at, 0, ...Array.from(s, (c) => c.charCodeAt(0) & 0xff));
    } else if (op === 3) b = b.slice(0, at);
    else if (op === 4) {
      const from = Math.floor(r() * b.length);
      b.splice(at, 0, ...b.slice(from, from + Math.floor(r() * 200)));
    } else b = b.map((c) => (c === 13 && r() < 0.5 ? 10 : c));
  }
  return new Uint8Array(b);
}

function checkOffsets(p: BodyPart, start: number, end: number): void {
  ok(start <= p.headerStart && p.headerStart <= p.bodyStart && p.bodyStart <= p.bodyEnd);
  ok(p.bodyEnd <= end);
  for (const c of p.parts ?? []) checkOffsets(c, p.bodyStart, p.bodyEnd);
  if (p.message) checkOffsets(p.message, p.bodyStart, p.bodyEnd);
}

const SPECS = [
  "",
  "HEADER",
  "TEXT",
  "1",
  "1.MIME",
  "2",
  "2.1",
  "2.HEADER",
  "2.TEXT",
  "1.2.3",
  "HEADER.FIELDS (From Subject)",
  "2.HEADER.FIELDS.NOT (To)",
  "3.1.MIME",
].map(parseSection);

Deno.test("mime fuzz: random mutations of the corpus never throw", () => {
  const files = Object.keys(EXPECTED);
  const r = rng(20230414);
  for (const name of files) {
    const src = Deno.readFileSync(join(CORPUS, name));
    for (let i = 0; i < 150; i++) {
      const bytes = mutate(src, r);
      const s = parseMessage(bytes);
      checkOffsets(s.root, 0, bytes.length);
      bodyStructure(bytes, s, true);
      bodyStructure(bytes, s, false);
      envelope(bytes, s);
      envelope(bytes, s, { utf8: true });
      for (const sec of SPECS) sectionBytes(bytes, s, sec);
      messageText(bytes, s, "TEXT");
      headerValues(bytes, s, "subject");
      parseDate(headerValues(bytes, s, "date")[0] ?? "");
      deepStrictEqual(JSON.parse(JSON.stringify(s)), s);
    }
  }
});

Deno.test("mime fuzz: random bytes and random header text never throw", () => {
  const r = rng(7);
  const alphabet = "abc:;,<>@()\"\\ \t\r\n=?*'%./-_[]";
  for (let i = 0; i < 400; i++) {
    const len = Math.floor(r() * 300);
    let s = "";
    for (let k = 0; k < len; k++) s += alphabet[Math.floor(r() * alphabet.length)];
    parseAddressList(s);
    decodeEncodedWords(s);
    parseDate(s);
    try {
      parseSection(s);
    } catch (e) {
      ok(e instanceof SectionError);
    }
    const bytes = enc.encode("Content-Type: multipart/mixed; boundary=a\r\n" + s);
    const st = parseMessage(bytes);
    bodyStructure(bytes, st, true);
  }
});

Deno.test("mime: deep nesting and many parts stay bounded", () => {
  // 5,000 nested message/rfc822 levels: no stack overflow.
  const deep = enc.encode("Content-Type: message/rfc822\r\n\r\n".repeat(5000) + "x");
  const s = parseMessage(deep);
  ok(bodyStructure(deep, s, true).length > 0);
  // 20,000 parts: the parser stops splitting at its limit.
  const many = enc.encode(
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + "--b\r\n\r\nx\r\n".repeat(20000) +
      "--b--\r\n",
  );
  const m = parseMessage(many);
  ok((m.root.parts?.length ?? 0) <= 10_000);
  ok(m.root.parts!.length > 1000);
});
