/**
 * SMTP commands answered inside the socket's read callback (src/smtp/command_loop.ts,
 * Connection.onInputReady): lock-step clients, lines that arrive in pieces, pipelined
 * groups, a RCPT that has to wait (a quota) followed by more commands, AUTH's own input
 * waits, and STARTTLS, which must never run there (its ClientHello would be lost).
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { LineClient } from "./helpers/client.ts";
import {
  DOMAIN,
  enc,
  eventually,
  inbox,
  PASSWORD,
  readReplies,
  readReply,
  startWorld,
} from "./smtp_fixture.ts";

const BOB = `bob@${DOMAIN}`;
const CAROL = `carol@${DOMAIN}`;

async function expect(c: LineClient, line: string, pattern: RegExp): Promise<void> {
  await c.send(line);
  const r = await readReply(c);
  assertMatch(r.text, pattern, `${line} -> ${r.text}`);
}

Deno.test("smtp commands in the read callback", async (t) => {
  const world = await startWorld(
    [{ name: "bob" }, { name: "carol" }],
    { tls: true },
    // carol has a quota: RCPT with SIZE waits for her usage (a promise, handed to the loop).
    (dir) => dir.modUser("carol", DOMAIN, { quota: 1_000_000 }).then(() => {}),
  );
  try {
    await t.step("lock-step messages on one connection, then QUIT closes", async () => {
      const c = await LineClient.connect(world.srv.ports.smtp);
      try {
        assertEquals((await readReply(c)).code, 220);
        await expect(c, "EHLO client.example.net", /^250-/);
        for (let i = 0; i < 20; i++) {
          await expect(c, "MAIL FROM:<a@example.net>", /^250 2\.1\.0 /);
          await expect(c, `RCPT TO:<${BOB}>`, /^250 2\.1\.5 /);
          await expect(c, "DATA", /^354 /);
          await expect(c, `Subject: lock-step ${i}\r\n\r\nbody ${i}\r\n.`, /^250 2\.0\.0 /);
          await expect(c, "RSET", /^250 /);
          await expect(c, "NOOP", /^250 /);
        }
        await expect(c, "QUIT", /^221 2\.0\.0 /);
        assert(await c.closedByPeer(), "QUIT closes the connection");
      } finally {
        c.close();
      }
      await eventually(async () => (await inbox(world.roots.bob)).length === 20);
    });

    await t.step("command lines written one octet at a time", async () => {
      const c = await LineClient.connect(world.srv.ports.smtp);
      try {
        assertEquals((await readReply(c)).code, 220);
        for (const ch of "EHLO slow.example.net\r\n") await c.write(ch);
        assertEquals((await readReply(c)).code, 250);
        for (const ch of `MAIL FROM:<a@example.net>\r\nRCPT TO:<${BOB}>\r\n`) await c.write(ch);
        const [mail, rcpt] = await readReplies(c, 2);
        assertEquals([mail.code, rcpt.code], [250, 250]);
        await expect(c, "QUIT", /^221 /);
      } finally {
        c.close();
      }
    });

    await t.step("a pipelined group with a RCPT that waits, replies in order", async () => {
      const c = await LineClient.connect(world.srv.ports.smtp);
      try {
        assertEquals((await readReply(c)).code, 220);
        await expect(c, "EHLO client.example.net", /^250-/);
        const before = (await inbox(world.roots.carol)).length;
        // RFC 2920: MAIL, RCPTs and DATA in one write; carol's RCPT (SIZE, quota) waits
        // for the store, the commands after it are answered after it, in order.
        await c.write(
          "MAIL FROM:<a@example.net> SIZE=100\r\n" +
            `RCPT TO:<${CAROL}>\r\nRCPT TO:<nobody@${DOMAIN}>\r\nRCPT TO:<${BOB}>\r\nDATA\r\n`,
        );
        const replies = await readReplies(c, 5);
        assertEquals(replies.map((r) => r.code), [250, 250, 550, 250, 354]);
        await expect(c, "Subject: group\r\n\r\nhello\r\n.", /^250 2\.0\.0 /);
        await c.write("RSET\r\nNOOP\r\nQUIT\r\n");
        assertEquals((await readReplies(c, 3)).map((r) => r.code), [250, 250, 221]);
        assert(await c.closedByPeer());
        await eventually(async () => (await inbox(world.roots.carol)).length === before + 1);
      } finally {
        c.close();
      }
    });

    await t.step("AUTH LOGIN reads its own lines; the loop goes on after it", async () => {
      const c = await LineClient.connect(world.srv.ports.smtp);
      try {
        assertEquals((await readReply(c)).code, 220);
        await expect(c, "EHLO client.example.net", /^250-/);
        await expect(c, "AUTH LOGIN", /^334 /);
        await expect(c, btoa(BOB), /^334 /);
        await expect(c, btoa(PASSWORD), /^235 2\.7\.0 /);
        await expect(c, "NOOP", /^250 /);
        await expect(c, "QUIT", /^221 /);
      } finally {
        c.close();
      }
    });

    await t.step("STARTTLS in lock-step: the ClientHello is never read as text", async () => {
      for (let i = 0; i < 10; i++) {
        const c = await LineClient.connect(world.srv.ports.smtp);
        try {
          assertEquals((await readReply(c)).code, 220);
          await expect(c, "EHLO client.example.net", /^250-/);
          await expect(c, "STARTTLS", /^220 2\.0\.0 /);
          await c.startTls();
          await expect(c, "EHLO client.example.net", /^250-/);
          await expect(c, "MAIL FROM:<a@example.net>", /^250 /);
          await expect(c, "QUIT", /^221 /);
        } finally {
          c.close();
        }
      }
    });

    await t.step("a shutdown while the session waits says 421 at once", async () => {
      const c = await LineClient.connect(world.srv.ports.smtp);
      try {
        assertEquals((await readReply(c)).code, 220);
        await expect(c, "EHLO client.example.net", /^250-/);
        await c.write(enc.encode("NOOP\r\n"));
        assertEquals((await readReply(c)).code, 250);
        const stopping = world.srv.stop();
        const r = await readReply(c);
        assertMatch(r.text, /^421 4\.3\.2 /);
        await stopping;
      } finally {
        c.close();
      }
    });
  } finally {
    await world.close();
  }
});
