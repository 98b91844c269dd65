/**
 * readSmallInto (store/read_small.ts), the read of a small message in place for POP3 RETR
 * and IMAP FETCH BODY[]: through libc where FFI is allowed, the same answers as the
 * runtime's calls it falls back to.
 */
import { join } from "node:path";
import {
  heldDirCount,
  libcReads,
  readMessageInto,
  readSmallInto,
  releaseMessageDirs,
} from "../src/store/read_small.ts";
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

Deno.test("readMessageInto reads relative to a held directory, and follows renames by path", async () => {
  const dir = await Deno.makeTempDir();
  releaseMessageDirs();
  try {
    const folder = join(dir, ".Drafts – 草稿");
    await Deno.mkdir(join(folder, "cur"), { recursive: true });
    await Deno.mkdir(join(folder, "new"), { recursive: true });
    const data = new TextEncoder().encode("Subject: x\r\n\r\nbody\r\n");
    const name = "1700000000.M1P2.host,S=21:2,S";
    await Deno.writeFile(join(folder, "cur", name), data);
    await Deno.writeFile(join(folder, "new", "1700000001.M2P2.host"), data);
    const buf = new Uint8Array(2 + data.length + 1 + 2).fill(7);
    assert(readMessageInto(folder, "cur", name, data.length, buf, 2));
    assertEquals(buf.subarray(2, 2 + data.length), data);
    assertEquals([...buf.subarray(0, 2)], [7, 7], "nothing before the offset is touched");
    assertEquals(buf.at(-1), 7, "nothing past size + 1 is touched");
    assert(readMessageInto(folder, "new", "1700000001.M2P2.host", data.length, buf, 0));
    if (libcReads()) assertEquals(heldDirCount(), 2, "cur/ and new/ are held");
    assert(!readMessageInto(folder, "cur", name, data.length - 1, buf, 0), "the file is longer");
    assert(!readMessageInto(folder, "cur", name, data.length + 1, buf, 0), "the file is shorter");
    assert(!readMessageInto(folder, "cur", "gone", data.length, buf, 0), "renamed meanwhile");
    // Another name than cur/ or new/: read by its path, nothing held for it.
    await Deno.mkdir(join(folder, "tmp"));
    await Deno.writeFile(join(folder, "tmp", name), data);
    releaseMessageDirs();
    assert(readMessageInto(folder, "tmp", name, data.length, buf, 0));
    assertEquals(heldDirCount(), 0);

    // The folder renamed and a new one made at its path (IMAP RENAME, then CREATE): the
    // held descriptor names the old directory; the path must decide.
    assert(readMessageInto(folder, "cur", name, data.length, buf, 0));
    await Deno.rename(folder, join(dir, ".Old"));
    await Deno.mkdir(join(folder, "cur"), { recursive: true });
    const other = new TextEncoder().encode("Subject: new folder\r\n\r\nother\r\n");
    const otherName = "1700000002.M3P2.host,S=31:2,";
    await Deno.writeFile(join(folder, "cur", otherName), other);
    const out = new Uint8Array(other.length + 1);
    assert(readMessageInto(folder, "cur", otherName, other.length, out, 0));
    assertEquals(out.subarray(0, other.length), other);
    assert(!readMessageInto(folder, "cur", name, data.length, buf, 0), "not in the new folder");
    // The folder deleted: a missing file, not an error.
    await Deno.remove(folder, { recursive: true });
    assert(!readMessageInto(folder, "cur", otherName, other.length, out, 0));
  } finally {
    releaseMessageDirs();
    await Deno.remove(dir, { recursive: true });
  }
  assertEquals(heldDirCount(), 0, "released");
});

Deno.test("readMessageInto holds the directories of at most 64 folders", async () => {
  const dir = await Deno.makeTempDir();
  releaseMessageDirs();
  try {
    const data = new TextEncoder().encode("x\r\n");
    const buf = new Uint8Array(8);
    for (let i = 0; i < 100; i++) {
      const folder = join(dir, `.f${i}`);
      await Deno.mkdir(join(folder, "cur"), { recursive: true });
      await Deno.writeFile(join(folder, "cur", "m"), data);
      assert(readMessageInto(folder, "cur", "m", data.length, buf, 0), `folder ${i}`);
    }
    if (libcReads()) assertEquals(heldDirCount(), 64);
  } finally {
    releaseMessageDirs();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without FFI permission messages are read by the runtime's calls, same answers", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const folder = join(dir, ".Sent");
    await Deno.mkdir(join(folder, "cur"), { recursive: true });
    const data = "Subject: x\r\n\r\nbody\r\n";
    await Deno.writeTextFile(join(folder, "cur", "m1"), data);
    const module = new URL("../src/store/read_small.ts", import.meta.url).href;
    const script = `
      const m = await import(${JSON.stringify(module)});
      const buf = new Uint8Array(${data.length + 1});
      const read = m.readMessageInto(${
      JSON.stringify(folder)
    }, "cur", "m1", ${data.length}, buf, 0);
      const gone = m.readMessageInto(${
      JSON.stringify(folder)
    }, "cur", "m2", ${data.length}, buf, 0);
      console.log(JSON.stringify({ libc: m.libcReads(), read, gone, held: m.heldDirCount(),
        text: new TextDecoder().decode(buf.subarray(0, ${data.length})) }));`;
    const scriptPath = join(dir, "read.ts");
    await Deno.writeTextFile(scriptPath, script);
    const repo = new URL("..", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", `--allow-read=${dir},${repo}`, scriptPath],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert(out.success, stderr);
    const got = JSON.parse(new TextDecoder().decode(out.stdout));
    assertEquals(got, { libc: false, read: true, gone: false, held: 0, text: data });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readMessageInto takes a base name as the folder's bytes (RawName), cur/ flags appended", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const folder = join(dir, "INBOX");
    await Deno.mkdir(join(folder, "cur"), { recursive: true });
    await Deno.mkdir(join(folder, "new"), { recursive: true });
    const data = new TextEncoder().encode("Subject: raw\r\n\r\nbody\r\n");
    // Another program's base name beyond ASCII: the bytes are UTF-8, as on disk.
    const wide = "1700000000.M1P2.hôst-草";
    await Deno.writeFile(join(folder, "cur", `${wide}:2,RS`), data);
    await Deno.writeFile(join(folder, "new", "1700000001.M2P2.host"), data);
    const names = new TextEncoder().encode(`xx${wide}1700000001.M2P2.host\0bad`);
    const wideEnd = 2 + new TextEncoder().encode(wide).length;
    const raw = (from: number, to: number, base = "unused") => ({
      baseRaw: names,
      baseRawFrom: from,
      baseRawTo: to,
      base,
    });
    const buf = new Uint8Array(data.length + 1);
    assert(readMessageInto(folder, "cur", raw(2, wideEnd), data.length, buf, 0, "RS"));
    assertEquals(buf.subarray(0, data.length), data);
    buf.fill(0);
    assert(readMessageInto(folder, "new", raw(wideEnd, wideEnd + 20), data.length, buf, 0));
    assertEquals(buf.subarray(0, data.length), data);
    // Decoded already (baseRaw null): the string is used.
    const decoded = { baseRaw: null, baseRawFrom: 0, baseRawTo: 0, base: wide };
    assert(readMessageInto(folder, "cur", decoded, data.length, buf, 0, "RS"));
    assert(!readMessageInto(folder, "cur", raw(2, wideEnd), data.length, buf, 0, "S"), "flags");
    // A NUL would end the C string early: never opened by the shorter name (here the
    // file "...host"); the runtime's call refuses the name, as it does a string's.
    const nul = raw(wideEnd, names.length, "1700000001.M2P2.host\0bad");
    assertThrows(() => readMessageInto(folder, "new", nul, data.length, buf, 0), TypeError);
  } finally {
    releaseMessageDirs();
    await Deno.remove(dir, { recursive: true });
  }
});
