/**
 * METADATA (RFC 5464) and CREATE-SPECIAL-USE (RFC 6154 §3, §4) over a raw connection,
 * from the RFCs' examples: server and mailbox entries, /private and /shared, MAXSIZE
 * and DEPTH, the MAXSIZE / TOOMANY limits, values that survive a restart and follow
 * RENAME; CREATE (USE (...)) shown by LIST and refused with USEATTR for \All.
 */
import { ImapClient, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";

const USER = "fay@example.com", PASS = "pw-fay";

Deno.test({
  name: "imap METADATA and CREATE-SPECIAL-USE",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const seed = await seedUsers({ [USER]: PASS });
    const srv = await startTestServer({ dirBase: seed.dirBase });
    let c = await ImapClient.connect(srv.ports.imap);
    try {
      await c.login(USER, PASS);
      const caps = (await c.cmd("CAPABILITY")).lines[0].split(" ");
      for (const cap of ["METADATA", "METADATA-SERVER", "CREATE-SPECIAL-USE"]) {
        assert(caps.includes(cap), `${cap} missing`);
      }

      await t.step("RFC 5464 §4.3 examples: SETMETADATA sets, NIL removes", async () => {
        const r = await c.cmd(`SETMETADATA INBOX (/private/comment "My new comment")`);
        assertEquals(r.tagged.split(" ").slice(1).join(" "), "OK SETMETADATA complete");
        const text = "My new comment across\r\ntwo lines.";
        const tag = c.nextTag();
        await c.line.write(`${tag} SETMETADATA INBOX (/shared/comment {${text.length}}\r\n`);
        assertMatch((await c.line.readLine())!, /^\+ /);
        await c.line.write(`${text})\r\n`);
        assertEquals((await c.result(tag)).status, "OK");
        const get = await c.cmd("GETMETADATA INBOX (/shared/comment /private/comment)");
        assertEquals(get.lines, [
          `* METADATA "INBOX" (/shared/comment {33}\n${text} /private/comment "My new comment")`,
        ]);
        await c.cmd("SETMETADATA INBOX (/private/comment NIL)");
        const after = await c.cmd("GETMETADATA INBOX /private/comment");
        assertEquals(after.lines, []);
        assertEquals(after.status, "OK");
      });

      await t.step("RFC 5464 §4.2 examples: server entries, MAXSIZE, DEPTH", async () => {
        await c.cmd(`SETMETADATA "" (/shared/comment "Shared comment")`);
        const server = await c.cmd(`GETMETADATA "" /shared/comment`);
        assertEquals(server.lines, [`* METADATA "" (/shared/comment "Shared comment")`]);
        const admin = await c.cmd(`GETMETADATA "" /shared/admin`);
        assertEquals(admin.lines, [
          `* METADATA "" (/shared/admin "mailto:postmaster@example.com")`,
        ]);
        const long = "x".repeat(2000);
        await c.cmd(
          `SETMETADATA INBOX (/private/filters/values/small "SMALLER 5000"` +
            ` /private/filters/values/boss "FROM \\"boss@example.com\\""` +
            ` /private/filters/values/deep/down "3" /private/filters/long "${long}")`,
        );
        const d1 = await c.cmd("GETMETADATA (DEPTH 1) INBOX (/private/filters/values)");
        assertEquals(d1.lines, [
          `* METADATA "INBOX" (/private/filters/values/small "SMALLER 5000" ` +
          `/private/filters/values/boss "FROM \\"boss@example.com\\"")`,
        ]);
        const dInf = await c.cmd("GETMETADATA (DEPTH infinity) INBOX /private/filters/values");
        assertMatch(dInf.lines[0], /\/private\/filters\/values\/deep\/down "3"/);
        const max = await c.cmd("GETMETADATA (MAXSIZE 1024 DEPTH infinity) INBOX /private/filters");
        assert(!max.lines[0].includes("/private/filters/long"), max.lines[0]);
        assertMatch(max.tagged, /OK \[METADATA LONGENTRIES 2000\] GETMETADATA complete$/);
      });

      await t.step(
        "RFC 5464 §4.3: MAXSIZE, TOOMANY, bad names, read-only and missing",
        async () => {
          const big = "y".repeat(70_000);
          const tag = c.nextTag();
          await c.line.write(
            `${tag} SETMETADATA INBOX (/private/big {${big.length}+}\r\n${big})\r\n`,
          );
          assertMatch((await c.result(tag)).tagged, /NO \[METADATA MAXSIZE 65536\]/);
          const pairs = Array.from({ length: 1001 }, (_, i) => `/private/many/e${i} "v"`).join(" ");
          const many = await c.cmd(`SETMETADATA INBOX (${pairs})`);
          assertMatch(many.tagged, /NO \[METADATA TOOMANY\]/);
          assertEquals((await c.cmd("GETMETADATA INBOX /private/many/e1")).lines, []);
          assertEquals((await c.cmd(`SETMETADATA INBOX (/other/x "v")`)).status, "BAD");
          assertEquals((await c.cmd(`SETMETADATA INBOX (/private/a* "v")`)).status, "BAD");
          assertEquals((await c.cmd(`SETMETADATA INBOX (/private/a/ "v")`)).status, "BAD");
          assertEquals((await c.cmd(`GETMETADATA INBOX /private//a`)).status, "BAD");
          assertMatch((await c.cmd(`SETMETADATA "" (/shared/admin "x")`)).tagged, /NO \[NOPERM\]/);
          assertMatch(
            (await c.cmd(`GETMETADATA Nowhere /private/comment`)).tagged,
            /NO \[NONEXISTENT\]/,
          );
        },
      );

      await t.step("RFC 6154 §5.3: CREATE with USE, LIST shows it, \\All refused", async () => {
        const r = await c.cmd("CREATE MySpecialArchive (USE (\\Archive))");
        assertEquals(r.status, "OK");
        const list = await c.cmd(`LIST "" MySpecialArchive`);
        assertEquals(list.lines, [`* LIST (\\HasNoChildren \\Archive) "/" "MySpecialArchive"`]);
        const all = await c.cmd("CREATE Everything (USE (\\All))");
        assertMatch(all.tagged, /NO \[USEATTR\]/);
        assertEquals((await c.cmd(`LIST "" Everything`)).lines, []);
        assertEquals((await c.cmd("CREATE Bad (FOO (\\Archive))")).status, "BAD");
        const meta = await c.cmd("GETMETADATA MySpecialArchive /private/specialuse");
        assertEquals(meta.lines, [
          `* METADATA "MySpecialArchive" (/private/specialuse "\\\\Archive")`,
        ]);
        const builtin = await c.cmd("GETMETADATA Sent /private/specialuse");
        assertEquals(builtin.lines, [`* METADATA "Sent" (/private/specialuse "\\\\Sent")`]);
        // RFC 6154 §4: set through METADATA too.
        await c.cmd("CREATE Spam2");
        await c.cmd(`SETMETADATA Spam2 (/private/specialuse "\\\\Junk")`);
        const su = await c.cmd(`LIST (SPECIAL-USE) "" "*"`);
        assert(su.lines.some((l) => l.includes(`\\Junk) "/" "Spam2"`)), su.lines.join("\n"));
        assertMatch(
          (await c.cmd(`SETMETADATA Spam2 (/private/specialuse "\\\\Flagged")`)).tagged,
          /NO \[USEATTR\]/,
        );
      });

      await t.step("metadata survives a restart and follows RENAME and DELETE", async () => {
        await c.cmd(`SETMETADATA MySpecialArchive (/shared/comment "old box")`);
        assertEquals((await c.cmd("RENAME MySpecialArchive Attic")).status, "OK");
        c.close();
        await srv.stop();
        await srv.restart();
        c = await ImapClient.connect(srv.ports.imap);
        await c.login(USER, PASS);
        const moved = await c.cmd("GETMETADATA Attic (/shared/comment /private/specialuse)");
        assertEquals(moved.lines, [
          `* METADATA "Attic" (/shared/comment "old box" /private/specialuse "\\\\Archive")`,
        ]);
        const server = await c.cmd(`GETMETADATA "" /shared/comment`);
        assertEquals(server.lines, [`* METADATA "" (/shared/comment "Shared comment")`]);
        await c.cmd("DELETE Attic");
        await c.cmd("CREATE Attic");
        assertEquals((await c.cmd("GETMETADATA Attic /shared/comment")).lines, []);
      });
    } finally {
      c.close();
      await srv.stop();
      await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
    }
  },
});
