/**
 * readSmallInto (store/read_small.ts), the read of a small message in place for POP3 RETR
 * and IMAP FETCH BODY[]: through libc where FFI is allowed, the same answers as the
 * runtime's calls it falls back to.
 */
import { join } from "node:path";
import { libcReads, readSmallInto } from "../src/store/read_small.ts";
import { assert, assertEquals, assertThrows } from "./helpers/assert.ts";

Deno.test("the test runner (Linux, FFI allowed) reads small messages through libc", () => {
  if (Deno.build.os !== "linux") return;
  assert(libcReads(), "the FFI fast path did not load: RETR and FETCH lose 4-6 µs a message");
});

Deno.test("readSmallInto reads in place at an offset, non-ASCII paths included", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Folder names are UTF-8 on disk: the C string must be encoded the same way.
    const folder = join(dir, ".Entwürfe – 草稿", "cur");
    await Deno.mkdir(folder, { recursive: true });
    const path = join(folder, "1700000000.M1P2.host,S=21:2,S");
    const data = new TextEncoder().encode("Subject: x\r\n\r\nbody\r\n");
    await Deno.writeFile(path, data);
    const buf = new Uint8Array(4 + data.length + 1 + 3).fill(7);
    assert(readSmallInto(path, data.length, buf, 4));
    assertEquals(buf.subarray(4, 4 + data.length), data);
    assertEquals([...buf.subarray(0, 4)], [7, 7, 7, 7], "nothing before the offset is touched");
    assertEquals(buf.at(-1), 7, "nothing past size + 1 is touched");
    assert(!readSmallInto(path, data.length, new Uint8Array(data.length), 0), "no room for +1");
    assert(!readSmallInto(path, data.length - 1, buf, 0), "the file is longer");
    assert(!readSmallInto(path, data.length + 1, buf, 0), "the file is shorter");
    assert(!readSmallInto(join(folder, "gone"), data.length, buf, 0), "renamed meanwhile");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readSmallInto throws what is not a missing file, as the runtime's read does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A directory opens, but reading it fails (EISDIR): an error, not "renamed meanwhile".
    assertThrows(() => readSmallInto(dir, 10, new Uint8Array(20), 0));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
