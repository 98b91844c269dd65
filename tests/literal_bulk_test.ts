/**
 * IMAP literals over 64 KiB are bulk input, like SMTP DATA (src/imap/literal_file.ts,
 * src/net/bulk_input.ts, SPEC §7): an APPEND literal spooled to a file and a large
 * literal kept in memory are read only while holding a message slot, their sockets
 * paused while they wait for one, and give it back at the end; a small literal is read
 * at once, slot or not.
 */
import { BulkSlots, BulkTransfer } from "../src/net/bulk_input.ts";
import { readLiteral, spoolLiteral } from "../src/imap/literal_file.ts";
import type { OffThreadFile } from "../src/store/spool_writer.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

const NEVER = 60_000;
const KiB = 1024;

function slotsOfOne(): BulkSlots {
  return new BulkSlots(1, { holdMs: NEVER, idleMs: NEVER, roundMs: NEVER });
}

/** A transfer that takes the one slot (another session's message). */
function takeTheSlot(slots: BulkSlots): BulkTransfer {
  const other = new BulkTransfer(slots, {
    pauseInput() {},
    waitForInput: () => new Promise(() => {}),
  });
  assertEquals(other.ready(), null);
  return other;
}

/** `data` arrives in pieces of `piece` octets, one per wait for input; EOF after `eofAt`. */
class FakeInput {
  buffered = new Uint8Array(0);
  pauses = 0;
  reads = 0;
  #sent = 0;
  constructor(readonly data: Uint8Array, readonly piece: number, readonly eofAt = data.length) {
    this.#arrive();
  }
  #arrive(): boolean {
    if (this.#sent >= this.eofAt) return false;
    const next = this.data.subarray(this.#sent, Math.min(this.eofAt, this.#sent + this.piece));
    this.#sent += next.length;
    const joined = new Uint8Array(this.buffered.length + next.length);
    joined.set(this.buffered);
    joined.set(next, this.buffered.length);
    this.buffered = joined;
    return true;
  }
  get bufferedInput(): number {
    return this.buffered.length;
  }
  peekInput(): Uint8Array {
    return this.buffered;
  }
  consumeInput(n: number): void {
    this.reads += n;
    // Reused memory, as the connection's buffer is: a view kept past consume goes stale.
    const rest = this.buffered.slice(n);
    this.buffered.fill(0xff);
    this.buffered = rest;
  }
  pauseInput(): void {
    this.pauses++;
  }
  waitForInput(): Promise<boolean> {
    return Promise.resolve(this.#arrive());
  }
  async readBytes(n: number): Promise<Uint8Array | null> {
    while (this.buffered.length < n) if (!(await this.waitForInput())) return null;
    const block = this.buffered.slice(0, n);
    this.consumeInput(n);
    return block;
  }
}

function pattern(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = 0x41 + (i % 26);
  return bytes;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

Deno.test("literal: a large literal in memory waits for a message slot, paused, then reads", async () => {
  const slots = slotsOfOne();
  const other = takeTheSlot(slots);
  const data = pattern(300 * KiB);
  const conn = new FakeInput(data, 40 * KiB);
  const pushed: Uint8Array[] = [];
  const done = readLiteral(conn, data.length, (b) => pushed.push(b), slots);
  await sleep(5);
  assertEquals(conn.pauses, 1, "no slot: its socket is paused");
  assertEquals(conn.reads, 0, "and nothing of it was read");
  assertEquals(slots.waiting, 1);
  other.release();
  assertEquals(await done, true);
  assertEquals(join(pushed), data, "every octet, in order, copies that outlive the buffer");
  assertEquals(slots.take(), null, "the literal gave its slot back");
});

Deno.test("literal: a small literal is read at once, holding no slot", async () => {
  const slots = slotsOfOne();
  takeTheSlot(slots);
  const data = pattern(64 * KiB);
  const conn = new FakeInput(data, 16 * KiB);
  const pushed: Uint8Array[] = [];
  assertEquals(await readLiteral(conn, data.length, (b) => pushed.push(b), slots), true);
  assertEquals(join(pushed), data);
  assertEquals(conn.pauses, 0);
});

Deno.test("literal: the connection ends mid-literal: false, and the slot is given back", async () => {
  const slots = slotsOfOne();
  const conn = new FakeInput(pattern(200 * KiB), 30 * KiB, 100 * KiB);
  assertEquals(await readLiteral(conn, 200 * KiB, () => {}, slots), false);
  assertEquals(slots.take(), null);
});

/** A file of IncomingFiles as a stand-in: what was written, and whether it was closed. */
function fakeFiles() {
  const written: Uint8Array[] = [];
  let closed = false;
  const file = {
    write: (bytes: Uint8Array) => {
      written.push(bytes.slice());
      return Promise.resolve();
    },
    close: () => {
      closed = true;
      return Promise.resolve();
    },
  } as unknown as OffThreadFile;
  return {
    files: { create: () => Promise.resolve({ path: "/nonexistent/literal", file }) },
    written: () => join(written),
    closed: () => closed,
  };
}

Deno.test("literal: an APPEND literal spooled to a file waits for a message slot too", async () => {
  const slots = slotsOfOne();
  const other = takeTheSlot(slots);
  const lines = new TextEncoder().encode("Subject: big\n\n" + "x".repeat(99) + "\n");
  const data = join(Array.from({ length: 3000 }, () => lines).concat([lines]));
  const conn = new FakeInput(data, 50 * KiB);
  const fake = fakeFiles();
  const done = spoolLiteral(conn, fake.files, data.length, "test", slots);
  await sleep(5);
  // Paused while its file is made (the literal stays in the kernel), and again without a slot.
  assertEquals(conn.pauses, 2, "no slot: its socket is paused");
  assertEquals(conn.reads, 0, "and nothing of it was read");
  other.release();
  const r = await done;
  assertEquals(r.kind, "stored");
  assert(r.kind === "stored");
  const crlf = new TextDecoder().decode(data).replaceAll("\n", "\r\n");
  assertEquals(new TextDecoder().decode(fake.written()), crlf, "stored whole, with CRLF");
  assertEquals(r.literal.size, crlf.length);
  assert(fake.closed());
  assertEquals(slots.take(), null, "the literal gave its slot back");
});

Deno.test("literal: a spooled literal cut short answers eof and gives its slot back", async () => {
  const slots = slotsOfOne();
  const conn = new FakeInput(pattern(300 * KiB), 64 * KiB, 100 * KiB);
  const fake = fakeFiles();
  const r = await spoolLiteral(conn, fake.files, 300 * KiB, "test", slots);
  assertEquals(r.kind, "eof");
  assert(fake.closed(), "the file is closed (and removed)");
  assertEquals(slots.take(), null);
});
