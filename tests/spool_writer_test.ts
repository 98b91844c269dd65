/**
 * The thread that writes files of messages in transfer (src/store/spool_writer.ts): bytes
 * arrive in order whatever the size of a write, the caller's buffer may be reused at once,
 * errors come back as Deno's error classes, and a stopped thread fails what was pending
 * and starts again for the next file.
 */
import { join } from "node:path";
import { SPOOL_BUFFER, SpoolWriter } from "../src/store/spool_writer.ts";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 255;
  return out;
}

Deno.test("spool writer: writes of every size arrive in order; the caller's buffer is free at once", async () => {
  const dir = await Deno.makeTempDir();
  const writer = new SpoolWriter();
  try {
    const path = join(dir, "a");
    const file = await writer.create(path, 0o600);
    // The buffer the thread made is shared with it: writeBuffer() below writes it in place.
    assert(file.buffer.buffer instanceof SharedArrayBuffer);
    assertEquals(file.buffer.length, SPOOL_BUFFER);
    const pieces = [
      pattern(10, 1),
      pattern(SPOOL_BUFFER, 2),
      pattern(SPOOL_BUFFER * 2 + 7, 3), // in pieces, through the shared buffer
      pattern(1, 4),
    ];
    const reused = pattern(1000, 5);
    const expected: Uint8Array[] = [];
    // Not awaited one by one: the writes queue behind each other.
    const writes: Promise<void>[] = [];
    for (const p of pieces) {
      writes.push(file.write(p));
      expected.push(p.slice());
    }
    writes.push(file.write(reused));
    expected.push(reused.slice());
    reused.fill(0); // the writer copied it before write() returned
    await Promise.all(writes);
    // The shared buffer: filled by the caller, written in place.
    const tail = pattern(5000, 6);
    file.buffer.set(tail);
    await file.writeBuffer(tail.length);
    expected.push(tail);
    await file.sync();
    await file.close();
    await file.close(); // idempotent
    const got = await Deno.readFile(path);
    const want = new Uint8Array(expected.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of expected) {
      want.set(p, at);
      at += p.length;
    }
    assertEquals(got.length, want.length);
    assert(got.every((b, i) => b === want[i]), "content differs");
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    await assertRejects(() => file.write(pattern(1, 0)));
  } finally {
    writer.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spool writer: the thread's errors are Deno's; a stopped thread starts again", async () => {
  const dir = await Deno.makeTempDir();
  const writer = new SpoolWriter();
  try {
    const path = join(dir, "b");
    const file = await writer.create(path, 0o600);
    await assertRejects(() => writer.create(path, 0o600), Deno.errors.AlreadyExists);
    await assertRejects(() => writer.create(join(dir, "no", "such"), 0o600), Deno.errors.NotFound);
    // The buffer is in use while a write is pending.
    const pending = file.write(pattern(SPOOL_BUFFER * 3, 1));
    await assertRejects(() => file.writeBuffer(1));
    await pending;
    writer.close();
    await assertRejects(() => file.write(pattern(1, 0)));
    await file.close(); // never rejects, even after the thread stopped
    const again = await writer.create(join(dir, "c"), 0o600);
    await again.write(pattern(3, 9));
    await again.close();
    assertEquals([...await Deno.readFile(join(dir, "c"))], [...pattern(3, 9)]);
  } finally {
    writer.close();
    await Deno.remove(dir, { recursive: true });
  }
});
