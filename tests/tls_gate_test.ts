/**
 * SPEC §7 against half-open TLS: implicit-TLS handshakes start through the HandshakeGate
 * (src/net/tls_gate.ts), a few at a time per source and in paced turns. Unit checks of
 * the gate, then the daemon: 100 handshakes left half-open from one address do not keep
 * a client from another address out of IMAPS, and those past the source's share are
 * closed at once.
 */
import net from "node:net";
import tls from "node:tls";
import { assert, assertEquals } from "./helpers/assert.ts";
import { startTestServer } from "./helpers/server.ts";
import { waitFor } from "./helpers/stream.ts";
import { HandshakeGate } from "../src/net/tls_gate.ts";

const tick = () => new Promise((r) => setTimeout(r, 5));

/** A fake connection: counts starts and drops, its handshake ends when `finish()` is called. */
function fakeConn(log: string[], name: string) {
  let finish = () => {};
  let alive = true;
  return {
    start: () => {
      log.push(`start ${name}`);
      return new Promise<void>((r) => (finish = r));
    },
    drop: () => {
      alive = false;
      log.push(`drop ${name}`);
    },
    alive: () => alive,
    finish: () => finish(),
    leave: () => (alive = false),
  };
}

Deno.test("HandshakeGate: per-source share, a bounded wait, other sources unaffected", async () => {
  const gate = new HandshakeGate({ perSource: 2, waitingPerSource: 2, maxWaitMs: 60_000 });
  const log: string[] = [];
  const a = [1, 2, 3, 4, 5].map((i) => fakeConn(log, `a${i}`));
  for (const c of a) gate.admit("A", c.start, c.drop, c.alive);
  // The fifth is past the share and the wait list: closed at once, before any turn.
  assertEquals(log, ["drop a5"]);
  const b = fakeConn(log, "b1");
  gate.admit("B", b.start, b.drop, b.alive);
  await tick();
  assertEquals(log.sort(), ["drop a5", "start a1", "start a2", "start b1"]);
  assertEquals(gate.stateOf("A"), { running: 2, waiting: 2 });
  // A handshake over: the next one waiting starts; one that left meanwhile is skipped.
  a[2].leave();
  a[0].finish();
  await tick();
  assert(log.includes("drop a3") && log.includes("start a4"), log.join(", "));
  assertEquals(gate.stateOf("A"), { running: 2, waiting: 0 });
  for (const c of [a[1], a[3], b]) c.finish();
  await tick();
  assertEquals(gate.stateOf("A"), { running: 0, waiting: 0 });
  assertEquals(gate.stateOf("B"), { running: 0, waiting: 0 });
});

Deno.test("HandshakeGate: a wait is time-limited; starts are paced over turns", async () => {
  const gate = new HandshakeGate({
    perSource: 1,
    waitingPerSource: 5,
    maxWaitMs: 30,
    turnBudgetMs: 0,
  });
  const log: string[] = [];
  const held = fakeConn(log, "held");
  const late = fakeConn(log, "late");
  gate.admit("A", held.start, held.drop, held.alive);
  gate.admit("A", late.start, late.drop, late.alive);
  await new Promise((r) => setTimeout(r, 80));
  assertEquals(log, ["start held", "drop late"]);
  held.finish();

  // With no budget, one start per turn: 10 sources take 10 turns, not one.
  const paced = new HandshakeGate({ turnBudgetMs: 0 });
  const starts: number[] = [];
  let turn = 0;
  const counter = setInterval(() => turn++, 0);
  for (let i = 0; i < 10; i++) {
    paced.admit(
      `S${i}`,
      () => {
        starts.push(turn);
        return Promise.resolve();
      },
      () => {},
      () => true,
    );
  }
  await waitFor(() => starts.length === 10, "10 starts");
  clearInterval(counter);
  assert(new Set(starts).size > 1, `starts in turns ${starts.join(",")}`);
});

Deno.test("imaps: 100 half-open handshakes from one address; another address is served", async () => {
  const srv = await startTestServer({
    tls: true,
    config: { MaxConnectionsPerIP: 1000, MaxConnections: 2000 },
  });
  const half: net.Socket[] = [];
  let closed = 0;
  try {
    const partialHello = new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]);
    for (let i = 0; i < 100; i++) {
      const s = net.connect({ host: "127.0.0.1", port: srv.ports.imaps });
      s.on("error", () => {});
      s.on("close", () => closed++);
      s.on("connect", () => s.write(partialHello));
      half.push(s);
    }
    // 16 run and 64 wait for 127.0.0.1; the other 20 are closed without a handshake.
    await waitFor(() => closed >= 20, "the connections past the source's share closed", 15_000);
    const greeting = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({
        host: "127.0.0.1",
        port: srv.ports.imaps,
        localAddress: "127.0.0.2",
      });
      const c = tls.connect({ socket, rejectUnauthorized: false });
      c.on("error", reject);
      c.once("data", (d) => {
        resolve(new TextDecoder().decode(d));
        c.destroy();
      });
    });
    assert(greeting.startsWith("* OK"), greeting);
    assertEquals(closed, 20, "the source's share and wait list stay open");
  } finally {
    for (const s of half) s.destroy();
    await srv.stop();
  }
});
