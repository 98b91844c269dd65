/**
 * Half-closed clients over TLS, as tests/half_close_test.ts over plain TCP: a client that
 * writes its commands and then ends its sending side (TLS close_notify, then its TCP FIN)
 * still gets every reply, over implicit TLS (SMTPS, POP3S, IMAPS) and after STARTTLS.
 */
import { match, ok } from "node:assert/strict";
import { join } from "node:path";
import { seedUsers } from "../bench/pop3.ts";
import { readToEnd } from "./helpers/read_to_end.ts";
import { startTestServer, TEST_CERT, type TestServer } from "./helpers/server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const BODY = "Subject: half\r\n\r\n" + "line of the message body\r\n".repeat(4000);

/** Over implicit TLS: writes `script`, half-closes (close_notify, FIN), reads to the end. */
async function halfClosedTls(port: number, script: string): Promise<string> {
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port,
    caCerts: [await Deno.readTextFile(TEST_CERT)],
  });
  await conn.write(enc.encode(script));
  await conn.closeWrite();
  return await readToEnd(conn);
}

/** Reads from `conn` until `pattern` matches what was read (a reply the script waits for). */
async function readUntil(conn: Deno.Conn, pattern: RegExp): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  while (!pattern.test(text)) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`closed before ${pattern}: ${text}`);
    text += dec.decode(buf.subarray(0, n));
  }
  return text;
}

Deno.test("half-closed clients over TLS get every reply: implicit TLS and STARTTLS", async () => {
  const dirBase = await Deno.makeTempDir({ prefix: "extremail-halfclose-tls-" });
  await seedUsers(join(dirBase, "data"), [
    { name: "half", domain: "ex.test", password: "pw", messages: [enc.encode(BODY)] },
  ]);
  let srv: TestServer | null = null;
  try {
    srv = await startTestServer({ dirBase, tls: true });
    // POP3S: a whole RETR (about 100 KiB, many TLS records) and QUIT's reply.
    const pop3 = await halfClosedTls(
      srv.ports.pop3s,
      "USER half@ex.test\r\nPASS pw\r\nRETR 1\r\nQUIT\r\n",
    );
    ok(pop3.includes(BODY.slice(-200) + ".\r\n"), pop3.slice(-300));
    match(pop3, /\+OK eXtremail POP3 server signing off[^\r]*\r\n$/);
    // IMAPS: LOGIN, SELECT, a body FETCH and LOGOUT's tagged reply.
    const imap = await halfClosedTls(
      srv.ports.imaps,
      "a LOGIN half@ex.test pw\r\nb SELECT INBOX\r\nc FETCH 1 BODY.PEEK[]\r\nd LOGOUT\r\n",
    );
    ok(imap.includes("line of the message body\r\n)\r\nc OK"), imap.slice(-300));
    match(imap, /\* BYE[^\r]*\r\nd OK[^\r]*\r\n$/);
    // SMTPS: AUTH, a pipelined transaction; the 250 for the message and QUIT's 221 arrive.
    const plain = btoa("\0half@ex.test\0pw");
    const smtps = await halfClosedTls(
      srv.ports.smtps,
      `EHLO client.test\r\nAUTH PLAIN ${plain}\r\nMAIL FROM:<half@ex.test>\r\n` +
        "RCPT TO:<half@ex.test>\r\nDATA\r\nSubject: via SMTPS\r\n\r\nhello\r\n.\r\nQUIT\r\n",
    );
    match(smtps, /\r\n250 [^\r]*\r\n221 [^\r]*\r\n$/);
    // STARTTLS on port 25, then the same over the upgraded connection.
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: srv.ports.smtp });
    await readUntil(tcp, /^220 [^\r]*\r\n/);
    await tcp.write(enc.encode("EHLO client.test\r\nSTARTTLS\r\n"));
    await readUntil(tcp, /\r\n220 [^\r]*\r\n$/);
    const tls = await Deno.startTls(tcp, {
      hostname: "127.0.0.1",
      caCerts: [await Deno.readTextFile(TEST_CERT)],
    });
    await tls.write(enc.encode(
      "EHLO client.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<half@ex.test>\r\nDATA\r\n" +
        "Subject: via STARTTLS\r\n\r\nhello\r\n.\r\nQUIT\r\n",
    ));
    await tls.closeWrite();
    const starttls = await readToEnd(tls);
    match(starttls, /\r\n250 [^\r]*\r\n221 [^\r]*\r\n$/);
  } finally {
    await srv?.stop();
    await Deno.remove(dirBase, { recursive: true });
  }
});
