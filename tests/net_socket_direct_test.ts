/**
 * The runtime contracts net/socket_read.ts and net/socket_write.ts rely on (Deno's
 * node:net internals): reads delivered into one shared buffer, in order, for several
 * connections at once, with 'end' still emitted; direct handle writes whose buffer is free
 * once `pending` is 0, queued in order with the socket's own end(); a pause inside the read
 * callback that stops the runtime's next read.
 */
import net from "node:net";
import { readIntoShared } from "../src/net/socket_read.ts";
import { directWriter } from "../src/net/socket_write.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

async function listen(onSocket: (s: net.Socket) => void): Promise<[net.Server, number]> {
  const server = net.createServer(onSocket);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return [server, (server.address() as net.AddressInfo).port];
}

Deno.test("shared-buffer reads: two connections at once, every byte in order, then 'end'", async () => {
  const total = 300_000;
  const received: number[][] = [];
  const ended: Promise<void>[] = [];
  let installed = 0;
  const [server, port] = await listen((s) => {
    const got: number[] = [];
    received.push(got);
    if (
      readIntoShared(s, (bytes, length) => {
        for (let i = 0; i < length; i++) got.push(bytes[i]);
      })
    ) installed++;
    else s.on("data", (d: Uint8Array) => got.push(...d));
    ended.push(new Promise((r) => s.on("end", () => r())));
    s.on("end", () => s.end());
  });
  const pattern = (seed: number) =>
    Uint8Array.from({ length: total }, (_, i) => (i * 7 + seed) & 0xff);
  const clients = [1, 2].map((seed) => {
    const c = net.connect(port, "127.0.0.1");
    const data = pattern(seed);
    c.on("connect", async () => {
      // In pieces, so the two connections' reads interleave.
      for (let at = 0; at < total; at += 10_000) {
        c.write(data.subarray(at, at + 10_000));
        await new Promise((r) => setTimeout(r, 0));
      }
      c.end();
    });
    c.resume();
    return new Promise<void>((r) => c.on("close", () => r()));
  });
  await Promise.all(clients);
  await Promise.all(ended);
  server.close();
  assertEquals(
    installed,
    2,
    "the runtime no longer offers shared-buffer reads (see socket_read.ts)",
  );
  const sums = received.map((got) => got.length);
  assertEquals(sums, [total, total]);
  // Each connection got one of the two patterns, whole and in order.
  for (const got of received) {
    const seed = (got[0] - 0) & 0xff;
    const want = pattern(seed);
    let bad = 0;
    for (let i = 0; i < total; i++) if (got[i] !== want[i]) bad++;
    assertEquals(bad, 0, "bytes out of order or overwritten by another connection's read");
  }
});

Deno.test("direct writes: a buffer is free at pending 0; queued writes keep order before end()", async () => {
  const sizes = [10, 6500, 60000, 200000, 30, 6500];
  const writes = 300;
  let reused = 0, waited = 0, drains = 0;
  const [server, port] = await listen(async (s) => {
    let drained: (() => void) | null = null;
    const w = directWriter(s, () => {
      drains++;
      drained?.();
    }, () => s.destroy());
    assert(w !== null, "the runtime no longer offers direct writes (see socket_write.ts)");
    const buf = new Uint8Array(200000);
    for (let i = 0; i < writes; i++) {
      const b = buf.subarray(0, sizes[i % sizes.length]);
      b.fill(97 + (i % 26));
      assertEquals(w.write(b), 0);
      if (w.pending === 0) {
        b.fill(0x58); // "X": must never reach the peer
        reused++;
      } else {
        waited++;
        await new Promise<void>((r) => (drained = r));
        drained = null;
      }
    }
    w.write("END");
    s.end();
  });
  const client = net.connect(port, "127.0.0.1");
  let got = 0, damaged = 0, chunks = 0, tail = "";
  let expected = 0;
  for (let i = 0; i < writes; i++) expected += sizes[i % sizes.length];
  await new Promise<void>((resolve) => {
    client.on("data", (d: Uint8Array) => {
      got += d.length;
      for (const c of d) if (c === 0x58) damaged++;
      tail = (tail + new TextDecoder().decode(d.subarray(Math.max(0, d.length - 3)))).slice(-3);
      // A slow reader: the server's writes stop completing at once.
      if (++chunks % 2 === 0) {
        client.pause();
        setTimeout(() => client.resume(), 1);
      }
    });
    client.on("end", () => resolve());
  });
  server.close();
  assertEquals(damaged, 0, "a buffer reused at pending 0 was still being sent");
  assertEquals(got, expected + 3);
  assertEquals(tail, "END", "end() overtook a queued direct write");
  assert(reused > 0, "no write completed at once");
  assert(waited > 0 && drains > 0, "no write was queued: the slow reader did not slow the writes");
});

Deno.test("onInputReady: a command started in the read callback may wait for input of its own", async () => {
  const { Connection } = await import("../src/net/connection.ts");
  const events: string[] = [];
  const done = Promise.withResolvers<void>();
  const [server, port] = await listen(async (s) => {
    const conn = new Connection(s);
    let pending: Promise<void> | null = null;
    conn.onInputReady(() => {
      const r = conn.readLineNow(100);
      if (r === undefined) return true; // a partial line: go on waiting
      if (r === null) return false;
      const line = new TextDecoder().decode(r.line);
      events.push(`handler ${line}`);
      if (line === "AUTH") {
        // A SASL-like exchange: its own wait for the next line, started synchronously.
        pending = conn.readLine(100).then((next) => {
          events.push(`auth got ${next && new TextDecoder().decode(next.line)}`);
        });
        return false;
      }
      conn.send(`+OK ${line}\r\n`);
      return true;
    });
    try {
      for (;;) {
        await conn.lineWait();
        events.push("loop woke");
        if (pending) {
          await pending;
          pending = null;
          conn.send("+OK auth\r\n");
          continue;
        }
        if (conn.readLineNow(100) === null) break;
      }
    } finally {
      conn.close();
      done.resolve();
    }
  });
  const client = net.connect(port, "127.0.0.1");
  const replies: string[] = [];
  client.on("data", (d: Uint8Array) => replies.push(new TextDecoder().decode(d)));
  const step = async (text: string, until: string) => {
    client.write(text);
    for (let i = 0; i < 200 && !replies.join("").includes(until); i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  await new Promise((r) => client.on("connect", r));
  await step("NOOP\r\n", "+OK NOOP");
  await step("AUTH\r\n", "never");
  await step("secret\r\n", "+OK auth");
  await step("NOOP2\r\n", "+OK NOOP2");
  client.end();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const finished = await Promise.race([
    done.promise.then(() => true),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5000))),
  ]);
  clearTimeout(timer);
  client.destroy();
  server.close();
  assert(finished, "the session loop never woke again: its wait was replaced");
  assertEquals(replies.join(""), "+OK NOOP\r\n+OK auth\r\n+OK NOOP2\r\n");
  assertEquals(events, [
    "handler NOOP",
    "handler AUTH",
    "loop woke",
    "auth got secret",
    "handler NOOP2",
    "loop woke",
  ]);
});

Deno.test("pauseInput in the read callback: the socket is not read again (a client's reset unseen)", async () => {
  // The SMTP command loop pauses after answering QUIT in the read callback: the runtime
  // would otherwise read again before the session ends and find the client's reset.
  const { Connection } = await import("../src/net/connection.ts");
  const served = Promise.withResolvers<InstanceType<typeof Connection>>();
  const [server, port] = await listen((s) => {
    const conn = new Connection(s);
    conn.onInputReady(() => {
      const r = conn.readLineNow(100);
      if (r === undefined) return true;
      conn.send("221 bye\r\n");
      conn.pauseInput();
      served.resolve(conn);
      return false;
    });
    void conn.lineWait();
  });
  const client = net.connect(port, "127.0.0.1");
  await new Promise((r) => client.on("connect", r));
  const replied = new Promise<void>((r) => client.once("data", () => r()));
  client.write("QUIT\r\n");
  await replied;
  const closed = new Promise<void>((r) => client.on("close", () => r()));
  client.resetAndDestroy(); // RST, as smtp-source's SO_LINGER 0
  await closed;
  const conn = await served.promise;
  await new Promise((r) => setTimeout(r, 100));
  const error = conn.socketError;
  conn.destroy();
  server.close();
  assertEquals(error, null, `the socket was read after pauseInput(): ${error}`);
});
