/**
 * Reply memory reused (net/outbuf.ts releaseReply): a POP3 or IMAP session answering one
 * command at a time writes each reply from the memory of the one before, once the kernel
 * took it. Every reply must still arrive as written: lock-step, pipelined, a client that
 * reads late (writes still queued), messages that need dot-stuffing, and large ones.
 */
import net from "node:net";
import { join } from "node:path";
import { type SeedUser, seedUsers } from "../bench/pop3.ts";
import { allocReply, releaseReply } from "../src/net/outbuf.ts";
import { LineClient } from "./helpers/client.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { startTestServer } from "./helpers/server.ts";

Deno.test("releaseReply gives back only the last buffer handed out", () => {
  const a = allocReply(100);
  const b = allocReply(50);
  releaseReply(a); // not the last one: ignored
  const c = allocReply(10);
  assert(c.byteOffset > b.byteOffset, "a was not given back");
  releaseReply(c.subarray(0, 4)); // a view from its start: the whole buffer comes back
  const d = allocReply(30);
  assertEquals(d.byteOffset, c.byteOffset);
  assertEquals(d.buffer, c.buffer);
  releaseReply(d);
  releaseReply(d); // twice: nothing more
  const e = allocReply(8);
  const f = allocReply(8);
  assertEquals(e.byteOffset, d.byteOffset);
  assert(f.byteOffset > e.byteOffset);
  releaseReply(new Uint8Array(8)); // not from a slab: ignored
  assert(allocReply(8).byteOffset > f.byteOffset);
  releaseReply(allocReply(64 * 1024)); // a large buffer: kept for the next large one
});

Deno.test("a large reply buffer given back serves the next large reply", () => {
  const a = allocReply(600_000);
  const b = allocReply(600_000);
  assert(a.buffer !== b.buffer, "a buffer handed out is not handed out again");
  releaseReply(a); // not the last large one: ignored
  assert(allocReply(500_000).buffer !== a.buffer);
  const c = allocReply(600_000);
  releaseReply(c);
  const d = allocReply(400_000);
  assertEquals(d.buffer, c.buffer, "the kept buffer is reused");
  assertEquals(d.length, 400_000);
  assert(allocReply(400_000).buffer !== c.buffer, "and handed out once only");
  releaseReply(d);
  const e = allocReply(700_000); // larger than the kept one: a new one replaces it
  assert(e.buffer !== c.buffer);
  releaseReply(e);
  assertEquals(allocReply(650_000).buffer, e.buffer);
  const huge = allocReply(3 * 1024 * 1024); // above what is kept
  releaseReply(huge);
  assert(allocReply(3 * 1024 * 1024).buffer !== huge.buffer);
});

const enc = new TextEncoder();

/** Message i: its own bytes, every 5th with lines that need dot-stuffing, sizes 0.3-60 KB. */
function message(i: number): string {
  const lines = [`Subject: message ${i}`, `X-Index: ${i}`, ""];
  const n = 5 + (i * 37) % 700;
  for (let j = 0; j < n; j++) {
    lines.push(
      i % 5 === 0 && j % 7 === 0
        ? `.dot line ${j} of ${i}`
        : `line ${j} of ${i} ${"x".repeat(j % 60)}`,
    );
  }
  return lines.join("\r\n") + "\r\n";
}

const COUNT = 60;
const USER: SeedUser = {
  name: "mem",
  domain: "ex.test",
  password: "pw",
  messages: Array.from({ length: COUNT }, (_, i) => enc.encode(message(i + 1))),
};

/** RFC 1939 §3: the multi-line body as it must be on the wire. */
function stuffed(m: string): string {
  return m.split("\r\n").slice(0, -1).map((l) => (l.startsWith(".") ? "." + l : l)).join("\r\n") +
    "\r\n.\r\n";
}

async function withServer(fn: (ports: Record<string, number>) => Promise<void>) {
  const dirBase = await Deno.makeTempDir({ prefix: "extremail-replymem-" });
  await seedUsers(join(dirBase, "data"), [USER]);
  const srv = await startTestServer({ dirBase });
  try {
    await fn(srv.ports);
  } finally {
    await srv.stop();
    await Deno.remove(dirBase, { recursive: true });
  }
}

/** Reads one RETR reply (status line and body through its terminator) as text. */
async function retrReply(c: LineClient): Promise<string> {
  const status = (await c.readLine())!;
  assert(status.startsWith("+OK"), status);
  const lines = await c.readUntil((l) => l === ".");
  return lines.join("\r\n") + "\r\n";
}

Deno.test("POP3: RETR replies arrive intact lock-step, pipelined and read late", async () => {
  await withServer(async (ports) => {
    const c = await LineClient.connect(ports.pop3);
    try {
      await c.readLine();
      await c.send("USER mem@ex.test");
      await c.readLine();
      await c.send("PASS pw");
      assert((await c.readLine())!.startsWith("+OK"));
      // Lock-step: each reply written from the memory of the one before.
      for (let i = 1; i <= COUNT; i++) {
        await c.send(`RETR ${i}`);
        assertEquals(await retrReply(c), stuffed(message(i)), `lock-step RETR ${i}`);
      }
      // Pipelined, and read only after all were sent: replies queue while unread.
      await c.write(Array.from({ length: COUNT }, (_, i) => `RETR ${i + 1}\r\n`).join(""));
      await new Promise((r) => setTimeout(r, 200));
      for (let i = 1; i <= COUNT; i++) {
        assertEquals(await retrReply(c), stuffed(message(i)), `pipelined RETR ${i}`);
      }
      // One at a time again, each read late, after the next command was sent.
      await c.send("RETR 1");
      for (let i = 2; i <= COUNT; i++) {
        await c.send(`RETR ${i}`);
        await new Promise((r) => setTimeout(r, 1));
        assertEquals(await retrReply(c), stuffed(message(i - 1)), `late RETR ${i - 1}`);
      }
      assertEquals(await retrReply(c), stuffed(message(COUNT)));
      await c.send("QUIT");
    } finally {
      c.close();
    }
  });
});

/**
 * What releaseReply() relies on, in the runtime itself: after socket.write() a buffer is
 * free again exactly when writableLength is back at 0; a write still in flight (the
 * peer not reading) counts there, and the runtime reads its buffer until it is sent.
 * `reuseAlways` overwrites the buffer after every write instead: then the peer must see
 * the damage, or this test could not tell.
 */
async function writeThenOverwrite(reuseAlways: boolean) {
  const sizes = [10, 6500, 60000, 200000, 30, 6500];
  const writes = 300;
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const served = new Promise<{ reused: number; waited: number }>((resolve) => {
    server.once("connection", async (sock: net.Socket) => {
      const buf = new Uint8Array(200000);
      let reused = 0, waited = 0;
      for (let i = 0; i < writes; i++) {
        const b = buf.subarray(0, sizes[i % sizes.length]);
        b.fill(97 + (i % 26));
        let written = false;
        sock.write(b, () => (written = true));
        if (reuseAlways || sock.writableLength === 0) {
          b.fill(0x58); // "X": must never reach the peer
          reused++;
        } else {
          waited++;
          while (!written) await new Promise((r) => setTimeout(r, 1));
        }
      }
      sock.end();
      resolve({ reused, waited });
    });
  });
  const client = net.connect(port, "127.0.0.1");
  let got = 0, damaged = 0, chunks = 0;
  await new Promise<void>((resolve) => {
    client.on("data", (d: Uint8Array) => {
      got += d.length;
      for (const c of d) if (c === 0x58) damaged++;
      // A slow reader: the server's writes stop completing at once.
      if (++chunks % 2 === 0) {
        client.pause();
        setTimeout(() => client.resume(), 1);
      }
    });
    client.on("end", () => resolve());
  });
  const counts = await served;
  server.close();
  return { got, damaged, ...counts };
}

Deno.test("a written buffer is free again when the socket's writableLength is 0", async () => {
  const safe = await writeThenOverwrite(false);
  assertEquals(safe.damaged, 0, "a buffer reused at writableLength 0 was still being sent");
  assert(safe.reused > 0, "no write completed at once");
  assert(safe.waited > 0, "no write had to wait: the slow reader did not slow the writes");
  const unsafe = await writeThenOverwrite(true);
  assert(unsafe.damaged > 0, "overwriting queued writes went unnoticed: the check is blind");
});

Deno.test("IMAP: FETCH BODY.PEEK[] responses arrive intact, one by one and pipelined", async () => {
  await withServer(async (ports) => {
    const c = await LineClient.connect(ports.imap);
    try {
      await c.readLine();
      await c.send("a LOGIN mem@ex.test pw");
      await c.readUntil((l) => l.startsWith("a "));
      await c.send("b SELECT INBOX");
      await c.readUntil((l) => l.startsWith("b "));
      const fetchOne = async (tag: string, i: number) => {
        const head = (await c.readLine())!;
        const m = /^\* (\d+) FETCH \(BODY\[\] \{(\d+)\}$/.exec(head);
        assert(m, head);
        assertEquals(Number(m[1]), i);
        const body = new TextDecoder().decode(await c.readBytes(Number(m[2])));
        assertEquals(body, message(i), `FETCH ${i}`);
        assertEquals(await c.readLine(), ")");
        assert((await c.readLine())!.startsWith(`${tag} OK`));
      };
      for (let i = 1; i <= COUNT; i++) {
        await c.send(`f${i} FETCH ${i} BODY.PEEK[]`);
        await fetchOne(`f${i}`, i);
      }
      await c.write(
        Array.from({ length: COUNT }, (_, i) => `p${i + 1} FETCH ${i + 1} BODY.PEEK[]\r\n`).join(
          "",
        ),
      );
      await new Promise((r) => setTimeout(r, 200));
      for (let i = 1; i <= COUNT; i++) await fetchOne(`p${i}`, i);
      await c.send("z LOGOUT");
    } finally {
      c.close();
    }
  });
});
