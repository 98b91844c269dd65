/**
 * The benchmarks' line framing (bench/_lines.ts): lines split across reads, a long line in
 * many pieces, CRLF and LF, and what is buffered.
 */
import { assertEquals } from "./helpers/assert.ts";
import { TextLines } from "../bench/_lines.ts";

Deno.test("TextLines: a line in many pieces comes out whole, once its end arrives", () => {
  const t = new TextLines();
  t.append("* SEARCH 1");
  t.append(" 2 3");
  assertEquals(t.next(), null);
  assertEquals(t.length, 14);
  t.append(" 4\r\nb1 OK do");
  assertEquals(t.next(), "* SEARCH 1 2 3 4");
  assertEquals(t.next(), null);
  t.append("ne\n");
  assertEquals(t.next(), "b1 OK done");
  assertEquals(t.next(), null);
  assertEquals(t.length, 0);
});

Deno.test("TextLines: several lines in one read, and an empty line", () => {
  const t = new TextLines();
  t.append("a\r\n\r\nb\nc");
  assertEquals([t.next(), t.next(), t.next(), t.next()], ["a", "", "b", null]);
  assertEquals(t.length, 1);
  t.append("d");
  t.append("\r\n");
  assertEquals(t.next(), "cd");
});
