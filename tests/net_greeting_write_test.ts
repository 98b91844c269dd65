/**
 * The greeting sent at accept through the socket's descriptor (net/greeting_write.ts,
 * Connection.sendGreeting): exact bytes and order with the replies after it, the
 * fallbacks to the runtime's write (EAGAIN, a partial send, an error, output already
 * queued), no descriptor left open, and the SMTP, POP3 and IMAP greetings on plain ports
 * with clients that talk before they are greeted.
 */
import net from "node:net";
import { Connection } from "../src/net/connection.ts";
import { sendAtAccept, type SendCall } from "../src/net/greeting_write.ts";
import { systemLibc } from "../src/sys/libc.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { readToEnd } from "./helpers/read_to_end.ts";
import { startTestServer } from "./helpers/server.ts";
import { testUnless } from "./helpers/skip.ts";

const linux = Deno.build.os === "linux";
const GREETING = "220 greet.test ESMTP eXtremail\r\n";
const NEXT = "250 next\r\n";

function openFds(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

/**
 * Serves `count` connections with `serve` (a Connection over each accepted socket, closed
 * afterwards) and returns what each client read until the close.
 */
async function serveAndRead(
  count: number,
  serve: (conn: Connection) => void,
): Promise<string[]> {
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
    socket.on("error", () => {});
    const conn = new Connection(socket);
    serve(conn);
    conn.close();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const texts: string[] = [];
    for (let i = 0; i < count; i++) {
      texts.push(await readToEnd(await Deno.connect({ hostname: "127.0.0.1", port })));
    }
    return texts;
  } finally {
    server.close();
  }
}

testUnless(linux ? null : "the descriptor write is Linux only", {
  name: "sendGreeting: the greeting leaves through the descriptor, in order, no descriptor kept",
  async fn() {
    assert(systemLibc() !== null, "libc through FFI is not available (tests run with -A)");
    let direct = 0;
    const counted = (socket: net.Socket, text: string) => {
      const rest = sendAtAccept(socket, text);
      if (rest.length === 0) direct++;
      return rest;
    };
    const before = openFds();
    const texts = await serveAndRead(20, (conn) => {
      conn.sendGreeting(GREETING, counted);
      conn.send(NEXT);
    });
    for (const text of texts) assertEquals(text, GREETING + NEXT);
    assertEquals(direct, 20, "every greeting was taken by send(2) at once");
    const grown = openFds() - before;
    // 20 leaked duplicates would show; the runtime may open or close one meanwhile.
    assert(grown < 10, `each duplicated descriptor is closed (${grown} more open)`);
  },
});

testUnless(linux ? null : "the descriptor write is Linux only", {
  name: "sendGreeting falls back to the runtime's write: EAGAIN, error, partial send, nothing sent",
  async fn() {
    const fakes: [string, SendCall][] = [
      ["EAGAIN", () => -1],
      ["nothing taken", () => 0],
      ["bigint result", (c, fd, bytes, length) => BigInt(c.send(fd, bytes, BigInt(length), 0))],
      // A real partial send: the kernel takes the first 7 octets, the rest goes through
      // the runtime after them.
      ["partial", (c, fd, bytes) => c.send(fd, bytes, 7n, 0)],
      ["partial of one", (c, fd, bytes) => c.send(fd, bytes, 1n, 0)],
    ];
    for (const [what, fake] of fakes) {
      let calls = 0;
      const texts = await serveAndRead(3, (conn) => {
        conn.sendGreeting(GREETING, (socket, text) => {
          calls++;
          return sendAtAccept(socket, text, fake);
        });
        conn.send(NEXT);
      });
      assertEquals(calls, 3, what);
      for (const text of texts) assertEquals(text, GREETING + NEXT, what);
    }
    // The rest of a partial send is what the kernel did not take, exactly.
    const probe = await serveAndRead(1, (conn) => {
      conn.sendGreeting(GREETING, (socket, text) => {
        const rest = sendAtAccept(socket, text, (c, fd, bytes) => c.send(fd, bytes, 4n, 0));
        assert(rest instanceof Uint8Array, "a partial send leaves bytes for the runtime");
        assertEquals(new TextDecoder().decode(rest), GREETING.slice(4));
        return rest;
      });
    });
    assertEquals(probe, [GREETING]);
  },
});

Deno.test("sendGreeting after output already queued keeps the order (no descriptor write)", async () => {
  const texts = await serveAndRead(5, (conn) => {
    // The runtime queues a first write on a socket it has not yet polled: the greeting
    // must not overtake it.
    conn.send("100 first\r\n");
    conn.sendGreeting(GREETING);
    conn.send(NEXT);
  });
  for (const text of texts) assertEquals(text, "100 first\r\n" + GREETING + NEXT);
});

Deno.test("sendAtAccept leaves what it cannot send to the runtime", async () => {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  client.on("error", () => {});
  await new Promise<void>((r) => client.once("connect", () => r()));
  try {
    // Longer than any greeting: not tried, returned whole.
    const long = "* OK " + "X".repeat(5000) + "\r\n";
    let called = false;
    assertEquals(sendAtAccept(client, long, () => (called = true, 0)), long);
    assert(!called, "a text past the scratch buffer is never sent in part");
    // A send that fails returns the text unchanged.
    assertEquals(sendAtAccept(client, GREETING, () => -1), GREETING);
    // A socket without a descriptor (destroyed) is not tried.
    client.destroy();
    assertEquals(sendAtAccept(client, GREETING, () => (called = true, 0)), GREETING);
    assert(!called);
  } finally {
    client.destroy();
    server.close();
  }
});

/** Connects, writes `early` at once (before any greeting is read), reads until closed. */
async function talkEarly(port: number, early: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(early));
  return readToEnd(conn);
}

Deno.test("plain SMTP, POP3 and IMAP greetings: exact bytes, early talkers still answered in order", async () => {
  const srv = await startTestServer();
  try {
    const host = srv.config.HostName;
    const smtp = await talkEarly(srv.ports.smtp, "EHLO early.example\r\nQUIT\r\n");
    const smtpLines = smtp.split("\r\n");
    assertEquals(smtpLines[0], `220 ${host} ESMTP eXtremail`, smtp);
    assert(smtpLines[1].startsWith(`250-${host}`), smtp);
    assert(/\r\n221 [^\r\n]*\r\n$/.test(smtp), smtp);

    const pop3 = await talkEarly(srv.ports.pop3, "CAPA\r\nQUIT\r\n");
    const pop3Lines = pop3.split("\r\n");
    assertEquals(pop3Lines[0], `+OK ${host} eXtremail POP3 server ready`, pop3);
    assert(pop3Lines[1].startsWith("+OK"), pop3);
    assert(pop3Lines.includes("."), pop3);
    assert(/\r\n\+OK[^\r\n]*\r\n$/.test(pop3), pop3);

    const imap = await talkEarly(srv.ports.imap, "a1 LOGOUT\r\n");
    const imapLines = imap.split("\r\n");
    assert(
      /^\* OK \[CAPABILITY IMAP4rev1 [^\]]*\] eXtremail IMAP4rev1\/rev2 ready$/.test(imapLines[0]),
      imap,
    );
    assert(imapLines[1].startsWith("* BYE"), imap);
    assert(imapLines[2].startsWith("a1 OK"), imap);

    // A greeting read alone is the whole first write: exactly one line, nothing before it.
    for (const [name, port] of [["smtp", srv.ports.smtp], ["pop3", srv.ports.pop3]] as const) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        const buf = new Uint8Array(1024);
        let text = "";
        while (!text.endsWith("\r\n")) {
          const n = await conn.read(buf);
          assert(n !== null, `${name}: closed before the greeting`);
          text += new TextDecoder().decode(buf.subarray(0, n));
        }
        assertEquals(
          text,
          name === "smtp"
            ? `220 ${host} ESMTP eXtremail\r\n`
            : `+OK ${host} eXtremail POP3 server ready\r\n`,
        );
      } finally {
        conn.close();
      }
    }
  } finally {
    await srv.stop();
  }
});
