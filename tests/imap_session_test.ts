/**
 * IMAP over raw sockets against the real daemon: greeting and capabilities, login
 * rules, literals and LITERAL+, bad input, partial fetches and \Seen, APPEND rules,
 * folders and subscriptions, restart persistence, graceful shutdown.
 */
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { ImapClient, message, seedUsers } from "./helpers/imap.ts";
import { startTestServer } from "./helpers/server.ts";

const USER = "bob@example.com", PASS = "secret-bob";

Deno.test("imap: greeting, login rules, literals, bad input", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    const c = await ImapClient.connect(srv.ports.imap);
    let r = await c.cmd("CAPABILITY");
    match(r.lines[0], /^\* CAPABILITY IMAP4rev1 IMAP4rev2 .*LITERAL\+.*IDLE.*AUTH=PLAIN/);
    r = await c.cmd("SELECT INBOX");
    equal(r.status, "BAD");
    // Wrong password: NO [AUTHENTICATIONFAILED] after a delay.
    const t0 = Date.now();
    r = await c.cmd(`LOGIN ${USER} wrong`);
    match(r.tagged, /NO \[AUTHENTICATIONFAILED\]/);
    ok(Date.now() - t0 >= 900);
    // Bad input of several kinds; the session keeps working.
    await c.line.send("");
    match(await c.line.readLine() ?? "", /^\* BAD/);
    await c.line.send("x1 FROBNICATE");
    match(await c.line.readLine() ?? "", /^x1 BAD/);
    await c.line.send('x2 LOGIN "unterminated');
    match(await c.line.readLine() ?? "", /^x2 BAD/);
    await c.line.send(`x3 NOOP ${"a".repeat(1_100_000)}`);
    match(await c.line.readLine(20_000) ?? "", /BAD \[TOOBIG\]/);
    await c.line.send("x4 APPEND INBOX {999999999999}");
    match(await c.line.readLine() ?? "", /^x4 BAD \[TOOBIG\]/);
    await c.line.write(new Uint8Array([0x78, 0x35, 0x20, 0x00, 0xff, 0x0d, 0x0a]));
    match(await c.line.readLine() ?? "", /BAD/);
    // Synchronizing literals: continuation request, then the data.
    await c.line.send(`l1 LOGIN {${USER.length}}`);
    match(await c.line.readLine() ?? "", /^\+ /);
    await c.line.send(`${USER} {${PASS.length}}`);
    match(await c.line.readLine() ?? "", /^\+ /);
    await c.line.send(PASS);
    const login = await c.result("l1");
    match(login.tagged, /^l1 OK \[CAPABILITY /);
    // LITERAL+: no continuation.
    r = await c.cmd(`CREATE {4+}\r\nLit+`);
    equal(r.status, "OK");
    r = await c.cmd('LIST "" "Lit*"');
    equal(r.lines[0], '* LIST (\\HasNoChildren) "/" "Lit+"');
    await c.cmd("LOGOUT");
    c.close();

    // AUTHENTICATE PLAIN with SASL-IR and with a continuation.
    const plain = btoa(`\0${USER}\0${PASS}`);
    const a = await ImapClient.connect(srv.ports.imap);
    equal((await a.cmd(`AUTHENTICATE PLAIN ${plain}`)).status, "OK");
    a.close();
    const b = await ImapClient.connect(srv.ports.imap);
    await b.line.send("p1 AUTHENTICATE PLAIN");
    equal(await b.line.readLine(), "+ ");
    await b.line.send(plain);
    match((await b.result("p1")).tagged, /^p1 OK/);
    b.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});

Deno.test("imap: FETCH sections, partials, \\Seen, APPEND rules, quota", async () => {
  const seed = await seedUsers({ [USER]: PASS }, { quota: 4096 });
  const root = seed.roots[USER];
  const body = "line one\r\nline two\r\n";
  const msg = message({ subject: "Parts", body });
  await seed.store.deliver([{ root }], msg);
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    const c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    let r = await c.cmd("SELECT INBOX");
    ok(r.lines.includes("* 1 EXISTS"));
    r = await c.cmd("FETCH 1 (RFC822.SIZE BODY.PEEK[]<0.6> BODY.PEEK[TEXT]<5.100>)");
    ok(r.lines[0].startsWith(`* 1 FETCH (RFC822.SIZE ${msg.length} BODY[]<0> {6}\nFrom: `));
    ok(r.lines[0].includes("BODY[TEXT]<5> {"), r.lines[0]);
    ok(!r.lines[0].includes("\\Seen"));
    r = await c.cmd("FETCH 1 (FLAGS)");
    ok(!r.lines[0].includes("\\Seen"));
    r = await c.cmd("FETCH 1 BODY[TEXT]");
    ok(r.lines[0].includes(body) && r.lines[0].includes("FLAGS (\\Seen"), r.lines[0]);
    r = await c.cmd("UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY[1] BODY[2])");
    ok(r.lines[0].includes("UID 1"), r.lines[0]);
    ok(r.lines[0].includes("BODY[HEADER.FIELDS (SUBJECT)] {18}\nSubject: Parts\r\n\r\n"));
    r = await c.cmd("FETCH 2 FLAGS");
    equal(r.status, "BAD");
    r = await c.cmd("FETCH 1 (BODY[FOO])");
    equal(r.status, "BAD");
    // APPEND: missing mailbox, flags and date, APPENDUID, over quota.
    r = await c.cmd("APPEND Nowhere {3+}\r\nabc");
    match(r.tagged, /NO \[TRYCREATE\]/);
    const small = "Subject: appended\r\n\r\nhi\r\n";
    r = await c.cmd(
      `APPEND INBOX (\\Flagged $Label1) "05-Mar-2020 10:00:00 +0100" {${small.length}+}\r\n${small}`,
    );
    match(r.tagged, /OK \[APPENDUID \d+ 2\]/);
    const lines = [...r.lines, ...(await c.cmd("NOOP")).lines];
    ok(lines.includes("* 2 EXISTS"), lines.join("|"));
    r = await c.cmd("FETCH 2 (FLAGS INTERNALDATE)");
    // Appended mail is \Recent for the first session to see it (RFC 3501 §2.3.2).
    match(
      r.lines[0],
      /FLAGS \(\\Flagged \$Label1 \\Recent\) INTERNALDATE "05-Mar-2020 09:00:00 \+0000"/,
    );
    const big = "x".repeat(5000);
    r = await c.cmd(`APPEND INBOX {${big.length}+}\r\n${big}`);
    match(r.tagged, /NO \[OVERQUOTA\]/);
    r = await c.cmd("GETQUOTAROOT INBOX");
    match(r.lines.join("\n"), /\* QUOTA "" \(STORAGE 1 4\)/);
    c.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});

Deno.test("imap: folders, subscriptions, modified UTF-7 and UTF-8 names", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    const c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    equal((await c.cmd("CREATE Projects/2024/Q1")).status, "OK");
    match((await c.cmd("CREATE Projects")).tagged, /NO \[ALREADYEXISTS\]/);
    equal((await c.cmd("CREATE Entw&APw-rfe")).status, "OK");
    let r = await c.cmd('LIST "" "*"');
    ok(r.lines.includes('* LIST (\\HasChildren) "/" "Projects"'), r.lines.join("\n"));
    ok(r.lines.includes('* LIST (\\HasNoChildren) "/" "Projects/2024/Q1"'));
    ok(r.lines.includes('* LIST (\\HasNoChildren \\Trash) "/" "Trash"'));
    ok(r.lines.includes('* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"'));
    r = await c.cmd('LIST "Projects/" "%"');
    equal(r.lines.join("\n"), '* LIST (\\HasChildren) "/" "Projects/2024"');
    r = await c.cmd('LIST (SPECIAL-USE) "" "*"');
    equal(r.lines.length, 5);
    // Subscriptions live in the Maildir++ "subscriptions" file.
    equal((await c.cmd("SUBSCRIBE Projects/2024/Q1")).status, "OK");
    equal((await c.cmd("UNSUBSCRIBE Junk")).status, "OK");
    const file = await Deno.readTextFile(join(seed.roots[USER], "subscriptions"));
    ok(file.split("\n").includes("Projects/2024/Q1") && !file.includes("Junk"), file);
    r = await c.cmd('LSUB "" "*"');
    ok(r.lines.includes('* LSUB () "/" "Projects/2024/Q1"'), r.lines.join("\n"));
    r = await c.cmd('LSUB "" "%"');
    ok(r.lines.includes('* LSUB (\\Noselect) "/" "Projects"'), r.lines.join("\n"));
    r = await c.cmd('LIST (SUBSCRIBED) "" "*"');
    ok(r.lines.some((l) => l.includes("\\Subscribed") && l.endsWith('"Projects/2024/Q1"')));
    // RENAME carries children and subscriptions; INBOX rename moves its mail.
    equal((await c.cmd("RENAME Projects Work")).status, "OK");
    r = await c.cmd('LIST "" "Work/*"');
    equal(r.lines.length, 2);
    match((await c.cmd("RENAME Nope Other")).tagged, /NO \[NONEXISTENT\]/);
    equal((await c.cmd("APPEND INBOX {12+}\r\nSubject: x\r\n")).status, "OK");
    equal((await c.cmd("RENAME INBOX Old")).status, "OK");
    r = await c.cmd("STATUS Old (MESSAGES)");
    equal(r.lines[0], '* STATUS "Old" (MESSAGES 1)');
    r = await c.cmd("STATUS INBOX (MESSAGES UIDNEXT)");
    match(r.lines[0], /MESSAGES 0/);
    equal((await c.cmd("DELETE Work/2024/Q1")).status, "OK");
    // A parent deleted before its child stays listed as \Noselect (RFC 3501 §6.3.4).
    equal((await c.cmd("DELETE Work")).status, "OK");
    r = await c.cmd('LIST "" "Work*"');
    ok(r.lines.includes('* LIST (\\Noselect \\HasChildren) "/" "Work"'), r.lines.join("\n"));
    match((await c.cmd("SELECT Work")).tagged, /NO \[NONEXISTENT\]/);
    match((await c.cmd("DELETE INBOX")).tagged, /^t\d+ NO/);
    match((await c.cmd("SELECT ../../etc")).tagged, /^t\d+ NO/);
    match((await c.cmd("CREATE a/../../b")).tagged, /^t\d+ (NO|OK)/);
    // UTF-8 names once enabled (RFC 6855 / RFC 9051).
    await c.cmd("ENABLE UTF8=ACCEPT");
    r = await c.cmd('LIST "" "Entw*"');
    equal(r.lines[0], '* LIST (\\HasNoChildren) "/" "Entwürfe"');
    c.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});

Deno.test("imap: UIDs, UIDVALIDITY and flags survive a restart; shutdown says BYE", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const root = seed.roots[USER];
  for (let i = 0; i < 3; i++) await seed.store.deliver([{ root }], message({ subject: `m${i}` }));
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    let c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    await c.cmd("SELECT INBOX");
    await c.cmd("STORE 2 +FLAGS (\\Flagged $Work)");
    await c.cmd("STORE 3 +FLAGS (\\Deleted)");
    await c.cmd("EXPUNGE");
    const before = await c.cmd("UID FETCH 1:* (UID FLAGS)");
    const status = await c.cmd("STATUS INBOX (UIDVALIDITY UIDNEXT)");
    // Graceful shutdown: the open session gets BYE [UNAVAILABLE].
    const stopped = srv.stop();
    match(await c.line.readLine() ?? "", /^\* BYE \[UNAVAILABLE\]/);
    await stopped;
    c.close();
    await srv.restart();
    c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    await c.cmd("SELECT INBOX");
    const after = await c.cmd("UID FETCH 1:* (UID FLAGS)");
    equal(
      after.lines.join("\n").replace(/ ?\\Recent/g, ""),
      before.lines.join("\n").replace(/ ?\\Recent/g, ""),
    );
    ok(after.lines[1].includes("UID 2") && after.lines[1].includes("$Work"));
    equal((await c.cmd("STATUS INBOX (UIDVALIDITY UIDNEXT)")).lines[0], status.lines[0]);
    c.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});

Deno.test("imap: LOGINDISABLED without TLS, STARTTLS, implicit TLS, connection limit", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const srv = await startTestServer({
    dirBase: seed.dirBase,
    tls: true,
    config: { PlainAuthWithoutTLS: "never", MaxConnectionsPerIP: 3 },
  });
  try {
    const c = await ImapClient.connect(srv.ports.imap);
    let r = await c.cmd("CAPABILITY");
    match(r.lines[0], /STARTTLS/);
    match(r.lines[0], /LOGINDISABLED/);
    ok(!r.lines[0].includes("AUTH=PLAIN"));
    match((await c.cmd(`LOGIN ${USER} ${PASS}`)).tagged, /NO \[PRIVACYREQUIRED\]/);
    match((await c.cmd("STARTTLS")).tagged, /OK/);
    await c.line.startTls();
    r = await c.cmd("CAPABILITY");
    ok(!r.lines[0].includes("STARTTLS") && r.lines[0].includes("AUTH=PLAIN"));
    await c.login(USER, PASS);
    const s = await ImapClient.connect(srv.ports.imaps, { tls: true });
    await s.login(USER, PASS);
    const third = await ImapClient.connect(srv.ports.imap);
    // A fourth connection from this address is refused with BYE [UNAVAILABLE].
    const { LineClient } = await import("./helpers/client.ts");
    const fourth = await LineClient.connect(srv.ports.imap);
    match(await fourth.readLine() ?? "", /^\* BYE \[UNAVAILABLE\]/);
    fourth.close();
    third.close();
    s.close();
    c.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});

Deno.test("imap: random and hostile input never breaks the session or the daemon", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  await seed.store.deliver([{ root: seed.roots[USER] }], message({ subject: "fuzz" }));
  const srv = await startTestServer({ dirBase: seed.dirBase });
  try {
    let rng = 4242;
    const rand = (n: number) => (rng = (rng * 1103515245 + 12345) & 0x7fffffff) % n;
    const words = [
      "FETCH",
      "UID",
      "STORE",
      "SEARCH",
      "LIST",
      "SELECT",
      "COPY",
      "MOVE",
      "APPEND",
      "STATUS",
      "IDLE",
      "EXPUNGE",
      "1:*",
      "*",
      "0",
      "4294967296",
      "(",
      ")",
      "BODY[",
      "BODY[1.2.3.MIME]<0.5>",
      "BODY.PEEK[HEADER.FIELDS (",
      '"',
      '"x\\"',
      "{3}",
      "{2+}",
      "~{1}",
      "\\Seen",
      "+FLAGS",
      "NOT",
      "OR",
      "INBOX",
      "../x",
      "&Jjo",
      "\x00",
      "\xff",
      "%",
      "RETURN",
      "(STATUS",
      "ENVELOPE",
    ];
    for (const login of [false, true]) {
      const c = await ImapClient.connect(srv.ports.imap);
      if (login) {
        await c.login(USER, PASS);
        await c.cmd("SELECT INBOX");
      }
      for (let i = 0; i < 150; i++) {
        const n = 1 + rand(6);
        const parts = Array.from({ length: n }, () => words[rand(words.length)]);
        await c.line.send(`f${i} ${parts.join(rand(4) === 0 ? "" : " ")}`);
      }
      // Whatever state the fuzz left (an open literal, IDLE), a fresh line ends it.
      await c.line.send("\r\nDONE\r\nxx".repeat(3));
      await c.line.send("zz NOOP");
      const lines = await c.line.readUntil((l) => l.startsWith("zz "), 20_000);
      match(lines[lines.length - 1], /^zz (OK|BAD)/);
      c.close();
    }
    const c = await ImapClient.connect(srv.ports.imap);
    await c.login(USER, PASS);
    const r = await c.cmd("SELECT INBOX");
    equal(r.status, "OK");
    c.close();
    ok(!/ERROR/.test(srv.logs()), srv.logs().split("\n").filter((l) => /ERROR/.test(l)).join("\n"));
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});

Deno.test("imap: TimeoutIMAP closes a silent session with BYE", async () => {
  const seed = await seedUsers({ [USER]: PASS });
  const srv = await startTestServer({ dirBase: seed.dirBase, config: { TimeoutIMAP: 1 } });
  try {
    const c = await ImapClient.connect(srv.ports.imap);
    // The idle time counts from the LOGIN's answer, not from the command: its scrypt
    // check (N=2^17, half a second, more under load) is not the client's idle time.
    await c.login(USER, PASS);
    const t0 = Date.now();
    match(await c.line.readLine(5000) ?? "", /^\* BYE /);
    ok(Date.now() - t0 >= 900, `BYE ${Date.now() - t0} ms after the LOGIN's answer`);
    ok(await c.line.closedByPeer(3000));
    c.close();
  } finally {
    await srv.stop();
    await Deno.remove(seed.dirBase, { recursive: true }).catch(() => {});
  }
});
