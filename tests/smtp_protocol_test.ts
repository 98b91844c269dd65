/**
 * SMTP protocol behaviour against the real daemon, with a raw line client:
 * EHLO keywords, sequencing, PIPELINING order, limits, DATA (dot-stuffing, 8-bit,
 * smuggling), BDAT, STARTTLS, error limits and garbage input.
 */
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { LineClient } from "./helpers/client.ts";
import {
  concat,
  dec,
  DOMAIN,
  enc,
  inbox,
  readReplies,
  readReply,
  type SmtpWorld,
  startWorld,
  stuff,
  withoutTrace,
} from "./smtp_fixture.ts";

const HOST = "mail.test.example";
const BOB = `bob@${DOMAIN}`;
const ALICE = `alice@${DOMAIN}`;

async function session(world: SmtpWorld, ehlo = true): Promise<LineClient> {
  const c = await LineClient.connect(world.srv.ports.smtp);
  assertEquals((await readReply(c)).text, `220 ${HOST} ESMTP eXtremail`);
  if (ehlo) {
    await c.send("EHLO client.example.net");
    assertEquals((await readReply(c)).code, 250);
  }
  return c;
}

async function expect(c: LineClient, line: string, pattern: RegExp): Promise<string> {
  await c.send(line);
  const r = await readReply(c);
  assertMatch(r.text, pattern, `${line} -> ${r.text}`);
  return r.text;
}

Deno.test("smtp protocol", async (t) => {
  const world = await startWorld([{ name: "bob" }, { name: "alice" }], {
    tls: true,
    config: { MaxRecipients: 5, MaxMailSize: 100_000 },
  });
  try {
    await t.step("greeting and EHLO keywords", async () => {
      const c = await session(world, false);
      try {
        await c.send("EHLO client.example.net");
        const r = await readReply(c);
        assertEquals(r.lines[0], `250-${HOST} Hello client.example.net [127.0.0.1]`);
        const keywords = r.lines.slice(1).map((l) => l.slice(4));
        for (
          const k of [
            "SIZE 100000",
            "8BITMIME",
            "PIPELINING",
            "ENHANCEDSTATUSCODES",
            "SMTPUTF8",
            "CHUNKING",
            "STARTTLS",
            "AUTH PLAIN LOGIN",
          ]
        ) assert(keywords.includes(k), `EHLO lacks ${k}: ${r.text}`);
        await expect(c, "HELO client.example.net", new RegExp(`^250 ${HOST}$`));
        await expect(c, "QUIT", /^221 2\.0\.0 /);
        assert(await c.closedByPeer());
      } finally {
        c.close();
      }
    });

    await t.step("commands out of sequence and simple commands", async () => {
      const c = await session(world, false);
      try {
        await expect(c, "MAIL FROM:<x@remote.example>", /^503 5\.5\.1 /);
        await expect(c, "EHLO", /^501 5\.5\.4 /);
        await expect(c, "HELO client.example.net", /^250 /);
        await expect(c, "RCPT TO:<bob@example.org>", /^503 5\.5\.1 /);
        await expect(c, "DATA", /^503 5\.5\.1 /);
        await expect(c, "MAIL FROM:<x@remote.example>", /^250 2\.1\.0 /);
        await expect(c, "MAIL FROM:<x@remote.example>", /^503 5\.5\.1 /);
        await expect(c, "DATA", /^554 5\.5\.1 /);
        await expect(c, "RCPT TO:<nobody@example.org>", /^550 5\.1\.1 /);
        await expect(c, "RCPT TO:<bob@example.org> XFOO=1", /^555 5\.5\.4 /);
        await expect(c, "RCPT TO:bob@", /^501 5\.1\.3 /);
        await expect(c, "RSET", /^250 2\.0\.0 /);
        await expect(c, "NOOP", /^250 2\.0\.0 /);
        await expect(c, "VRFY bob", /^252 2\.1\.5 /);
        await expect(c, "EXPN list", /^502 5\.5\.1 /);
        await expect(c, "HELP", /^214-2\.0\.0 Commands: .*\n214 2\.0\.0 /);
        await expect(c, "QUIT", /^221 /);
      } finally {
        c.close();
      }
      const d = await session(world);
      try {
        await expect(d, "XYZZY", /^500 5\.5\.1 /);
        await expect(d, "STARTTLS now", /^501 5\.5\.4 /);
        await expect(d, "MAIL FROM:<a@b.example> SIZE=100001", /^552 5\.3\.4 /);
        await expect(d, "MAIL FROM:<a@b.example> BODY=BINARYMIME", /^555 5\.5\.4 /);
        await expect(d, "MAIL FROM:<jörg@b.example>", /^553 5\.6\.7 /);
        await expect(d, "MAIL FROM:<jörg@b.example> SMTPUTF8", /^250 2\.1\.0 /);
        await expect(d, "QUIT", /^221 /);
      } finally {
        d.close();
      }
    });

    await t.step("pipelined commands are answered in order", async () => {
      const c = await session(world, false);
      try {
        const before = (await inbox(world.roots.alice)).length;
        await c.write(
          [
            "EHLO pipe.example.net",
            "MAIL FROM:<sender@remote.example>",
            "RCPT TO:<bob@example.org>",
            "RCPT TO:<unknown@example.org>",
            "NOOP",
            "RSET",
            "MAIL FROM:<sender@remote.example> BODY=8BITMIME",
            "RCPT TO:<alice@example.org>",
            "VRFY x",
            "DATA",
            "",
          ].join("\r\n"),
        );
        const r = await readReplies(c, 10);
        assertEquals(r.map((x) => x.code), [250, 250, 250, 550, 250, 250, 250, 250, 252, 354]);
        await c.write("Subject: pipelined\r\n\r\nhello\r\n.\r\nNOOP\r\nQUIT\r\n");
        const [done, noop, quit] = await readReplies(c, 3);
        assertMatch(done.text, /^250 2\.0\.0 Ok: queued as [0-9A-Z]{14}$/);
        assertEquals([noop.code, quit.code], [250, 221]);
        assertEquals((await inbox(world.roots.alice)).length, before + 1);
      } finally {
        c.close();
      }
    });

    await t.step("line too long, bare LF command", async () => {
      const c = await session(world);
      try {
        await expect(c, "NOOP " + "x".repeat(1100), /^500 5\.5\.2 /);
        await expect(c, "NOOP " + "y".repeat(20000), /^500 5\.5\.2 /);
        await c.write("NOOP\n");
        assertMatch((await readReply(c)).text, /^500 5\.5\.2 /);
        await expect(c, "NOOP", /^250 /);
      } finally {
        c.close();
      }
    });

    await t.step("MaxRecipients", async () => {
      const c = await session(world);
      try {
        await expect(c, "MAIL FROM:<s@remote.example>", /^250 /);
        await expect(c, `RCPT TO:<${BOB}>`, /^250 2\.1\.5 /);
        await expect(c, `RCPT TO:<${ALICE}>`, /^250 2\.1\.5 /);
        // Relaying from 127.0.0.1 (LocalIP) is allowed, so remote addresses count too.
        for (let i = 0; i < 3; i++) {
          await expect(c, `RCPT TO:<r${i}@remote.example>`, /^250 2\.1\.5 /);
        }
        await expect(c, `RCPT TO:<r9@remote.example>`, /^452 4\.5\.3 /);
        await expect(c, "RSET", /^250 /);
      } finally {
        c.close();
      }
    });

    await t.step("size limits: declared and actual", async () => {
      const c = await session(world);
      try {
        const before = (await inbox(world.roots.bob)).length;
        await expect(c, "MAIL FROM:<s@remote.example> SIZE=100001", /^552 5\.3\.4 /);
        await expect(c, "MAIL FROM:<s@remote.example> SIZE=1000", /^250 /);
        await expect(c, `RCPT TO:<${BOB}>`, /^250 /);
        await expect(c, "DATA", /^354 /);
        const line = "z".repeat(78) + "\r\n";
        await c.write("Subject: big\r\n\r\n" + line.repeat(2000) + ".\r\n");
        assertMatch((await readReply(c)).text, /^552 5\.3\.4 /);
        await expect(c, "NOOP", /^250 /);
        assertEquals((await inbox(world.roots.bob)).length, before);
      } finally {
        c.close();
      }
    });

    await t.step("dot-stuffed 8-bit body round trip is byte-exact", async () => {
      const c = await session(world);
      try {
        const before = (await inbox(world.roots.bob)).length;
        const body = concat(
          "From: s@remote.example\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\n",
          ".leading dot\r\n..two dots\r\n.\tdot tab\r\n",
          new Uint8Array([0xc3, 0xa9, 0xff, 0x80, 0x00, 0x7f, 13, 10]),
          "last line\r\n",
        );
        // Dot-stuff (RFC 5321 4.5.2): every line beginning with "." gets one more.
        const stuffed = stuff(body);
        await expect(c, "MAIL FROM:<s@remote.example> BODY=8BITMIME", /^250 /);
        await expect(c, `RCPT TO:<${BOB}>`, /^250 /);
        await expect(c, "DATA", /^354 /);
        await c.write(concat(stuffed, ".\r\n"));
        assertMatch((await readReply(c)).text, /^250 2\.0\.0 Ok: queued as /);
        const after = await inbox(world.roots.bob);
        assertEquals(after.length, before + 1);
        const stored = after.find((m) => dec.decode(m.bytes).includes("two dots"))!;
        assertEquals([...withoutTrace(stored.bytes)], [...body]);
      } finally {
        c.close();
      }
    });

    await t.step("bare LF smuggling attempt is one refused message", async () => {
      const c = await session(world);
      try {
        const bob = (await inbox(world.roots.bob)).length;
        const alice = (await inbox(world.roots.alice)).length;
        await expect(c, "MAIL FROM:<s@remote.example>", /^250 /);
        await expect(c, `RCPT TO:<${BOB}>`, /^250 /);
        await expect(c, "DATA", /^354 /);
        await c.write(
          "Subject: innocent\r\n\r\nhello\n.\r\nMAIL FROM:<admin@example.org>\r\n" +
            `RCPT TO:<${ALICE}>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n`,
        );
        assertEquals(
          (await readReply(c)).text,
          "550 5.6.0 bare LF/CR not allowed (RFC 5321 2.3.8)",
        );
        await expect(c, "NOOP", /^250 /);
        assertEquals((await inbox(world.roots.bob)).length, bob);
        assertEquals((await inbox(world.roots.alice)).length, alice);
        // The bare CR variant.
        await expect(c, "MAIL FROM:<s@remote.example>", /^250 /);
        await expect(c, `RCPT TO:<${BOB}>`, /^250 /);
        await expect(c, "DATA", /^354 /);
        await c.write("Subject: x\r\n\r\nhello\r.\rQUIT\r\n.\r\n");
        assertMatch((await readReply(c)).text, /^550 5\.6\.0 /);
        await expect(c, "NOOP", /^250 /);
      } finally {
        c.close();
      }
    });

    await t.step("BDAT chunks, BDAT 0 LAST, DATA after BDAT", async () => {
      const c = await session(world);
      try {
        const before = (await inbox(world.roots.alice)).length;
        const part1 = enc.encode("Subject: chunked\r\n\r\nfirst part ");
        const part2 = concat(".not stuffed\r\n", new Uint8Array([0xe2, 0x82, 0xac, 13, 10]));
        await c.write(
          concat(
            "MAIL FROM:<s@remote.example>\r\n",
            `RCPT TO:<${ALICE}>\r\n`,
            `BDAT ${part1.length}\r\n`,
            part1,
            `BDAT ${part2.length}\r\n`,
            part2,
            "BDAT 0 LAST\r\n",
          ),
        );
        const r = await readReplies(c, 5);
        assertEquals(r.map((x) => x.code), [250, 250, 250, 250, 250]);
        assertMatch(r[2].text, /^250 2\.0\.0 /);
        assertMatch(r[4].text, /^250 2\.0\.0 Ok: queued as /);
        const after = await inbox(world.roots.alice);
        assertEquals(after.length, before + 1);
        const stored = after.find((m) => dec.decode(m.bytes).includes("chunked"))!;
        assertEquals([...withoutTrace(stored.bytes)], [...concat(part1, part2)]);

        // One chunk with LAST; then DATA after BDAT in a transaction is refused.
        const msg = enc.encode("Subject: one\r\n\r\nbody\r\n");
        await c.write(concat(
          "MAIL FROM:<s@remote.example>\r\n",
          `RCPT TO:<${ALICE}>\r\n`,
          `BDAT ${msg.length} LAST\r\n`,
          msg,
          `MAIL FROM:<s@remote.example>\r\nRCPT TO:<${ALICE}>\r\nBDAT 5\r\nabcde`,
          "DATA\r\n",
        ));
        const s = await readReplies(c, 7);
        assertEquals(s.map((x) => x.code), [250, 250, 250, 250, 250, 250, 503]);
        assertMatch(s[2].text, /queued as/);
        await expect(c, "RSET", /^250 /);
        // BDAT without a transaction: the chunk is still read (no resync problem).
        await c.write("BDAT 12 LAST\r\nNOOP\r\nNOOP\r\nNOOP\r\n");
        const u = await readReplies(c, 2);
        assertEquals(u.map((x) => x.code), [503, 250]);
        // Over MaxMailSize across chunks: 552, later chunks are dropped too.
        const chunk = "x".repeat(60_000);
        await c.write(concat(
          `MAIL FROM:<s@remote.example>\r\nRCPT TO:<${ALICE}>\r\n`,
          `BDAT ${chunk.length}\r\n${chunk}BDAT ${chunk.length}\r\n${chunk}`,
          `BDAT ${chunk.length} LAST\r\n${chunk}NOOP\r\n`,
        ));
        const v = await readReplies(c, 6);
        assertEquals(v.map((x) => x.code), [250, 250, 250, 552, 552, 250]);
        assertMatch(v[3].text, /^552 5\.3\.4 /);
        assertEquals((await inbox(world.roots.alice)).length, before + 2);
      } finally {
        c.close();
      }
    });

    await t.step("STARTTLS: plaintext injection discarded, session reset", async () => {
      const c = await session(world);
      try {
        await expect(c, "AUTH PLAIN " + btoa(`\0${BOB}\0s3cret-Pass`), /^235 /);
        // Pipelined after STARTTLS in plaintext: must never be executed.
        await c.write("STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n");
        assertMatch((await readReply(c)).text, /^220 2\.0\.0 /);
        await c.startTls();
        // Forgotten: HELO, authentication; the injected MAIL never ran.
        await expect(c, "MAIL FROM:<s@remote.example>", /^503 5\.5\.1 /);
        await c.send("EHLO client.example.net");
        const r = await readReply(c);
        assert(!r.text.includes("STARTTLS"), r.text);
        assert(r.text.includes("AUTH PLAIN LOGIN"), r.text);
        await expect(c, "STARTTLS", /^503 5\.5\.1 /);
        await expect(c, "MAIL FROM:<s@remote.example>", /^250 /);
        await expect(c, "RCPT TO:<nobody@elsewhere.example>", /^250 /);
      } finally {
        c.close();
      }
    });

    await t.step("a failed TLS handshake closes cleanly", async () => {
      const c = await session(world);
      try {
        await c.send("STARTTLS");
        assertMatch((await readReply(c)).text, /^220 /);
        await c.write(new Uint8Array(64).fill(0x41));
        assert(await c.closedByPeer());
      } finally {
        c.close();
      }
      const d = await session(world);
      await expect(d, "NOOP", /^250 /);
      d.close();
    });

    await t.step("10 errors close the session with 421", async () => {
      const c = await session(world);
      try {
        for (let i = 0; i < 9; i++) await expect(c, `BOGUS${i}`, /^500 5\.5\.1 /);
        await c.send("BOGUS9");
        const r = await readReply(c);
        assertMatch(r.text, /^500 5\.5\.1 /);
        assertMatch((await readReply(c)).text, /^421 4\.7\.0 /);
        assert(await c.closedByPeer());
      } finally {
        c.close();
      }
    });

    await t.step("garbage and NUL bytes never crash the daemon", async () => {
      let seed = 7;
      const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256;
      for (let round = 0; round < 3; round++) {
        const c = await session(world, round === 0);
        try {
          const junk = new Uint8Array(4000).map(() => rnd());
          await c.write(concat("\0\0\0\r\n", "MAIL FROM:<\0@x>\r\n", junk, "\r\n")).catch(() => {});
          await c.write("\xff\xfe\r\nQUIT\r\n").catch(() => {});
          await c.closedByPeer(5000);
        } finally {
          c.close();
        }
      }
      const c = await session(world);
      await expect(c, "NOOP", /^250 /);
      c.close();
    });
  } finally {
    await world.close();
  }
});
