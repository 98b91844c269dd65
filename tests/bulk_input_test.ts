/**
 * Message transfers read from a few connections at a time (src/net/bulk_input.ts, SPEC
 * §7): the others wait in order with their sockets paused; holders hand their slots on
 * after holdMs and lose them when their input runs dry; after roundMs of bulk work every
 * transfer pauses so that the loop polls the sockets of idle sessions. Also readData's
 * part: a DATA transfer holds a slot while it reads and gives it back at the end.
 */
import { BulkSlots, type BulkTiming, BulkTransfer } from "../src/net/bulk_input.ts";
import { readData } from "../src/smtp/transfer.ts";
import { DataReader } from "../src/smtp/data.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

const enc = new TextEncoder();
/** Long enough that nothing in a test reaches it unless the test waits for it. */
const NEVER = 60_000;

/** A connection stand-in: counts pauses; input comes when the test says so. */
class FakeConnection {
  pauses = 0;
  waits = 0;
  #arrive: ((more: boolean) => void) | null = null;
  pauseInput(): void {
    this.pauses++;
  }
  waitForInput(): Promise<boolean> {
    this.waits++;
    return new Promise((resolve) => (this.#arrive = resolve));
  }
  /** Input arrives (or the end of it, with false). */
  arrive(more = true): void {
    const a = this.#arrive;
    this.#arrive = null;
    a?.(more);
  }
}

function timing(t: Partial<BulkTiming>): BulkTiming {
  return { holdMs: NEVER, idleMs: NEVER, roundMs: NEVER, ...t };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

Deno.test("bulk input: at most `size` transfers read; the others wait in order, paused", async () => {
  const slots = new BulkSlots(2, timing({}));
  const conns = [0, 1, 2, 3].map(() => new FakeConnection());
  const transfers = conns.map((c) => new BulkTransfer(slots, c));
  assertEquals(transfers[0].ready(), null, "a free slot: go on at once");
  assertEquals(transfers[1].ready(), null);
  const order: number[] = [];
  const third = transfers[2].ready()!.then(() => order.push(2));
  const fourth = transfers[3].ready()!.then(() => order.push(3));
  assert(third !== null && fourth !== null);
  assertEquals(slots.waiting, 2);
  assertEquals([conns[2].pauses, conns[3].pauses], [1, 1], "waiting sockets are paused");
  assertEquals([conns[0].pauses, conns[1].pauses], [0, 0], "holders keep reading");
  transfers[1].release();
  await third;
  assertEquals(order, [2]);
  transfers[0].release();
  await fourth;
  assertEquals(order, [2, 3]);
  assertEquals(slots.waiting, 0);
  transfers[2].release();
  transfers[3].release();
  transfers[3].release(); // a second release gives back nothing
  assertEquals([slots.take(), slots.take()], [null, null], "both slots are free again");
  assert(slots.take() !== null, "and no third one appeared");
});

Deno.test("bulk input: a holder hands its slot on after holdMs when others wait", async () => {
  const slots = new BulkSlots(1, timing({ holdMs: 5 }));
  const a = new BulkTransfer(slots, new FakeConnection());
  const b = new BulkTransfer(slots, new FakeConnection());
  assertEquals(a.ready(), null);
  await sleep(10);
  assertEquals(a.ready(), null, "nobody waits: the holder keeps its slot");
  const bTurn = b.ready();
  assert(bTurn !== null, "b waits for the one slot");
  const aAgain = a.ready();
  assert(aAgain !== null, "a held it past holdMs with b waiting: it queues again");
  await bTurn;
  assertEquals(slots.waiting, 1);
  b.release();
  await aAgain;
  a.release();
});

Deno.test("bulk input: a holder whose input does not come loses its slot (slowloris)", async () => {
  const slots = new BulkSlots(1, timing({ idleMs: 5 }));
  const slowConn = new FakeConnection();
  const slow = new BulkTransfer(slots, slowConn);
  const fast = new BulkTransfer(slots, new FakeConnection());
  // The slow client's transfer waits for input holding the only slot.
  const slowWait = slow.waitForInput();
  await null;
  assertEquals(slowConn.waits, 1);
  const fastTurn = fast.ready();
  assert(fastTurn !== null);
  const won = await Promise.race([fastTurn.then(() => "slot"), sleep(2000).then(() => "stuck")]);
  assertEquals(won, "slot", "the idle holder lost its slot to the one waiting");
  // Its input comes at last: it queues for a slot before reading on.
  slowConn.arrive();
  assertEquals(await slowWait, true);
  const slowTurn = slow.ready();
  assert(slowTurn !== null, "the slow one waits behind the new holder");
  fast.release();
  await slowTurn;
  slow.release();
});

Deno.test("bulk input: after roundMs of bulk work every transfer pauses for the loop", async () => {
  const slots = new BulkSlots(4, timing({ roundMs: 5 }));
  const conn = new FakeConnection();
  const t = new BulkTransfer(slots, conn);
  assertEquals(t.ready(), null);
  const until = performance.now() + 10;
  while (performance.now() < until) { /* a slice of bulk work */ }
  const pause = t.ready();
  assert(pause !== null, "the round is over: pause");
  assertEquals(conn.pauses, 1, "its socket is paused during the pause");
  const other = new BulkTransfer(slots, new FakeConnection());
  assert(other.ready() !== null, "every transfer pauses, not only the one that asked");
  await pause;
  assertEquals(t.ready(), null, "a new round after the pause");
  t.release();
  other.release();
});

Deno.test("bulk input: a round of little input ends without a pause (roundBytes)", async () => {
  const slots = new BulkSlots(4, timing({ roundMs: 5, roundBytes: 100_000 }));
  // One small message per ask, as smtp-source sends them.
  const conn = new (class extends FakeConnection {
    bufferedInput = 4_000;
  })();
  const t = new BulkTransfer(slots, conn);
  for (let i = 0; i < 4; i++) {
    assertEquals(t.ready(), null, `ask ${i}: little input, no pause`);
    await sleep(6); // the round is over each time
  }
  assertEquals(conn.pauses, 0);
  // Much input in a round: the pause comes as before.
  conn.bufferedInput = 64 * 1024;
  assertEquals(t.ready(), null);
  assertEquals(t.ready(), null);
  const until = performance.now() + 10;
  while (performance.now() < until) { /* a slice of bulk work */ }
  const pause = t.ready();
  assert(pause !== null, "192 KiB in one round: pause");
  assertEquals(conn.pauses, 1);
  await pause;
  t.release();
});

Deno.test("bulk input: a DATA transfer reads holding a slot and gives it back at the end", async () => {
  const slots = new BulkSlots(1, timing({}));
  let buffered = enc.encode("Subject: x\r\n\r\nbody\r\n");
  let paused = 0;
  const conn = {
    peekInput: () => buffered,
    consumeInput: (n: number) => void (buffered = buffered.slice(n)),
    get bufferedInput() {
      return buffered.length;
    },
    pauseInput: () => void paused++,
    waitForInput: () => {
      buffered = enc.encode(".\r\n");
      return Promise.resolve(true);
    },
  };
  const sink = { append: () => {}, wantsFlush: false, flush: () => Promise.resolve() };
  // The one slot is taken: the transfer waits, paused, until it is given back.
  const other = new BulkTransfer(slots, new FakeConnection());
  assertEquals(other.ready(), null);
  const done = readData(conn, new DataReader(0, sink), sink, slots);
  await sleep(5);
  assertEquals(paused, 1, "no slot: the DATA input is paused");
  assert(buffered.length > 3, "and nothing of it was read");
  other.release();
  assertEquals(await done, true);
  assertEquals(slots.take(), null, "the transfer gave its slot back");
});

Deno.test("bulk input: a connection streams (reads ahead to its stream mark) only while its transfer holds a slot", async () => {
  const slots = new BulkSlots(1, timing({}));
  const a = Object.assign(new FakeConnection(), { streaming: false });
  const b = Object.assign(new FakeConnection(), { streaming: false });
  const first = new BulkTransfer(slots, a), second = new BulkTransfer(slots, b);
  assertEquals(first.ready(), null);
  const turn = second.ready();
  assert(turn !== null);
  assertEquals(
    [a.streaming, b.streaming],
    [true, false],
    "a waiting one stays at the command mark",
  );
  first.release();
  await turn;
  assertEquals([a.streaming, b.streaming], [false, true]);
  second.release();
  assertEquals(b.streaming, false);
});
