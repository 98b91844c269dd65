/**
 * A client that writes its commands and then shuts down its sending side (`nc -N`,
 * `printf ... | nc`, scripts) still gets every reply: the listeners accept half-open
 * connections (net/listener.ts allowHalfOpen) and each session ends its side once its
 * input has ended and its replies are written.
 */
import { match, ok } from "node:assert/strict";
import { join } from "node:path";
import { seedUsers } from "../bench/pop3.ts";
import { readToEnd } from "./helpers/read_to_end.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

const enc = new TextEncoder();
const BODY = "Subject: half\r\n\r\n" + "line of the message body\r\n".repeat(4000);

/** Writes `script`, half-closes, and reads until the server closes (or 10 s pass). */
async function halfClosed(port: number, script: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(enc.encode(script));
    await conn.closeWrite();
  } catch (e) {
    conn.close();
    throw e;
  }
  return await readToEnd(conn);
}

Deno.test("half-closed clients get every reply: POP3, IMAP, SMTP", async () => {
  const dirBase = await Deno.makeTempDir({ prefix: "extremail-halfclose-" });
  await seedUsers(join(dirBase, "data"), [
    { name: "half", domain: "ex.test", password: "pw", messages: [enc.encode(BODY)] },
  ]);
  let srv: TestServer | null = null;
  try {
    srv = await startTestServer({ dirBase });
    // POP3: a whole RETR (about 100 KiB, more than one socket write) and QUIT's reply.
    const pop3 = await halfClosed(
      srv.ports.pop3,
      "USER half@ex.test\r\nPASS pw\r\nRETR 1\r\nQUIT\r\n",
    );
    ok(pop3.includes(BODY.slice(-200) + ".\r\n"), pop3.slice(-300));
    match(pop3, /\+OK eXtremail POP3 server signing off[^\r]*\r\n$/);
    // POP3 without QUIT: the session ends at the end of input, after its replies.
    const noQuit = await halfClosed(srv.ports.pop3, "USER half@ex.test\r\nPASS pw\r\nSTAT\r\n");
    match(noQuit, /\+OK 1 \d+\r\n$/);
    // IMAP: LOGIN, SELECT, a body FETCH and LOGOUT's tagged reply.
    const imap = await halfClosed(
      srv.ports.imap,
      "a LOGIN half@ex.test pw\r\nb SELECT INBOX\r\nc FETCH 1 BODY.PEEK[]\r\nd LOGOUT\r\n",
    );
    ok(imap.includes("line of the message body\r\n)\r\nc OK"), imap.slice(-300));
    match(imap, /\* BYE[^\r]*\r\nd OK[^\r]*\r\n$/);
    // SMTP: a pipelined transaction; the 250 for the message and QUIT's 221 arrive.
    const smtp = await halfClosed(
      srv.ports.smtp,
      "EHLO client.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<half@ex.test>\r\nDATA\r\n" +
        "Subject: via SMTP\r\n\r\nhello\r\n.\r\nQUIT\r\n",
    );
    match(smtp, /\r\n250 [^\r]*\r\n221 [^\r]*\r\n$/);
  } finally {
    await srv?.stop();
    await Deno.remove(dirBase, { recursive: true });
  }
});
