/**
 * A long session's byte replies sent with send(2) on a descriptor of its own
 * (net/socket_write.ts, SEND_OWN_AFTER): every byte in order with string replies and
 * queued writes mixed in (a slow reader makes send(2) fall short and the rest go through
 * the runtime), the connection's FIN when it closes, and no descriptor left open after.
 */
import net from "node:net";
import { Connection } from "../src/net/connection.ts";
import { SEND_OWN_AFTER } from "../src/net/socket_write.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

/**
 * How many of this process's descriptors refer to `target` (a "socket:[inode]" link).
 * Counted by what they refer to, not in all: other tests' threads in the same process
 * open and close descriptors of their own meanwhile.
 */
function descriptorsTo(target: string): number {
  let n = 0;
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${e.name}`) === target) n++;
    } catch {
      // closed while the directory was read
    }
  }
  return n;
}

Deno.test("send through an own descriptor: order kept, FIN at close, descriptor closed", async () => {
  if (Deno.build.os !== "linux") return;
  const sizes = [6500, 30, 900_000, 6500, 1, 70_000];
  const writes = 3 * SEND_OWN_AFTER + 40;
  let expected = "";
  let own = false;
  /** What the held descriptor refers to: the server side's socket. */
  let held = "";
  const served = Promise.withResolvers<void>();
  const server = net.createServer(async (s) => {
    const conn = new Connection(s);
    for (let i = 0; i < writes; i++) {
      const letter = String.fromCharCode(97 + (i % 26));
      if (i % 7 === 3) {
        const text = `+OK ${i}\r\n`;
        expected += text;
        await conn.write(text);
        continue;
      }
      const n = sizes[i % sizes.length];
      expected += letter.repeat(n);
      // A new buffer each time: a queued write keeps reading it.
      await conn.write(new Uint8Array(n).fill(letter.charCodeAt(0)));
      if (i === 2 * SEND_OWN_AFTER) {
        const direct =
          (conn as unknown as { direct: { ownDescriptor: boolean; descriptor: number } })
            .direct;
        own = direct.ownDescriptor;
        if (own) held = Deno.readLinkSync(`/proc/self/fd/${direct.descriptor}`);
      }
    }
    conn.close();
    served.resolve();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  const chunks: Uint8Array[] = [];
  let reads = 0;
  const ended = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 10_000);
    client.on("end", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  client.on("data", (d: Uint8Array) => {
    chunks.push(d.slice());
    // A slow reader now and then, once for long: the socket's buffer fills, the
    // server's send(2) falls short and the rest is queued by the runtime.
    if (++reads % 5 === 0) {
      client.pause();
      setTimeout(() => client.resume(), reads === 200 ? 300 : 2);
    }
  });
  await served.promise;
  const gotEnd = await ended;
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  assert(gotEnd, "no FIN after close(): a held descriptor kept the connection open");
  const decoder = new TextDecoder();
  const got = chunks.map((c) => decoder.decode(c)).join("");
  assertEquals(got.length, expected.length);
  assert(got === expected, "bytes out of order or lost");
  assert(own, "the session never took a descriptor of its own (socket_fd.ts, socket_write.ts)");
  assert(held.startsWith("socket:"), `the held descriptor refers to ${held}`);
  // The runtime closes its own descriptor of the socket on its next turns.
  for (let waited = 0; waited < 2000 && descriptorsTo(held) > 0; waited += 20) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assertEquals(descriptorsTo(held), 0, "a descriptor of the closed socket was left open");
});
