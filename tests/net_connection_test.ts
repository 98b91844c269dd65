/**
 * What one connection costs (docs/performance.md, "SMTP per connection"), and what those
 * savings rely on: the line buffer keeps a socket's read as it came instead of copying it,
 * which needs every read to be a buffer of its own; the local address is asked of the
 * socket only when used; idle timeouts are checked by one sweep instead of a timer per
 * connection; the listener counts a source with one key per connection, and the metrics
 * of a connection are cells bound once per service.
 */
import net from "node:net";
import { Connection } from "../src/net/connection.ts";
import { IdleTimer, SWEEP_MS } from "../src/net/idle_timer.ts";
import { LineBuffer } from "../src/net/linebuffer.ts";
import { ConnectionCounter } from "../src/net/listener.ts";
import { ServerMetrics } from "../src/metrics/server_metrics.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A listening node:net server and a client connected to it; both closed by `close`. */
async function socketPair(
  onServer: (s: net.Socket) => void,
): Promise<{ client: net.Socket; close: () => Promise<void> }> {
  const server = net.createServer(onServer);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, "127.0.0.1");
  client.setNoDelay(true);
  await new Promise<void>((r) => client.once("connect", () => r()));
  return {
    client,
    close: async () => {
      client.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

Deno.test("line buffer: a read handed over is kept as it came; its lines are views of it", () => {
  const buf = new LineBuffer();
  assertEquals(buf.capacity, 0, "no buffer before input");
  const chunk = enc.encode("HELO a\r\nMAIL FROM:<x@y>\r\n");
  buf.push(chunk, true);
  assertEquals(buf.capacity, chunk.length, "the chunk itself, not a copy");
  const first = buf.nextLine(100);
  assert(first.kind === "line");
  assertEquals(dec.decode(first.line), "HELO a");
  assert(first.line.buffer === chunk.buffer, "a view of the chunk, not a copy");
  const second = buf.nextLine(100);
  assert(second.kind === "line");
  assertEquals(dec.decode(second.line), "MAIL FROM:<x@y>");
  // More input after the chunk was read to its end: lines handed out stay intact.
  buf.push(enc.encode("RCPT TO:<z@y>\r\n"), true);
  assertEquals(dec.decode(first.line), "HELO a");
  const third = buf.nextLine(100);
  assert(third.kind === "line");
  assertEquals(dec.decode(third.line), "RCPT TO:<z@y>");
});

Deno.test("line buffer: a line split across reads is joined without writing into either", () => {
  const buf = new LineBuffer();
  const a = enc.encode("NOOP\r\nQU");
  const b = enc.encode("IT\r\n");
  buf.push(a, true);
  const noop = buf.nextLine(100);
  assert(noop.kind === "line");
  assertEquals(buf.nextLine(100).kind, "more");
  buf.push(b, true);
  const quit = buf.nextLine(100);
  assert(quit.kind === "line");
  assertEquals(dec.decode(quit.line), "QUIT");
  assertEquals(dec.decode(noop.line), "NOOP", "the first line is untouched");
  assertEquals(dec.decode(a), "NOOP\r\nQU", "the adopted chunk was never written to");
  assertEquals(dec.decode(b), "IT\r\n");
  // Our own buffer is reused and compacted: lines from it are copies.
  buf.push(enc.encode("DATA\r\nRS"));
  const data = buf.nextLine(100);
  assert(data.kind === "line");
  buf.push(enc.encode("ET\r\n"));
  assertEquals(dec.decode(data.line), "DATA");
  const rset = buf.nextLine(100);
  assert(rset.kind === "line");
  assertEquals(dec.decode(rset.line), "RSET");
});

Deno.test("line buffer: input not handed over is copied; an idle buffer holds nothing", () => {
  const buf = new LineBuffer();
  const chunk = enc.encode("EHLO a\r\n");
  buf.push(chunk);
  chunk.fill(0); // the caller reuses its array
  const line = buf.nextLine(100);
  assert(line.kind === "line");
  assertEquals(dec.decode(line.line), "EHLO a");
  buf.push(enc.encode("x".repeat(100_000) + "\r\n"), true);
  assertEquals(buf.nextLine(200_000).kind, "line");
  buf.shrinkIfEmpty();
  assertEquals(buf.capacity, 1024, "the 100 KB read went; the small buffer of its own stays");
  const fresh = new LineBuffer();
  fresh.push(enc.encode("NOOP\r\n"), true);
  assertEquals(fresh.nextLine(100).kind, "line");
  fresh.shrinkIfEmpty();
  assertEquals(fresh.capacity, 0, "a session that only got whole lines holds no buffer");
  // BDAT-style blocks from an adopted read, then the rest of the stream.
  buf.push(enc.encode("0123456789"), true);
  const block = buf.take(4)!;
  assertEquals(dec.decode(block), "0123");
  buf.push(enc.encode("abc"), true);
  assertEquals(dec.decode(buf.take(9)!), "456789abc");
  assertEquals(dec.decode(block), "0123");
});

Deno.test("connection: every socket read is a buffer of its own that stays as it was", async () => {
  // LineBuffer keeps reads as they came (Connection hands them over): that is only
  // right while the runtime never reuses or shares a read's memory.
  const reads: Uint8Array[] = [];
  const copies: Uint8Array[] = [];
  let ended!: () => void;
  const done = new Promise<void>((r) => (ended = r));
  const pair = await socketPair((s) => {
    s.on("data", (c: Uint8Array) => {
      reads.push(c);
      copies.push(c.slice());
    });
    s.on("end", () => {
      s.end();
      ended();
    });
  });
  try {
    for (let i = 0; i < 20; i++) {
      pair.client.write(`line ${i} ${"x".repeat(i * 50)}\r\n`);
      await sleep(2);
    }
    pair.client.end();
    await done;
  } finally {
    await pair.close();
  }
  assert(reads.length > 1, `${reads.length} reads`);
  for (let i = 0; i < reads.length; i++) {
    const r = reads[i];
    assert(r.byteOffset === 0 && r.byteLength === r.buffer.byteLength, `read ${i} shares memory`);
    assertEquals(r, copies[i], `read ${i} changed after later reads`);
  }
});

Deno.test("connection: lines and addresses over a socket (local address asked on use)", async () => {
  let conn!: Connection;
  let accepted!: () => void;
  const ready = new Promise<void>((r) => (accepted = r));
  const pair = await socketPair((s) => {
    conn = new Connection(s);
    accepted();
  });
  try {
    await ready;
    pair.client.write("HELO a\r\nQU");
    const first = await conn.readLine(100);
    assertEquals(dec.decode(first!.line), "HELO a");
    pair.client.write("IT\r\n");
    const second = await conn.readLine(100);
    assertEquals(dec.decode(second!.line), "QUIT");
    assertEquals(dec.decode(first!.line), "HELO a");
    assertEquals(conn.remoteAddress, "127.0.0.1");
    assertEquals(conn.localAddress, "127.0.0.1");
    assertEquals(conn.localPort, pair.client.remotePort ?? 0);
  } finally {
    conn?.destroy();
    await pair.close();
  }
});

Deno.test("idle timer: fires after its time (at most a sweep late), not for a busy client", async () => {
  let fired = 0;
  const closed = false;
  const t = new IdleTimer(() => closed);
  const t0 = Date.now();
  t.start(0.2, () => fired++);
  // Input keeps it from firing.
  for (let i = 0; i < 5; i++) {
    await sleep(100);
    t.input();
  }
  assertEquals(fired, 0, "fired while input kept coming");
  const quietFrom = Date.now();
  while (fired === 0 && Date.now() - t0 < 10_000) await sleep(20);
  assertEquals(fired, 1);
  const quiet = Date.now() - quietFrom;
  assert(quiet >= 190, `fired ${quiet} ms after the last input`);
  assert(quiet < 200 + SWEEP_MS + 2000, `fired only ${quiet} ms after the last input`);
  // Input after it fired starts the wait again (a session kept open by onIdle).
  t.input();
  while (fired === 1 && Date.now() - t0 < 20_000) await sleep(20);
  assertEquals(fired, 2);
  t.stop(); // no sweep left behind: the test's op sanitizer checks that
});

Deno.test("idle timer: a stopped or closed one never fires; 0 means never", async () => {
  let fired = 0;
  let closed = false;
  const stopped = new IdleTimer(() => false);
  stopped.start(0.05, () => fired++);
  stopped.stop();
  const gone = new IdleTimer(() => closed);
  gone.start(0.05, () => fired++);
  closed = true;
  const never = new IdleTimer(() => false);
  never.start(0, () => fired++);
  never.input();
  await sleep(SWEEP_MS * 2 + 100);
  assertEquals(fired, 0);
  gone.stop();
});

Deno.test("connection counter: admit() counts per source and its release frees the slot", () => {
  const counter = new ConnectionCounter();
  const a = counter.admit("smtp", "192.0.2.1", 10, 2);
  const b = counter.admit("smtp", "::ffff:192.0.2.1", 10, 2);
  assert(a && b);
  assertEquals(counter.admit("smtp", "192.0.2.1", 10, 2), null, "a third from one address");
  assert(counter.admit("smtp", "192.0.2.2", 10, 2), "another address");
  assertEquals(counter.count("smtp"), 3);
  a();
  assertEquals(counter.count("smtp"), 2);
  assert(counter.admit("smtp", "192.0.2.1", 10, 2), "the slot came free");
});

Deno.test("metrics: connections accepted and open per service, through the bound cells", () => {
  const m = new ServerMetrics();
  const closers: (() => void)[] = [];
  const onClose = (fn: () => void) => void closers.push(fn);
  for (let i = 0; i < 3; i++) m.connectionOpened("smtp", onClose);
  m.connectionOpened("imap", onClose);
  closers[0]();
  assertEquals(m.connectionsAccepted.get({ service: "smtp" }), 3);
  assertEquals(m.connectionsOpen.get({ service: "smtp" }), 2);
  assertEquals(m.connectionsOpen.get({ service: "imap" }), 1);
  const page = m.render();
  assertMatch(page, /extremail_connections_accepted_total\{service="smtp"\} 3/);
});
