/**
 * What one connection costs (docs/performance.md, "SMTP per connection"): the local
 * address is asked of the socket only when used; idle timeouts are checked by one sweep
 * instead of a timer per connection; the listener counts a source with one key per
 * connection, and the metrics of a connection are cells bound once per service.
 */
import net from "node:net";
import { Connection } from "../src/net/connection.ts";
import { IdleTimer, SWEEP_MS } from "../src/net/idle_timer.ts";
import { ConnectionCounter } from "../src/net/listener.ts";
import { ServerMetrics } from "../src/metrics/server_metrics.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";

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
