/**
 * SAVEDATE (RFC 8514), PREVIEW (RFC 8970) and STATUS=SIZE (RFC 8438) through the daemon:
 * the save date of another program's delivery (its Maildir name), of a MOVE (recorded,
 * surviving a restart), SEARCH SAVED*; previews of plain, HTML and quoted text with and
 * without LAZY; STATUS SIZE as the sum of RFC822.SIZE.
 */
import { join } from "node:path";
import { ImapClient, message, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";
import { previewText } from "../src/message/preview_text.ts";
import { parseMessage } from "../src/message/mime.ts";

const USER = "gus@example.com", PASS = "pw-gus";
const enc = new TextEncoder();

function alternative(): Uint8Array {
  return enc.encode([
    "From: a@example.org",
    "Subject: alt",
    "MIME-Version: 1.0",
    'Content-Type: multipart/alternative; boundary="b"',
    "",
    "--b",
    "Content-Type: text/html; charset=utf-8",
    "",
    "<p>HTML <b>only</b></p>",
    "--b",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "Caf=C3=A9 at   noon?",
    "> quoted reply line",
    "",
    "See you.",
    "--b--",
    "",
  ].join("\r\n"));
}

function todayText(): string {
  const d = new Date();
  const mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  return `${d.getUTCDate()}-${mon[d.getUTCMonth()]}-${d.getUTCFullYear()}`;
}

Deno.test("preview text: first plain part, HTML reduced, quotes dropped, 256 characters", () => {
  assertEquals(previewText(alternative(), parseMessage(alternative())), "Café at noon? See you.");
  const html = enc.encode(
    "Content-Type: text/html\r\n\r\n<html><style>p{}</style><p>Hello&nbsp;<i>there</i></p>\r\n",
  );
  assertEquals(previewText(html, parseMessage(html)), "Hello there");
  const long = message({ body: "word ".repeat(100) });
  const p = previewText(long, parseMessage(long));
  assertEquals(p.length, 256);
  assert(!p.endsWith(" ") && !p.startsWith(" "), JSON.stringify(p));
  const none = enc.encode("Content-Type: image/png\r\n\r\nxxxx\r\n");
  assertEquals(previewText(none, parseMessage(none)), "");
});

Deno.test({
  name: "imap SAVEDATE, PREVIEW, STATUS=SIZE",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const seed = await seedUsers({ [USER]: PASS });
    const root = seed.roots[USER];
    // Another program's delivery, named (as Maildir writers do) at its save time: 2010-01-01.
    const old = message({ subject: "old", body: "An old message body." });
    await Deno.writeFile(join(root, "new", `1262304000.M1P1.other,S=${old.length}`), old);
    await seed.store.deliver([{ root }], alternative());
    const srv = await startTestServer({ dirBase: seed.dirBase });
    let c = await ImapClient.connect(srv.ports.imap);
    try {
      await c.login(USER, PASS);
      const caps = (await c.cmd("CAPABILITY")).lines[0].split(" ");
      for (const cap of ["SAVEDATE", "PREVIEW", "STATUS=SIZE"]) assert(caps.includes(cap), cap);
      await c.cmd("SELECT INBOX");

      await t.step("RFC 8514 §4.1, §4.2: FETCH SAVEDATE and SEARCH SAVED*", async () => {
        const f = await c.cmd("FETCH 1:2 SAVEDATE");
        assertEquals(f.lines[0], `* 1 FETCH (SAVEDATE "01-Jan-2010 00:00:00 +0000")`);
        assertMatch(f.lines[1], /^\* 2 FETCH \(SAVEDATE "\d\d-\w{3}-\d{4} [\d:]{8} \+0000"\)$/);
        assertEquals((await c.cmd("SEARCH SAVEDBEFORE 2-Jan-2010")).lines, ["* SEARCH 1"]);
        assertEquals((await c.cmd("SEARCH SAVEDON 1-Jan-2010")).lines, ["* SEARCH 1"]);
        assertEquals((await c.cmd(`SEARCH SAVEDSINCE ${todayText()}`)).lines, ["* SEARCH 2"]);
        assertEquals((await c.cmd("SEARCH SAVEDATESUPPORTED")).lines, ["* SEARCH 1 2"]);
        assertEquals((await c.cmd("SEARCH SAVEDON foo")).status, "BAD");
      });

      await t.step(
        "RFC 8514: MOVE gives the moved message a new save date, kept on restart",
        async () => {
          assertEquals((await c.cmd("MOVE 1 Archive")).status, "OK");
          c.close();
          await srv.stop();
          await srv.restart();
          c = await ImapClient.connect(srv.ports.imap);
          await c.login(USER, PASS);
          await c.cmd("SELECT Archive");
          const f = await c.cmd("FETCH 1 (SAVEDATE INTERNALDATE)");
          assert(!f.lines[0].includes('SAVEDATE "01-Jan-2010'), f.lines[0]);
          assertEquals((await c.cmd(`SEARCH SAVEDSINCE ${todayText()}`)).lines, ["* SEARCH 1"]);
        },
      );

      await t.step("RFC 8970 §3: PREVIEW, PREVIEW (LAZY)", async () => {
        const lazy = await c.cmd("FETCH 1 (UID PREVIEW (LAZY))");
        assertMatch(lazy.lines[0], /^\* 1 FETCH \(UID \d+ PREVIEW NIL\)$/);
        // Computed meanwhile in the background.
        let again = "";
        for (let i = 0; i < 50 && !again.includes('"An old'); i++) {
          again = (await c.cmd("FETCH 1 PREVIEW (LAZY)")).lines[0];
          await new Promise((r) => setTimeout(r, 20));
        }
        assertEquals(again, `* 1 FETCH (PREVIEW "An old message body.")`);
        await c.cmd("SELECT INBOX");
        // Non-ASCII text goes as a literal until UTF8=ACCEPT is enabled.
        const p = await c.cmd("FETCH 1 PREVIEW");
        assertEquals(p.lines[0], "* 1 FETCH (PREVIEW {23}\nCafé at noon? See you.)");
        await c.cmd("ENABLE UTF8=ACCEPT");
        const u = await c.cmd("FETCH 1 (PREVIEW)");
        assertEquals(u.lines[0], `* 1 FETCH (PREVIEW "Café at noon? See you.")`);
        assertEquals((await c.cmd("FETCH 1 PREVIEW (FAST)")).status, "BAD");
      });

      await t.step("RFC 8438 §3: STATUS SIZE is the sum of RFC822.SIZE", async () => {
        const sizes = (await c.cmd("FETCH 1:* RFC822.SIZE")).lines.map((l) =>
          Number(/RFC822.SIZE (\d+)/.exec(l)![1])
        );
        const st = await c.cmd("STATUS Archive (MESSAGES SIZE)");
        const archive = (await c.cmd("STATUS INBOX (SIZE)")).lines[0];
        assertEquals(archive, `* STATUS "INBOX" (SIZE ${sizes.reduce((a, b) => a + b, 0)})`);
        assertEquals(st.lines, [`* STATUS "Archive" (MESSAGES 1 SIZE ${old.length})`]);
      });
    } finally {
      c.close();
      await srv.stop();
      await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
    }
  },
});
