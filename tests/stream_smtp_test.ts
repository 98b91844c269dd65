/**
 * SMTP against the real daemon (SPEC §7 "Memory is bounded per client"): DATA and BDAT
 * content goes to a spool file in DirBase/incoming/ while it arrives, and the file is
 * gone after delivery, a refusal, RSET, a lost connection and a restart; three 25 MiB
 * messages at once leave the daemon's peak memory far below their size; a client that
 * pipelines NOOPs and never reads the replies stops being read.
 */
import { join } from "node:path";
import { LineClient } from "./helpers/client.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { inbox, startWorld } from "./smtp_fixture.ts";
import { memory, waitFor } from "./helpers/stream.ts";

const enc = new TextEncoder();
const LINE = "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123\r\n";
/** 1 MiB of text lines. */
const MIB = enc.encode(LINE.repeat(Math.ceil((1 << 20) / LINE.length)));

async function open(port: number): Promise<LineClient> {
  const c = await LineClient.connect(port);
  await c.readLine();
  await c.send("EHLO client.example");
  await c.readUntil((l) => l.startsWith("250 "));
  return c;
}

async function startData(c: LineClient, rcpt = "bob@example.org"): Promise<void> {
  await c.send("MAIL FROM:<alice@remote.example>");
  assertMatch(await c.readLine() ?? "", /^250 /);
  await c.send(`RCPT TO:<${rcpt}>`);
  assertMatch(await c.readLine() ?? "", /^250 /);
  await c.send("DATA");
  assertMatch(await c.readLine() ?? "", /^354 /);
  await c.write("Subject: big\r\n\r\n");
}

const incoming = (dataDir: string) => join(dataDir, "incoming");

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out;
}

Deno.test("smtp: spool files exist during a transfer and go after delivery, refusal, abort and RSET", async () => {
  const world = await startWorld([{ name: "bob" }], { config: { MaxMailSize: 4 << 20 } });
  const dir = incoming(world.srv.config.DirBase);
  try {
    // Delivered: the file is there while the content arrives, gone after the 250.
    let c = await open(world.srv.ports.smtp);
    await startData(c);
    await c.write(MIB);
    await c.write(MIB);
    await waitFor(async () => (await files(dir)).length === 1, "spool file during DATA");
    await c.write(".\r\n");
    assertMatch(await c.readLine(30_000) ?? "", /^250 2\.0\.0 Ok: queued as /);
    assertEquals(await files(dir), []);
    const [stored] = await inbox(world.roots.bob);
    assert(stored.bytes.length > 2 << 20, `stored ${stored.bytes.length} octets`);

    // Refused for size: read to its end, 552, no file left.
    await startData(c);
    for (let i = 0; i < 5; i++) await c.write(MIB);
    await c.write(".\r\n");
    assertMatch(await c.readLine(30_000) ?? "", /^552 /);
    assertEquals(await files(dir), []);

    // BDAT chunks, then RSET: the chunks go.
    await c.send("MAIL FROM:<alice@remote.example>");
    await c.readLine();
    await c.send("RCPT TO:<bob@example.org>");
    await c.readLine();
    await c.write(`BDAT ${2 * MIB.length}\r\n`);
    await c.write(MIB);
    await c.write(MIB);
    assertMatch(await c.readLine(30_000) ?? "", /^250 /);
    assertEquals((await files(dir)).length, 1);
    await c.send("RSET");
    assertMatch(await c.readLine() ?? "", /^250 /);
    await waitFor(async () => (await files(dir)).length === 0, "BDAT file removed after RSET");
    await c.send("QUIT");
    c.close();

    // The client goes away in the middle of DATA.
    c = await open(world.srv.ports.smtp);
    await startData(c);
    await c.write(MIB);
    await c.write(MIB);
    await waitFor(async () => (await files(dir)).length === 1, "spool file before the abort");
    c.close();
    await waitFor(async () => (await files(dir)).length === 0, "spool file removed after abort");
    assertEquals((await inbox(world.roots.bob)).length, 1);

    // Left behind by a process that died: removed at start-up.
    await world.srv.stop();
    await Deno.writeTextFile(join(dir, "1M9STALE.4242.1"), "partial");
    await world.srv.restart();
    assertEquals(await files(dir), []);
  } finally {
    await world.close();
  }
});

Deno.test("smtp: three 25 MiB messages at once keep the daemon's peak memory bounded", async () => {
  const world = await startWorld([{ name: "bob" }], { config: { MaxMailSize: 64 << 20 } });
  try {
    const pid = world.srv.pid();
    const before = memory(pid);
    const send = async () => {
      const c = await open(world.srv.ports.smtp);
      await startData(c);
      for (let i = 0; i < 25; i++) await c.write(MIB);
      await c.write(".\r\n");
      const reply = await c.readLine(120_000) ?? "";
      c.close();
      return reply;
    };
    const replies = await Promise.all([send(), send(), send()]);
    for (const r of replies) assertMatch(r, /^250 2\.0\.0 Ok: queued as /);
    const grown = memory(pid).peak - before.peak;
    // Held in memory, the bodies alone would be 75 MiB (the old code grew ~220 MiB).
    assert(grown < 64, `peak resident memory grew ${grown.toFixed(1)} MiB`);
    const stored = await inbox(world.roots.bob);
    assertEquals(stored.length, 3);
    for (const m of stored) assert(m.bytes.length > 25 << 20);
  } finally {
    await world.close();
  }
});

Deno.test("smtp: 15 MiB of pipelined NOOPs never read: the client stops being read", async () => {
  // LogLevel info: a debug line per NOOP would measure the log's memory, not the session's.
  const world = await startWorld([{ name: "bob" }], { config: { LogLevel: "info" } });
  try {
    const pid = world.srv.pid();
    const before = memory(pid);
    const flood = await LineClient.connect(world.srv.ports.smtp);
    await flood.readLine();
    const noops = enc.encode("NOOP\r\n".repeat(Math.ceil((15 << 20) / 6)));
    let written = 0;
    const writing = (async () => {
      for (let i = 0; i < noops.length; i += 65536) {
        await flood.write(noops.subarray(i, i + 65536));
        written += Math.min(65536, noops.length - i);
      }
    })().catch(() => {});
    await new Promise((r) => setTimeout(r, 3000));
    // The writer is blocked: the server stopped reading once its replies were not taken.
    assert(written < noops.length, `all ${written} octets of NOOPs were read`);
    const settled = memory(pid).rss;
    await new Promise((r) => setTimeout(r, 2000));
    const after = memory(pid).rss;
    assert(
      after - settled < 4,
      `memory still growing: ${settled.toFixed(1)} -> ${after.toFixed(1)}`,
    );
    // The old code grew without end (100 -> 287 MiB); what remains is the heap's own churn:
    // V8 keeps node:net's socket buffers until it collects (up to about 64 MiB per process,
    // not per client), later when other tests load the machine.
    assert(after - before.rss < 64, `resident memory grew ${(after - before.rss).toFixed(1)} MiB`);
    // Everyone else is served as usual.
    const other = await open(world.srv.ports.smtp);
    const t0 = Date.now();
    await other.send("NOOP");
    assertMatch(await other.readLine() ?? "", /^250 /);
    assert(Date.now() - t0 < 1000, `NOOP took ${Date.now() - t0} ms`);
    other.close();
    flood.close();
    await writing;
  } finally {
    await world.close();
  }
});
