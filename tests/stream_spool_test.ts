/**
 * Messages in transfer (SPEC §7, src/delivery/incoming.ts): a large message goes to a
 * spool file in DirBase/incoming/ as it arrives, its header kept in memory; delivery
 * links the file into the Maildir when it is exactly the stored message, else copies
 * the pieces; the file goes after delivery and after a refusal. In process, through
 * the pipeline as the SMTP session drives it.
 */
import { join } from "node:path";
import { checkRcpt, deliver, openMessage } from "../src/delivery/pipeline.ts";
import { MEMORY_LIMIT } from "../src/delivery/incoming.ts";
import type { Transaction } from "../src/delivery/types.ts";
import { checkLines, LineChecker } from "../src/message/line_endings.ts";
import { newQueueId } from "../src/queue/id.ts";
import { concatBytes } from "../src/message/header_rewrite.ts";
import { DataReader } from "../src/smtp/data.ts";
import { readData } from "../src/smtp/transfer.ts";
import { MessageContent } from "../src/store/content.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { bytes, fixture, session, text, users, withoutTrace } from "./delivery_fixture.ts";

/** A message of about `size` octets: a header, then 76-character lines. */
function bigMessage(size: number, headers = "Subject: big\r\nFrom: <a@remote.example>\r\n") {
  const line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123\r\n";
  const body = line.repeat(Math.ceil(size / line.length));
  return bytes(`${headers}\r\n${body}`);
}

async function transaction(
  f: Awaited<ReturnType<typeof fixture>>,
  from: string,
  to: string[],
): Promise<Transaction> {
  const tx: Transaction = { from, params: {}, recipients: [] };
  for (const rcpt of to) {
    const r = await checkRcpt(f.ctx, session(), tx, rcpt);
    if (r.accepted) tx.recipients.push(r.accepted);
  }
  return tx;
}

/** Feeds the data in 64 KiB pieces as the SMTP reader does, flushing as asked. */
async function feed(sink: ReturnType<typeof openMessage>, data: Uint8Array): Promise<void> {
  for (let i = 0; i < data.length; i += 65536) {
    sink.append(data.subarray(i, i + 65536));
    await sink.flush();
  }
}

Deno.test("spool: a large message is written to DirBase/incoming and linked into the Maildir", async () => {
  const f = await fixture();
  try {
    await users(f.ctx, ["bob"]);
    const tx = await transaction(f, "alice@remote.example", ["bob@test.example"]);
    const queueId = newQueueId();
    const sink = openMessage(f.ctx, session(), tx, queueId);
    const data = bigMessage(2 << 20);
    await feed(sink, data);
    // During the transfer: one file, named after the queue id.
    const during = await f.ctx.incoming.list();
    assertEquals(during.length, 1);
    assert(during[0].startsWith(queueId), during[0]);
    const message = await sink.finish();
    assertEquals(message.size, data.length);
    assert(message.head.length < 1024, `only the header is kept: ${message.head.length}`);
    const spool = message.spoolPath!;
    const reply = await deliver(f.ctx, session(), tx, message, queueId);
    assertMatch(reply.toString(), /^250 2\.0\.0 Ok: queued as /);
    // The Maildir file is the spool file (a hard link), not a copy.
    assertEquals((await Deno.stat(spool)).nlink, 2);
    await message.discard();
    assertEquals(await f.ctx.incoming.list(), []);
    const [stored] = await f.inbox("bob", "test.example");
    const { returnPath, received, rest } = withoutTrace(stored);
    assertEquals(returnPath, "<alice@remote.example>");
    assertMatch(received, new RegExp(`id ${queueId}`));
    assertEquals(rest, text(data));
  } finally {
    await f.close();
  }
});

Deno.test("spool: rewritten headers, lists and the queue copy the pieces", async () => {
  // The client is in LocalIP: it may relay to the remote recipient.
  const f = await fixture({ LocalIP: ["192.0.2.0/24"] });
  try {
    await users(f.ctx, ["bob", "carol"]);
    await f.ctx.directory.addList("team", "test.example");
    await f.ctx.directory.addMember("team", "test.example", "carol@test.example");
    const tx = await transaction(f, "alice@remote.example", [
      "bob@test.example",
      "team@test.example",
      "dave@remote.example",
    ]);
    assertEquals(tx.recipients.length, 3);
    const queueId = newQueueId();
    const sink = openMessage(f.ctx, session(), tx, queueId);
    // A Return-Path of the sender's own is dropped (header rewritten, body from the file).
    const data = bigMessage(1 << 20, "Return-Path: <forged@x.example>\r\nSubject: s\r\n");
    await feed(sink, data);
    const message = await sink.finish();
    const reply = await deliver(f.ctx, session(), tx, message, queueId);
    assertMatch(reply.toString(), /^250 /);
    await message.discard();
    const expectedRest = text(data).replace("Return-Path: <forged@x.example>\r\n", "");
    const [forBob] = await f.inbox("bob", "test.example");
    assertEquals(withoutTrace(forBob).rest, expectedRest);
    assert(!withoutTrace(forBob).rest.includes("forged"));
    const [forCarol] = await f.inbox("carol", "test.example");
    assertEquals(withoutTrace(forCarol).returnPath, "<team-bounces@test.example>");
    assertMatch(withoutTrace(forCarol).rest, /^Subject: s\r\nList-Id: <team\.test\.example>\r\n/);
    assert(withoutTrace(forCarol).rest.endsWith(text(data).slice(-5000)));
    const queued = f.queue.messages.find((m) => m.to.includes("dave@remote.example"));
    assert(queued, "queued for the remote recipient");
    const q = text(queued.data);
    assertMatch(q, /^Received: /);
    assert(q.endsWith(expectedRest), "queue copy: our Received, then the message");
    assertEquals(await f.ctx.incoming.list(), []);
  } finally {
    await f.close();
  }
});

Deno.test("spool: small messages stay in memory; oversized headers are refused", async () => {
  const f = await fixture();
  try {
    await users(f.ctx, ["bob"]);
    const tx = await transaction(f, "alice@remote.example", ["bob@test.example"]);
    const small = openMessage(f.ctx, session(), tx, newQueueId());
    await feed(small, bigMessage(MEMORY_LIMIT / 2));
    assertEquals(await f.ctx.incoming.list(), []);
    const inMemory = await small.finish();
    assertEquals(inMemory.spoolPath, null);

    const queueId = newQueueId();
    const sink = openMessage(f.ctx, session(), tx, queueId);
    const fields = `X-Filler: ${"y".repeat(900)}\r\n`.repeat(400); // 360 KiB of header
    await feed(sink, bigMessage(64 * 1024, fields));
    const message = await sink.finish();
    assert(message.headerTooLarge);
    const reply = await deliver(f.ctx, session(), tx, message, queueId);
    assertMatch(reply.toString(), /^552 5\.3\.4 /);
    await message.discard();
    assertEquals(await f.ctx.incoming.list(), []);
    assertEquals(await f.inbox("bob", "test.example"), []);
  } finally {
    await f.close();
  }
});

Deno.test("spool: a long header ending deep in the first chunk is kept whole, and only it", async () => {
  const f = await fixture();
  try {
    await users(f.ctx, ["bob"]);
    const tx = await transaction(f, "alice@remote.example", ["bob@test.example"]);
    const sink = openMessage(f.ctx, session(), tx, newQueueId());
    const fields = `X-Filler: ${"h".repeat(900)}\r\n`.repeat(220) + "Subject: long\r\n"; // 200 KiB
    const data = bigMessage(1 << 20, fields);
    await feed(sink, data);
    const message = await sink.finish();
    assert(!message.headerTooLarge);
    assertEquals(text(message.head), fields + "\r\n");
    assertEquals(message.block.end <= message.head.length, true);
    await message.discard();
  } finally {
    await f.close();
  }
});

Deno.test("spool: a discarded transfer leaves no file; stale files go at start-up", async () => {
  const f = await fixture();
  try {
    await users(f.ctx, ["bob"]);
    const tx = await transaction(f, "alice@remote.example", ["bob@test.example"]);
    const sink = openMessage(f.ctx, session(), tx, newQueueId());
    await feed(sink, bigMessage(1 << 20));
    assertEquals((await f.ctx.incoming.list()).length, 1);
    await sink.discard();
    assertEquals(await f.ctx.incoming.list(), []);
    await Deno.writeTextFile(join(f.ctx.incoming.dir, "LEFTOVER.123.1"), "x");
    assertEquals(await f.ctx.incoming.clean(), 1);
    assertEquals(await f.ctx.incoming.list(), []);
  } finally {
    await f.close();
  }
});

Deno.test("MessageContent: pieces from memory and file ranges, in order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "f");
    await Deno.writeFile(path, bytes("0123456789".repeat(100_000)));
    const c = new MessageContent([bytes("head:"), { path, offset: 5, length: 700_003 }]);
    assertEquals(c.size, 700_008);
    const all = await c.bytes();
    assertEquals(text(all.subarray(0, 12)), "head:5678901");
    const out = await Deno.open(join(dir, "out"), { write: true, create: true });
    await c.writeTo(out);
    out.close();
    assertEquals(await Deno.readFile(join(dir, "out")), all);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LineChecker: the verdicts of checkLines for content split anywhere", () => {
  const samples = [
    "a\r\nb\r\n",
    "a\nb\r\n",
    "a\rb\r\n",
    "end with cr\r",
    "ok\r\n" + "x".repeat(998) + "\r\n",
    "ok\r\n" + "x".repeat(999) + "\r\n",
    "x".repeat(998) + "\r",
    "x".repeat(999),
    "\r\n\r\n",
    "\n",
    "\r",
  ];
  for (const sample of samples) {
    const data = bytes(sample);
    const whole = checkLines(data);
    for (let split = 0; split <= data.length; split++) {
      for (const step of [1, 2, 3, 1000]) {
        const c = new LineChecker();
        c.push(data.subarray(0, split));
        for (let i = split; i < data.length; i += step) c.push(data.subarray(i, i + step));
        assertEquals(
          c.end(),
          whole,
          `${JSON.stringify(sample.slice(0, 20))} split ${split}/${step}`,
        );
      }
    }
  }
});

Deno.test("DATA: input that arrives while the sink writes is read, not waited for", async () => {
  // A stand-in connection and sink: the end of the data arrives during a flush (a spool
  // file write), and nothing comes after it.
  const enc = new TextEncoder();
  let buffered = enc.encode("Subject: x\r\n\r\n" + "y".repeat(100) + "\r\n");
  const conn = {
    peekInput: () => buffered,
    consumeInput: (n: number) => void (buffered = buffered.slice(n)),
    get bufferedInput() {
      return buffered.length;
    },
    waitForInput: () => new Promise<boolean>(() => {}), // nothing more will ever come
    pauseInput: () => {},
  };
  const parts: Uint8Array[] = [];
  let flushes = 0;
  const sink = {
    append: (b: Uint8Array) => void parts.push(b.slice()),
    get wantsFlush() {
      return flushes === 0;
    },
    flush: async () => {
      flushes++;
      await Promise.resolve();
      const end = enc.encode("last line\r\n.\r\n");
      const grown = new Uint8Array(buffered.length + end.length);
      grown.set(buffered);
      grown.set(end, buffered.length);
      buffered = grown;
    },
  };
  const reader = new DataReader(0, sink);
  const timeout = new Promise<string>((r) => setTimeout(() => r("hung"), 2000));
  const result = await Promise.race([readData(conn, reader, sink), timeout]);
  assertEquals(result, true);
  assert(reader.done);
  assert(text(concatBytes(parts)).endsWith("last line\r\n"));
});
