/**
 * The file calls of a journaled delivery through libc (store/libc_files.ts): the same
 * files and the same errors as the runtime's calls they fall back to.
 */
import { join } from "node:path";
import {
  createWritten,
  libcFiles,
  linkLibc,
  renameLibc,
  syncDirLibc,
} from "../src/store/libc_files.ts";
import { assert, assertEquals, assertThrows } from "./helpers/assert.ts";

Deno.test("the test runner (Linux, FFI allowed) makes delivery files through libc", () => {
  if (Deno.build.os !== "linux") return;
  assert(libcFiles(), "the FFI path did not load: a delivery pays two syscalls per fsync more");
});

Deno.test("createWritten, link, rename and fsyncs: the bytes land under every name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Folder names are UTF-8 on disk: the C strings must be encoded the same way.
    const tmp = join(dir, ".Entwürfe", "tmp"), fresh = join(dir, ".Entwürfe", "new");
    await Deno.mkdir(tmp, { recursive: true });
    await Deno.mkdir(fresh);
    const data = new TextEncoder().encode("Subject: x\r\n\r\n" + "body\r\n".repeat(2000));
    const src = join(tmp, "1.M1P2.host");
    const file = createWritten(src, data);
    assertEquals(Deno.statSync(src).mode! & 0o777, 0o600);
    assertThrows(() => createWritten(src, data), Deno.errors.AlreadyExists);
    assert(linkLibc(src, join(fresh, "1.copy")));
    assert(!linkLibc(src, join(fresh, "1.copy")), "a name that exists is refused");
    assert(renameLibc(src, join(fresh, "1.M1P2.host")));
    assert(!renameLibc(src, join(fresh, "again")), "a source that is gone is refused");
    await file.sync();
    file.close();
    file.close(); // idempotent
    assert(await syncDirLibc(fresh));
    assert(!await syncDirLibc(join(dir, "missing")), "a missing directory is left to the runtime");
    assertEquals(Deno.readFileSync(join(fresh, "1.M1P2.host")), data);
    assertEquals(Deno.readFileSync(join(fresh, "1.copy")), data);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("syncFileSystem: callers of the moment share syncfs(2); each gets one that followed it", async () => {
  if (!libcFiles()) return;
  const dir = await Deno.makeTempDir();
  try {
    const files = Array.from(
      { length: 5 },
      (_, i) => createWritten(join(dir, `m${i}`), new Uint8Array(100)),
    );
    const done = await Promise.all(files.map((f) => f.syncFileSystem()));
    assertEquals(done, [true, true, true, true, true]);
    // After the group: a later caller still gets a syncfs of its own.
    assert(await files[0].syncFileSystem());
    for (const f of files) f.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
