/**
 * readSmallSync (the synchronous read of a small message for FETCH of one message): the
 * file's bytes when it has the expected size, null when it is gone (renamed by a flag
 * change: the caller's async read follows the rename), longer or shorter, or too large.
 */
import { join } from "node:path";
import { readSmallSync, SYNC_READ_LIMIT } from "../src/imap/message_file.ts";
import { assertEquals } from "./helpers/assert.ts";

Deno.test("readSmallSync reads a file of the expected size and refuses any other", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "msg");
    const data = new TextEncoder().encode("Subject: x\r\n\r\nbody\r\n");
    await Deno.writeFile(path, data);
    assertEquals(readSmallSync(path, data.length), data);
    assertEquals(readSmallSync(path, data.length - 1), null, "the file is longer");
    assertEquals(readSmallSync(path, data.length + 1), null, "the file is shorter");
    assertEquals(readSmallSync(join(dir, "gone"), data.length), null, "renamed meanwhile");
    const big = new Uint8Array(SYNC_READ_LIMIT + 1).fill(65);
    await Deno.writeFile(path, big);
    assertEquals(readSmallSync(path, big.length), null, "large: the async path reads it");
    const empty = join(dir, "empty");
    await Deno.writeFile(empty, new Uint8Array(0));
    assertEquals(readSmallSync(empty, 0), new Uint8Array(0));
    assertEquals(readSmallSync(path, 0), null, "not empty after all");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
