/** src/message/line_endings.ts: line-ending checks and repairs of message content. */
import { deepStrictEqual as assertEquals, equal, ok as assert } from "node:assert/strict";
import {
  checkLines,
  crlfLines,
  hasBareCr,
  hasBareLf,
  toCrlf,
} from "../src/message/line_endings.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("BDAT content: bare newlines and long lines", () => {
  assertEquals(checkLines(enc.encode("a\r\nb\r\n")), { bareNewline: false, lineTooLong: false });
  assertEquals(checkLines(enc.encode("a\r\nb")), { bareNewline: false, lineTooLong: false });
  assert(checkLines(enc.encode("a\nb\r\n")).bareNewline);
  assert(checkLines(enc.encode("a\rb\r\n")).bareNewline);
  assert(checkLines(enc.encode("a\r\nb\r")).bareNewline);
  assert(checkLines(enc.encode("x".repeat(999) + "\r\n")).lineTooLong);
});

Deno.test("line endings: repairs to CRLF", () => {
  const crlf = (s: string) => dec.decode(toCrlf(enc.encode(s)));
  equal(crlf("a\nb\r\nc\n"), "a\r\nb\r\nc\r\n");
  equal(crlf("\n\n"), "\r\n\r\n");
  equal(crlf("lone\rcr"), "lone\rcr"); // toCrlf repairs bare LF only (stored files)
  const same = enc.encode("a\r\nb");
  equal(toCrlf(same), same);
  const all = (s: string) => dec.decode(crlfLines(enc.encode(s)));
  equal(all("a\nb\rc\r\nd\r"), "a\r\nb\r\nc\r\nd\r\n");
  equal(all("\r\r\n\n\r"), "\r\n\r\n\r\n\r\n");
  equal(crlfLines(same), same);
});

Deno.test("line endings: bare CR and sampled bare LF", () => {
  assert(hasBareCr(enc.encode("a\rb")));
  assert(hasBareCr(enc.encode("a\r")));
  assert(!hasBareCr(enc.encode("a\r\nb\r\n")));
  const header = "Subject: x\r\n\r\n";
  assert(!hasBareLf(enc.encode(header + "body\r\n"), header.length));
  assert(hasBareLf(enc.encode("Subject: x\n\nbody\n"), 12));
  assert(hasBareLf(enc.encode(header + "body\r\nlast\n"), header.length));
  assertEquals(hasBareLf(enc.encode("\n"), 1), true);
});
