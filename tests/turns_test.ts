/**
 * Fair turns of the event loop (src/net/turns.ts, SPEC §7): long work of all sessions
 * shares one budget per turn, those waiting go on in the order they stopped, and work
 * that uses up the budget lets the loop go round before the next one goes on. Also the
 * DATA reader's part in it (src/smtp/data.ts): one append per slice of input, not per line;
 * and the connection buffer's growth (src/net/linebuffer.ts).
 */
import { nextTurn, SLICE_MS, turnSpent } from "../src/net/turns.ts";
import { LineBuffer } from "../src/net/linebuffer.ts";
import { DataReader } from "../src/smtp/data.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

/**
 * Counts the turns of the loop with a chain of zero timeouts; `turns()` is the count so
 * far, `stop()` ends the chain and waits until its last timer has run.
 */
function turnCounter(): { turns: () => number; stop: () => Promise<void> } {
  let turns = 0;
  let counting = true;
  const tick = () => {
    turns++;
    if (counting) setTimeout(tick, 0);
  };
  setTimeout(tick, 0);
  return {
    turns: () => turns,
    stop: async () => {
      counting = false;
      await new Promise((r) => setTimeout(r, 5));
    },
  };
}

function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* busy, as a long slice of work is */ }
}

Deno.test("turns: the budget is shared and spent; waiters go on in order", async () => {
  await new Promise((r) => setTimeout(r, 5)); // a turn of our own
  assert(!turnSpent(), "the first ask of a turn starts its budget");
  spin(SLICE_MS + 1);
  assert(turnSpent(), "spent after SLICE_MS");
  const order: number[] = [];
  await Promise.all([1, 2, 3].map(async (i) => {
    await nextTurn();
    order.push(i);
  }));
  assertEquals(order, [1, 2, 3]);
  // After the loop went round the budget is new.
  await new Promise((r) => setTimeout(r, 5));
  assert(!turnSpent());
});

Deno.test("turns: waiters that use up the budget let the loop go round between them", async () => {
  // Each waiter records the turn it ran in.
  const counter = turnCounter();
  const ranIn: number[] = [];
  await Promise.all(Array.from({ length: 4 }, async () => {
    await nextTurn();
    ranIn.push(counter.turns());
    spin(SLICE_MS + 1); // one piece that uses the whole budget
  }));
  await counter.stop();
  assertEquals(ranIn.length, 4);
  for (let i = 1; i < ranIn.length; i++) {
    assert(ranIn[i] > ranIn[i - 1], `waiters ran in the same turn: ${ranIn}`);
  }
});

Deno.test("DATA reader: content without dots is appended once per slice, not per line", () => {
  const appended: number[] = [];
  const reader = new DataReader(0, { append: (b: Uint8Array) => appended.push(b.length) });
  const lines = "x".repeat(74) + "\r\n";
  const slice = new TextEncoder().encode(lines.repeat(100));
  assertEquals(reader.feed(slice), slice.length);
  assertEquals(appended, [slice.length]);
  // A stuffed dot splits the run (the dot is not content); the end stops it.
  appended.length = 0;
  const tail = new TextEncoder().encode(`ab\r\n..cd\r\n.\r\nQUIT\r\n`);
  assertEquals(reader.feed(tail), tail.length - "QUIT\r\n".length);
  assertEquals(appended, [4, 5]);
  assert(reader.done);
  assertEquals(reader.size, slice.length + 9);
});

Deno.test("LineBuffer: past 64 KiB it goes to 192 KiB at once, then 64 KiB steps, lines intact", () => {
  const buf = new LineBuffer();
  const line = new TextEncoder().encode("y".repeat(1022) + "\r\n");
  for (let i = 0; i < 64; i++) buf.push(line);
  assertEquals(buf.capacity, 64 * 1024);
  for (let i = 0; i < 64; i++) buf.push(line); // 128 KiB, as a connection's pause mark
  assertEquals(buf.capacity, 192 * 1024, "the pause mark and one read, not through 128 KiB");
  for (let i = 0; i < 64; i++) buf.push(line); // and one 64 KiB read more
  assertEquals(buf.capacity, 192 * 1024, "not doubled to 256 KiB");
  let lines = 0;
  for (let r = buf.nextLine(2000); r.kind === "line"; r = buf.nextLine(2000)) {
    assertEquals(r.line.length, 1022);
    lines++;
  }
  assertEquals(lines, 192);
  for (let i = 0; i < 256; i++) buf.push(line); // a longer run still grows by steps
  assertEquals(buf.capacity, 256 * 1024);
});

Deno.test("turns: one that asks again while resumed waits for the next turn", async () => {
  const counter = turnCounter();
  const seen: number[] = [];
  for (let i = 0; i < 3; i++) {
    await nextTurn(); // little work each time: the budget is not what stops it
    seen.push(counter.turns());
  }
  await counter.stop();
  assert(seen[1] > seen[0] && seen[2] > seen[1], `resumed in the same turn: ${seen}`);
});
