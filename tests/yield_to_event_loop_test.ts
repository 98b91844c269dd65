/**
 * src/store/fsutil.ts yieldToEventLoop: a long loop that yields between slices lets the
 * event loop poll its sockets (SPEC §7: one client's long command never stalls the
 * others). With setImmediate alone, Deno ran the next slice before polling, and an
 * echo waited for the whole loop.
 */
import net from "node:net";
import { assert } from "./helpers/assert.ts";
import { yieldToEventLoop } from "../src/store/fsutil.ts";

Deno.test("a loop of slices yielding with yieldToEventLoop lets socket input through", async () => {
  const server = net.createServer((s) => s.on("data", (d) => s.write(d)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  let echoed = false;
  // Busy slices of 5 ms until the echo is back (at most 400): how many ran before it.
  // The echo needs two polls of the sockets (server read, client read), so a loop that
  // lets them through sees it after a few slices; setImmediate alone made it 115.
  const loop = (async () => {
    let slices = 0;
    while (!echoed && slices < 400) {
      const t = performance.now();
      while (performance.now() - t < 5) { /* a slice of work */ }
      slices++;
      await yieldToEventLoop();
    }
    return slices;
  })();
  try {
    await client.write(new TextEncoder().encode("ping"));
    const buf = new Uint8Array(16);
    await client.read(buf);
    echoed = true;
    const slices = await loop;
    assert(slices <= 20, `the echo came back after ${slices} slices of 5 ms`);
  } finally {
    await loop;
    client.close();
    server.close();
  }
});
