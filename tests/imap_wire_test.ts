import { deepStrictEqual, equal, throws } from "node:assert/strict";
import {
  astring,
  list,
  literal,
  nil,
  nstring,
  numberLine,
  quoted,
  ResponseBuilder,
  string,
  utf8Length,
} from "../src/imap/wire.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("wire: quoted escapes quoted-specials and refuses CR/LF", () => {
  equal(quoted("hello"), '"hello"');
  equal(quoted(""), '""');
  equal(quoted('say "hi" \\o/'), '"say \\"hi\\" \\\\o/"');
  equal(quoted("a\x00b"), '"ab"');
  throws(() => quoted("a\r\nb"), TypeError);
  throws(() => quoted("a\nb"), TypeError);
});

Deno.test("wire: literal counts UTF-8 octets; bytes stay bytes", () => {
  equal(literal("abc"), "{3}\r\nabc");
  equal(literal("Zoë"), "{4}\r\nZoë");
  equal(literal("😀"), "{4}\r\n😀");
  equal(literal(""), "{0}\r\n");
  const bytes = literal(new Uint8Array([1, 0, 255]));
  deepStrictEqual([...bytes], [...new TextEncoder().encode("{3}\r\n"), 1, 0, 255]);
  equal(utf8Length("aé€😀"), 1 + 2 + 3 + 4);
  equal(utf8Length("\ud800"), 3); // lone surrogate: encoded as U+FFFD
});

Deno.test("wire: string picks quoted or literal", () => {
  equal(string("plain text"), '"plain text"');
  equal(string('a "b"'), '"a \\"b\\""');
  equal(string("two\r\nlines"), "{10}\r\ntwo\r\nlines");
  equal(string("Grüße"), "{7}\r\nGrüße");
  equal(string("Grüße", { utf8: true }), '"Grüße"');
  equal(string("x\ny", { utf8: true }), "{3}\r\nx\ny");
  const long = "x".repeat(1001);
  equal(string(long), `{1001}\r\n${long}`);
  equal(string("\ttab"), '"\ttab"'); // TEXT-CHAR allows controls other than CR and LF
});

Deno.test("wire: nstring, astring, nil, list", () => {
  equal(nstring(null), "NIL");
  equal(nstring(undefined), "NIL");
  equal(nstring(""), '""');
  equal(nstring("NIL"), '"NIL"');
  equal(nil, "NIL");
  equal(astring("INBOX"), "INBOX");
  equal(astring("Sent/2023"), "Sent/2023");
  equal(astring("a]b"), "a]b");
  equal(astring("two words"), '"two words"');
  equal(astring(""), '""');
  equal(astring("nil"), '"nil"');
  equal(astring("a(b"), '"a(b"');
  equal(astring("100%"), '"100%"');
  equal(astring("a*"), '"a*"');
  equal(astring("{3}"), '"{3}"');
  equal(astring("Entwürfe"), "{9}\r\nEntwürfe");
  equal(astring("Entwürfe", { utf8: true }), '"Entwürfe"');
  equal(list([]), "()");
  equal(list(["\\Seen", "$Label1"]), "(\\Seen $Label1)");
});

Deno.test("wire: ResponseBuilder joins strings and bytes in order", () => {
  const b = new ResponseBuilder();
  b.add("* 1 FETCH (BODY[] ").add(literal(new TextEncoder().encode("Hi\r\n"))).add(")\r\n");
  b.add(new Uint8Array(0)).add("");
  equal(b.length, 30);
  const out = b.bytes();
  equal(text(out), "* 1 FETCH (BODY[] {4}\r\nHi\r\n)\r\n");
  equal(b.length, 0);
  equal(b.bytes().length, 0);
  const one = new Uint8Array([1, 2]);
  equal(new ResponseBuilder().add(one).bytes(), one); // a single chunk is not copied
});

Deno.test("numberLine: the SEARCH line as joined text would be", () => {
  const values = [0, 1, 9, 10, 99, 100, 4_294_967_295, 123_456];
  const text = (add: number) => `* SEARCH ${values.map((v) => v + add).join(" ")} (MODSEQ 7)\r\n`;
  for (const add of [0, 1]) {
    const bytes = numberLine("* SEARCH", values, add, " (MODSEQ 7)\r\n");
    equal(new TextDecoder().decode(bytes), text(add));
  }
  equal(new TextDecoder().decode(numberLine("* SEARCH", [], 1, "\r\n")), "* SEARCH\r\n");
});
