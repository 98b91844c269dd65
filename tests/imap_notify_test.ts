/**
 * NOTIFY (RFC 5465) with two sessions of one user: session A asks for notifications,
 * session B (and SMTP) changes things, and A receives the RFC's unsolicited responses
 * without sending a command — EXISTS with MessageNew's FETCH, EXPUNGE, STATUS for other
 * mailboxes, LIST for MailboxName and SubscriptionChange, METADATA — as well as during
 * IDLE; SELECTED-DELAYED holding expunges back; the §5/§6 composition rules and
 * BADEVENT; NOTIFY NONE.
 */
import { ImapClient, message, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";

const USER = "hal@example.com", PASS = "pw-hal";

/** Unsolicited lines A receives within `ms` until `done` is seen (literals inlined). */
async function expectLines(c: ImapClient, done: RegExp, ms = 5000): Promise<string[]> {
  const lines: string[] = [];
  for (;;) {
    let line = await c.line.readLine(ms);
    if (line === null) throw new Error(`EOF; got ${lines.join(" | ")}`);
    const m = /\{(\d+)\}$/.exec(line);
    if (m) {
      const bytes = await c.line.readBytes(Number(m[1]));
      line = line + "\n" + new TextDecoder().decode(bytes) + (await c.line.readLine(ms) ?? "");
    }
    lines.push(line);
    if (done.test(line)) return lines;
  }
}

/** APPEND with a non-synchronizing literal of the right size. */
async function append(c: ImapClient, box: string, text: string): Promise<void> {
  const n = new TextEncoder().encode(text).length;
  const r = await c.cmd(`APPEND ${box} {${n}+}\r\n${text}`);
  if (r.status !== "OK") throw new Error(r.tagged);
}

/**
 * Asserts that nothing unsolicited arrived within `ms`: a NOOP's reply then holds only
 * what plain IMAP reports (lines matching `allowed`). A read that times out would lose
 * data in LineClient, so silence is checked this way.
 */
async function expectSilence(c: ImapClient, ms = 300, allowed = /^$/): Promise<string[]> {
  await new Promise((r) => setTimeout(r, ms));
  const r = await c.cmd("NOOP");
  const extra = r.lines.filter((l) => !allowed.test(l));
  assertEquals(extra, []);
  return r.lines;
}

Deno.test({
  name: "imap NOTIFY",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const seed = await seedUsers({ [USER]: PASS });
    const root = seed.roots[USER];
    await seed.store.deliver([{ root }], message({ subject: "first" }));
    const srv = await startTestServer({ dirBase: seed.dirBase });
    const a = await ImapClient.connect(srv.ports.imap);
    const b = await ImapClient.connect(srv.ports.imap);
    try {
      await a.login(USER, PASS);
      await b.login(USER, PASS);
      assert((await a.cmd("CAPABILITY")).lines[0].split(" ").includes("NOTIFY"));

      await t.step("§5, §6.1, §8: composition rules are BAD, unknown events BADEVENT", async () => {
        const bad = [
          "NOTIFY SET STATUS",
          "NOTIFY NONE STATUS",
          "NOTIFY SET (personal (MessageNew))",
          "NOTIFY SET (selected (FlagChange))",
          "NOTIFY SET (selected NONE) (selected-delayed NONE)",
          "NOTIFY SET (selected (MailboxName))",
          "NOTIFY SET (personal (MessageNew (UID) MessageExpunge))",
          "NOTIFY SET (personal ())",
          "NOTIFY SET (elsewhere (MessageNew MessageExpunge))",
        ];
        for (const cmd of bad) assertEquals((await a.cmd(cmd)).status, "BAD", cmd);
        const r = await a.cmd("NOTIFY SET (inboxes (MessageNew MessageExpunge AnnotationChange))");
        assertMatch(
          r.tagged,
          / NO \[BADEVENT \(MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange\)\]/,
        );
      });

      await t.step("§3.1: SET STATUS reports the mailboxes at once", async () => {
        await a.cmd("SELECT INBOX");
        const r = await a.cmd(
          "NOTIFY SET STATUS (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (Subject)]) " +
            "MessageExpunge)) (personal (MessageNew MessageExpunge MailboxName " +
            "SubscriptionChange MailboxMetadataChange ServerMetadataChange))",
        );
        assertEquals(r.status, "OK");
        const names = r.lines.map((l) =>
          /^\* STATUS "([^"]+)" \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+\)$/.exec(l)?.[1]
        );
        assertEquals(names.sort(), ["Archive", "Drafts", "Junk", "Sent", "Trash"]);
      });

      await t.step("§5.4 MailboxName: another session's CREATE", async () => {
        await b.cmd("CREATE Receipts");
        assertEquals(await expectLines(a, /LIST/), [`* LIST () "/" "Receipts"`]);
        // The session's own change is not echoed.
        await a.cmd("CREATE Mine");
        await expectSilence(a);
      });

      await t.step("§5.2 MessageNew in the selected mailbox: EXISTS and the FETCH", async () => {
        await append(b, "INBOX", "Subject: second\r\nX-Test: 1\r\n\r\nBody text.\r\n");
        const lines = await expectLines(a, /FETCH/);
        assertEquals(lines[0], "* 2 EXISTS");
        assertMatch(
          lines[lines.length - 1],
          /^\* 2 FETCH \(UID 2 BODY\[HEADER.FIELDS \(SUBJECT\)\] \{19\}\nSubject: second/,
        );
      });

      await t.step("§5.2 MessageNew elsewhere: STATUS", async () => {
        await append(b, "Receipts", "Subject: r\r\n\r\nx\r\n");
        const lines = await expectLines(a, /STATUS/);
        assertMatch(lines[0], /^\* STATUS "Receipts" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+\)$/);
      });

      await t.step("§5.3 MessageExpunge in the selected mailbox: EXPUNGE at once", async () => {
        await b.cmd("SELECT INBOX");
        await b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)");
        await expectLines(a, /FETCH \(UID 1 FLAGS/);
        await b.cmd("EXPUNGE");
        assertEquals(await expectLines(a, /EXPUNGE/), ["* 1 EXPUNGE"]);
        assertEquals((await a.cmd("NOOP")).lines, []);
      });

      await t.step("§5.5, §5.4, §5.6: subscriptions, RENAME, METADATA, DELETE", async () => {
        await b.cmd("SUBSCRIBE Receipts");
        assertEquals(await expectLines(a, /LIST/), [`* LIST (\\Subscribed) "/" "Receipts"`]);
        await b.cmd("RENAME Receipts Bills");
        assertEquals(
          await expectLines(a, /LIST/),
          [`* LIST () "/" "Bills" ("OLDNAME" ("Receipts"))`],
        );
        await b.cmd(`SETMETADATA Bills (/private/comment "paid")`);
        assertEquals(await expectLines(a, /METADATA/), [`* METADATA "Bills" (/private/comment)`]);
        await b.cmd(`SETMETADATA "" (/shared/comment "hello")`);
        assertEquals(await expectLines(a, /METADATA/), [`* METADATA "" (/shared/comment)`]);
        // The renamed mailbox is followed under its new name.
        await append(b, "Bills", "Subject: b\r\n\r\nx\r\n");
        assertMatch(
          (await expectLines(a, /STATUS/))[0],
          /^\* STATUS "Bills" \(MESSAGES 2 UIDNEXT 3 /,
        );
        await b.cmd("DELETE Bills");
        assertEquals(await expectLines(a, /LIST/), [`* LIST (\\NonExistent) "/" "Bills"`]);
      });

      await t.step("§4: during IDLE", async () => {
        const tag = a.nextTag();
        await a.line.send(`${tag} IDLE`);
        assertMatch((await a.line.readLine())!, /^\+ /);
        await append(b, "Drafts", "Subject: d\r\n\r\nx\r\n");
        assertMatch((await expectLines(a, /STATUS/))[0], /^\* STATUS "Drafts" \(MESSAGES 1 /);
        await b.cmd("CREATE Later");
        assertEquals(await expectLines(a, /LIST/), [`* LIST () "/" "Later"`]);
        await a.line.send("DONE");
        assertMatch((await a.result(tag)).tagged, / OK /);
      });

      await t.step(
        "§6.1 SELECTED-DELAYED: expunges wait for a command that allows them",
        async () => {
          await a.cmd("NOTIFY SET (selected-delayed (MessageNew MessageExpunge))");
          await append(b, "INBOX", "Subject: n\r\n\r\nx\r\n");
          assertEquals(await expectLines(a, /RECENT/), ["* 2 EXISTS", "* 2 RECENT"]);
          await b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)");
          assertMatch((await expectLines(a, /FETCH/))[0], /^\* 1 FETCH \(UID 2 FLAGS \(\\Deleted/);
          await b.cmd("EXPUNGE");
          await new Promise((r) => setTimeout(r, 300));
          const f = await a.cmd("FETCH 1:* UID");
          assert(!f.lines.some((l) => l.includes("EXPUNGE")), f.lines.join("\n"));
          assertEquals((await a.cmd("NOOP")).lines.filter((l) => l.includes("EXPUNGE")), [
            "* 1 EXPUNGE",
          ]);
        },
      );

      await t.step("§3.1 NOTIFY NONE: nothing unsolicited any more", async () => {
        assertEquals((await a.cmd("NOTIFY NONE")).status, "OK");
        await b.cmd("CREATE Quiet");
        await append(b, "INBOX", "Subject: q\r\n\r\nx\r\n");
        // Plain IMAP still reports at the next command.
        const lines = await expectSilence(a, 500, /(EXISTS|RECENT)$/);
        assert(lines.includes("* 2 EXISTS"), lines.join("\n"));
      });

      await t.step("SMTP deliveries are seen as they happen", async () => {
        await a.cmd("NOTIFY SET (selected (MessageNew MessageExpunge))");
        await seedDeliver(srv.ports.smtp);
        assertEquals(await expectLines(a, /EXISTS/), ["* 3 EXISTS"]);
      });

      await t.step(
        "§5.2: MessageNew's FETCH also follows an EXISTS sent with a reply",
        async () => {
          await a.cmd("NOTIFY SET (selected (MessageNew (UID) MessageExpunge))");
          const text = "Subject: mid\r\n\r\nx\r\n";
          const tag = a.nextTag();
          await a.line.write(`${tag} APPEND Drafts {${text.length}}\r\n`);
          assertMatch((await a.line.readLine())!, /^\+ /);
          // Arrives while A is inside its command: reported with the command's reply.
          await append(b, "INBOX", "Subject: during\r\n\r\nx\r\n");
          await new Promise((r) => setTimeout(r, 200));
          await a.line.write(`${text}\r\n`);
          const r = await a.result(tag);
          const i = r.lines.indexOf("* 4 EXISTS");
          assert(i >= 0, r.lines.join("\n"));
          assert(
            r.lines.slice(i + 1).some((l) => /^\* 4 FETCH \(UID \d+\)$/.test(l)),
            r.lines.join("\n"),
          );
          assertEquals(r.status, "OK");
        },
      );
    } finally {
      a.close();
      b.close();
      await srv.stop();
      await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
    }
  },
});

async function seedDeliver(port: number): Promise<void> {
  const { python } = await import("./helpers/server.ts");
  await python(
    `import smtplib, sys
m = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
m.sendmail("x@example.org", ["${USER}"], b"Subject: by smtp\\r\\n\\r\\nhi\\r\\n")
m.quit()`,
    [String(port)],
  );
}
