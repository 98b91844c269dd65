/**
 * src/net/block_pool.ts and its users: blocks of touched memory reused by the input buffers
 * of streaming connections (LineBuffer) and by messages in transfer (ByteBuffer), bounded,
 * and never a source of another user's bytes.
 */
import { BlockPool } from "../src/net/block_pool.ts";
import { LineBuffer, STREAM_HOLD, streamBlocks } from "../src/net/linebuffer.ts";
import { ByteBuffer } from "../src/message/byte_buffer.ts";
import { contentBlocks } from "../src/delivery/incoming.ts";
import { checkRcpt, deliver, openMessage } from "../src/delivery/pipeline.ts";
import type { Transaction } from "../src/delivery/types.ts";
import { newQueueId } from "../src/queue/id.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { bytes, fixture, session, text, users, withoutTrace } from "./delivery_fixture.ts";

Deno.test("BlockPool: gives back what it was given, keeps at most `keep`, fills ahead", () => {
  const pool = new BlockPool(1024, 2);
  const a = pool.take(), b = pool.take(), c = pool.take();
  assertEquals([a.length, pool.free], [1024, 0]);
  pool.give(a);
  pool.give(a); // twice: held once
  pool.give(b);
  pool.give(c); // over the bound: left to the collector
  assertEquals(pool.free, 2);
  const again = [pool.take(), pool.take()];
  assert(again.includes(a) && again.includes(b));
  // Not its size, a view into a larger buffer, or memory shared with another thread: refused.
  pool.give(new Uint8Array(512));
  pool.give(new Uint8Array(2048).subarray(1024));
  pool.give(new Uint8Array(new SharedArrayBuffer(1024)));
  assertEquals(pool.free, 0);
  pool.fill();
  assertEquals(pool.free, 2);
  pool.fill(5);
  assertEquals(pool.free, 2, "never more than keep");
});

Deno.test("LineBuffer: its stream buffer comes from the blocks and goes back when idle", () => {
  streamBlocks.fill(1);
  const free = streamBlocks.free;
  // A block with someone else's bytes in it: none of them may come out.
  const dirty = streamBlocks.take();
  dirty.fill(46); // '.'
  streamBlocks.give(dirty);
  const buf = new LineBuffer();
  const line = new TextEncoder().encode("z".repeat(1022) + "\r\n");
  for (let i = 0; i < 130; i++) buf.push(line); // past 128 KiB: the 192 KiB buffer
  assertEquals(buf.capacity, STREAM_HOLD);
  assertEquals(streamBlocks.free, free - 1, "taken from the pool");
  let lines = 0;
  for (let r = buf.nextLine(2000); r.kind === "line"; r = buf.nextLine(2000)) {
    assertEquals(new TextDecoder().decode(r.line), "z".repeat(1022));
    lines++;
  }
  assertEquals([lines, buf.buffered], [130, 0]);
  buf.shrinkIfEmpty();
  assert(buf.capacity <= 64);
  assertEquals(streamBlocks.free, free, "given back when the session waits for a command");
  // Growing past it (a long line) gives it back too.
  const other = new LineBuffer();
  for (let i = 0; i < 130; i++) other.push(line);
  assertEquals(streamBlocks.free, free - 1);
  for (let i = 0; i < 100; i++) other.push(line);
  assert(other.capacity > STREAM_HOLD);
  assertEquals(streamBlocks.free, free);
  assertEquals(other.buffered, 230 * line.length);
});

Deno.test("ByteBuffer: growing past its first allocation takes a block; release gives it back", () => {
  const blocks = new BlockPool(320 * 1024, 1);
  blocks.fill();
  const block = blocks.take();
  block.fill(255); // left by an earlier message
  blocks.give(block);
  const buf = new ByteBuffer(0, 320 * 1024, blocks);
  const pieces = [4096, 65536, 65536, 65536].map((n, k) => new Uint8Array(n).fill(k + 1));
  buf.append(pieces[0]);
  assertEquals(blocks.free, 1, "a first append takes what it needs: small messages stay small");
  for (const p of pieces.slice(1)) buf.append(p);
  assertEquals(blocks.free, 0);
  const got = buf.bytes();
  assertEquals(got.length, 4096 + 3 * 65536);
  let at = 0;
  for (const [k, p] of pieces.entries()) {
    assert(got.subarray(at, at + p.length).every((b) => b === k + 1), `piece ${k}`);
    at += p.length;
  }
  buf.release();
  assertEquals([buf.length, blocks.free], [0, 1]);
  // More than a block holds: a buffer of its own, the block back.
  const big = new ByteBuffer(0, 320 * 1024, blocks);
  big.append(new Uint8Array(1000));
  big.append(new Uint8Array(3000)); // past the first allocation's slack
  assertEquals(blocks.free, 0);
  big.append(new Uint8Array(400 * 1024));
  assertEquals([big.length, blocks.free], [4000 + 400 * 1024, 1]);
});

Deno.test("ByteBuffer: detach copies content out of a block and gives the block back", () => {
  const blocks = new BlockPool(320 * 1024, 1);
  blocks.fill();
  const buf = new ByteBuffer(0, 320 * 1024, blocks);
  buf.append(new Uint8Array(4096).fill(1));
  buf.append(new Uint8Array(6000).fill(2)); // past the first allocation: a block
  assertEquals(blocks.free, 0);
  const kept = buf.detach();
  assertEquals([kept.length, kept.buffer.byteLength, buf.length, blocks.free], [
    10096,
    10096,
    0,
    1,
  ]);
  // The block's next user writes over it: what was detached does not change.
  blocks.take().fill(9);
  assert(kept.subarray(0, 4096).every((b) => b === 1) && kept.subarray(4096).every((b) => b === 2));
  // Not in a block: the content stays where it is, nothing is copied.
  const small = new ByteBuffer(0, 320 * 1024, blocks);
  small.append(new Uint8Array(100).fill(3));
  const view = small.detach();
  assertEquals([view.length, view.buffer.byteLength], [100, 100 + 1024]);
});

/** A message of `size` octets whose body is octet `fill`, and a header naming it. */
function message(size: number, k: number): Uint8Array {
  const head = bytes(`Subject: m${k}\r\nFrom: <a@remote.example>\r\n\r\n`);
  const out = new Uint8Array(size).fill(65 + (k % 26));
  out.set(head);
  out.set(bytes("\r\n"), size - 2);
  return out;
}

Deno.test("MessageSink: messages that end in memory give their block back, and delivery keeps their bytes", async () => {
  // The client is in LocalIP: it may relay, so each message is also queued (the queue
  // keeps the message's bytes as they were handed over: a block given back under them
  // would show in the copies below).
  const f = await fixture({ LocalIP: ["192.0.2.0/24"] });
  try {
    await users(f.ctx, ["bob"]);
    contentBlocks.fill();
    const free = contentBlocks.free;
    const sent: Uint8Array[] = [];
    for (let k = 0; k < 21; k++) {
      const tx: Transaction = { from: "alice@remote.example", params: {}, recipients: [] };
      for (const rcpt of ["bob@test.example", "dave@remote.example"]) {
        const r = await checkRcpt(f.ctx, session(), tx, rcpt);
        if (r.accepted) tx.recipients.push(r.accepted);
      }
      const queueId = newQueueId();
      const sink = openMessage(f.ctx, session(), tx, queueId);
      // 100 KiB in three reads, no SIZE hint: in memory, past the first allocation.
      const data = message(100 * 1024, k);
      for (const [from, to] of [[0, 30000], [30000, 70000], [70000, data.length]]) {
        sink.append(data.subarray(from, to));
        await sink.flush();
      }
      if (k === 20) assertEquals(contentBlocks.free, free - 1, "the 21st takes a pooled block");
      const received = await sink.finish();
      assertEquals(received.spoolPath, null);
      const reply = await deliver(f.ctx, session(), tx, received, queueId);
      assertMatch(reply.toString(), /^250 /);
      await received.discard();
      await sink.discard();
      sent.push(data);
      assertEquals(contentBlocks.free, free, `message ${k}: its block is back`);
    }
    // Refused or abandoned in memory (bare LF, the client gone): the block goes back too.
    const tx: Transaction = { from: "alice@remote.example", params: {}, recipients: [] };
    const dropped = openMessage(f.ctx, session(), tx, newQueueId());
    dropped.append(new Uint8Array(30000));
    dropped.append(new Uint8Array(40000));
    assertEquals(contentBlocks.free, free - 1);
    await dropped.discard();
    assertEquals(contentBlocks.free, free, "a dropped message's block is back");
    const stored = await f.inbox("bob", "test.example");
    assertEquals(stored.length, sent.length);
    for (const [k, data] of sent.entries()) {
      assertEquals(withoutTrace(stored[k]).rest, text(data), `stored message ${k}`);
      const queued = text(f.queue.messages[k].data);
      assert(queued.endsWith(text(data)), `queued message ${k}`);
    }
  } finally {
    await f.close();
  }
});
