/**
 * Connection.startCompression (RFC 4978 raw DEFLATE under a session): lines and literals
 * read through the inflater, every write flushed so the peer can read it at once,
 * back-pressure still holding writes while the peer does not read, and a small input
 * that inflates to far more than the per-client bound buffered only as far as read.
 */
import net from "node:net";
import zlib from "node:zlib";
import type { Buffer } from "node:buffer";
import { Connection } from "../src/net/connection.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

interface Pair {
  server: Connection;
  client: net.Socket;
  close(): void;
}

/** A Connection on the server side of a loopback TCP pair, and the raw client socket. */
async function pair(): Promise<Pair> {
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(0, "127.0.0.1", () => r()));
  const port = (listener.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => listener.once("connection", r));
  const client = net.connect({ host: "127.0.0.1", port });
  await new Promise<void>((r) => client.once("connect", () => r()));
  const server = new Connection(await accepted);
  return {
    server,
    client,
    close() {
      client.destroy();
      server.destroy();
      listener.close();
    },
  };
}

/** A client-side deflater that flushes each write (what an IMAP client does). */
function clientDeflate(socket: net.Socket): (text: string | Uint8Array) => Promise<void> {
  const d = zlib.createDeflateRaw();
  d.on("data", (b: Buffer) => socket.write(b));
  return (text) =>
    new Promise((resolve) => {
      d.write(text);
      d.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve());
    });
}

/** Collects the client's inflated input. */
function clientInflate(socket: net.Socket): { text(): string; bytes(): number } {
  const inf = zlib.createInflateRaw();
  let got = "";
  let n = 0;
  inf.on("data", (b: Buffer) => {
    n += b.length;
    if (got.length < 100_000) got += b.toString("latin1");
  });
  socket.on("data", (b: Buffer) => inf.write(b));
  return { text: () => got, bytes: () => n };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("deflate layer: lines in, flushed replies out, plaintext before it stays plain", async () => {
  const p = await pair();
  try {
    // A line read before compression starts; the rest of the input is compressed.
    p.client.write("a1 COMPRESS DEFLATE\r\n");
    const first = await p.server.readLine(1000);
    assertEquals(new TextDecoder().decode(first!.line), "a1 COMPRESS DEFLATE");
    let plain = "";
    const onPlain = (b: Buffer) => (plain += b.toString("latin1"));
    p.client.on("data", onPlain);
    await p.server.write("a1 OK DEFLATE active\r\n");
    p.server.startCompression();
    assert(p.server.compressed, "compressed flag");
    await until(() => plain.includes("a1 OK DEFLATE active\r\n"));
    p.client.off("data", onPlain);
    const send = clientDeflate(p.client);
    const inbox = clientInflate(p.client);
    await send("a2 NOOP\r\na3 APPEND x {5}\r\n");
    await send("hello\r\n");
    const l2 = await p.server.readLine(1000);
    assertEquals(new TextDecoder().decode(l2!.line), "a2 NOOP");
    const l3 = await p.server.readLine(1000);
    assertEquals(new TextDecoder().decode(l3!.line), "a3 APPEND x {5}");
    assertEquals(new TextDecoder().decode((await p.server.readBytes(5))!), "hello");
    // Each write is flushed: the client reads it without any further output.
    await p.server.write("a2 OK NOOP completed\r\n");
    await until(() => inbox.text().includes("a2 OK NOOP completed\r\n"));
    p.server.send("* 1 EXISTS\r\n");
    await until(() => inbox.text().includes("* 1 EXISTS\r\n"));
  } finally {
    p.close();
  }
});

Deno.test("deflate layer: writes wait while the peer does not read (back-pressure)", async () => {
  const p = await pair();
  try {
    p.server.startCompression();
    p.client.pause();
    // Random bytes do not compress: 64 MiB cannot all fit in socket buffers.
    const block = new Uint8Array(1 << 20);
    crypto.getRandomValues(block.subarray(0, 65536));
    for (let i = 65536; i < block.length; i += 65536) block.copyWithin(i, 0, 65536);
    // Vary the blocks so the deflater's window does not find repeats across them.
    let written = 0;
    let pending = true;
    const writer = (async () => {
      for (let i = 0; i < 64; i++) {
        crypto.getRandomValues(block.subarray(0, 65536));
        for (let j = 65536; j < block.length; j += 65536) {
          crypto.getRandomValues(block.subarray(j, j + 65536));
        }
        await p.server.write(block);
        written++;
      }
      pending = false;
    })();
    await new Promise((r) => setTimeout(r, 500));
    assert(pending, "writer should be held by back-pressure");
    assert(written < 64, `wrote ${written} MiB into a peer that reads nothing`);
    assert(
      p.server.bufferedOutput < 8 << 20,
      `buffered ${p.server.bufferedOutput} bytes while blocked`,
    );
    const inbox = clientInflate(p.client);
    p.client.resume();
    await writer;
    await until(() => inbox.bytes() === 64 << 20, 20_000);
  } finally {
    p.close();
  }
});

Deno.test("deflate layer: highly compressible input is inflated only as it is read", async () => {
  const p = await pair();
  try {
    p.server.startCompression();
    const send = clientDeflate(p.client);
    // 64 MiB of "a" without a line end compresses to about 64 KiB.
    const zeros = new Uint8Array(1 << 20).fill(0x61);
    for (let i = 0; i < 64; i++) await send(zeros);
    await send("\r\n");
    await new Promise((r) => setTimeout(r, 300));
    assert(
      p.server.bufferedInput < 4 << 20,
      `inflated ${p.server.bufferedInput} bytes nobody asked for`,
    );
    // Reading drains it all: the overlong line is refused, not lost track of.
    let total = 0;
    while (total < 64 << 20) {
      const b = await p.server.readBytes(1 << 20);
      assert(b !== null, "input ended early");
      total += b.length;
    }
    assertEquals(total, 64 << 20);
  } finally {
    p.close();
  }
});

Deno.test("deflate layer: a corrupt stream closes the connection", async () => {
  const p = await pair();
  try {
    p.server.startCompression();
    p.client.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    const line = await p.server.readLine(1000);
    assertEquals(line, null);
    assert(p.server.closed, "connection closed");
  } finally {
    p.close();
  }
});
