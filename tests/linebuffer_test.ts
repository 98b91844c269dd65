/** src/net/linebuffer.ts: lines split out of a stream, from a buffer that starts small. */
import { LineBuffer } from "../src/net/linebuffer.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

Deno.test("LineBuffer: lines of any length, pushed in any pieces, come out whole", () => {
  let seed = 11;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const buf = new LineBuffer();
  assert(buf.capacity <= 64, "a new buffer is small (held by every idle session)");
  const lines: string[] = [];
  for (let i = 0; i < 300; i++) {
    lines.push(String.fromCharCode(97 + i % 26).repeat([0, 1, 20, 63, 64, 65, 1000, 5000][i % 8]));
  }
  const stream = new TextEncoder().encode(lines.map((l) => l + "\r\n").join(""));
  const got: string[] = [];
  for (let off = 0; off < stream.length;) {
    const n = 1 + rand(700);
    buf.push(stream.subarray(off, off + n));
    off += n;
    for (let r = buf.nextLine(6000); r.kind === "line"; r = buf.nextLine(6000)) {
      assert(!r.bareLf);
      got.push(new TextDecoder().decode(r.line));
    }
  }
  assertEquals(got, lines);
  assertEquals(buf.buffered, 0);
  buf.shrinkIfEmpty();
  assert(buf.capacity <= 64 * 1024, "a past burst's memory goes");
  // A block after the lines (an SMTP body, an IMAP literal) and a line after it.
  buf.push(new Uint8Array(4096).fill(120));
  buf.push(new TextEncoder().encode("QUIT\r\n"));
  assertEquals(buf.take(4096)?.length, 4096);
  const quit = buf.nextLine(100);
  assertEquals(quit.kind === "line" ? new TextDecoder().decode(quit.line) : quit.kind, "QUIT");
});
