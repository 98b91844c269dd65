/**
 * FETCH n BODY[] of one small message is answered with the file read straight into the
 * output buffer once the message is in the structure cache (fetch_render.ts
 * renderWholeInPlace): the responses must be the ones renderMessage gives, with UID FETCH,
 * CONDSTORE's MODSEQ, an implicit \Seen, bare-LF files and files renamed meanwhile.
 */
import { equal, ok } from "node:assert/strict";
import { ImapClient, message, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";

const USER = "carol@example.com", PASS = "secret-carol";
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("imap: FETCH BODY[] read in place answers as renderMessage does", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  const first = message({ subject: "one", body: "first body\r\n.dot line" });
  const second = message({ subject: "two", body: "second" });
  await seed.store.deliver([{ root }], first);
  await seed.store.deliver([{ root }], second);
  // A file written by other software with bare LFs: served in CRLF form, never as stored.
  const bare = "Subject: bare\nFrom: x@example.org\n\nline one\nline two\n";
  const cur = `${root}/cur/9999999999.M1P1.other:2,`; // sorts last: message 3
  await Deno.writeTextFile(cur, bare);
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    const c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    const sel = await c.cmd("SELECT INBOX");
    ok(sel.lines.includes("* 3 EXISTS"), sel.lines.join("|"));
    // The first FETCH parses the message (renderMessage); the second reads it in place.
    const a1 = await c.cmd("FETCH 1 BODY.PEEK[]");
    const a2 = await c.cmd("FETCH 1 BODY.PEEK[]");
    equal(a1.status, "OK");
    equal(a2.lines.length, 1);
    equal(a2.lines[0], a1.lines[0]);
    equal(a2.lines[0], `* 1 FETCH (BODY[] {${first.length}}\n${decode(first)})`);
    // UID FETCH carries the UID first.
    const u1 = await c.cmd("UID FETCH 2 BODY.PEEK[]");
    const u2 = await c.cmd("UID FETCH 2 BODY.PEEK[]");
    equal(u2.lines[0], u1.lines[0]);
    equal(u2.lines[0], `* 2 FETCH (UID 2 BODY[] {${second.length}}\n${decode(second)})`);
    // Bare LFs: the CRLF form and its length, both times.
    const crlf = bare.replaceAll("\n", "\r\n");
    const b1 = await c.cmd("FETCH 3 BODY.PEEK[]");
    const b2 = await c.cmd("FETCH 3 BODY.PEEK[]");
    equal(b1.lines[0], `* 3 FETCH (BODY[] {${crlf.length}}\n${crlf})`);
    equal(b2.lines[0], b1.lines[0]);
    // BODY[] of an unseen message sets \Seen and reports FLAGS; then it is plain again.
    const s1 = await c.cmd("FETCH 1 BODY[]");
    ok(s1.lines[0].startsWith(a1.lines[0].slice(0, -1)), s1.lines[0]);
    ok(/ FLAGS \(\\Seen( \\Recent)?\)\)$/.test(s1.lines[0]), s1.lines[0]);
    const s2 = await c.cmd("FETCH 1 BODY[]");
    equal(s2.lines[0], a1.lines[0]);
    // CHANGEDSINCE: MODSEQ after the literal (RFC 7162 §3.1.4.1), as for a bare-LF file.
    const modseqAfter = /^\* \d FETCH \(BODY\[\] \{\d+\}\n[^]*\r\n MODSEQ \(\d+\)\)$/;
    const fetched = async (cmd: string) =>
      (await c.cmd(cmd)).lines.find((l) => l.includes(" FETCH (")) ?? "(none)";
    const m = await fetched("FETCH 2 BODY.PEEK[] (CHANGEDSINCE 0)");
    ok(modseqAfter.test(m), m);
    ok(m.includes(decode(second)));
    const mb = await fetched("FETCH 3 BODY.PEEK[] (CHANGEDSINCE 0)");
    ok(modseqAfter.test(mb), mb);
    // Another session renames the file (a flag change): the read follows the rename.
    const other = await ImapClient.connect(srv.ports.imap);
    await other.login(USER, PASS);
    await other.cmd("SELECT INBOX");
    equal((await other.cmd("STORE 2 +FLAGS.SILENT (\\Flagged)")).status, "OK");
    const r = await c.cmd("FETCH 2 BODY.PEEK[]");
    ok(r.lines.some((l) => l.includes(decode(second))), r.lines.join("|"));
    equal(r.status, "OK");
    other.close();
    c.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});

Deno.test("imap: metadata FETCH from the cache answers as renderMessage does", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  await seed.store.deliver([{ root }], message({ subject: "one", from: "A <a@example.org>" }));
  await seed.store.deliver([{ root }], message({ subject: "=?utf-8?q?M=C3=BCller?= two" }));
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    const c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    await c.cmd("SELECT INBOX");
    const items = "(FLAGS RFC822.SIZE ENVELOPE)";
    // The first computes the envelopes (renderMessage), the second finds them cached.
    const m1 = await c.cmd(`FETCH 1:* ${items}`);
    const m2 = await c.cmd(`FETCH 1:* ${items}`);
    equal(m1.status, "OK");
    equal(m2.lines.join("\n"), m1.lines.join("\n"));
    ok(/^\* 1 FETCH \(FLAGS \([^)]*\) RFC822\.SIZE \d+ ENVELOPE \(".*" "one" /.test(m1.lines[0]));
    ok(m1.lines[1].includes(`"=?utf-8?q?M=C3=BCller?= two"`), m1.lines[1]);
    // UID FETCH: the UID first.
    const u = await c.cmd("UID FETCH 1:* (ENVELOPE RFC822.SIZE)");
    ok(/^\* 1 FETCH \(UID 1 ENVELOPE \(.*\) RFC822\.SIZE \d+\)$/.test(u.lines[0]), u.lines[0]);
    // CHANGEDSINCE: MODSEQ last (RFC 7162 §3.1.4.1), as renderMessage puts it.
    const q = await c.cmd("FETCH 2 (RFC822.SIZE ENVELOPE) (CHANGEDSINCE 0)");
    const fetch = q.lines.find((l) => l.startsWith("* 2 FETCH")) ?? "(none)";
    ok(/^\* 2 FETCH \(RFC822\.SIZE \d+ ENVELOPE \(.*\) MODSEQ \(\d+\)\)$/.test(fetch), fetch);
    c.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});
