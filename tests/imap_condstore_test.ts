/**
 * CONDSTORE and QRESYNC (RFC 7162) against the real daemon: the RFC's examples
 * adapted to our numbers (mod-sequences are counted from 1 per mailbox), over raw
 * sockets with two sessions on one mailbox and a restart.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { ImapClient, message, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";

const USER = "carol@example.com", PASS = "secret-carol";

/** The MODSEQ of each FETCH line, by sequence number. */
function modseqs(lines: string[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const l of lines) {
    const m = /^\* (\d+) FETCH \(.*MODSEQ \((\d+)\)/.exec(l);
    if (m) out.set(Number(m[1]), Number(m[2]));
  }
  return out;
}

function code(tagged: string, name: string): string | null {
  return new RegExp(`\\[${name} ([^\\]]+)\\]`).exec(tagged)?.[1] ?? null;
}

Deno.test("imap: CONDSTORE and QRESYNC (RFC 7162 examples)", async (t) => {
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  for (let i = 1; i <= 10; i++) {
    await seed.store.deliver([{ root }], message({ subject: `m${i}` }));
  }
  const srv = await startTestServer({ dirBase: seed.dirBase });
  const a = await ImapClient.connect(srv.ports.imap);
  const b = await ImapClient.connect(srv.ports.imap);
  try {
    await a.login(USER, PASS);
    await b.login(USER, PASS);
    let highest = 0;

    await t.step("§3.1.1, §3.1.2.1: CAPABILITY; SELECT reports HIGHESTMODSEQ", async () => {
      match((await a.cmd("CAPABILITY")).lines[0], / CONDSTORE .*QRESYNC/);
      const r = await b.cmd("SELECT INBOX");
      const line = r.lines.find((l) => l.startsWith("* OK [HIGHESTMODSEQ "));
      ok(line, r.lines.join("\n"));
      highest = Number(/HIGHESTMODSEQ (\d+)/.exec(line)![1]);
      ok(highest >= 1);
      // A plain session is not CONDSTORE-aware yet: its FETCH responses carry no MODSEQ.
      r.lines.length = 0;
    });

    await t.step("§3.1: the first enabling command in a selected mailbox reports it", async () => {
      equal((await a.cmd("SELECT INBOX")).status, "OK");
      // §3.1.4.2 example: FETCH 1:3 (MODSEQ).
      const r = await a.cmd("FETCH 1:3 (MODSEQ)");
      equal(r.lines[0], `* OK [HIGHESTMODSEQ ${highest}] Highest mailbox mod-sequence`);
      deepStrictEqual(r.lines.slice(1).map((l) => l.replace(/\d+\)\)$/, "n))")), [
        "* 1 FETCH (MODSEQ (n))",
        "* 2 FETCH (MODSEQ (n))",
        "* 3 FETCH (MODSEQ (n))",
      ]);
      // Only once.
      equal((await a.cmd("FETCH 1 (MODSEQ)")).lines.length, 1);
    });

    await t.step(
      "§3.1.3 example 1: UNCHANGEDSINCE passes; .SILENT still reports MODSEQ",
      async () => {
        const r = await a.cmd(
          `UID STORE 6,4,8 (UNCHANGEDSINCE ${highest}) +FLAGS.SILENT (\\Deleted)`,
        );
        equal(r.status, "OK");
        equal(code(r.tagged, "MODIFIED"), null);
        deepStrictEqual(r.lines.map((l) => l.replace(/MODSEQ \(\d+\)/, "MODSEQ (n)")), [
          "* 4 FETCH (UID 4 MODSEQ (n))",
          "* 6 FETCH (UID 6 MODSEQ (n))",
          "* 8 FETCH (UID 8 MODSEQ (n))",
        ]);
        for (const m of modseqs(r.lines).values()) ok(m > highest);
        match((await a.cmd("FETCH 4 (FLAGS)")).lines[0], /\\Deleted/);
      },
    );

    await t.step("§3.1.3 examples 2-3: messages changed meanwhile are MODIFIED", async () => {
      const before = modseqs((await a.cmd("FETCH 5,7,9 (MODSEQ)")).lines);
      const since = Math.max(...before.values());
      // Another client changes 7 and 9 in between.
      equal((await b.cmd("STORE 7,9 +FLAGS ($Processed)")).status, "OK");
      const r = await a.cmd(`STORE 7,5,9 (UNCHANGEDSINCE ${since}) +FLAGS.SILENT (\\Deleted)`);
      equal(r.status, "OK");
      equal(code(r.tagged, "MODIFIED"), "7,9");
      // 5 was stored (its new MODSEQ reported); 7 and 9 were left alone.
      ok(r.lines.some((l) => /^\* 5 FETCH \(UID 5 MODSEQ \(\d+\)\)$/.test(l)), r.lines.join("\n"));
      const flags = await a.cmd("FETCH 5,7,9 (FLAGS)");
      match(flags.lines.find((l) => l.startsWith("* 5 "))!, /\\Deleted/);
      ok(!flags.lines.find((l) => l.startsWith("* 7 "))!.includes("\\Deleted"));
      ok(flags.lines.find((l) => l.startsWith("* 9 "))!.includes("$Processed"));
    });

    await t.step("UNCHANGEDSINCE 0 never passes; a no-op STORE keeps the MODSEQ", async () => {
      const r = await a.cmd("STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)");
      equal(code(r.tagged, "MODIFIED"), "1");
      const m1 = modseqs((await a.cmd("FETCH 1 (MODSEQ)")).lines).get(1)!;
      // Removing a flag the message does not have changes nothing: no new MODSEQ, and
      // the other session hears nothing.
      await b.cmd("NOOP");
      equal((await a.cmd("STORE 1 -FLAGS (\\Answered)")).status, "OK");
      equal(modseqs((await a.cmd("FETCH 1 (MODSEQ)")).lines).get(1), m1);
      ok(!(await b.cmd("NOOP")).lines.some((l) => l.includes("FETCH")));
      // The same message twice in one conditional STORE does not defeat itself.
      const twice = await a.cmd(`UID STORE 1,1 (UNCHANGEDSINCE ${m1}) +FLAGS.SILENT (\\Flagged)`);
      equal(code(twice.tagged, "MODIFIED"), null);
    });

    await t.step("unsolicited FETCH carries MODSEQ only once CONDSTORE is enabled", async () => {
      await b.cmd("NOOP");
      equal((await a.cmd("STORE 2 +FLAGS (\\Answered)")).status, "OK");
      let r = await b.cmd("NOOP");
      equal(r.lines.length, 1);
      match(r.lines[0], /^\* 2 FETCH \(UID 2 FLAGS \(\\Answered( \\Recent)?\)\)$/);
      r = await b.cmd("ENABLE CONDSTORE");
      match(r.lines[0], /^\* OK \[HIGHESTMODSEQ \d+\]/);
      equal(r.lines[1], "* ENABLED CONDSTORE");
      equal((await a.cmd("STORE 2 -FLAGS (\\Answered)")).status, "OK");
      r = await b.cmd("NOOP");
      match(r.lines[0], /^\* 2 FETCH \(UID 2 FLAGS \((\\Recent)?\) MODSEQ \(\d+\)\)$/);
    });

    await t.step("§3.1.4.1 example: FETCH (CHANGEDSINCE) returns only what changed", async () => {
      const mark = Number(
        /HIGHESTMODSEQ (\d+)/.exec((await a.cmd("STATUS INBOX (HIGHESTMODSEQ)")).lines[0])![1],
      );
      equal((await b.cmd("STORE 3 +FLAGS ($Label1)")).status, "OK");
      equal((await b.cmd("STORE 10 +FLAGS (\\Seen)")).status, "OK");
      const r = await a.cmd(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${mark})`);
      const fetches = r.lines.filter((l) => / FETCH \(UID/.test(l) && !l.startsWith("* OK"));
      // a's own earlier NOOP-less state: the two changes of b, each with UID and MODSEQ.
      const byUid = fetches.map((l) => /UID (\d+)/.exec(l)![1]);
      ok(byUid.includes("3") && byUid.includes("10"), r.lines.join("\n"));
      for (const l of fetches) {
        match(l, /^\* \d+ FETCH \(UID \d+ FLAGS \([^)]*\) MODSEQ \(\d+\)\)$/);
      }
      ok(fetches.every((l) => Number(/MODSEQ \((\d+)\)/.exec(l)![1]) > mark));
      // A set with nothing newer gives nothing.
      const none = await a.cmd(`FETCH 1:* (FLAGS) (CHANGEDSINCE 999999999)`);
      ok(!none.lines.some((l) => / FETCH /.test(l)));
      match((await a.cmd("FETCH 1 (FLAGS) (CHANGEDSINCE x)")).tagged, /BAD/);
      match((await a.cmd("FETCH 1 (FLAGS) (VANISHED)")).tagged, /BAD/);
    });

    await t.step("§3.1.7 example: STATUS HIGHESTMODSEQ", async () => {
      const r = await b.cmd("STATUS INBOX (UIDNEXT MESSAGES HIGHESTMODSEQ)");
      match(r.lines[0], /^\* STATUS "?INBOX"? \(UIDNEXT 11 MESSAGES 10 HIGHESTMODSEQ \d+\)$/);
      const sel = await a.cmd("NOOP");
      equal(sel.status, "OK");
      // An empty, untouched mailbox has a positive HIGHESTMODSEQ too.
      match((await b.cmd("STATUS Drafts (HIGHESTMODSEQ)")).lines[0], /HIGHESTMODSEQ [1-9]/);
    });

    await t.step("§3.1.5: SEARCH MODSEQ reports the highest MODSEQ found", async () => {
      const r = await a.cmd('SEARCH MODSEQ "/flags/\\\\draft" all 1');
      match(r.lines[0], /^\* SEARCH( \d+)+ \(MODSEQ \d+\)$/);
    });

    await t.step("§3.1: SEARCH MODSEQ enables CONDSTORE in a plain session", async () => {
      const p = await ImapClient.connect(srv.ports.imap);
      try {
        await p.login(USER, PASS);
        equal((await p.cmd("SELECT INBOX")).status, "OK");
        // Not CONDSTORE-aware yet: a flag change made elsewhere comes without MODSEQ.
        equal((await a.cmd("STORE 4 +FLAGS (\\Answered)")).status, "OK");
        let r = await p.cmd("NOOP");
        match(r.lines[0], /^\* 4 FETCH \(UID 4 FLAGS \([^)]*\)\)$/);
        // The enabling SEARCH reports HIGHESTMODSEQ first, then its result.
        r = await p.cmd("SEARCH MODSEQ 1");
        match(r.lines[0], /^\* OK \[HIGHESTMODSEQ \d+\]/);
        match(r.lines[1], /^\* SEARCH( \d+)+ \(MODSEQ \d+\)$/);
        // From now on the session is CONDSTORE-aware: changes carry MODSEQ.
        equal((await a.cmd("STORE 4 -FLAGS (\\Answered)")).status, "OK");
        r = await p.cmd("NOOP");
        match(r.lines[0], /^\* 4 FETCH \(UID 4 FLAGS \([^)]*\) MODSEQ \(\d+\)\)$/);
      } finally {
        p.close();
      }
    });

    await t.step("§3.1: an implicit \\Seen answers with UID, MODSEQ and FLAGS", async () => {
      const r = await a.cmd("FETCH 6 BODY[HEADER.FIELDS (SUBJECT)]");
      const last = r.lines[r.lines.length - 1];
      match(r.lines[0], /^\* 6 FETCH \(UID 6 BODY\[HEADER\.FIELDS \(SUBJECT\)\] \{\d+\}/);
      match(last, /MODSEQ \(\d+\) FLAGS \([^)]*\\Seen/);
    });

    await t.step("APPEND and COPY give new messages a new MODSEQ", async () => {
      const before = Number(
        /HIGHESTMODSEQ (\d+)/.exec((await a.cmd("STATUS INBOX (HIGHESTMODSEQ)")).lines[0])![1],
      );
      equal((await b.cmd("APPEND INBOX (\\Seen) {12+}\r\nSubject: x\r\n")).status, "OK");
      await a.cmd("NOOP"); // learn of UID 11
      const r = await a.cmd("UID FETCH 11 (MODSEQ)");
      ok(modseqs(r.lines).get(11)! > before, r.lines.join("\n"));
      const copy = await a.cmd("COPY 1 Archive");
      match(copy.tagged, /COPYUID/);
      match((await a.cmd("STATUS Archive (HIGHESTMODSEQ MESSAGES)")).lines[0], /MESSAGES 1\)/);
    });

    await t.step("expunges raise HIGHESTMODSEQ, reported in EXPUNGE's OK", async () => {
      const before = Number(
        /HIGHESTMODSEQ (\d+)/.exec((await a.cmd("STATUS INBOX (HIGHESTMODSEQ)")).lines[0])![1],
      );
      const r = await a.cmd("EXPUNGE");
      ok(r.lines.some((l) => l.endsWith(" EXPUNGE")), r.lines.join("\n"));
      const after = Number(code(r.tagged, "HIGHESTMODSEQ"));
      ok(after > before, r.tagged);
    });

    await t.step("§3.2: QRESYNC select, VANISHED (EARLIER), VANISHED for expunges", async () => {
      const q = await ImapClient.connect(srv.ports.imap);
      await q.login(USER, PASS);
      const uv = /UIDVALIDITY (\d+)/.exec((await q.cmd("STATUS INBOX (UIDVALIDITY)")).lines[0])![1];
      // Without ENABLE QRESYNC the parameter is refused; malformed ones are BAD anyway.
      match((await q.cmd(`SELECT INBOX (QRESYNC (${uv} 1))`)).tagged, /BAD/);
      equal((await q.cmd("ENABLE QRESYNC")).lines[0], "* ENABLED QRESYNC");
      for (const bad of ["(QRESYNC 1 1)", "(QRESYNC (0 1))", "(QRESYNC (1 0))", "(QRESYNC)"]) {
        match((await q.cmd(`SELECT INBOX ${bad}`)).tagged, /BAD/, bad);
      }
      // §3.2.5.1 example: everything since mod-sequence 1.
      let r = await q.cmd(`SELECT INBOX (QRESYNC (${uv} 1))`);
      const vanished = r.lines.find((l) => l.startsWith("* VANISHED (EARLIER) "));
      // 4, 6 and 8 got \\Deleted in example 1, 5 in example 2.
      equal(vanished, "* VANISHED (EARLIER) 4:6,8");
      ok(r.lines.some((l) => /^\* \d+ FETCH \(UID 3 FLAGS \(\$Label1\) MODSEQ \(\d+\)\)$/.test(l)));
      // known-uids limits both.
      r = await q.cmd(`SELECT INBOX (QRESYNC (${uv} 1 1:3))`);
      equal(
        r.lines.find((l) => l.startsWith("* OK [CLOSED]")),
        "* OK [CLOSED] Previous mailbox closed",
      );
      ok(!r.lines.some((l) => l.startsWith("* VANISHED")));
      ok(!r.lines.some((l) => /UID (1[01]|[4-9]) /.test(l)), r.lines.join("\n"));
      // Another UIDVALIDITY: a plain SELECT.
      r = await q.cmd(`SELECT INBOX (QRESYNC (${Number(uv) + 1} 1))`);
      ok(!r.lines.some((l) => l.startsWith("* VANISHED") || l.includes(" FETCH ")));
      // §3.2.6: UID FETCH (CHANGEDSINCE n VANISHED).
      r = await q.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)");
      equal(r.lines[0], "* VANISHED (EARLIER) 4:6,8");
      match((await q.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")).tagged, /BAD/);
      match((await b.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")).tagged, /BAD/);
      // §3.2.10: an expunge elsewhere arrives as VANISHED, not EXPUNGE.
      equal((await a.cmd("UID STORE 2 +FLAGS.SILENT (\\Deleted)")).status, "OK");
      equal((await a.cmd("UID EXPUNGE 2")).status, "OK");
      r = await q.cmd("NOOP");
      deepStrictEqual(r.lines, ["* VANISHED 2"]);
      q.close();
    });

    await t.step("mod-sequences survive a restart", async () => {
      const before = (await a.cmd("UID FETCH 1:* (MODSEQ)")).lines.filter((l) =>
        l.includes("FETCH")
      );
      const status = (await a.cmd("STATUS INBOX (HIGHESTMODSEQ)")).lines[0];
      const top = Number(/HIGHESTMODSEQ (\d+)/.exec(status)![1]);
      a.close();
      b.close();
      await srv.stop();
      await srv.restart();
      const c = await ImapClient.connect(srv.ports.imap);
      await c.login(USER, PASS);
      const r = await c.cmd("SELECT INBOX (CONDSTORE)");
      const after = Number(/HIGHESTMODSEQ (\d+)/.exec(r.lines.join("\n"))![1]);
      equal(after, top, "a clean stop keeps HIGHESTMODSEQ exact");
      deepStrictEqual(
        (await c.cmd("UID FETCH 1:* (MODSEQ)")).lines.filter((l) => l.includes("FETCH")),
        before,
      );
      // And new changes go on above it.
      const s = await c.cmd("STORE 1 +FLAGS (\\Answered)");
      ok(modseqs(s.lines).get(1)! > top);
      c.close();
    });
  } finally {
    a.close();
    b.close();
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});
