/**
 * BINARY (RFC 3516), MULTIAPPEND (RFC 3502) and CATENATE (RFC 4469) over a raw IMAP
 * connection, following the RFCs' examples: decoded FETCH BINARY[] with literal8 for
 * NUL octets, BINARY.SIZE, UNKNOWN-CTE, APPEND of literal8 data; several messages in
 * one APPEND stored all or none with a UID set in APPENDUID; messages built from TEXT
 * literals and URLs into the user's mailboxes, and BADURL for URLs that do not resolve.
 */
import { ImapClient, message, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";

const USER = "erin@example.com", PASS = "pw-erin";
const enc = new TextEncoder();

/** A multipart message: 1 text/plain, 2 base64 binary with NULs, 3 QP, 4 x-uuencode. */
function mimeMessage(): Uint8Array {
  const binary = new Uint8Array([0x47, 0x49, 0x46, 0x00, 0x01, 0xff, 0x00, 0x41]);
  const b64 = btoa(String.fromCharCode(...binary));
  return enc.encode([
    "From: Fred Foobar <foobar@example.org>",
    "To: erin@example.com",
    "Subject: binary parts",
    "Date: Mon, 7 Feb 1994 21:52:25 -0800",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="XX"',
    "",
    "--XX",
    "Content-Type: text/plain",
    "",
    "Hello Joe, do you think we can meet at 3:30 tomorrow?",
    "--XX",
    "Content-Type: image/gif",
    "Content-Transfer-Encoding: base64",
    "",
    b64,
    "--XX",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "caf=C3=A9 =3D soft=",
    "break",
    "--XX",
    "Content-Type: application/octet-stream",
    "Content-Transfer-Encoding: x-uuencode",
    "",
    "begin 644 x",
    "end",
    "--XX--",
    "",
  ].join("\r\n"));
}

/** Sends a command whose pieces are separated by synchronizing literals. */
async function withLiterals(
  c: ImapClient,
  pieces: (string | Uint8Array)[],
): Promise<{ lines: string[]; status: string; tagged: string }> {
  const tag = c.nextTag();
  let first = true;
  for (const piece of pieces) {
    if (typeof piece === "string") {
      const literal = /\{\d+\}$/.test(piece);
      await c.line.write((first ? `${tag} ` : "") + piece + (literal ? "\r\n" : ""));
      first = false;
      if (literal) {
        const cont = await c.line.readLine();
        if (!cont?.startsWith("+")) {
          return await c.result(tag).catch(() => ({ lines: [], status: "?", tagged: cont ?? "" }));
        }
      }
    } else await c.line.write(piece);
  }
  await c.line.write("\r\n");
  return await c.result(tag);
}

Deno.test({
  name: "imap BINARY, MULTIAPPEND, CATENATE",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const seed = await seedUsers({ [USER]: PASS });
    const root = seed.roots[USER];
    await seed.store.deliver([{ root }], mimeMessage());
    const srv = await startTestServer({ dirBase: seed.dirBase });
    const c = await ImapClient.connect(srv.ports.imap);
    try {
      await c.login(USER, PASS);
      const caps = (await c.cmd("CAPABILITY")).lines[0];
      for (const cap of ["BINARY", "MULTIAPPEND", "CATENATE"]) {
        assert(caps.split(" ").includes(cap), `${cap} missing from ${caps}`);
      }
      await c.cmd("SELECT INBOX");

      await t.step("RFC 3516 §4.2: BINARY.SIZE and BINARY.PEEK decode the CTE", async () => {
        const size = await c.cmd("FETCH 1 (BINARY.SIZE[2] BINARY.SIZE[3])");
        assertEquals(size.lines, ["* 1 FETCH (BINARY.SIZE[2] 8 BINARY.SIZE[3] 17)"]);
        // Decoded data with NUL octets goes in a literal8.
        const bin = await c.cmd("FETCH 1 BINARY.PEEK[2]");
        assertMatch(bin.lines[0], /^\* 1 FETCH \(BINARY\[2\] ~\{8\}\n/);
        assertEquals(bin.lines[0].split("\n")[1], "GIF\0\x01\ufffd\0A)");
        const qp = await c.cmd("FETCH 1 BINARY.PEEK[3]");
        assertEquals(qp.lines[0], "* 1 FETCH (BINARY[3] {17}\ncafé = softbreak)");
        const part = await c.cmd("FETCH 1 BINARY.PEEK[2]<1.3>");
        assertEquals(part.lines[0], "* 1 FETCH (BINARY[2]<1> ~{3}\nIF\0)");
        // A 7bit part is sent as it is, in a plain literal.
        const text = await c.cmd("FETCH 1 BINARY.PEEK[1]");
        assertMatch(text.lines[0], /^\* 1 FETCH \(BINARY\[1\] \{53\}\nHello Joe/);
      });

      await t.step("RFC 3516 §4.2: an unknown CTE fails with UNKNOWN-CTE", async () => {
        const r = await c.cmd("FETCH 1 BINARY.PEEK[4]");
        assertMatch(r.tagged, /^t\d+ NO \[UNKNOWN-CTE\]/);
        const sec = await c.cmd("FETCH 1 BINARY[1.MIME]");
        assertEquals(sec.status, "BAD");
        const flags = await c.cmd("FETCH 1 FLAGS");
        assertEquals(flags.lines, ["* 1 FETCH (FLAGS (\\Recent))"]);
        // Not .PEEK: \Seen is set.
        const seen = await c.cmd("FETCH 1 BINARY[1]");
        assertMatch(seen.lines[0], /FLAGS \(\\Seen \\Recent\)/);
      });

      await t.step("RFC 3516 §4.4: APPEND takes a literal8 with NUL octets", async () => {
        const data = enc.encode("Subject: nul\r\n\r\nA\0B\r\n");
        const r = await withLiterals(c, [`APPEND Drafts ~{${data.length}}`, data]);
        assertMatch(r.tagged, /^t\d+ OK \[APPENDUID \d+ 1\] APPEND completed/);
        await c.cmd("EXAMINE Drafts");
        const got = await c.cmd("FETCH 1 BINARY.PEEK[1]");
        assertEquals(got.lines[0], "* 1 FETCH (BINARY[1] ~{5}\nA\0B\r\n)");
        await c.cmd("SELECT INBOX");
      });

      await t.step("RFC 3502 §6: two messages in one APPEND, one UID set", async () => {
        const m1 = message({ subject: "afternoon meeting" });
        const m2 = message({ subject: "afternoon meeting again" });
        const r = await withLiterals(c, [
          `APPEND saved-messages (\\Seen) {${m1.length}}`,
          m1,
          ` (\\Seen) " 7-Feb-1994 22:43:04 -0800" {${m2.length}}`,
          m2,
        ]);
        assertMatch(r.tagged, /^t\d+ NO \[TRYCREATE\]/);
        assertEquals((await c.cmd("CREATE saved-messages")).status, "OK");
        const ok = await withLiterals(c, [
          `APPEND saved-messages (\\Seen) {${m1.length}}`,
          m1,
          ` (\\Seen) " 7-Feb-1994 22:43:04 -0800" {${m2.length}}`,
          m2,
        ]);
        const m = /^t\d+ OK \[APPENDUID (\d+) 1:2\] APPEND completed$/.exec(ok.tagged);
        assert(m, ok.tagged);
        await c.cmd("EXAMINE saved-messages");
        const f = await c.cmd("FETCH 1:2 (FLAGS INTERNALDATE BODY[HEADER.FIELDS (SUBJECT)])");
        assertEquals(f.lines.length, 2);
        assertMatch(f.lines[1], /INTERNALDATE "08-Feb-1994 06:43:04 \+0000"/);
        assertMatch(f.lines[1], /Subject: afternoon meeting again/);
        await c.cmd("SELECT INBOX");
      });

      await t.step("RFC 3502 §3: a bad message leaves the mailbox untouched", async () => {
        const m1 = message({ subject: "first" });
        const r = await withLiterals(c, [
          `APPEND saved-messages {${m1.length}}`,
          m1,
          " (\\Seen) {0}",
          new Uint8Array(0),
        ]);
        assertEquals(r.status, "NO");
        const bad = await withLiterals(c, [
          `APPEND saved-messages {${m1.length}}`,
          m1,
          " (\\Bogus) {2}",
          enc.encode("x\n"),
        ]);
        assertEquals(bad.status, "BAD");
        const st = await c.cmd("STATUS saved-messages (MESSAGES UIDNEXT)");
        assertEquals(st.lines, [`* STATUS "saved-messages" (MESSAGES 2 UIDNEXT 3)`]);
      });

      await t.step("RFC 4469 §5: CATENATE from TEXT and URL parts", async () => {
        const v = /UIDVALIDITY (\d+)/.exec(
          (await c.cmd("STATUS INBOX (UIDVALIDITY)")).lines[0],
        )![1];
        const boundary = "--------------030308070208000400050907";
        const t1 = enc.encode(`\r\n--${boundary}\r\n`);
        const t2 = enc.encode(`\r\n--${boundary}\r\n`);
        const t3 = enc.encode(`\r\n--${boundary}--\r\n`);
        const header = enc.encode(
          `From: erin@example.com\r\nSubject: forward\r\nMIME-Version: 1.0\r\n` +
            `Content-Type: multipart/mixed; boundary="${boundary}"\r\n`,
        );
        const r = await withLiterals(c, [
          `APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (TEXT {${header.length}}`,
          header,
          ` TEXT {${t1.length}}`,
          t1,
          ` URL "/INBOX;UIDVALIDITY=${v}/;UID=1/;section=1.MIME"` +
          ` URL "/INBOX;UIDVALIDITY=${v}/;UID=1/;section=1" TEXT {${t2.length}}`,
          t2,
          ` URL "imap://${
            USER.replace("@", "%40")
          }@localhost/INBOX;UIDVALIDITY=${v}/;UID=1/;SECTION=2.MIME"` +
          ` URL "/INBOX/;UID=1/;SECTION=2" TEXT {${t3.length}}`,
          t3,
          ")",
        ]);
        assertMatch(r.tagged, /^t\d+ OK \[APPENDUID \d+ 2\] APPEND completed$/);
        await c.cmd("EXAMINE Drafts");
        const f = await c.cmd("FETCH 2 (FLAGS BODY.PEEK[1] BINARY.PEEK[2] BODY.PEEK[2.MIME])");
        // RFC 3501 §2.3.2: the appended message is \Recent for the first session that sees
        // the mailbox; EXAMINE shows it without claiming it.
        assertMatch(f.lines[0], /FLAGS \(\\Draft \\Seen \$MDNSent \\Recent\)/);
        assertMatch(
          f.lines[0],
          /BODY\[1\] \{53\}\nHello Joe, do you think we can meet at 3:30 tomorrow\?/,
        );
        assertMatch(f.lines[0], /BINARY\[2\] ~\{8\}\nGIF\0/);
        assertMatch(f.lines[0], /Content-Transfer-Encoding: base64/);
        await c.cmd("SELECT INBOX");
      });

      await t.step("RFC 4469 §6: URLs that do not resolve give BADURL", async () => {
        const text = enc.encode("Subject: x\r\n\r\n");
        const urls = [
          "/INBOX;UIDVALIDITY=1/;UID=1",
          "/INBOX/;UID=99",
          "/NoSuchBox/;UID=1",
          "imap://someone%40example.com@localhost/INBOX/;UID=1",
          "imap://erin%40example.com@elsewhere.example/INBOX/;UID=1",
          "/INBOX/;UID=1/;URLAUTH=anonymous",
          "/INBOX/;UID=1/;SECTION=9.9.BOGUS",
        ];
        for (const url of urls) {
          const r = await withLiterals(c, [
            `APPEND Drafts CATENATE (TEXT {${text.length}}`,
            text,
            ` URL "${url}")`,
          ]);
          assert(r.tagged.includes(` NO [BADURL ${url}] `), `${url}: ${r.tagged}`);
        }
        const st = await c.cmd("STATUS Drafts (MESSAGES)");
        assertEquals(st.lines, ['* STATUS "Drafts" (MESSAGES 2)']);
      });
    } finally {
      c.close();
      await srv.stop();
      await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
    }
  },
});
