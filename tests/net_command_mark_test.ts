/**
 * src/net/connection.ts: outside a message transfer a connection reads one read past
 * COMMAND_WATER (16 KiB) and pauses, so a client that sends a large literal or message
 * right behind its command (IMAP LITERAL+) leaves it in the kernel until the transfer
 * holds its slot; a transfer (streaming) reads up to HIGH_WATER. A burst of commands
 * answered in the read callback does not leave the socket paused.
 */
import net from "node:net";
import { Connection } from "../src/net/connection.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

async function listen(onSocket: (s: net.Socket) => void): Promise<[net.Server, number]> {
  const server = net.createServer(onSocket);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return [server, (server.address() as net.AddressInfo).port];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("Connection: input waits in the kernel past 16 KiB between commands, up to 128 KiB while streaming", async () => {
  const served = Promise.withResolvers<Connection>();
  const [server, port] = await listen((s) => served.resolve(new Connection(s)));
  const client = net.connect(port, "127.0.0.1");
  await new Promise((r) => client.on("connect", r));
  const conn = await served.promise;
  try {
    client.write(new Uint8Array(1 << 20).fill(120)); // 1 MiB at once, nobody reading
    await sleep(300);
    const idle = conn.bufferedInput;
    assert(idle > 0 && idle <= 16384 + 65536, `buffered without a reader: ${idle}`);
    // A transfer holding its slot: the connection reads ahead to its stream mark.
    conn.streaming = true;
    assert(await conn.waitForInput());
    await sleep(300);
    const streaming = conn.bufferedInput;
    assert(streaming > 128 * 1024 && streaming <= 192 * 1024, `while streaming: ${streaming}`);
  } finally {
    client.destroy();
    conn.destroy();
    server.close();
  }
});

Deno.test("Connection: commands answered in the read callback past 16 KiB keep the socket reading", async () => {
  const served = Promise.withResolvers<Connection>();
  let answered = 0;
  const [server, port] = await listen((s) => {
    const conn = new Connection(s);
    conn.onInputReady(() => {
      for (let r = conn.readLineNow(100); r !== undefined; r = conn.readLineNow(100)) {
        if (r === null) return false;
        answered++;
      }
      return true; // every line answered: go on waiting
    });
    void conn.lineWait();
    served.resolve(conn);
  });
  const client = net.connect(port, "127.0.0.1");
  await new Promise((r) => client.on("connect", r));
  const conn = await served.promise;
  try {
    client.write("NOOP\r\n".repeat(5000)); // 30 KiB in one write: past the command mark
    for (let i = 0; i < 100 && answered < 5000; i++) await sleep(10);
    assertEquals(answered, 5000);
    client.write("NOOP\r\n");
    for (let i = 0; i < 100 && answered < 5001; i++) await sleep(10);
    assertEquals(answered, 5001, "the next command was never read: the socket stayed paused");
  } finally {
    client.destroy();
    conn.destroy();
    server.close();
  }
});
